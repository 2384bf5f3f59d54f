"""Trace lines cut to size for failure reports."""

from __future__ import annotations

__all__ = ["capped"]


def capped(lines: list[str], limit: int) -> tuple[list[str], int]:
    """At most ``limit`` lines: the first and the last half (the end is where a
    failure's exception lines are), and how many were cut from the middle."""
    if limit <= 0 or len(lines) <= limit:
        return lines, 0
    head = limit // 2
    tail = limit - head
    cut = len(lines) - limit
    return [*lines[:head], f"... {cut} lines cut ...", *lines[len(lines) - tail :]], cut
