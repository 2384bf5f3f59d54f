"""The one data model renderers and exporters consume."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from functrace._runtime.record import Call

if TYPE_CHECKING:
    from functrace._runtime.record import Recording

__all__ = ["Trace"]


@dataclasses.dataclass
class Trace:
    """Call trees of every thread and task, with what is known about their times.

    ``Call.start_ns``/``end_ns`` are on one clock per trace; add
    ``epoch_offset_ns`` for Unix-epoch nanoseconds. ``end_ns`` of a call that
    never finished (the process was killed) stays ``None``.
    """

    #: Outermost calls, every tag, in start order.
    roots: list[Call] = dataclasses.field(default_factory=list)
    #: "text", "jsonl" or "recording".
    source: str = "recording"
    #: True when times were measured (jsonl, recording); False when they were
    #: rebuilt from the durations of a text trace (nesting and durations hold,
    #: gaps between calls are unknown and taken as zero).
    exact: bool = True
    epoch_offset_ns: int = 0
    #: tag -> thread name, when the format says (jsonl).
    thread_names: dict[str, str] = dataclasses.field(default_factory=dict)
    #: tag -> (pid, tid), when the format says (jsonl).
    thread_ids: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: Lines that were not trace lines (the program's own output, a torn last line).
    skipped_lines: int = 0

    def walk(self) -> Iterator[Call]:
        for root in self.roots:
            yield from root.walk()

    def tags(self) -> dict[str, list[Call]]:
        """tag -> its outermost calls, tags in order of first appearance."""
        out: dict[str, list[Call]] = {}
        for root in self.roots:
            out.setdefault(root.tag, []).append(root)
        return out

    @property
    def start_ns(self) -> int:
        return min((r.start_ns for r in self.roots), default=0)

    @property
    def end_ns(self) -> int:
        """The last moment the trace knows of: the latest start or end of any call."""
        last = 0
        for call in self.walk():
            last = max(last, call.start_ns if call.end_ns is None else call.end_ns)
        return last

    def open_calls(self) -> list[Call]:
        return [c for c in self.walk() if c.end_ns is None]

    @classmethod
    def from_recording(cls, recording: Recording) -> Trace:
        """A ``functrace.record()`` result (times on ``perf_counter_ns``)."""
        offset = time.time_ns() - time.perf_counter_ns()
        roots = sorted(recording.roots, key=lambda c: c.start_ns)
        return cls(roots=roots, source="recording", exact=True, epoch_offset_ns=offset)
