"""Command-line entry points, named and flagged as the original TauMLTools tools.

Each command module builds an ``argparse`` parser and calls library functions; ``run`` turns a
``TaumlError`` (or a stray ``OSError``) into ``error: <message>`` on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence

from ..core.axis import check_edges
from ..core.errors import TaumlError


STATES_DEFAULT = re.compile(r"\bdefault\b(?!s? value)", re.IGNORECASE)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` answers the usual questions: every option's help ends with its default unless it states one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.required or not action.option_strings or STATES_DEFAULT.search(text)
                or action.nargs == 0 or action.default is argparse.SUPPRESS):
            return text
        default = action.default
        if default is None or default == []:
            shown = "none"
        elif isinstance(default, (list, tuple)):
            shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = str(default).replace("%", "%%")
        return f"{text} (default: {shown})"


def explain_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Defaults in every option's help, ``true|false`` as the value of boolean options, also in sub-commands."""
    parser.formatter_class = DefaultsHelpFormatter
    for action in parser._actions:
        if action.type is boolean and action.metavar is None:
            action.metavar = "true|false"
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                explain_options(sub)
    return parser


def run(build: Callable[[], argparse.ArgumentParser], act: Callable[[argparse.Namespace], int | None],
        argv: Sequence[str] | None = None) -> int:
    parser = explain_options(build())
    args = parser.parse_args(argv)
    try:
        return act(args) or 0
    except TaumlError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a system error no library code turned into a TaumlError: still one line
        where = f"{err.filename}: " if err.filename else ""
        print(f"{parser.prog}: error: {where}{err.strerror or err}", file=sys.stderr)
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


def edges_text(edges) -> str:
    """Bin edges as a flag value: ``"20, 25, 30"``."""
    return ", ".join(f"{e:g}" for e in edges)


def bin_edges(text: str) -> list[float]:
    """Bin edges: at least two, strictly increasing."""
    try:
        return list(check_edges(float_list(text), f"'{text}'"))
    except TaumlError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
