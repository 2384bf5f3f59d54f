"""Call trees back into the greppable line format, for failure reports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from functrace._runtime.lines import ENTER, EXIT, INDENT, format_duration
from functrace._runtime.record import Call

__all__ = ["call_lines", "capped"]


def call_lines(roots: Iterable[Call]) -> Iterator[str]:
    """The enter and exit lines of each root's tree, as the text output writes them
    (``t[01]:        <-app.db.fetch 1.52ms !TimeoutError``); roots start at depth 1."""
    for root in roots:
        stack: list[tuple[Call, int, bool]] = [(root, 1, False)]
        while stack:
            call, depth, done = stack.pop()
            head = f"{call.tag}:{INDENT * depth}"
            if done:
                if call.end_ns is None:
                    continue  # still running when the recording ended
                details = format_duration(call.end_ns - call.start_ns)
                if call.exception is not None:
                    details += " !" + call.exception
                elif call.suspended is not None:
                    details += " " + call.suspended
                yield f"{head}{EXIT}{call.name} {details}"
                continue
            yield f"{head}{ENTER}{call.name}" + (" resume" if call.resumed else "")
            stack.append((call, depth, True))
            stack.extend((child, depth + 1, False) for child in reversed(call.children))


def capped(lines: list[str], limit: int) -> tuple[list[str], int]:
    """At most ``limit`` lines: the first and the last half (the end is where a
    failure's exception lines are), and how many were cut from the middle."""
    if limit <= 0 or len(lines) <= limit:
        return lines, 0
    head = limit // 2
    tail = limit - head
    cut = len(lines) - limit
    return [*lines[:head], f"... {cut} lines cut ...", *lines[len(lines) - tail :]], cut
