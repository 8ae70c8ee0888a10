"""ShuffleMerge on small binned tuples written here: uniform mixing, weights, quotas, per-entry merging,
seeds, branch carry-through, and clear failures on bad cfgs."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from scipy import stats

from tauml.cli.shufflemerge import main
from tauml.core.io import write_tree
from tauml.core.schema import SampleType, TauType, branches
from tauml.core.binfiles import bin_name, parse_bin_name
from tauml.shufflemerge.plan import water_fill
from tauml.core.testing import random_tautuple

PT = [20.0, 40.0, 1000.0]
ETA = [0.0, 1.15, 2.3]
EVT_STRIDE = 10_000_000  # random_tautuple numbers events seed * 1e7 + 1, 2, ...


def write_bins(root, dataset, tau_type, sizes, seed0, all_branches=False, sample_type=SampleType.MC):
    """One bin file per (pt, eta) cell with ``sizes[i][j]`` entries; returns {seed: (dataset, bin)}."""
    made = {}
    for i in range(len(PT) - 1):
        for j in range(len(ETA) - 1):
            n = sizes[i][j]
            if not n:
                continue
            seed = seed0 + 10 * i + j
            a = random_tautuple(n, seed=seed, types=(tau_type,), all_branches=all_branches, sample_type=sample_type)
            rng = np.random.default_rng(seed)
            a["tau_pt"] = rng.uniform(PT[i], PT[i + 1], n).astype(np.float32)
            a["tau_eta"] = (rng.uniform(ETA[j], ETA[j + 1], n) * rng.choice([-1, 1], n)).astype(np.float32)
            name = bin_name(TauType[tau_type], PT[i], ETA[j])
            write_tree(root / dataset / f"{name}.root", a)
            made[seed] = (dataset, name, n)
    return made


def write_size_list(root, made):
    lines = sorted(f"{ds}/{name}.root {n}" for ds, name, n in made.values())
    (root / "size_list.txt").write_text("\n".join(lines) + "\n")


def shuffle_merge(tmp_path, cfg_text, output, *flags):
    cfg = tmp_path / "merge.cfg"
    cfg.write_text(cfg_text)
    return main(["--cfg", str(cfg), "--input", str(tmp_path / "in"), "--output", str(output),
                 "--pt-bins", ", ".join(map(str, PT)), "--eta-bins", ", ".join(map(str, ETA)),
                 "--no-progress", *flags])


def read(path, names=None):
    return uproot.open(path)["taus"].arrays(names, library="np")


MIX_CFG = """# two datasets feed the jet bins, one with twice the weight
tau_DY: dir=DYtautau file=tau_.*
jet_DY: dir=DYtautau file=jet_.*
jet_QCD: dir=QCD file=jet_.* weight=2
"""


@pytest.fixture(scope="module")
def mixed_inputs(tmp_path_factory):
    """tau from one dataset, jet from two; unequal bins, one jet bin larger than the occupancy cap."""
    root = tmp_path_factory.mktemp("mix")
    made = {}
    made |= write_bins(root / "in", "DYtautau", "tau", [[900, 400], [300, 150]], 100)
    made |= write_bins(root / "in", "DYtautau", "jet", [[700, 200], [250, 60]], 200)
    made |= write_bins(root / "in", "QCD", "jet", [[800, 500], [90, 100]], 300)
    write_size_list(root / "in", made)
    return root, made


def classes(evt, made):
    """(dataset, bin) label per output entry, from the event number."""
    seeds = (evt - 1) // EVT_STRIDE
    return np.array([f"{made[s][0]}/{made[s][1]}" for s in seeds])


def test_windows_have_expected_composition(mixed_inputs, tmp_path):
    """χ² per window of W entries: each (type, pt, eta, source) as often as its share of the output.

    Tolerance: every window must pass at significance 1e-3 against the multinomial expectation (a random
    draw per entry, as the original did); the planned interleaving is far tighter than that, so a stream
    arriving in clumps, or one source read after another, fails.
    """
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    out = tmp_path / "mix.root"
    assert shuffle_merge(tmp_path, MIX_CFG, out, "--calc-weights", "true", "--ensure-uniformity", "true",
                         "--max-bin-occupancy", "1000") == 0
    label = classes(read(out, ["evt"])["evt"], made)
    names, total = np.unique(label, return_counts=True)
    share = total / len(label)
    window = 400
    worst = 1.0
    for start in range(0, len(label) - window + 1, window):
        counts = np.array([(label[start:start + window] == n).sum() for n in names])
        chi2 = ((counts - window * share) ** 2 / (window * share)).sum()
        worst = min(worst, stats.chi2.sf(chi2, len(names) - 1))
    assert worst > 1e-3
    # the same test catches an unmixed order: input order sorted by class
    ordered = np.sort(label)
    counts = np.array([(ordered[:window] == n).sum() for n in names])
    assert stats.chi2.sf(((counts - window * share) ** 2 / (window * share)).sum(), len(names) - 1) < 1e-3


def test_weights_and_occupancy(mixed_inputs, tmp_path):
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    out = tmp_path / "w.root"
    assert shuffle_merge(tmp_path, MIX_CFG, out, "--calc-weights", "true", "--ensure-uniformity", "false",
                         "--max-bin-occupancy", "1000") == 0
    a = read(out, ["evt", "trainingWeight", "sampleType"])
    label = classes(a["evt"], made)
    bins = np.array([lab.split("/")[1] for lab in label])
    available = {}
    for ds, name, n in made.values():
        available[name] = available.get(name, 0) + n
    assert set(bins) == set(available)
    for name, n in available.items():
        in_bin = bins == name
        assert in_bin.sum() == min(n, 1000)
        assert a["trainingWeight"][in_bin].sum() == pytest.approx(1 / len(available), rel=1e-5)
        assert len(set(a["trainingWeight"][in_bin])) == 1
    assert a["trainingWeight"].sum() == pytest.approx(1.0, rel=1e-5)
    # the capped bin (700 + 800 jets) is filled 1:2 by weight: water-filling gives QCD 667, DY 333
    capped = bin_name(TauType.jet, PT[0], ETA[0])
    qcd = (label == f"QCD/{capped}").sum()
    assert (qcd, (bins == capped).sum() - qcd) == (667, 333)
    assert (a["sampleType"] == SampleType.MC).all()


def test_coarser_grid_merges_bin_files(mixed_inputs, tmp_path):
    """A bin file joins the bin that holds its lower edges: one pt × |eta| bin takes every file."""
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    out = tmp_path / "coarse.root"
    assert shuffle_merge(tmp_path, MIX_CFG, out, "--pt-bins", "20, 1000", "--eta-bins", "0, 2.3",
                         "--calc-weights", "true") == 0
    a = read(out, ["evt", "trainingWeight"])
    assert len(a["evt"]) == sum(n for _, _, n in made.values())
    tau = np.isin((a["evt"] - 1) // EVT_STRIDE, [s for s, (_, name, _) in made.items() if name.startswith("tau")])
    assert np.allclose(a["trainingWeight"][tau], 1 / (2 * 1750))
    assert np.allclose(a["trainingWeight"][~tau], 1 / (2 * 2700))


def test_water_fill_rounds():
    # weights (2, 1, 1), sizes (100, 10, 50), 120 to give: round 1 gives 60, 10, 30; round 2 splits the
    # remaining 20 by 2:1 among the two sources with spare: ceil(13.3) = 14, then the 6 left
    assert water_fill([100, 10, 50], [2, 1, 1], 120) == [74, 10, 36]
    assert water_fill([5, 5], [1, 1], 10) == [5, 5]
    with pytest.raises(ValueError):
        water_fill([1], [1], 2)


def test_uniformity_cut_and_weights_follow_written_entries(mixed_inputs, tmp_path):
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    out = tmp_path / "u.root"
    assert shuffle_merge(tmp_path, MIX_CFG, out, "--calc-weights", "true", "--ensure-uniformity", "true") == 0
    a = read(out, ["evt", "trainingWeight"])
    bins = np.array([lab.split("/")[1] for lab in classes(a["evt"], made)])
    total = sum(n for _, _, n in made.values())
    assert 0.95 * total < len(bins) <= total
    for name in set(bins):
        assert a["trainingWeight"][bins == name].sum() == pytest.approx(1 / len(set(bins)), rel=1e-5)


def test_entries_of_one_source_are_shuffled(mixed_inputs, tmp_path):
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    out = tmp_path / "s.root"
    assert shuffle_merge(tmp_path, "tau: dir=DYtautau file=tau_pt_20_eta_0.000\n", out) == 0
    evt = read(out, ["evt"])["evt"]
    assert sorted(evt) == sorted(set(evt)) and len(evt) == 900
    assert abs(stats.spearmanr(np.arange(len(evt)), evt).statistic) < 0.2


def test_seed_reproducible(mixed_inputs, tmp_path):
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    outs = {}
    for label, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        outs[label] = tmp_path / f"{label}.root"
        assert shuffle_merge(tmp_path, MIX_CFG, outs[label], "--seed", seed, "--max-bin-occupancy", "300") == 0
    a, b, c = (read(outs[k]) for k in "abc")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(np.concatenate(a[k]) if a[k].dtype == object else a[k],
                              np.concatenate(b[k]) if b[k].dtype == object else b[k])
    assert not np.array_equal(a["evt"], c["evt"])
    assert len(a["evt"]) == len(c["evt"])


def test_merge_per_entry_keeps_every_entry_once(tmp_path):
    made = write_bins(tmp_path / "in", "DYtautau", "tau", [[120, 40], [30, 0]], 10)
    made |= write_bins(tmp_path / "in", "Embedding", "emb_tau", [[50, 20], [10, 5]], 20,
                       sample_type=SampleType.Embedded)
    write_size_list(tmp_path / "in", made)
    cfg = "tau_DY: dir=DYtautau file=tau_.*\nemb: dir=Embedding file=emb_.* sample_type=Embedded\n"
    assert shuffle_merge(tmp_path, cfg, tmp_path / "testing", "--mode", "MergePerEntry") == 0
    assert sorted(p.name for p in (tmp_path / "testing").iterdir()) == ["emb.root", "tau_DY.root"]
    for entry, dataset, sample in (("tau_DY", "DYtautau", SampleType.MC), ("emb", "Embedding", SampleType.Embedded)):
        a = read(tmp_path / "testing" / f"{entry}.root", ["evt", "sampleType"])
        expected = np.concatenate([s * EVT_STRIDE + 1 + np.arange(n)
                                   for s, (ds, _, n) in made.items() if ds == dataset])
        assert np.array_equal(np.sort(a["evt"]), np.sort(expected))
        assert (a["sampleType"] == sample).all()


def test_all_branches_carried_through(tmp_path):
    made = write_bins(tmp_path / "in", "DY", "tau", [[30, 20], [10, 5]], 40, all_branches=True)
    write_size_list(tmp_path / "in", made)
    out = tmp_path / "all.root"
    assert shuffle_merge(tmp_path, "tau: dir=DY file=tau_.*\n", out, "--disabled-branches", "tau_dz, ele_pt",
                         "--calc-weights", "true") == 0
    first = next(iter(made.values()))
    src_tree = uproot.open(tmp_path / "in" / first[0] / f"{first[1]}.root")["taus"]
    out_tree = uproot.open(out)["taus"]
    assert out_tree.keys() == src_tree.keys()
    assert {k: b.typename for k, b in out_tree.items()} == {k: b.typename for k, b in src_tree.items()}
    src = src_tree.arrays(library="ak")
    got = out_tree.arrays(library="ak")
    row = int(np.nonzero(got["evt"].to_numpy() == src["evt"][3])[0][0])
    for name in ("pfCand_pt", "genParticle_pdgId", "tau_byDeepTau2017v2p1VSjet", "muon_type", "rho"):
        assert got[name][row].tolist() == src[name][3].tolist()
    assert ak.all(got["tau_dz"] == branches()["tau_dz"].default)
    assert ak.all(got["ele_pt"] == branches()["ele_pt"].default)
    assert ak.all(ak.num(got["ele_pt"]) == ak.num(got["ele_eta"]))
    assert ak.sum(ak.num(got["ele_eta"])) > 0


def test_bin_names():
    assert parse_bin_name("emb_tau_pt_20_eta_0.000") == (TauType.emb_tau, 20.0, 0.0)
    assert parse_bin_name(bin_name(TauType.jet, 1000, 1.15)) == (TauType.jet, 1000.0, 1.15)
    for bad in ("other", "summary", "tau_pt_20", "nope_pt_20_eta_0.000", "tau_pt_x_eta_0.000"):
        with pytest.raises(ValueError):
            parse_bin_name(bad)


@pytest.mark.parametrize("cfg, message", [
    ("a: dir=DY file=tau_.*\na: dir=DY file=tau_.*\n", "duplicate item name 'a'"),
    ("a: dir=DY file=tau_.* colour=red\n", "unknown key 'colour'"),
    ("a: dir=DY file=mu_.*\n", "no file listed"),
    ("a: dir=DY file=.*\n", "not a bin file"),
    ("a: dir=DY file=tau_.* sample_type=Simulation\n", "sample_type must be"),
])
def test_bad_cfg_fails_cleanly(tmp_path, capsys, cfg, message):
    made = write_bins(tmp_path / "in", "DY", "tau", [[5, 5], [5, 5]], 50)
    write_tree(tmp_path / "in" / "DY" / "other.root", random_tautuple(3, seed=1, all_branches=False))
    write_size_list(tmp_path / "in", made | {99: ("DY", "other", 3)})
    out = tmp_path / "out" / "merged.root"
    assert shuffle_merge(tmp_path, cfg, out) == 1
    err = capsys.readouterr().err
    assert "ShuffleMerge: error:" in err and message in err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_empty_bin_needs_calc_weights_false(tmp_path, capsys):
    made = write_bins(tmp_path / "in", "DY", "tau", [[5, 5], [5, 0]], 60)
    write_size_list(tmp_path / "in", made)
    out = tmp_path / "e.root"
    assert shuffle_merge(tmp_path, "t: dir=DY file=tau_.*\n", out, "--calc-weights", "true") == 1
    assert "empty bin(s)" in capsys.readouterr().err and not out.exists()
    assert shuffle_merge(tmp_path, "t: dir=DY file=tau_.*\n", out, "--calc-weights", "false") == 0
    assert uproot.open(out)["taus"].num_entries == 15


def test_stale_size_list_is_an_error(tmp_path, capsys):
    made = write_bins(tmp_path / "in", "DY", "tau", [[5, 5], [5, 5]], 70)
    write_size_list(tmp_path / "in", {k: (ds, name, n + 1) for k, (ds, name, n) in made.items()})
    out = tmp_path / "stale.root"
    assert shuffle_merge(tmp_path, "t: dir=DY file=tau_.*\n", out) == 1
    assert "size_list.txt says 6" in capsys.readouterr().err
    assert list(tmp_path.glob("*.root*")) == []


def test_shards_and_reading_processes_do_not_change_the_output(mixed_inputs, tmp_path):
    """The two-pass shuffle: many small shards, blocks and read chunks (tiny --buffer-mb) and two reading
    processes write the same entries in the same order as one process with one shard; no shard is left."""
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    flags = ("--calc-weights", "true", "--ensure-uniformity", "true", "--max-bin-occupancy", "600")
    one, many = tmp_path / "one.root", tmp_path / "many.root"
    assert shuffle_merge(tmp_path, MIX_CFG, one, *flags) == 0
    assert shuffle_merge(tmp_path, MIX_CFG, many, *flags, "--buffer-mb", "0.01", "--n-threads", "2") == 0
    a, b = read(one), read(many)
    assert a.keys() == b.keys() and len(a["evt"]) > 2000
    for k in a:
        assert np.array_equal(np.concatenate(a[k]) if a[k].dtype == object else a[k],
                              np.concatenate(b[k]) if b[k].dtype == object else b[k])
    assert uproot.open(many)["taus"]["evt"].num_baskets > uproot.open(one)["taus"]["evt"].num_baskets
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "many.root", "merge.cfg", "one.root"]


def test_every_window_holds_each_stream_within_three_of_its_share(mixed_inputs, tmp_path):
    """The claim of docs/differences.md: any W consecutive output entries hold each (type, pt, |eta|, source)
    stream within ±3 of W times its share of the output, for every W (items of a stream sit one per slot of
    width 1/q on the timeline, so a time interval holds its expected count ±1 or so of each stream, and the
    window's length in time varies with the others' counts); a random draw per entry (the original) deviates
    by ~sqrt(W · share)."""
    root, made = mixed_inputs
    (tmp_path / "in").symlink_to(root / "in")
    out = tmp_path / "mix.root"
    assert shuffle_merge(tmp_path, MIX_CFG, out, "--calc-weights", "true", "--ensure-uniformity", "true",
                         "--max-bin-occupancy", "1000") == 0
    label = classes(read(out, ["evt"])["evt"], made)
    names, total = np.unique(label, return_counts=True)
    share = total / len(label)
    cumulative = np.stack([np.concatenate([[0], np.cumsum(label == n)]) for n in names])  # (stream, entry + 1)
    worst = {}
    for window in (10, 100, 1000, len(label) // 2):
        counts = cumulative[:, window:] - cumulative[:, :-window]  # every window of W consecutive entries
        worst[window] = np.abs(counts - window * share[:, None]).max()
    assert max(worst.values()) < 3, worst  # 2.44 here: docs/differences.md
    shuffled = np.random.default_rng(1).permutation(label)  # what a random draw per entry gives
    counts = np.stack([np.cumsum(shuffled == n) for n in names])[:, 999::1000]
    assert np.abs(np.diff(counts, axis=1, prepend=0) - 1000 * share[:, None]).max() > 5
