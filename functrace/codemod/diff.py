"""A unified diff of two versions of a file, faithful to its bytes."""

from __future__ import annotations

import difflib

__all__ = ["unified_diff"]

_NO_EOL = "\\ No newline at end of file\n"


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    """``--- path`` / ``+++ path`` diff; undecodable bytes survive as surrogates, so
    ``text.encode("utf-8", "surrogateescape")`` gives back the file's own bytes."""
    old = [_text(line) for line in before.splitlines(keepends=True)]
    new = [_text(line) for line in after.splitlines(keepends=True)]
    out: list[str] = []
    for line in difflib.unified_diff(old, new, fromfile=path, tofile=path):
        out.append(line)
        if not line.endswith(("\n", "\r")):
            out.append("\n" + _NO_EOL)
    return "".join(out)


def _text(line: bytes) -> str:
    return line.decode("utf-8", "surrogateescape")
