"""The verdict of validation_tool in words: summary.txt (a table) and summary.json next to pvalues.json.

One row per test: its path and title, how many chunks were compared with the reference, the smallest
p-value, the threshold every p-value must reach, the failing chunks and PASS/FAIL; then the verdict.
"""
from __future__ import annotations

from .compare import EMPTY_PVALUE, Report

SUMMARY_TXT = "summary.txt"
SUMMARY_JSON = "summary.json"


def test_rows(report: Report, threshold: float) -> list[dict]:
    rows = []
    for c in report.comparisons:
        real = [p for _, p in c.compared() if p != EMPTY_PVALUE]
        failing = c.failing(threshold)
        rows.append({"test": c.path, "title": c.title, "chunks_compared": len(real),
                     "min_pvalue": min(real) if real else None, "threshold": threshold,
                     "failing_chunks": failing, "result": "FAIL" if failing else "PASS"})
    return rows


def _setting_text(report: Report) -> str:
    ref = "chunk 0" if report.reference == "first" else "the sum of all other chunks"
    return (f"{report.test} test of {report.nsplit} chunks against {ref}, {report.entries} entries in "
            f"{len(report.files)} file(s)")


def verdict_line(rows: list[dict], report: Report, threshold: float) -> str:
    n_failed = sum(r["result"] == "FAIL" for r in rows)
    if n_failed:
        return (f"validation FAILED: {n_failed} of {len(rows)} tests have a chunk with p < {threshold:g} "
                f"({_setting_text(report)})")
    return f"validation PASSED: all {len(rows)} tests have p >= {threshold:g} in every chunk ({_setting_text(report)})"


def summary_lines(report: Report, threshold: float, titles: bool = False) -> list[str]:
    """The table printed at the end of a run (with ``titles``: the summary.txt form, one more column)."""
    rows = test_rows(report, threshold)
    width = max([len("test path")] + [len(r["test"]) for r in rows])
    title_width = max([len("what")] + [len(r["title"]) for r in rows])
    head = f"{'what':<{title_width}}  " if titles else ""
    lines = [f"{'test path':<{width}}  {head}{'chunks':>6}  {'min p':>9}  {'failing':>7}  {'threshold':>9}  result"]
    for r in rows:
        min_p = f"{r['min_pvalue']:9.3g}" if r["min_pvalue"] is not None else f"{'empty':>9}"
        title = f"{r['title']:<{title_width}}  " if titles else ""
        lines.append(f"{r['test']:<{width}}  {title}{r['chunks_compared']:>6}  {min_p}  "
                     f"{len(r['failing_chunks']):>7}  {threshold:9.3g}  {r['result']}")
    lines.append(verdict_line(rows, report, threshold))
    return lines


def summary_json(report: Report, threshold: float, pvthreshold: float, correction: str) -> dict:
    rows = test_rows(report, threshold)
    return {
        "verdict": "FAIL" if any(r["result"] == "FAIL" for r in rows) else "PASS",
        "failed_tests": sum(r["result"] == "FAIL" for r in rows), "tests": len(rows),
        "statistical_test": report.test, "reference": report.reference, "nsplit": report.nsplit,
        "pvthreshold": pvthreshold, "correction": correction, "threshold": threshold,
        "entries": report.entries, "files": [f.path for f in report.files], "results": rows,
    }
