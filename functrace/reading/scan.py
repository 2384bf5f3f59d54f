"""Read a trace once, line by line, handing each call to a consumer as it opens and closes.

``scan_trace("trace.log", consumer)`` never holds the trace: memory is bounded
by the deepest stack and what the consumer keeps. The consumer sees
:class:`~functrace.reading.Frame` objects (see :mod:`functrace.reading._stream`).
"""

from __future__ import annotations

import dataclasses
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO

from functrace.reading._fast import run_jsonl, run_text
from functrace.reading._read import _Reader
from functrace.reading._stream import Consumer, Stream
from functrace.reading.trace import Problem, report_problems

__all__ = ["Scan", "open_trace", "scan_lines", "scan_trace"]


@dataclasses.dataclass
class Scan:
    """What a scan saw besides the calls; filled in while it runs."""

    #: "text", "jsonl", or None while no trace line has been seen.
    source: str | None = None
    #: Calls (and runs) read, unfinished ones included.
    calls: int = 0
    #: Calls that never finished: the trace was cut off, or their exits were skipped.
    unfinished: int = 0
    lines: int = 0
    skipped_lines: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)
    #: tag -> thread name / (pid, tid), when the format says (jsonl); filled as read.
    thread_names: dict[str, str] = dataclasses.field(default_factory=dict)
    thread_ids: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: The latest time in the trace (on the trace's clock).
    end_ns: int = 0

    @property
    def exact(self) -> bool:
        """True when times were measured (jsonl); a text trace's are rebuilt."""
        return self.source == "jsonl"

    def problem_report(self, name: str) -> list[str]:
        return report_problems(self.problems, name)


def scan_lines(
    lines: Iterable[str],
    consumer: Consumer,
    on_source: Callable[[Scan], None] | None = None,
    scan: Scan | None = None,
) -> Scan:
    """Feed ``lines`` through ``consumer``; ``on_source(scan)`` runs once the format is known.

    ``scan``, when given, is the :class:`Scan` filled in (its ``thread_names``
    grow while the trace is read: a consumer may hold on to them).
    """
    scan = Scan() if scan is None else scan
    stream = Stream(consumer, exact=False)
    reader = _Reader(stream)
    reader.thread_names = scan.thread_names
    reader.thread_ids = scan.thread_ids

    def decided(source: str) -> None:
        scan.source = source
        if on_source is not None:
            on_source(scan)

    reader.on_source = decided
    numbered = enumerate(lines, 1)
    number = 0
    for number, line in numbered:
        reader.feed(line, number)
        if reader.source is not None:
            break
    if reader.source == "text":
        number = run_text(reader, stream, numbered) or number
    elif reader.source == "jsonl":
        number = run_jsonl(reader, stream, numbered) or number
    stream.finish()
    scan.lines = number
    scan.calls = stream.opened_count
    scan.unfinished = stream.unfinished
    scan.skipped_lines = reader.skipped
    scan.problems = list(reader.problems.values())
    scan.end_ns = stream.last
    return scan


@contextmanager
def open_trace(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A trace file (``-``: stdin) as lines, decoded leniently, never read whole."""
    if str(path) == "-":
        stdin = io.TextIOWrapper(sys.stdin.buffer, "utf-8", errors="replace")
        try:
            yield stdin
        finally:
            stdin.detach()  # sys.stdin stays open
    else:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield f


def scan_trace(
    path: str | os.PathLike[str],
    consumer: Consumer,
    on_source: Callable[[Scan], None] | None = None,
    scan: Scan | None = None,
) -> Scan:
    """:func:`scan_lines` over a file (``-``: stdin)."""
    with open_trace(path) as lines:
        return scan_lines(lines, consumer, on_source, scan)
