"""The physics figures of the embedded producer (docs/physics.md, section "Embedded production"), measured on a
sample of the default processes produced in the same run:

    python benchmarks/physics_table.py [--events 400] [--pileup 32] [--seed 31] [--processes ...] [--output FILE]

Prints markdown tables: generator and reconstructed tau_h decay modes with the migration between them,
reconstruction efficiency against visible pt, resolutions (tau_h pt, electron E/p, impact-parameter errors),
candidate (fake) rates of jets, electrons and muons by process and pt, and the pile-up dependence (npv, rho,
efficiency, isolation). Every process gets ``--events`` events at the default pile-up; the pile-up scan uses
``--scan-events`` DY->mumu events per mean.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from tauml.core.schema import TAU_TYPE_BRANCHES, TauType, tau_type
from tauml.production import PROCESSES, produce

GEN_MODES = {"h": (1, 0), "h pi0": (1, 1), "h 2pi0": (1, 2), "3h": (3, 0), "3h pi0": (3, 1)}
PDG_MODES = {"h": 11.5, "h pi0": 25.9, "h 2pi0": 9.5, "3h": 9.8, "3h pi0": 4.8}  # % of all tau decays (PDG 2022)
RECO_MODES = (0, 1, 2, 10, 11)
VIS_PT_BINS = (20, 30, 50, 100, 200, 500, 5000)
JET_PT_BINS = (20, 30, 50, 100, 200, 5000)
NPV_BINS = (0, 15, 20, 25, 30, 100)
KIND_TAU_H = 5
LOOSE_ISOLATION = 1 << 3  # tau_byCombinedIsolationDeltaBetaCorr3Hits bit of the loose working point
BRANCHES = [*TAU_TYPE_BRANCHES, "tau_index", "jet_index", "jet_pt", "tau_decayMode", "tau_dxy_error", "npv", "rho",
            "npu", "tau_chargedIsoPtSum", "tau_neutralIsoPtSum", "tau_byCombinedIsolationDeltaBetaCorr3Hits"]


def read(path: Path) -> dict:
    tree = uproot.open(path)["taus"]
    a = tree.arrays(BRANCHES, library="np")
    jagged = tree.arrays(["genParticle_pdgId", "ele_pt", "ele_eSuperClusterOverP", "pfCand_pt",
                          "pfCand_dxy_error", "pfCand_hasTrackDetails", "pfCand_charge"])
    a["type"] = tau_type(a)
    a["has_tau"] = a["tau_index"] >= 0
    ids = np.abs(jagged.genParticle_pdgId)
    a["gen_charged"] = ak.to_numpy(ak.sum((ids == 211) | (ids == 321), axis=1))
    a["gen_pi0"] = ak.to_numpy(ak.sum(ids == 111, axis=1))
    a["jagged"] = jagged
    return a


def percent(x) -> str:
    return f"{100 * x:.1f}" if np.isfinite(x) else "–"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def genuine_tau_h(samples: dict) -> dict:
    """Gen tau_h entries (visible pt > 20, |eta| < 2.3) of the tau processes, concatenated."""
    parts = [samples[p] for p in ("DYtautau", "ZprimeTauTau") if p in samples]
    keys = ("genLepton_kind", "genLepton_vis_pt", "genLepton_vis_eta", "has_tau", "type", "tau_pt", "tau_decayMode",
            "gen_charged", "gen_pi0", "tau_dxy_error", "npv", "tau_chargedIsoPtSum", "tau_neutralIsoPtSum",
            "tau_byCombinedIsolationDeltaBetaCorr3Hits")
    a = {k: np.concatenate([s[k] for s in parts]) for k in keys}
    sel = (a["genLepton_kind"] == KIND_TAU_H) & (a["genLepton_vis_pt"] > 20) & (np.abs(a["genLepton_vis_eta"]) < 2.3)
    a = {k: v[sel] for k, v in a.items()}
    a["reco"] = a["has_tau"] & (a["type"] == TauType.tau)
    gen_mode = np.full(int(sel.sum()), "other", object)
    for name, (n_ch, n_pi0) in GEN_MODES.items():
        gen_mode[(a["gen_charged"] == n_ch) & (a["gen_pi0"] == n_pi0)] = name
    a["gen_mode"] = gen_mode
    return a


def decay_modes(tau: dict) -> str:
    n = len(tau["gen_mode"])
    pdg_hadronic = sum(PDG_MODES.values())
    rows = []
    for name in (*GEN_MODES, "other"):
        m = tau["gen_mode"] == name
        reco_dm = tau["tau_decayMode"][m & tau["reco"]]
        migration = [percent(np.mean(reco_dm == dm) * np.mean(tau["reco"][m])) if m.sum() else "–"
                     for dm in RECO_MODES]
        pdg = percent(PDG_MODES[name] / 64.8) if name in PDG_MODES else percent(1 - pdg_hadronic / 64.8)
        rows.append([name, m.sum(), percent(m.mean()), pdg, *migration, percent(1 - np.mean(tau["reco"][m]))])
    reco = tau["tau_decayMode"][tau["reco"]]
    rows.append(["**reconstructed DM fraction**", len(reco), "", "",
                 *(percent(np.mean(reco == dm)) for dm in RECO_MODES), ""])
    header = ["generator mode", "taus", "gen %", "PDG %", *(f"→ DM {dm} %" for dm in RECO_MODES),
              "not reconstructed %"]
    return table(header, rows) + (f"\n\n{n} generator tau_h with visible pt > 20 GeV and |eta| < 2.3 "
                                  "(DY→ττ and Z'→ττ).")


def efficiency(tau: dict) -> str:
    rows = []
    for lo, hi in zip(VIS_PT_BINS, VIS_PT_BINS[1:]):
        m = (tau["genLepton_vis_pt"] >= lo) & (tau["genLepton_vis_pt"] < hi)
        loose = tau["reco"] & ((tau["tau_byCombinedIsolationDeltaBetaCorr3Hits"] & LOOSE_ISOLATION) > 0)
        rows.append([f"{lo}–{hi}", m.sum(), percent(np.mean(tau["reco"][m])) if m.sum() else "–",
                     percent(np.mean(loose[m])) if m.sum() else "–"])
    return table(["visible pt (GeV)", "taus", "reconstructed (DMFNewDMs, pt > 18) %", "and loose combined isolation %"],
                 rows)


def quantiles(x) -> str:
    if len(x) < 5:
        return "–"
    q16, q50, q84 = np.percentile(x, [16, 50, 84])
    return f"{q50:.3f} [{q16:.3f}, {q84:.3f}]"


def resolutions(samples: dict, tau: dict) -> str:
    rows = []
    response = tau["tau_pt"] / tau["genLepton_vis_pt"]
    for dm in RECO_MODES:
        m = tau["reco"] & (tau["tau_decayMode"] == dm)
        rows.append([f"tau_h pt / visible pt, DM {dm}", m.sum(), quantiles(response[m])])
    rows.append(["tau_h pt / visible pt, all", tau["reco"].sum(), quantiles(response[tau["reco"]])])
    for process, kind, label in (("DYee", (1, 3), "electrons (DY→ee, leading in e entries)"),
                                 ("ZprimeEE", (1, 3), "electrons (Z'→ee)")):
        if process not in samples:
            continue
        a = samples[process]
        m = np.isin(a["genLepton_kind"], kind) & (a["genLepton_vis_pt"] > 20)
        eop = leading(a["jagged"], "ele_eSuperClusterOverP", m)
        rows.append([f"E/p of {label}", len(eop), quantiles(eop)])
        fake = m & a["has_tau"] & (a["type"] == TauType.e)
        eop = leading(a["jagged"], "ele_eSuperClusterOverP", fake)
        rows.append([f"E/p of e→tau_h candidates, {process}", len(eop), quantiles(eop)])
    rows.append(["tau_dxy_error (µm), genuine tau_h", tau["reco"].sum(),
                 quantiles(1e4 * tau["tau_dxy_error"][tau["reco"]])])
    if "DYtautau" in samples:
        j = samples["DYtautau"]["jagged"]
        ok = (j.pfCand_hasTrackDetails == 1) & (j.pfCand_charge != 0)
        for lo, hi in ((1, 2), (2, 5), (5, 20), (20, 50), (50, 1000)):
            m = ok & (j.pfCand_pt >= lo) & (j.pfCand_pt < hi)
            err = 1e4 * ak.to_numpy(ak.flatten(j.pfCand_dxy_error[m]))
            rows.append([f"pfCand_dxy_error (µm), track pt {lo}–{hi} GeV", len(err), quantiles(err)])
    return table(["quantity", "entries", "median [16 %, 84 % quantiles]"], rows)


def leading(jagged, field: str, entries: np.ndarray) -> np.ndarray:
    """``field`` of the highest-pt object of each selected entry that has one."""
    sub = jagged[entries]
    best = ak.argmax(sub.ele_pt, axis=1, keepdims=True)
    values = ak.to_numpy(ak.fill_none(ak.firsts(sub[field][best]), np.nan))
    return values[np.isfinite(values)]


def fake_rates(samples: dict) -> str:
    rows = []
    for process in ("WJets", "TT", "QCD"):
        if process not in samples:
            continue
        a = samples[process]
        jets = (a["jet_index"] >= 0) & (a["genLepton_index"] < 0)
        cells = []
        for lo, hi in zip(JET_PT_BINS, JET_PT_BINS[1:]):
            m = jets & (a["jet_pt"] >= lo) & (a["jet_pt"] < hi)
            cells.append(f"{percent(np.mean(a['has_tau'][m]))} ({m.sum()})" if m.sum() else "–")
        rows.append([f"jet → tau_h candidate, {process}", *cells])
    for process, kinds, label in (("DYee", (1,), "e"), ("ZprimeEE", (1,), "e"), ("DYmumu", (2,), "μ")):
        if process not in samples:
            continue
        a = samples[process]
        lep = np.isin(a["genLepton_kind"], kinds) & (np.abs(a["genLepton_vis_eta"]) < 2.3)
        cells = []
        for lo, hi in zip(JET_PT_BINS, JET_PT_BINS[1:]):
            m = lep & (a["genLepton_vis_pt"] >= lo) & (a["genLepton_vis_pt"] < hi)
            hit = a["has_tau"] & (a["type"] == (TauType.e if label == "e" else TauType.mu))
            cells.append(f"{percent(np.mean(hit[m]))} ({m.sum()})" if m.sum() else "–")
        rows.append([f"{label} → tau_h candidate, {process}", *cells])
    header = ["rate % (entries)", *(f"pt {lo}–{hi}" for lo, hi in zip(JET_PT_BINS, JET_PT_BINS[1:]))]
    return table(header, rows) + ("\n\nJets: entries with a reco jet and no gen lepton, pt of the jet; e and μ: "
                                  "prompt gen leptons, visible pt; a candidate is a reco tau passing "
                                  "decayModeFindingNewDMs with pt > 18 GeV.")


def pileup(samples: dict, tau: dict, scan: dict) -> str:
    rows = []
    for mu, a in sorted(scan.items()):
        rows.append([f"μ = {mu:g}", *(f"{np.mean(a[k]):.1f}" for k in ("npu", "npv", "rho"))])
    out = table(["DY→μμ sample", "mean npu", "mean npv", "mean rho (GeV)"], rows)
    rows = []
    jets = None
    if "QCD" in samples:
        q = samples["QCD"]
        jets = (q["jet_index"] >= 0) & (q["genLepton_index"] < 0) & (q["jet_pt"] > 20)
    for lo, hi in zip(NPV_BINS, NPV_BINS[1:]):
        m = (tau["npv"] >= lo) & (tau["npv"] < hi)
        r = m & tau["reco"]
        jet_cell = "–"
        if jets is not None:
            mj = jets & (q["npv"] >= lo) & (q["npv"] < hi)
            jet_cell = f"{percent(np.mean(q['has_tau'][mj]))} ({mj.sum()})" if mj.sum() else "–"
        rows.append([f"{lo}–{hi}", m.sum(), percent(np.mean(tau["reco"][m])) if m.sum() else "–",
                     f"{np.median(tau['tau_chargedIsoPtSum'][r]):.2f}" if r.sum() else "–",
                     f"{np.median(tau['tau_neutralIsoPtSum'][r]):.2f}" if r.sum() else "–", jet_cell])
    out += "\n\n" + table(["npv", "gen tau_h", "reconstructed %", "median chargedIsoPtSum (GeV)",
                           "median neutralIsoPtSum (GeV)", "QCD jet → candidate % (entries)"], rows)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400, help="events per process")
    parser.add_argument("--pileup", type=float, default=32.0, help="mean pile-up of the main sample")
    parser.add_argument("--scan", type=float, nargs="+", default=[0, 16, 32, 48], help="pile-up means of the scan")
    parser.add_argument("--scan-events", type=int, default=40, help="DY->mumu events per pile-up mean of the scan")
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--output", help="also write the tables to this file")
    args = parser.parse_args(argv)

    start = time.monotonic()
    samples, scan = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, process in enumerate(args.processes):
            path = Path(tmp) / f"{process}.root"
            produce(process, args.events, args.seed + k, path, pileup_mu=args.pileup)
            samples[process] = read(path)
            print(f"{process}: {len(samples[process]['type'])} entries", file=sys.stderr, flush=True)
        for k, mu in enumerate(args.scan):
            path = Path(tmp) / f"scan_{mu:g}.root"
            produce("DYmumu", args.scan_events, args.seed + 100 + k, path, pileup_mu=mu)
            scan[mu] = uproot.open(path)["taus"].arrays(["npu", "npv", "rho"], library="np")
    tau = genuine_tau_h(samples)
    text = "\n\n".join([
        f"Sample: {args.events} events of each of {', '.join(args.processes)} at pile-up μ = {args.pileup:g} "
        f"(seed {args.seed}); pile-up scan with {args.scan_events} DY→μμ events per μ. "
        f"`python benchmarks/physics_table.py --events {args.events} --pileup {args.pileup:g} --seed {args.seed}`, "
        f"{time.monotonic() - start:.0f} s.",
        "#### Decay modes of genuine tau_h (generator → reconstructed, % of the generator mode)", decay_modes(tau),
        "#### Reconstruction efficiency of genuine tau_h", efficiency(tau),
        "#### Resolutions", resolutions(samples, tau),
        "#### Candidate rates of jets, electrons and muons", fake_rates(samples),
        "#### Pile-up dependence", pileup(samples, tau, scan),
    ])
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
