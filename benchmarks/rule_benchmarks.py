"""Summary of Snakemake's per-job benchmark records (every rule's ``benchmark:`` directive), per rule.

    python benchmarks/rule_benchmarks.py [results/benchmarks]

prints a Markdown table: jobs, wall seconds (sum and largest), CPU seconds (sum) and the largest peak RSS per
rule, in the order the rules first appear in the workflow, and the totals. Snakemake measures each job itself
(wall clock, ``max_rss`` in MB of the job's process tree, ``cpu_time``); the records are
``<output_dir>/benchmarks/<rule>/<wildcards>.tsv``.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

RULE_ORDER = ("produce", "bin_dataset", "size_list", "shufflemerge_step1", "shufflemerge_step1_size_list",
              "shufflemerge_step2", "shufflemerge_testing", "spectral_hists", "spectral_filelist",
              "shuffle_merge_spectral", "spectral_hashes", "validation")


def records(top: Path) -> dict[str, list[dict[str, float]]]:
    found: dict[str, list[dict[str, float]]] = {}
    for path in sorted(top.glob("*/*.tsv")):
        with path.open() as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                found.setdefault(path.parent.name, []).append(
                    {k: float(v) for k, v in row.items() if k != "h:m:s" and v not in ("", "NA")})
    return found


def main(argv: list[str]) -> int:
    top = Path(argv[0] if argv else "results/benchmarks")
    found = records(top)
    if not found:
        print(f"{top}: no benchmark records", file=sys.stderr)
        return 1
    order = [r for r in RULE_ORDER if r in found] + sorted(set(found) - set(RULE_ORDER))
    print("| rule | jobs | wall s (sum / max) | CPU s (sum) | peak RSS MB (max) |")
    print("|---|---|---|---|---|")
    total_wall = total_cpu = 0.0
    for rule in order:
        rows = found[rule]
        wall = [r["s"] for r in rows]
        cpu = sum(r.get("cpu_time", 0.0) for r in rows)
        total_wall, total_cpu = total_wall + sum(wall), total_cpu + cpu
        print(f"| {rule} | {len(rows)} | {sum(wall):.1f} / {max(wall):.1f} | {cpu:.1f} | "
              f"{max(r.get('max_rss', 0.0) for r in rows):.0f} |")
    print(f"| all | {sum(len(v) for v in found.values())} | {total_wall:.1f} | {total_cpu:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
