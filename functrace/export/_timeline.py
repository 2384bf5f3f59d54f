"""Calls as well-nested intervals, which timeline formats insist on.

A call that never finished ends where the next call at its level starts, or
where its parent (or the trace) ends; children are kept inside their parent
and after their previous sibling. Exact traces pass through unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from functrace._runtime.record import Call

__all__ = ["Slice", "slices"]


@dataclasses.dataclass(frozen=True)
class Slice:
    call: Call
    start: int
    end: int
    depth: int
    #: True for the event that closes the slice (after all its children).
    closing: bool = False


def slices(roots: list[Call], end: int) -> Iterator[Slice]:
    """Opening and closing events, depth first: opens in time order, each close
    after its children's."""
    # Frames: (siblings, next index, lower bound, upper bound, depth, closing slice).
    stack: list[tuple[list[Call], int, int, int, int, Slice | None]] = []
    lo = min((r.start_ns for r in roots), default=0)
    stack.append((roots, 0, lo, max(end, lo), 1, None))
    while stack:
        siblings, i, lo, hi, depth, closing = stack.pop()
        if i >= len(siblings):
            if closing is not None:
                yield closing
            continue
        call = siblings[i]
        start = min(max(call.start_ns, lo), hi)
        if call.end_ns is None:
            following = siblings[i + 1].start_ns if i + 1 < len(siblings) else hi
            stop = following
        else:
            stop = call.end_ns
        stop = min(max(stop, start), hi)
        opened = Slice(call, start, stop, depth)
        yield opened
        stack.append((siblings, i + 1, stop, hi, depth, closing))
        stack.append(
            (call.children, 0, start, stop, depth + 1, dataclasses.replace(opened, closing=True))
        )
