"""Command-line entry points, named and flagged as the original TauMLTools tools.

Each command module builds an ``argparse`` parser and calls library functions; ``run`` turns a
``TaumlError`` into ``error: <message>`` on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..core.errors import TaumlError


def run(build: Callable[[], argparse.ArgumentParser], act: Callable[[argparse.Namespace], int | None],
        argv: Sequence[str] | None = None) -> int:
    parser = build()
    args = parser.parse_args(argv)
    try:
        return act(args) or 0
    except TaumlError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


def float_list(text: str) -> list[float]:
    """``"20, 25, 30"`` or ``"20 25 30"`` -> [20.0, 25.0, 30.0], as the original tools accept."""
    try:
        return [float(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a list of numbers, got '{text}'") from None


def name_list(text: str) -> list[str]:
    """``"a, b c"`` -> ["a", "b", "c"] (the original splits on spaces and commas)."""
    return [x for x in text.replace(",", " ").split() if x]


def boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def bin_edges(text: str) -> list[float]:
    """Bin edges: at least two, strictly increasing."""
    edges = float_list(text)
    if len(edges) < 2:
        raise argparse.ArgumentTypeError(f"need at least 2 bin edges, got '{text}'")
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise argparse.ArgumentTypeError(f"bin edges must increase strictly: '{text}'")
    return edges
