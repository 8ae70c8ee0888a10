"""The original tools' property cfg grammar (ShuffleMerge, ShuffleMergeSpectral data groups).

One item per line, ``<name>: key=value key="quoted value" ...``; ``#`` starts a comment line, blank lines
are ignored, a trailing ``\\`` continues the line. Names must be unique; items come back sorted by name,
the order in which the original processed them.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable

from .errors import TaumlError

_NAME = re.compile(r"^\s*([^:\s][^:]*?)\s*:(.*)$")
# key=value or key="value with spaces"; backslashes stay as they are (values are regexes)
_TOKEN = re.compile(r'(\S+?="[^"]*")|(\S+)')


def read_cfg(path: str | os.PathLike, allowed_keys: Iterable[str] | None = None,
             required_keys: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """``{name: {key: value}}`` of a cfg file, sorted by name; errors name the file and line."""
    try:
        text = open(path).read()
    except OSError as err:
        raise TaumlError(f"{path}: cannot read cfg ({err.strerror})") from err
    return parse_cfg(text, str(path), allowed_keys, required_keys)


def parse_cfg(text: str, source: str = "<cfg>", allowed_keys: Iterable[str] | None = None,
              required_keys: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    allowed = set(allowed_keys) if allowed_keys is not None else None
    items: dict[str, dict[str, str]] = {}
    for lineno, line in _logical_lines(text):
        m = _NAME.match(line)
        if not m:
            raise TaumlError(f"{source}:{lineno}: expected '<name>: key=value ...', got '{line.strip()}'")
        name, rest = m.group(1), m.group(2)
        if name in items:
            raise TaumlError(f"{source}:{lineno}: duplicate item name '{name}'")
        if rest.count('"') % 2:
            raise TaumlError(f"{source}:{lineno}: unbalanced double quote in '{line.strip()}'")
        tokens = [a or b for a, b in _TOKEN.findall(rest)]
        props: dict[str, str] = {}
        for tok in tokens:
            key, sep, value = tok.partition("=")
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                value = value[1:-1]
            if not sep or not key:
                raise TaumlError(f"{source}:{lineno}: item '{name}': expected key=value, got '{tok}'")
            if allowed is not None and key not in allowed:
                raise TaumlError(f"{source}:{lineno}: item '{name}': unknown key '{key}' "
                                 f"(allowed: {', '.join(sorted(allowed))})")
            if key in props:
                raise TaumlError(f"{source}:{lineno}: item '{name}': key '{key}' given twice")
            props[key] = value
        missing = [k for k in required_keys if k not in props]
        if missing:
            raise TaumlError(f"{source}:{lineno}: item '{name}': missing key(s) {', '.join(missing)}")
        items[name] = props
    if not items:
        raise TaumlError(f"{source}: no items")
    return dict(sorted(items.items()))


def _logical_lines(text: str):
    buf, start = "", 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf:
            start = lineno
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield start, buf + line
        buf = ""
    if buf.strip():
        yield start, buf
