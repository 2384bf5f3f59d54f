"""The one data model renderers and exporters consume."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from functrace._runtime.record import Call, Origin

if TYPE_CHECKING:
    from functrace._runtime.record import Recording

__all__ = ["Problem", "Trace", "report_problems"]


@dataclasses.dataclass
class Problem:
    """One kind of unreadable line in a trace file: the first such line, and how many."""

    #: 1-based number of the first line with this problem.
    line: int
    #: What is wrong with that line, e.g. ``"ts" is 'x', not a whole number ...``.
    reason: str
    #: Lines with this kind of problem, all skipped.
    count: int = 1
    #: The kind, e.g. ``"other-format"`` (a line of the format the trace is not in)
    #: or ``"json"``; not compared: ``reason`` says it.
    kind: str = dataclasses.field(default="", compare=False)


def report_problems(problems: list[Problem], name: str) -> list[str]:
    out = []
    for problem in problems:
        more = problem.count - 1
        tail = f" (and {more} more line{'s' * (more != 1)} like it)" if more else ""
        out.append(f"{name}:{problem.line}: {problem.reason}{tail}")
    if out:
        total = sum(p.count for p in problems)
        out.append(f"{name}: {total} line{'s' * (total != 1)} skipped")
    return out


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
    #: Tag -> the name its naming line gives it (a thread's or an asyncio task's;
    #: the last one, if it was renamed). Text and jsonl alike.
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Tag -> the traced call that started its thread or task, where the trace says
    #: (each outermost call that such a start, or a thread-pool job, began also
    #: has it as :attr:`Call.origin <functrace.Call.origin>`).
    origins: dict[str, Origin] = dataclasses.field(default_factory=dict)
    #: Lines skipped: the program's own output, and every line counted in ``problems``.
    skipped_lines: int = 0
    #: Lines that claimed to be trace lines but could not be read (a torn last
    #: line, a bad field, a line of the other format): one entry per kind of
    #: problem, in the order they first occurred.
    problems: list[Problem] = dataclasses.field(default_factory=list)
    #: Lines written before ``FUNCTRACE_MAX_LINES`` cut the trace (its marker line);
    #: 0 if it was not cut.
    cut_after: int = 0
    #: The number of a last line cut mid-write (a kill), which was not read; 0: none.
    torn_line: int = 0

    def problem_report(self, name: str) -> list[str]:
        """What to tell a user about ``problems``, ``name`` being the file: one line
        per kind (``FILE:LINE: reason``), then the count of lines skipped; [] if none."""
        return report_problems(self.problems, name)

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

    def origin_calls(self) -> dict[int, Call]:
        """``id(root)`` -> the call that started it, for each outermost call with an
        :attr:`~functrace.Call.origin` found in the trace: the latest call of that
        name in that tag that started no later."""
        wanted = {(r.origin.tag, r.origin.name): r.origin for r in self.roots if r.origin}
        if not wanted:
            return {}
        runs: dict[tuple[str, str], list[Call]] = {}
        for call in self.walk():
            key = (call.tag, call.name)
            if key in wanted:
                runs.setdefault(key, []).append(call)
        found: dict[int, Call] = {}
        for root in self.roots:
            origin = root.origin
            if origin is None:
                continue
            best = None
            for call in runs.get((origin.tag, origin.name), ()):
                if call.start_ns <= root.start_ns and (
                    best is None or call.start_ns >= best.start_ns
                ):
                    best = call
            if best is not None:
                found[id(root)] = best
        return found

    @classmethod
    def from_recording(cls, recording: Recording) -> Trace:
        """A ``functrace.record()`` result (times on ``perf_counter_ns``)."""
        offset = time.time_ns() - time.perf_counter_ns()
        roots = sorted(recording.roots, key=lambda c: c.start_ns)
        origins = {
            r.tag: r.origin for r in roots if r.origin is not None and r.origin.kind != "job"
        }
        return cls(
            roots=roots, source="recording", exact=True, epoch_offset_ns=offset, origins=origins
        )
