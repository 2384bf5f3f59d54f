"""Workload: Python-Markdown converting this repository's documentation (README.md and
docs/*.md) to HTML, with the tables, fenced_code and toc extensions."""

from __future__ import annotations

import glob
import os

PACKAGE = "markdown"
REPEAT = 6
EXTENSIONS = ["tables", "fenced_code", "toc"]


def setup(scale: float) -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [
        os.path.join(root, "README.md"),
        *sorted(glob.glob(os.path.join(root, "docs", "*.md"))),
    ]
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    count = max(1, int(len(texts) * REPEAT * scale))
    return [texts[i % len(texts)] for i in range(count)]


def warm(texts: list[str]) -> object:
    return run(["# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n"])


def run(texts: list[str]) -> object:
    import markdown

    md = markdown.Markdown(extensions=EXTENSIONS)
    total = 0
    for text in texts:
        md.reset()
        total += len(md.convert(text))
    return total
