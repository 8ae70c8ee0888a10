import pytest

from tauml.core.cfgfile import parse_cfg, read_cfg
from tauml.core.errors import TaumlError


def test_grammar():
    text = r"""
# comment
tau_DY: dir=DYJetsToLL_M-50.* file=tau_.*\.root
jet_TT: dir=TTTo(Hadronic|SemiLeptonic)_TuneCP5 \
        file=jet_.* weight="2"
emb: dir=Embedding.* file="emb_.*" sample_type=Embedded
"""
    items = parse_cfg(text)
    assert list(items) == ["emb", "jet_TT", "tau_DY"]  # processed in name order, as the original
    assert items["tau_DY"] == {"dir": "DYJetsToLL_M-50.*", "file": r"tau_.*\.root"}
    assert items["jet_TT"]["weight"] == "2"
    assert items["emb"]["sample_type"] == "Embedded"


@pytest.mark.parametrize("text, message", [
    ("a: dir=x\na: dir=y", "duplicate item name 'a'"),
    ("a: dir=x colour=red", "unknown key 'colour'"),
    ("a dir=x", "expected '<name>: key=value"),
    ("a: dir", "expected key=value"),
    ("a: file=x", "missing key\\(s\\) dir"),
    ("# only a comment\n", "no items"),
    ('a: dir="x', "unbalanced double quote"),
])
def test_errors_name_source_and_line(text, message):
    with pytest.raises(TaumlError, match=message):
        parse_cfg(text, "my.cfg", allowed_keys={"dir", "file"}, required_keys={"dir"})


def test_missing_file(tmp_path):
    with pytest.raises(TaumlError, match="missing.cfg: cannot read cfg"):
        read_cfg(tmp_path / "missing.cfg")
