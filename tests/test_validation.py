"""validation_tool on small written ShuffleMergeSpectral-like outputs: a good mix, sorted mixes, bad input."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from tauml.cli.validation import FAILED_EXIT
from tauml.cli.validation import main as validation_tool
from tauml.core.io import write_tree
from tauml.core.testing import random_tautuple
from tauml.validation.compare import (
    BRANCHES, EMPTY_PVALUE, Binning, chi2_pvalues, fill_counts, find_inputs, ks_pvalues, load_hashes,
    scan_inputs,
)


@pytest.fixture
def ROOT():
    """PyROOT, the independent reference; only the tests comparing with ROOT skip without it."""
    return pytest.importorskip("ROOT")


N_FILE, N_FILES = 12_000, 3
GROUPS = {"DY": "10918959937480734963", "TT": "123456789012345678", "W": "9223372036854775813"}
DATASETS = {"DYJets": "111", "TTTo2L": "222", "TTToHad": "333", "WJets": "444"}
GROUP_OF = {"DYJets": "DY", "TTTo2L": "TT", "TTToHad": "TT", "WJets": "W"}


def merged_arrays(n: int, seed: int, all_branches: bool = False) -> dict:
    """A well-mixed sample: random tau types and datasets, ids as ShuffleMergeSpectral writes them."""
    arrays = random_tautuple(n, seed=seed, all_branches=all_branches)
    rng = np.random.default_rng(seed + 1000)
    arrays["tauType"] = rng.integers(0, 4, n).astype(np.int32)
    names = np.array(list(DATASETS))[rng.integers(0, len(DATASETS), n)]
    arrays["dataset_id"] = np.array([int(DATASETS[d]) for d in names], np.uint64)
    arrays["dataset_group_id"] = np.array([int(GROUPS[GROUP_OF[d]]) for d in names], np.uint64)
    return arrays


def write_merge(top, sort_by: str | None = None, all_branches: bool = False):
    """ShuffleMergeSpectral_<i>.root files and the hash JSONs; ``sort_by`` sorts the entries of all files.
    With ``all_branches`` the first file holds every TauTuple branch, as the real outputs do."""
    top.mkdir(parents=True, exist_ok=True)
    parts = [merged_arrays(N_FILE, seed=i + 1, all_branches=all_branches and i == 0) for i in range(N_FILES)]
    if sort_by:
        whole = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in BRANCHES}
        order = np.argsort(whole[sort_by], kind="stable")
        parts = [{k: v[order][i * N_FILE:(i + 1) * N_FILE] for k, v in whole.items()} for i in range(N_FILES)]
    for i, arrays in enumerate(parts):
        write_tree(top / f"ShuffleMergeSpectral_{i}.root", arrays)
    (top / "dataset_hash.json").write_text(json.dumps(DATASETS))
    (top / "datagroup_hash.json").write_text(json.dumps(GROUPS))
    return top


def args_for(top, out, *extra):
    return ["--input", str(top), "--id_json", str(top / "dataset_hash.json"), "--group_id_json",
            str(top / "datagroup_hash.json"), "--output", str(out), *extra]


def run_tool(argv):
    """validation_tool's exit status and stdout."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = validation_tool(argv)
    return rc, stdout.getvalue()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return write_merge(tmp_path_factory.mktemp("good"), all_branches=True)


@pytest.fixture(scope="module")
def good_run(good, tmp_path_factory):
    out = tmp_path_factory.mktemp("good_out") / "validation"
    rc, stdout = run_tool(args_for(good, out, "--nsplit", "10", "--strict", "--correction", "bonferroni",
                                   "--n_threads", "2", "--formats", "none"))
    return rc, stdout, out


def test_good_merge_passes(good_run):
    rc, stdout, _ = good_run
    assert rc == 0
    assert stdout.splitlines()[-1].startswith("validation PASSED")
    assert "FAIL" not in stdout


@pytest.mark.parametrize("sort_by, failing", [("tauType", "tauType"), ("dataset_group_id", "uh_dataset_group_id")])
def test_sorted_merge_fails(tmp_path, sort_by, failing):
    top = write_merge(tmp_path / "in", sort_by=sort_by)
    argv = args_for(top, tmp_path / "out", "--nsplit", "10", "--formats", "none")
    rc, stdout = run_tool(argv + ["--strict"])
    assert rc == FAILED_EXIT
    assert stdout.splitlines()[-1].startswith("validation FAILED")
    row = next(line.split() for line in stdout.splitlines() if line.split()[:1] == [failing])
    assert row[-1] == "FAIL" and float(row[2]) < 1e-10 and int(row[3]) >= 6
    pvalues = json.loads((tmp_path / "out" / "pvalues.json").read_text())[failing]["pvalues"]
    assert pvalues[0] is None and sum(p < 1e-10 for p in pvalues[1:]) >= 6  # few chunks agree with chunk 0
    rc, stdout = run_tool(argv)  # without --strict the failure is only reported, as in the original
    assert rc == 0 and "validation FAILED" in stdout


def test_pvalues_json_structure(good_run):
    out = good_run[2]
    tree = json.loads((out / "pvalues.json").read_text())
    assert list(tree) == ["tauType", "sampleType", "uh_dataset_group_id"]
    assert sorted(k for k in tree["tauType"] if k != "pvalues") == ["0", "1", "2", "3"]
    assert sorted(k for k in tree["uh_dataset_group_id"] if k != "pvalues") == ["0", "1", "2"]
    assert list(tree["sampleType"]) == ["pvalues", "1"]  # only MC
    leaves = []

    def walk(node, path):
        for key, value in node.items():
            if key == "pvalues":
                leaves.append((path, value))
            else:
                walk(value, path + [key])
    walk(tree, [])
    assert len(leaves) == 3 + 2 * (4 + 1 + 3)
    for path, values in leaves:
        assert len(values) == 10
        assert values[0] is None  # chunk 0 is the reference, not compared with itself
        assert all(0 <= p <= 1 for p in values[1:]), path
    assert {tuple(p[-1:]) for p, _ in leaves if len(p) == 3} == {("tau_pt",), ("tau_eta",)}


def test_histograms_root_and_pvalues_agree_with_root(good_run, ROOT):
    out = good_run[2]
    tree = json.loads((out / "pvalues.json").read_text())
    f = ROOT.TFile.Open(str(out / "histograms.root"))
    chunks = [f.Get(f"tauType/chunk_{i}") for i in range(10)]
    assert all(h and h.InheritsFrom("TH1D") for h in chunks)
    assert sum(h.GetEntries() for h in chunks) == N_FILE * N_FILES
    # chunks follow entry order: 36000 entries into 10 chunks of 3600
    assert [h.GetEntries() for h in chunks] == [3600] * 10
    for path in ("tauType", "uh_dataset_group_id/1/tau_pt", "tauType/2/tau_eta"):
        ref = f.Get(f"{path}/chunk_0")
        expected = [ref.Chi2Test(f.Get(f"{path}/chunk_{i}"), "NORM") for i in range(1, 10)]
        node = tree
        for part in path.split("/"):
            node = node[part]
        np.testing.assert_allclose(node["pvalues"][1:], expected, rtol=1e-9)
    f.Close()


def test_plots_exist(tmp_path):
    """One PDF and one PNG per test path; a single tau type, group and dataset keep the paths few."""
    top = tmp_path / "in"
    top.mkdir()
    arrays = merged_arrays(3000, seed=5)
    arrays["tauType"][:] = 2
    arrays["dataset_id"][:] = int(DATASETS["WJets"])
    arrays["dataset_group_id"][:] = int(GROUPS["W"])
    write_tree(top / "ShuffleMergeSpectral_0.root", arrays)
    (top / "dataset_hash.json").write_text(json.dumps(DATASETS))
    (top / "datagroup_hash.json").write_text(json.dumps(GROUPS))
    out = tmp_path / "out"
    rc, _ = run_tool(args_for(top, out, "--nsplit", "5", "--legend", "--n_threads", "2"))
    assert rc == 0
    tree = json.loads((out / "pvalues.json").read_text())
    paths = ["tauType", "sampleType", "uh_dataset_group_id"] + [
        f"{var}/{value}/{obs}" for obs in ("tau_pt", "tau_eta")
        for var, value in (("tauType", "2"), ("sampleType", "1"), ("uh_dataset_group_id", "2"))]
    for path in paths:
        node = tree
        for part in path.split("/"):
            node = node[part]
        assert len(node["pvalues"]) == 5
        for fmt in ("pdf", "png"):
            assert (out / fmt / f"{path.replace('/', '_')}.{fmt}").stat().st_size > 1000
    assert len(list((out / "png").iterdir())) == len(list((out / "pdf").iterdir())) == len(paths)
    assert not list(tmp_path.glob(".out.tmp*"))


def root_hist(ROOT, name, counts, weights_normalised=False):
    h = ROOT.TH1D(name, "", len(counts), 0, len(counts))
    for i, c in enumerate(counts):
        for _ in range(int(c)):
            h.Fill(i + 0.5)
    if weights_normalised:  # the original's recipe: Sumw2, then scaled to unit area
        h.Sumw2()
        h.Scale(1 / h.Integral())
    return h


def test_chi2_and_ks_match_root(ROOT):
    rng = np.random.default_rng(3)
    shape = np.r_[np.geomspace(1, 0.01, 12), 0, 0, 0.02]  # falling, with bins empty in both
    ROOT.gErrorIgnoreLevel = ROOT.kWarning
    for k in range(6):
        a = rng.multinomial(300 + 50 * k, shape / shape.sum())
        b = rng.multinomial(200 + 80 * k, (shape * np.linspace(1, 1 + 0.1 * k, len(shape))) / shape.sum()
                            / np.linspace(1, 1 + 0.1 * k, len(shape)).mean())
        ha, hb = root_hist(ROOT, f"a{k}", a), root_hist(ROOT, f"b{k}", b)
        ours_chi2 = chi2_pvalues(a[None], b[None])[0]
        assert ours_chi2 == pytest.approx(ha.Chi2Test(hb, "NORM"), rel=1e-9, abs=1e-300)
        na, nb = root_hist(ROOT, f"na{k}", a, True), root_hist(ROOT, f"nb{k}", b, True)
        assert ours_chi2 == pytest.approx(na.Chi2Test(nb, "UU NORM"), rel=1e-9, abs=1e-300)
        assert ks_pvalues(a[None], b[None])[0] == pytest.approx(ha.KolmogorovTest(hb), rel=1e-6, abs=1e-12)
    # one histogram empty: the original's marker
    assert chi2_pvalues(np.array([[0, 0, 0]]), np.array([[1, 2, 0]]))[0] == EMPTY_PVALUE
    assert ks_pvalues(np.array([[1, 2, 0]]), np.array([[0, 0, 0]]))[0] == EMPTY_PVALUE
    # all entries of both in one bin: identical shapes (ROOT returns 0 for ndf = 0)
    assert chi2_pvalues(np.array([[0, 5, 0]]), np.array([[0, 9, 0]]))[0] == 1.0


def test_chunks_in_entry_order_whatever_the_threads(tmp_path):
    """The first half of the entries (in file order) is type 0, the second type 1: with 2 chunks, chunk 0
    holds only type 0 whether ranges are read by one thread or by two, in any completion order."""
    for i in range(2):
        arrays = merged_arrays(5000, seed=i + 1)
        arrays["tauType"] = np.full(5000, i, np.int32)
        write_tree(tmp_path / f"part_{i}.root", arrays)
    files = scan_inputs(find_inputs(tmp_path))
    binning = Binning.build({k: int(v) for k, v in DATASETS.items()}, {k: int(v) for k, v in GROUPS.items()}, False)
    serial = fill_counts(files, binning, nsplit=2, n_threads=1, progress=False)
    parallel = fill_counts(files, binning, nsplit=2, n_threads=2, task_entries=700, step_size=300, progress=False)
    for key in serial.counts:
        np.testing.assert_array_equal(serial.counts[key], parallel.counts[key])
    types = serial.counts[("tauType", "tau_pt")].sum(2)
    assert types[0, 1] == types[1, 2] == 5000 and types[0, 2] == types[1, 1] == 0


def test_use_dataset_id_and_rest_reference(good, tmp_path):
    rc, stdout = run_tool(args_for(good, tmp_path / "out", "--nsplit", "5", "--use_dataset_id", "--reference",
                                   "rest", "--test", "KS", "--formats", "none", "--correction", "bonferroni"))
    assert rc == 0 and "validation PASSED" in stdout
    tree = json.loads((tmp_path / "out" / "pvalues.json").read_text())
    assert list(tree) == ["tauType", "sampleType", "uh_dataset_group_id", "uh_dataset_id"]
    assert sorted(tree["uh_dataset_group_id"]["1"]) == ["tau_eta", "tau_pt", "uh_dataset_id"]  # TT: two datasets
    assert sorted(tree["uh_dataset_id"]) == ["0", "1", "2", "3", "pvalues"]
    assert tree["tauType"]["pvalues"][0] != 1.0  # chunk 0 is compared with the others, not with itself


def test_hash_json_values(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"a": "18446744073709551615", "b": 7}))
    assert load_hashes(path) == {"a": 2**64 - 1, "b": 7}


@pytest.mark.parametrize("problem, message", [
    ("no_files", "no file matches --regex"),
    ("missing_json", "no such hash JSON file"),
    ("bad_json", "not a readable hash JSON file"),
    ("missing_branch", "lacks required branch(es): tauType"),
    ("not_root", "not a readable ROOT file"),
    ("nan", "tree 'taus' entry 17: branch 'tau_pt' is nan, not a finite number"),
    ("foreign_output", "refusing to replace it"),
])
def test_bad_input(tmp_path, capsys, problem, message):
    top = tmp_path / "in"
    top.mkdir()
    arrays = merged_arrays(200, seed=1)
    (top / "dataset_hash.json").write_text(json.dumps(DATASETS))
    (top / "datagroup_hash.json").write_text(json.dumps(GROUPS))
    out = tmp_path / "out"
    extra = []
    if problem == "no_files":
        extra = ["--regex", r".*\.nothing$"]
    if problem == "missing_json":
        (top / "dataset_hash.json").unlink()
    if problem == "bad_json":
        (top / "datagroup_hash.json").write_text("{not json")
    if problem == "missing_branch":
        del arrays["tauType"]
    if problem == "nan":
        arrays["tau_pt"][17] = np.nan
    if problem == "foreign_output":
        out.mkdir()
        (out / "thesis.tex").write_text("keep me")
    write_tree(top / "ShuffleMergeSpectral_0.root", arrays)
    if problem == "not_root":
        (top / "ShuffleMergeSpectral_1.root").write_bytes(b"not a ROOT file at all")
    rc = validation_tool(args_for(top, out, "--nsplit", "4", *extra))
    err = capsys.readouterr().err
    assert rc == 1
    assert message in err and "validation_tool: error:" in err
    if problem == "foreign_output":
        assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    else:
        assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp*"))


def test_rerun_replaces_previous_output(good, tmp_path):
    out = tmp_path / "out"
    argv = args_for(good, out, "--nsplit", "3", "--formats", "none", "--test", "KS")
    assert run_tool(argv)[0] == 0
    first = (out / "pvalues.json").read_text()
    (out / "pdf").mkdir()
    (out / "pdf" / "stale.pdf").write_bytes(b"x")
    assert run_tool(argv)[0] == 0
    assert (out / "pvalues.json").read_text() == first
    assert sorted(p.name for p in out.iterdir()) == ["histograms.root", "pvalues.json", "summary.json", "summary.txt"]


def test_pvalues_of_good_mixes_are_uniform():
    """The figures in docs/differences.md: chunks drawn from one distribution (500 mixes of 11 chunks of 2000
    entries, a tauType-like and an eta-like observable on validation_tool's axes) give χ² p-values below 0.05
    as often as 5 %, against chunk 0 and against the rest; the binned KS test is conservative (~1 %)."""
    from tauml.validation.compare import TAU_ETA, TAU_TYPE, compare
    rng = np.random.default_rng(2026)
    draws = ((TAU_TYPE, lambda: rng.integers(0, 4, (11, 2000))), (TAU_ETA, lambda: rng.uniform(-2.3, 2.3, (11, 2000))))
    below = {}
    for test in ("Chi2", "KS"):
        for reference in ("first", "rest"):
            p = []
            for _ in range(500):
                for axis, draw in draws:
                    counts = np.stack([np.bincount(i, minlength=axis.n + 2) for i in axis.index(draw())])
                    p += [v for v in compare(counts, test, reference) if v is not None]
            p = np.array(p)
            below[test, reference] = (p < 0.05).mean()
            if test == "Chi2":
                deciles = np.histogram(p, bins=10, range=(0, 1))[0] / len(p)
                assert np.all(np.abs(deciles - 0.1) < 0.015), (reference, deciles)
    assert round(below["Chi2", "first"], 3) == 0.054 and round(below["Chi2", "rest"], 3) == 0.050
    assert round(below["KS", "first"], 3) == 0.009 and round(below["KS", "rest"], 3) == 0.010
