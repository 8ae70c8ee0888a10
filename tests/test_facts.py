"""Facts with one home in tauml.core, and the places that must agree with them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tauml.binning.split import BinGrid
from tauml.core.axis import Axis, check_edges
from tauml.core.binfiles import (
    OTHER_FILE, SUMMARY_FILE, bin_file_name, format_size_list, is_bin_file, parse_bin_name, read_size_list,
)
from tauml.core.errors import TaumlError
from tauml.core.remote import find_files, find_root_files
from tauml.core.schema import TauType
from tauml.core.seeds import DEFAULT_SEED
from tauml.shufflemerge.plan import Grid
from tauml.validation.compare import find_inputs

REPO = Path(__file__).resolve().parents[1]


def test_workflow_seeds_are_the_tools_default():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())["properties"]
    assert DEFAULT_SEED == 1234567
    for section in ("shufflemerge", "spectral"):
        assert schema[section]["properties"]["seed"]["default"] == DEFAULT_SEED, section


def test_every_bin_file_the_splitter_names_parses_back():
    grid = BinGrid((20, 25.5, 1000), (0, 0.575, 2.3))
    names = [grid.file_name(i) for i in range(grid.n_bins)]
    assert grid.file_name(grid.n_bins) == OTHER_FILE
    assert len(set(names)) == grid.n_bins
    for name in names:
        assert is_bin_file(name)
        kind, pt, eta = parse_bin_name(name.removesuffix(".root"))
        assert bin_file_name(kind, pt, eta) == name
    assert bin_file_name(TauType.emb_tau, 1000, 0.575) == bin_file_name("emb_tau", 1000, 0.575) \
        == "emb_tau_pt_1000_eta_0.575.root"
    assert not any(is_bin_file(n) for n in (OTHER_FILE, SUMMARY_FILE, "tau_pt_20_eta_0.000.txt", "x_pt_1_eta_0.root"))


def test_size_list_round_trip_and_errors(tmp_path):
    rows = [("DS/e_pt_20_eta_0.000.root", 12), ("DS/other.root", 0)]
    path = tmp_path / "size_list.txt"
    path.write_text(format_size_list(rows) + "\n")
    assert read_size_list(path) == rows
    path.write_text("DS/a.root twelve\n")
    with pytest.raises(TaumlError, match=r"size_list.txt:1: expected '<relative path> <entries>'"):
        read_size_list(path)
    with pytest.raises(TaumlError, match="missing.txt: cannot read size list"):
        read_size_list(tmp_path / "missing.txt")


@pytest.mark.parametrize("edges", [[20], [20, 20], [30, 20], [0, float("nan")], [0, float("inf")]])
def test_one_edge_check_for_every_grid(edges):
    for make in (lambda: check_edges(edges, "--pt-bins"), lambda: BinGrid(tuple(edges), (0, 2.3)),
                 lambda: Grid(edges, [0, 2.3]), lambda: Axis.variable(edges, what="--pt-bins")):
        with pytest.raises(TaumlError, match="--pt-bins: need at least 2 finite, strictly increasing bin edges"):
            make()


def test_axis_bins_as_root():
    regular = Axis.regular(4, 0.0, 2.0)
    variable = Axis.variable([0.0, 0.5, 1.0, 1.5, 2.0])
    x = np.array([-1.0, 0.0, 0.49999, 0.5, 1.99, 2.0, 5.0, np.nan, -np.inf, np.inf])
    expected = [0, 1, 1, 2, 4, 5, 5, 5, 0, 5]
    assert regular.index(x).tolist() == expected
    assert variable.index(x).tolist() == expected
    unit = Axis.regular(10, 0.0, 10.0)
    assert unit.index(np.array([-3, 0, 9, 10, 12])).tolist() == [0, 1, 10, 11, 11]  # integer fast path
    assert [unit.bin_value(b) for b in (1, 10)] == ["0", "9"]
    assert Axis.regular(5, -3.2, 3.2).bin_value(2) == "-1.92"


def test_one_input_finder_skips_hidden_files_and_directories(tmp_path):
    for rel in ("a/x.root", "a/.x.root.tmp123", "a/.out.tmp9/y.root", "b/ShuffleMergeSpectral_0.root",
                "b/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    visible = [str(tmp_path / "a/x.root"), str(tmp_path / "b/ShuffleMergeSpectral_0.root")]
    assert find_files([tmp_path], lambda path, name: name.endswith(".root")) == visible
    assert find_root_files([tmp_path]) == visible
    assert find_inputs(tmp_path, r"\.root$") == visible
    assert find_inputs(tmp_path, r"^ShuffleMergeSpectral_\d+\.root$") == visible[1:]  # a search in the name
    with pytest.raises(TaumlError, match="no file matches --regex"):
        find_inputs(tmp_path, r"^y\.root$")
