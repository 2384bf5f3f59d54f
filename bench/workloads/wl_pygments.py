"""Workload: pygments highlighting Python source (pygments' own modules, pinned with
it) to HTML and to the terminal."""

from __future__ import annotations

import os

PACKAGE = "pygments"
FILES = [
    "lexer.py",
    "lexers/python.py",
    "formatters/html.py",
    "formatters/terminal.py",
    "formatter.py",
    "token.py",
    "util.py",
    "styles/__init__.py",
]


def setup(scale: float) -> list[str]:
    import pygments

    root = os.path.dirname(pygments.__file__)
    sources = []
    for name in FILES:
        with open(os.path.join(root, name), encoding="utf-8") as f:
            sources.append(f.read())
    text = "".join(sources)
    lines = text.splitlines(keepends=True)
    return ["".join(lines[: max(100, int(len(lines) * scale))])]


def warm(sources: list[str]) -> object:
    return run(["def f(x):\n    return x + 1  # comment\n"])


def run(sources: list[str]) -> object:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter, TerminalFormatter
    from pygments.lexers import PythonLexer

    total = 0
    for source in sources:
        total += len(highlight(source, PythonLexer(), HtmlFormatter(linenos=True)))
        total += len(highlight(source, PythonLexer(), TerminalFormatter()))
    return total
