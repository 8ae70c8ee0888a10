"""Directory listing for local paths and XRootD (``root://``) URLs, so raw tuples may stay on EOS.

uproot reads ``root://`` files itself (through fsspec-xrootd and the XRootD client); only listing a
directory needs this module. Local paths go through ``os`` unchanged; remote ones through fsspec, whose
``root`` protocol is the XRootD client's ``FileSystem.dirlist``. Remote results are full URLs, so they
can be passed straight to ``tauml.core.io``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator

import fsspec

from .errors import TaumlError
from .io import check_xrootd_loadable, is_remote


def _filesystem(url: str):
    check_xrootd_loadable(url)
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:  # no fsspec-xrootd, or a malformed URL
        raise TaumlError(f"{url}: cannot access ({err})") from err


def join(base: str | os.PathLike, *names: str) -> str:
    base = str(base)
    if not is_remote(base):
        return os.path.join(base, *names)
    return "/".join([base.rstrip("/"), *names])


def isdir(path: str | os.PathLike) -> bool:
    if not is_remote(path):
        return os.path.isdir(path)
    fs, inner = _filesystem(str(path))
    try:
        return fs.isdir(inner)
    except OSError as err:
        raise TaumlError(f"{path}: cannot access ({err})") from err


def walk(top: str | os.PathLike) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` for paths and URLs: (directory, sub-directory names, file names), top-down; the
    caller may prune the sub-directory list in place."""
    if not is_remote(top):
        yield from os.walk(top)
        return
    fs, inner = _filesystem(str(top))
    try:
        for root, dirs, files in fs.walk(inner):
            yield fs.unstrip_protocol(root), dirs, files
    except OSError as err:
        raise TaumlError(f"{top}: cannot list ({err})") from err


def subdirs(path: str | os.PathLike) -> list[str]:
    """Sorted names of the directories directly inside ``path``."""
    for _, dirs, _ in walk(path):
        return sorted(dirs)
    return []


def find_files(input_dirs: Iterable[str | os.PathLike], accept: Callable[[str, str], object],
               exclude: Iterable[str] = (), exclude_dirs: Iterable[str] = ()) -> list[str]:
    """The input finder of every tool: files below ``input_dirs`` (local or ``root://``) for which
    ``accept(path, name)`` is true, sorted (the original's order was the directory order). Hidden files and
    directories (tauml's temporary outputs among them) are skipped, and so are files/directories whose base
    name is in ``exclude``/``exclude_dirs``."""
    exclude, exclude_dirs = set(exclude), set(exclude_dirs)
    found = []
    for top in input_dirs:
        if not isdir(top):
            raise TaumlError(f"{top}: input directory does not exist")
        for root, dirs, names in walk(top):
            dirs[:] = [d for d in dirs if d not in exclude_dirs and not d.startswith(".")]
            found += [p for n in names if n not in exclude and not n.startswith(".") and accept(p := join(root, n), n)]
    return sorted(found)


def find_root_files(input_dirs: Iterable[str | os.PathLike], pattern: str = r"^.*\.root$",
                    exclude: Iterable[str] = (), exclude_dirs: Iterable[str] = ()) -> list[str]:
    """``find_files`` of the files whose full path matches ``pattern`` (--file-name-pattern); at least one."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise TaumlError(f"--file-name-pattern '{pattern}': {err}") from err
    found = find_files(input_dirs, lambda path, name: regex.fullmatch(path), exclude, exclude_dirs)
    if not found:
        raise TaumlError(f"no input files matching '{pattern}' in {', '.join(map(str, input_dirs))}")
    return found
