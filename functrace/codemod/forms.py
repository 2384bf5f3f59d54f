"""The exact lines ``instrument`` adds, and how ``strip`` recognises them.

Every added line ends with the marker comment ``# functrace: added``. It is what makes
``strip`` safe on files people have edited since: it removes a line only when it is
byte for byte one of these forms, so a ``@functrace.trace`` written by hand (no
marker), or one whose line was edited, is kept.
"""

from __future__ import annotations

from functrace.codemod.policy import MODULE

__all__ = [
    "ADDED_MARKER",
    "decorator_line",
    "import_line",
    "split_line",
]

ADDED_MARKER = "# functrace: added"


def decorator_line(name: str) -> str:
    """``@functrace.trace  # functrace: added`` for the module bound to ``name``."""
    return f"@{name}.trace  {ADDED_MARKER}"


def import_line(name: str) -> str:
    """``import functrace  # functrace: added``, with ``as name`` when aliased."""
    alias = "" if name == MODULE else f" as {name}"
    return f"import {MODULE}{alias}  {ADDED_MARKER}"


def split_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    """``(indentation, content, line ending)`` of one line of a source file."""
    body = line.rstrip(b"\r\n")
    content = body.lstrip(b" \t\f")
    return body[: len(body) - len(content)], content, line[len(body) :]
