"""Times for a text trace, which only has durations on its exit lines.

The reader gives each event the latest time known so far (gaps are unknown
and taken as zero) and each call its measured duration. Durations are printed
to three significant figures, so children may add up to slightly more than
their parent: :func:`fit` pulls every child inside its parent and after its
previous sibling, shortening it by that rounding error at most.
"""

from __future__ import annotations

from functrace._runtime.record import Call

__all__ = ["fit"]


def fit(call: Call) -> None:
    stack = [call]
    while stack:
        parent = stack.pop()
        floor = parent.start_ns
        ceiling = parent.end_ns
        for child in parent.children:
            duration = child.duration_ns
            child.start_ns = max(child.start_ns, floor)
            if ceiling is not None:
                child.start_ns = min(child.start_ns, ceiling)
            if duration is not None:
                child.end_ns = child.start_ns + duration
                if ceiling is not None and child.end_ns > ceiling:
                    child.start_ns = max(floor, ceiling - duration)
                    child.end_ns = min(child.start_ns + duration, ceiling)
                floor = child.end_ns
            else:
                floor = child.start_ns
            stack.append(child)
