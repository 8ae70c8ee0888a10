"""validation_tool's summary.txt / summary.json: per test the p-value, threshold and verdict, in words."""
import json

import numpy as np
import pytest

from tauml.cli.validation import main as validation_tool
from tauml.core.io import write_tree
from tauml.core.testing import random_tautuple
from tauml.validation.compare import EMPTY_PVALUE

GROUPS = {"DY": "101", "W": "102"}
DATASETS = {"DYtautau": "201", "WJets": "202"}
NSPLIT = 4


def write_mix(top, sort_by_type: bool):
    top.mkdir()
    n = 4000
    arrays = random_tautuple(n, seed=3, all_branches=False)
    rng = np.random.default_rng(3)
    arrays["tauType"] = rng.integers(0, 4, n).astype(np.int32)
    group = rng.integers(0, 2, n)
    arrays["dataset_group_id"] = (101 + group).astype(np.uint64)
    arrays["dataset_id"] = (201 + group).astype(np.uint64)
    if sort_by_type:
        order = np.argsort(arrays["tauType"], kind="stable")
        arrays = {k: v[order] for k, v in arrays.items()}
    write_tree(top / "ShuffleMergeSpectral_0.root", arrays)
    (top / "dataset_hash.json").write_text(json.dumps(DATASETS))
    (top / "datagroup_hash.json").write_text(json.dumps(GROUPS))


@pytest.mark.parametrize("sort_by_type, verdict", [(False, "PASS"), (True, "FAIL")])
def test_summary_files(tmp_path, capsys, sort_by_type, verdict):
    top, out = tmp_path / "in", tmp_path / "out"
    write_mix(top, sort_by_type)
    rc = validation_tool(["--input", str(top), "--regex", r"ShuffleMergeSpectral_[0-9]+\.root$",
                          "--id_json", str(top / "dataset_hash.json"), "--group_id_json",
                          str(top / "datagroup_hash.json"), "--output", str(out), "--nsplit", str(NSPLIT),
                          "--formats", "none", "--correction", "bonferroni"])
    stdout = capsys.readouterr().out
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == verdict and summary["correction"] == "bonferroni"
    assert summary["pvthreshold"] == 0.05 and summary["nsplit"] == NSPLIT and summary["entries"] == 4000
    n_pvalues = sum(r["chunks_compared"] for r in summary["results"])
    assert summary["threshold"] == pytest.approx(0.05 / n_pvalues)
    pvalues = json.loads((out / "pvalues.json").read_text())
    assert pvalues["tauType"]["pvalues"][0] is None  # the reference chunk is not compared with itself
    rows = {r["test"]: r for r in summary["results"]}
    assert rows["tauType"]["chunks_compared"] == NSPLIT - 1
    assert rows["tauType/2/tau_pt"]["title"] == "tau_pt for tauType = tau"
    assert rows["uh_dataset_group_id/1/tau_eta"]["title"] == "tau_eta for dataset group = W"
    for path, row in rows.items():
        node = pvalues
        for part in path.split("/"):
            node = node[part]
        compared = [p for p in node["pvalues"] if p is not None and p != EMPTY_PVALUE]
        assert row["min_pvalue"] == (pytest.approx(min(compared)) if compared else None)
        assert row["result"] == ("FAIL" if compared and min(compared) < summary["threshold"] else "PASS")
    if sort_by_type:
        assert rows["tauType"]["result"] == "FAIL" and rows["tauType"]["failing_chunks"] == [1, 2, 3]
    text = (out / "summary.txt").read_text().splitlines()
    assert text[0].split()[:2] == ["test", "path"] and "threshold" in text[0]
    assert any(line.startswith("tauType/2/tau_pt") and "tau_pt for tauType = tau" in line for line in text)
    assert text[-1] == stdout.strip().splitlines()[-1]
    assert text[-1].startswith(f"validation {'PASSED' if verdict == 'PASS' else 'FAILED'}")
