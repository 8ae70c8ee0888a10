"""CMS-format TauTuples for side-by-side benchmarks: written by ROOT itself, with ``std::vector`` branches.

All 552 TauTuple v2 branches (``tauml.core.schema``), tree ``taus`` plus tree ``summary``, ZLIB 1 as the
producer writes them; random payload (``tauml.core.testing.random_tautuple``: well-formed tau types and a
falling pt spectrum, Poisson(--mean-objects) objects per collection). Each dataset is a directory of files:

    python benchmarks/make_cms_inputs.py --output /tmp/cms_inputs --datasets A:4,B:2 --entries 10000

(the issue's datasets A and B: 4 and 2 files of 10,000 entries). Needs PyROOT (``import ROOT``, the test extra).
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

TYPES = {"A": ("e", "mu", "tau", "jet"), "B": ("jet", "tau")}  # tau types of a dataset (others: all four)
CHUNK = 2_000  # entries handed to ROOT at a time


def _filler_source(name: str, schema) -> str:
    """A C++ struct holding one variable per branch, attaching them to a tree and filling from numpy buffers."""
    members, attach, fill = [], [], []
    for i, b in enumerate(schema.values()):
        element = b.root_type.removeprefix("std::vector<").removesuffix(">")
        if b.jagged:
            members.append(f"std::vector<{element}> v{i};")
            fill.append(f"{{ auto* p = ({element}*)data[{i}]; auto* o = (Long64_t*)offsets[{i}];"
                        f" v{i}.assign(p + o[e], p + o[e + 1]); }}")
        else:
            members.append(f"{element} v{i};")
            fill.append(f"v{i} = (({element}*)data[{i}])[e];")
        attach.append(f'tree->Branch("{b.name}", &v{i});')
    return "\n".join([
        f"struct {name} {{", *members,
        "void attach(TTree* tree) {", *attach, "}",
        "void fill(TTree* tree, Long64_t n, unsigned long* data, unsigned long* offsets) {",
        "for (Long64_t e = 0; e < n; ++e) {", *fill, "tree->Fill(); }", "}", "};"])


def _filler(ROOT, schema):
    source = _filler_source("TaumlFiller_" + hashlib.sha1("".join(schema).encode()).hexdigest()[:12], schema)
    name = source.split()[1]
    if not hasattr(ROOT, name):
        ROOT.gInterpreter.Declare(source)
    return getattr(ROOT, name)


def write_file(path: Path, entries: int, seed: int, types, mean_objects: float) -> None:
    import awkward as ak
    import ROOT

    from tauml.core.schema import branches
    from tauml.core.testing import random_tautuple

    schema = branches()
    filler = _filler(ROOT, schema)()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    f = ROOT.TFile(str(tmp), "RECREATE", "", 101)  # ZLIB level 1
    tree = ROOT.TTree("taus", "taus")
    filler.attach(tree)
    for start in range(0, entries, CHUNK):
        n = min(CHUNK, entries - start)
        a = random_tautuple(n, seed=seed * 1000 + start // CHUNK, types=types, mean_cands=mean_objects)
        a["evt"] = a["evt"] - a["evt"][0] + seed * 10_000_000 + start + 1  # unique over the file's chunks
        keep, data, offsets = [], [], []
        for b in schema.values():
            if b.jagged:
                content = np.ascontiguousarray(ak.flatten(a[b.name]).to_numpy(), b.dtype)
                off = np.concatenate([[0], np.cumsum(ak.num(a[b.name]).to_numpy())]).astype(np.int64)
                keep += [content, off]
                data.append(content.ctypes.data)
                offsets.append(off.ctypes.data)
            else:
                values = np.ascontiguousarray(a[b.name], b.dtype)
                keep.append(values)
                data.append(values.ctypes.data)
                offsets.append(0)
        filler.fill(tree, n, np.array(data, np.uint64), np.array(offsets, np.uint64))
    tree.Write()
    summary = ROOT.TTree("summary", "summary")
    exe, processed = np.zeros(1, np.uint32), np.array([entries], np.uint64)
    summary.Branch("exeTime", exe, "exeTime/i")
    summary.Branch("numberOfProcessedEvents", processed, "numberOfProcessedEvents/l")
    summary.Fill()
    summary.Write()
    f.Close()
    tmp.rename(path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=Path, required=True, help="directory of the datasets")
    p.add_argument("--datasets", default="A:4,B:2", help="NAME:FILES, comma-separated (default: %(default)s)")
    p.add_argument("--entries", type=int, default=10_000, help="entries per file (default: %(default)s)")
    p.add_argument("--mean-objects", type=float, default=10.0,
                   help="mean objects per collection and entry (default: %(default)s, ~13 kB per entry)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    for k, item in enumerate(args.datasets.split(",")):
        name, n_files = item.split(":")
        for j in range(int(n_files)):
            path = args.output / name / f"eventTuple_{j}.root"
            if path.exists():
                continue
            write_file(path, args.entries, seed=args.seed * 100 + 10 * k + j + 1,
                       types=TYPES.get(name, ("e", "mu", "tau", "jet")), mean_objects=args.mean_objects)
            print(f"{path}: {args.entries} entries, {path.stat().st_size / 1e6:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
