"""CreateSpectralHists, the mixed file list and ShuffleMergeSpectral on small written TauTuples."""
from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import uproot
from scipy import stats

from tauml.cli.spectral import create_spectral_hists, shuffle_merge_spectral
from tauml.cli.spectral_tools import main as spectral_tools
from tauml.core.hashing import read_hash_json, std_hash, write_hash_json
from tauml.core.io import write_tree
from tauml.core.schema import TauType, branches
from tauml.spectral import job_range, job_segments, read_file_list
from tauml.spectral.inputs import ListedFile
from tauml.core.testing import random_tautuple

N_FILE = 4000
DATASETS = {"DSA": ("e", "mu", "tau", "jet"), "DSB": ("jet",), "DSC": ("tau", "e")}
GROUPS = """# three groups, one per dataset
A: dir=DSA file=eventTuple.* types=e,mu,tau,jet
B: dir=DSB file=eventTuple_.*\\.root types=jet
C: dir=(DSC) file=eventTuple.* types=tau,e
"""
PT_HIST, ETA_HIST = "980, 20, 1000", "50, 0, 2.5"
COARSE = ["--pt-bins", "20, 40, 80, 1000", "--eta-bins", "0, 1.15, 2.3"]
ALL_TYPES = "e:-1, mu:-1, tau:-1, jet:-1"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three datasets of two files, their spectra (CreateSpectralHists) and the mixed list."""
    top = tmp_path_factory.mktemp("spectral")
    for k, (ds, types) in enumerate(DATASETS.items()):
        for j in range(2):
            arrays = random_tautuple(N_FILE, seed=10 * k + j + 1, types=types, all_branches=False)
            write_tree(top / "raw" / ds / f"eventTuple_{j}.root", arrays)
        assert create_spectral_hists(["--output", str(top / "spec" / f"{ds}.root"), "--output_entries",
                                      str(top / "spec" / f"{ds}.txt"), "--input-dir", str(top / "raw" / ds),
                                      "--pt-hist", PT_HIST, "--eta-hist", ETA_HIST, "--quiet"]) == 0
    assert spectral_tools(["filelist"] + [str(top / "spec" / f"{ds}.txt") for ds in DATASETS] +
                           ["--output", str(top / "mix.txt"), "--seed", "5"]) == 0
    (top / "groups.cfg").write_text(GROUPS)
    return top


def inputs(ds=None):
    """All entries of the test datasets (or one) as numpy arrays, with their dataset name."""
    out = []
    for k, (name, types) in enumerate(DATASETS.items()):
        if ds in (None, name):
            for j in range(2):
                a = random_tautuple(N_FILE, seed=10 * k + j + 1, types=types, all_branches=False)
                out.append({"ds": np.full(N_FILE, name), **{b: np.asarray(a[b]) for b in
                                                            ("evt", "tau_pt", "tau_eta", "genLepton_kind",
                                                             "genJet_index")}})
    return {key: np.concatenate([o[key] for o in out]) for key in out[0]}


def merge(data, tmp_path, *extra, job=0, n_jobs=1, name="out.root"):
    out = tmp_path / name
    args = ["--cfg", str(data / "groups.cfg"), "--input", str(data / "mix.txt"), "--prefix", str(data / "raw"),
            "--input-spec", str(data / "spec"), "--output", str(out), "--job-idx", str(job), "--n-jobs",
            str(n_jobs), "--compression-algo", "LZ4", "--compression-level", "1", "--quiet", *extra]
    if "--pt-bins" not in extra:
        args += COARSE
    return shuffle_merge_spectral(args), out


def read_out(path):
    return uproot.open(path)["taus"].arrays(["evt", "tauType", "dataset_id", "dataset_group_id", "tau_pt",
                                             "tau_eta", "tau_dz"], library="np")


def bin_counts(a, pt_edges, eta_edges):
    h, _, _ = np.histogram2d(np.abs(a["tau_eta"]), a["tau_pt"], bins=[eta_edges, pt_edges])
    return h


def test_std_hash_matches_libstdcxx():
    # reference values printed by g++ 12 (std::hash<std::string>)
    assert std_hash("DY") == 10918959937480734963
    assert std_hash("") == 6142509188972423790
    assert std_hash("abcdefgh") == 8664279048047335611
    assert std_hash("abcdefghi") == 13036955925923793583


def test_hash_json_merges_and_keeps_strings(tmp_path):
    path = tmp_path / "h.json"
    write_hash_json(path, ["DY"])
    write_hash_json(path, ["TT"])
    data = json.loads(path.read_text())
    assert data == {"DY": "10918959937480734963", "TT": str(std_hash("TT"))}
    assert read_hash_json(path) == data
    other = tmp_path / "o.json"
    write_hash_json(other, ["TT", "W"])
    merged = tmp_path / "m.json"
    assert spectral_tools(["merge-hashes", str(path), str(other), "--output", str(merged)]) == 0
    assert read_hash_json(merged) == {**data, "W": str(std_hash("W"))}
    other.write_text('{"TT": "1"}')
    assert spectral_tools(["merge-hashes", str(path), str(other), "--output", str(tmp_path / "bad.json")]) == 1
    assert not (tmp_path / "bad.json").exists()


def test_spectrum_histograms_readable_by_root(tmp_path):
    ROOT = pytest.importorskip("ROOT")
    arrays = random_tautuple(3000, seed=7, all_branches=False)
    arrays["tau_index"][::7] = -1  # no reco tau -> not_valid
    for j in range(2):
        write_tree(tmp_path / "in" / "sub" / f"t{j}.root", arrays)
    out, txt = tmp_path / "s.root", tmp_path / "s.txt"
    args = ["--outputfile", str(out), "--output_entries", str(txt), "--input-dir", str(tmp_path / "in"),
            "--pt-hist", "50, 0, 1000", "--eta-hist", "5, 0, 2.5", "--quiet"]
    assert create_spectral_hists(args + ["--n-threads", "2"]) == 0
    assert txt.read_text().splitlines() == [f"{tmp_path / 'in' / 'sub' / f't{j}.root'} 3000" for j in range(2)]

    f = ROOT.TFile.Open(str(out))
    valid = arrays["tau_index"] >= 0
    truth = np.array([arrays["genLepton_kind"], arrays["genJet_index"]])
    for t in ("e", "mu", "tau", "jet"):
        kind = {"e": 1, "mu": 2, "tau": 5}.get(t)
        sel = valid & ((truth[0] == kind) if kind else (truth[1] == 0))
        ref = ROOT.TH2D(f"ref_{t}", "", 5, 0, 2.5, 50, 0, 1000)
        for _ in range(2):
            x = np.abs(arrays["tau_eta"][sel]).astype(np.float64)
            y = arrays["tau_pt"][sel].astype(np.float64)
            ref.FillN(int(sel.sum()), x, y, np.ones(int(sel.sum())))
        h = f.Get(f"eta_pt_hist_{t}")
        assert h and h.GetEntries() == 2 * sel.sum()
        got = np.frombuffer(h.GetArray(), count=h.GetNcells())
        want = np.frombuffer(ref.GetArray(), count=ref.GetNcells())
        np.testing.assert_array_equal(got, want)
        assert h.GetMean(2) == pytest.approx(ref.GetMean(2), rel=1e-9)
    assert f.Get("not_valid").GetBinContent(1) == 2 * (~valid).sum()
    f.Close()
    # one process gives the same histograms
    out1 = tmp_path / "s1.root"
    assert create_spectral_hists(args[:1] + [str(out1)] + args[2:]) == 0
    for t in ("e", "jet"):
        a, b = uproot.open(out)[f"eta_pt_hist_{t}"], uproot.open(out1)[f"eta_pt_hist_{t}"]
        np.testing.assert_array_equal(a.values(flow=True), b.values(flow=True))


def test_dataset_loop_mode(tmp_path, data):
    out = tmp_path / "spec"
    assert create_spectral_hists(["--input", str(data / "raw"), "--output", str(out), "--filter", "^DS[AB]$",
                                  "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["DSA.root", "DSA.txt", "DSB.root", "DSB.txt"]
    h = uproot.open(out / "DSB.root")["eta_pt_hist_jet"]
    assert h.axis(1).edges()[[0, 1, -1]].tolist() == [10, 11, 5000] and len(h.axis(0).edges()) == 26
    assert h.values().sum() == 2 * N_FILE


def test_mixed_file_list(data):
    files = read_file_list(data / "mix.txt")
    assert sorted((f.dataset, f.name, f.entries) for f in files) == sorted(
        (ds, f"eventTuple_{j}.root", N_FILE) for ds in DATASETS for j in range(2))
    assert [(f.dataset, f.name) for f in files] != sorted((f.dataset, f.name) for f in files)


def test_prefix_joining():
    f = ListedFile("DY", "t.root", 1)
    assert f.path("") == "DY/t.root"
    assert f.path("/data/raw") == "/data/raw/DY/t.root"
    assert f.path("root://eos.cern.ch//eos/x/") == "root://eos.cern.ch//eos/x/DY/t.root"


@pytest.mark.parametrize("total,n_jobs", [(10, 3), (5, 7), (0, 2), (2**40 + 3, 4)])
def test_job_ranges_cover_everything_once(total, n_jobs):
    ranges = [job_range(total, j, n_jobs) for j in range(n_jobs)]
    assert ranges[0][0] == 0 and ranges[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    files = [ListedFile("D", f"f{i}", n) for i, n in enumerate((3, 0, 4, 1))]
    covered = [(s.file.name, e) for j in range(n_jobs) for s in job_segments(files, j, n_jobs)
               for e in range(s.start, s.stop)]
    assert sorted(covered) == sorted((f.name, e) for f in files for e in range(f.entries))


def test_output_spectrum_is_flat(data, tmp_path):
    rc, out = merge(data, tmp_path)
    assert rc == 0
    a = read_out(out)
    pt_edges, eta_edges = [20, 40, 80, 1000], [0, 1.15, 2.3]
    for t in ("e", "mu", "tau", "jet"):
        sel = a["tauType"] == TauType[t]
        counts = bin_counts({k: v[sel] for k, v in a.items()}, pt_edges, eta_edges).ravel()
        assert counts.sum() > 300
        chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
        assert stats.chi2.sf(chi2, counts.size - 1) > 1e-3, (t, counts)
    # default --tau-ratio 1:1:1:1
    n = np.bincount(a["tauType"], minlength=4)[:4]
    assert stats.chisquare(n).pvalue > 1e-3, n
    ids = read_hash_json(tmp_path / "hashes" / "out_0" / "dataset_hash.json")
    groups = read_hash_json(tmp_path / "hashes" / "out_0" / "datagroup_hash.json")
    assert ids == {ds: str(std_hash(ds)) for ds in DATASETS}
    assert groups == {g: str(std_hash(g)) for g in "ABC"}
    assert set(a["dataset_id"].tolist()) == {std_hash(ds) for ds in DATASETS}
    # group B holds only jets, group C only tau and e
    b, c = a["dataset_group_id"] == std_hash("B"), a["dataset_group_id"] == std_hash("C")
    assert set(a["tauType"][b].tolist()) == {3} and set(a["tauType"][c].tolist()) == {0, 2}
    for g in "ABC":
        assert (tmp_path / "hashes" / "out_0" / f"{g}.root").exists()
    n_file = uproot.open(tmp_path / "hashes" / "out_0" / "C_n.root")
    spec = uproot.open(data / "spec" / "DSC.root")["eta_pt_hist_tau"].values()
    assert n_file["tau_entries"].values().sum() == spec[:46, :].sum()


def test_tau_ratio_proportions(data, tmp_path):
    rc, out = merge(data, tmp_path, "--tau-ratio", "jet:3, e:1, mu:2, tau:1")
    assert rc == 0
    n = np.bincount(read_out(out)["tauType"], minlength=4)[:4]
    expected = np.array([1, 2, 1, 3]) / 7 * n.sum()
    assert stats.chisquare(n, expected).pvalue > 1e-3, n


def test_jobs_are_disjoint_and_cover_every_entry(data, tmp_path):
    seen = []
    for job in range(3):
        rc, out = merge(data, tmp_path, "--pt-bins", "20, 1000", "--eta-bins", "0, 2.3", "--tau-ratio", ALL_TYPES,
                        job=job, n_jobs=3, name=f"j{job}.root")
        assert rc == 0
        a = read_out(out)
        seen += list(zip(a["dataset_id"].tolist(), a["evt"].tolist()))
    truth = inputs()
    everything = [(std_hash(ds), int(e)) for ds, e in zip(truth["ds"], truth["evt"])]
    assert len(seen) == len(set(seen)) == len(everything)
    assert set(seen) == set(everything)


def test_lastbin_takeall_and_disbalance_cap(data, tmp_path):
    rc, out = merge(data, tmp_path, "--tau-ratio", ALL_TYPES, "--lastbin-takeall", "true",
                    "--lastbin-disbalance", "0.5")
    assert rc == 0
    a = read_out(out)
    for ds, group in (("DSA", "A"), ("DSC", "C")):
        truth = inputs(ds)
        got = a["dataset_group_id"] == std_hash(group)
        for t, kind in (("tau", 5), ("e", 1)):
            last_in = (truth["tau_pt"] >= 80) & (truth["genLepton_kind"] == kind)
            sel = got & (a["tauType"] == TauType[t])
            assert np.count_nonzero(sel & (a["tau_pt"] >= 80)) == np.count_nonzero(last_in)
            low = np.count_nonzero(sel & (a["tau_pt"] < 80))
            # the cap is active for this falling spectrum: low-pt entries ~ 0.5 * N(last bin)
            cap = 0.5 * np.count_nonzero(last_in)
            assert abs(low - cap) < 4 * np.sqrt(cap), (ds, t, low, cap)


def test_parity_and_reproducibility(data, tmp_path):
    sets = {}
    for parity in ("0", "1", "3"):
        rc, out = merge(data, tmp_path, "--parity", parity, "--tau-ratio", ALL_TYPES, "--pt-bins", "20, 1000",
                        "--eta-bins", "0, 2.3", name=f"p{parity}.root")
        assert rc == 0
        evt = read_out(out)["evt"]
        if parity != "3":
            assert np.all(evt % 2 == int(parity)) and evt.size > 0
        sets[parity] = set(zip(read_out(out)["dataset_id"].tolist(), evt.tolist()))
    assert sets["0"] | sets["1"] == sets["3"] and not sets["0"] & sets["1"]

    runs = [merge(data, tmp_path, "--seed", seed, "--n-threads", threads, name=f"s{i}.root")[1]
            for i, (seed, threads) in enumerate((("11", "1"), ("11", "2"), ("12", "1")))]
    first, again, other = (read_out(p) for p in runs)
    for key in first:  # identical with the same seed, whatever the number of threads
        np.testing.assert_array_equal(first[key], again[key])
    assert first["evt"].size != other["evt"].size or np.any(first["evt"] != other["evt"])


def test_refill_max_entries_disabled_branches_and_blank_lines(data, tmp_path):
    listing = (data / "mix.txt").read_text().splitlines()
    (tmp_path / "list.txt").write_text("\n".join(listing[:3] + [""] + listing[3:]) + "\n\n")
    out = tmp_path / "refill.root"
    rc = shuffle_merge_spectral(["--cfg", str(data / "groups.cfg"), "--input", str(tmp_path / "list.txt"),
                                 "--prefix", str(data / "raw"), "--output", str(out), "--refill-spectrum",
                                 "--max-entries", "500", "--disabled-branches", "tau_dz", "--quiet", *COARSE,
                                 "--out-dir", str(tmp_path / "o")])
    assert rc == 0
    a = read_out(out)
    assert a["evt"].size == 500
    assert np.all(a["tau_dz"] == branches()["tau_dz"].default)
    assert (tmp_path / "o" / "datagroup_hash.json").exists()


def _fails(capsys, tmp_path, rc, message):
    assert rc != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.root").exists() and not (tmp_path / "hashes").exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_bad_inputs_fail_cleanly(data, tmp_path, capsys):
    rc, _ = merge(data, tmp_path, "--pt-bins", "20, 40.5, 1000", "--eta-bins", "0, 2.3")
    _fails(capsys, tmp_path, rc, "not aligned")
    rc, _ = merge(data, tmp_path, "--pt-bins", "15, 1000", "--eta-bins", "0, 2.3")
    _fails(capsys, tmp_path, rc, "outside the histogram range")
    rc, _ = merge(data, tmp_path, "--input-spec", str(tmp_path / "nowhere"))
    _fails(capsys, tmp_path, rc, "spectrum file of dataset")
    bad_cfg = tmp_path / "bad.cfg"
    bad_cfg.write_text(GROUPS + "D: dir=NoSuchDataset file=.* types=jet\n")
    rc, _ = merge(data, tmp_path, "--cfg", str(bad_cfg))
    _fails(capsys, tmp_path, rc, "group 'D'")
    rc, _ = merge(data, tmp_path, "--pt-bins", "20, 40, 80, 1000", "--eta-bins", "0, 1.15, 2.3, 2.5")
    _fails(capsys, tmp_path, rc, "--enable-emptybin")
    rc, _ = merge(data, tmp_path, "--tau-ratio", "jet:1, e:1, mu:1, tau:1, emb_tau:1")
    _fails(capsys, tmp_path, rc, "emb_tau")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text((data / "mix.txt").read_text().replace(f" {N_FILE}", f" {N_FILE + 1}", 1))
    rc, _ = merge(data, tmp_path, "--input", str(wrong))
    _fails(capsys, tmp_path, rc, "but the input list says")
    rc, out = merge(data, tmp_path, "--pt-bins", "20, 40, 80, 1000", "--eta-bins", "0, 1.15, 2.3, 2.5",
                    "--enable-emptybin", "true")
    assert rc == 0 and read_out(out)["evt"].size > 0


def test_full_schema_entries_are_copied_intact(tmp_path):
    """Every branch (jagged ones too) of each output entry equals its input entry; ROOT reads the output."""
    arrays = {}
    for k, ds in enumerate(("X", "Y")):
        arrays[ds] = random_tautuple(300, seed=k + 1, types=("tau", "jet"))
        write_tree(tmp_path / "raw" / ds / "f.root", arrays[ds])
    (tmp_path / "list.txt").write_text("Y/f.root 300\nX/f.root 300\n")
    (tmp_path / "g.cfg").write_text("G: dir=X|Y file=.* types=tau,jet\n")
    out = tmp_path / "out.root"
    rc = shuffle_merge_spectral(["--cfg", str(tmp_path / "g.cfg"), "--input", str(tmp_path / "list.txt"), "--prefix",
                                 str(tmp_path / "raw"), "--output", str(out), "--refill-spectrum", "true",
                                 "--pt-bins", "20, 1000", "--eta-bins", "0, 2.3", "--tau-ratio", "tau:-1, jet:-1",
                                 "--disabled-branches", "pfCand_dz, npu", "--compression-algo", "LZ4", "--quiet"])
    assert rc == 0
    got = uproot.open(out)["taus"].arrays(library="ak", how=dict)
    assert len(got["evt"]) == 600
    ids = np.asarray(got["dataset_id"])
    for ds in ("X", "Y"):
        sel = np.flatnonzero(ids == np.uint64(std_hash(ds)))
        rows = sel[np.argsort(np.asarray(got["evt"])[sel])]
        src = np.argsort(arrays[ds]["evt"])
        for name, want in arrays[ds].items():
            if name in ("tauType", "dataset_id", "dataset_group_id"):
                continue
            have, want = got[name][rows], want[src]
            if name == "pfCand_dz":  # disabled list branch: defaults, as many as its collection has
                assert np.array_equal(ak.num(have), ak.num(want))
                assert np.all(ak.flatten(have).to_numpy() == branches()["pfCand_dz"].default)
            elif name == "npu":
                assert np.all(np.asarray(have) == branches()["npu"].default)
            elif isinstance(want, ak.Array):
                assert np.array_equal(ak.num(have), ak.num(want)), name
                assert np.array_equal(ak.flatten(have).to_numpy(), ak.flatten(want).to_numpy()), name
            else:
                assert np.array_equal(np.asarray(have), want), name
    ROOT = pytest.importorskip("ROOT")
    f = ROOT.TFile.Open(str(out))
    t = f.Get("taus")
    assert t.GetEntries() == 600
    assert t.Draw("pfCand_pt", "", "goff") == int(ak.sum(ak.num(got["pfCand_pt"])))
    assert t.Draw("tauType", "tauType == 2", "goff") == int(np.sum(np.asarray(got["tauType"]) == 2))
    f.Close()


def test_create_spectral_hists_bad_input(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_tree(tmp_path / "in" / "good.root", random_tautuple(50, seed=1, all_branches=False))
    (tmp_path / "in" / "junk.root").write_bytes(b"not a ROOT file")
    out, txt = tmp_path / "s.root", tmp_path / "s.txt"
    args = ["--output", str(out), "--output_entries", str(txt), "--input-dir", str(tmp_path / "in"), "--quiet"]
    assert create_spectral_hists(args + ["--n-threads", "2"]) == 1
    assert "junk.root" in capsys.readouterr().err
    assert not out.exists() and not txt.exists()
    assert create_spectral_hists(args + ["--pt-hist", "10, 5, 1"]) == 1
    assert "--pt-hist" in capsys.readouterr().err
    assert create_spectral_hists(args + ["--file-name-pattern", r".*/nothing\.root"]) == 1
    assert "no input files" in capsys.readouterr().err
    assert not out.exists()
