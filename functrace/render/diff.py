"""Two traces of the same program compared call tree by call tree, per tag, in bounded memory.

Each tag's calls form a sequence of events (enter, and exit with how it ended:
returned, raised which exception, suspended). The first pass over each trace
keeps a running hash of that sequence and writes it down every ``block``
events (a few numbers per thousand calls); the blocks where the two runs first
disagree are then read again, and only those, to find the exact first event
that differs and the chain of calls open there. Per-function totals come from
the same first pass (:class:`~functrace.render.summary.Summary`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

from functrace._runtime.lines import format_duration
from functrace.reading._stream import Consumer, Frame, Output
from functrace.reading.scan import Scan, scan_trace
from functrace.render.summary import FunctionStats, Summary

__all__ = ["Difference", "TagResult", "compare", "write_diff"]

Event = tuple[str, int, str, str]  # arrow, depth, name, how it ended ("" for enters)


def _ending(frame: Frame) -> str:
    if frame.duration_ns is None:
        return "… unfinished"
    if frame.exception is not None:
        return "!" + frame.exception
    return frame.suspended or "returned"


class _Tee:
    def __init__(self, consumers: Iterable[Consumer]) -> None:
        self.consumers = list(consumers)

    def opened(self, frame: Frame) -> None:
        for consumer in self.consumers:
            consumer.opened(frame)

    def closed(self, frame: Frame) -> None:
        for consumer in self.consumers:
            consumer.closed(frame)


class _Fingerprint:
    """Per tag: the number of events, and the running hash every ``block`` events."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.tags: dict[str, list[int]] = {}  # tag -> [count, hash, checkpoint, ...]

    def _add(self, tag: str, event: Event) -> None:
        state = self.tags.get(tag)
        if state is None:
            state = self.tags[tag] = [0, 0]
        state[1] = hash((state[1], event))
        state[0] += 1
        if state[0] % self.block == 0:
            state.append(state[1])

    def opened(self, frame: Frame) -> None:
        self._add(frame.tag, ("->", frame.depth, frame.name, ""))

    def closed(self, frame: Frame) -> None:
        self._add(frame.tag, ("<-", frame.depth, frame.name, _ending(frame)))


@dataclasses.dataclass
class _Seen:
    event: Event
    chain: tuple[str, ...]  # the calls open around the event, outermost first


class _Window:
    """The events of chosen tags from event ``start`` on, ``size`` of them, with their chains."""

    def __init__(self, starts: dict[str, int], size: int) -> None:
        self.starts = starts
        self.size = size
        self.counts: dict[str, int] = {}
        self.seen: dict[str, list[_Seen]] = {tag: [] for tag in starts}

    def _add(self, frame: Frame, event: Event, around: Frame | None) -> None:
        tag = frame.tag
        start = self.starts.get(tag)
        if start is None:
            return
        n = self.counts.get(tag, 0)
        self.counts[tag] = n + 1
        if start <= n < start + self.size:
            chain = tuple(around.chain()) if around is not None else ()
            self.seen[tag].append(_Seen(event, chain))

    def opened(self, frame: Frame) -> None:
        self._add(frame, ("->", frame.depth, frame.name, ""), frame.parent)

    def closed(self, frame: Frame) -> None:
        self._add(frame, ("<-", frame.depth, frame.name, _ending(frame)), frame.parent)


@dataclasses.dataclass
class Difference:
    index: int  # 0-based event number within the tag
    chain: tuple[str, ...]
    a: Event | None  # None: the trace had no more events for this tag
    b: Event | None


@dataclasses.dataclass
class TagResult:
    tag: str
    events_a: int
    events_b: int
    difference: Difference | None = None


@dataclasses.dataclass
class Comparison:
    tags: list[TagResult]
    only_a: list[tuple[str, int]]
    only_b: list[tuple[str, int]]
    functions: list[tuple[str, FunctionStats | None, FunctionStats | None]]
    scans: tuple[Scan, Scan]


def compare(a: str | os.PathLike[str], b: str | os.PathLike[str], block: int = 1024) -> Comparison:
    prints, summaries, scans = [], [], []
    for path in (a, b):
        fingerprint, summary, scan = _Fingerprint(block), Summary(), Scan()
        summary.thread_names = scan.thread_names
        scan_trace(path, _Tee([fingerprint, summary]), scan=scan)
        prints.append(fingerprint.tags)
        summaries.append(summary.stats)
        scans.append(scan)
    pa, pb = prints
    results: list[TagResult] = []
    starts: dict[str, int] = {}
    for tag in pa:
        if tag not in pb:
            continue
        sa, sb = pa[tag], pb[tag]
        results.append(TagResult(tag, sa[0], sb[0]))
        if sa[:2] == sb[:2]:
            continue
        marks = 0  # full blocks both runs agree on
        while marks < min(len(sa), len(sb)) - 2 and sa[2 + marks] == sb[2 + marks]:
            marks += 1
        starts[tag] = marks * block
    if starts:
        windows = []
        for path in (a, b):
            window = _Window(starts, block)
            scan_trace(path, window)
            windows.append(window.seen)
        for result in results:
            if result.tag in starts:
                result.difference = _first(starts[result.tag], *(w[result.tag] for w in windows))
    only_a = [(t, s[0]) for t, s in pa.items() if t not in pb]
    only_b = [(t, s[0]) for t, s in pb.items() if t not in pa]
    stats_a, stats_b = summaries
    names = list(dict.fromkeys([*stats_a, *stats_b]))
    functions = [(n, stats_a.get(n), stats_b.get(n)) for n in names]
    functions = [f for f in functions if _changed(f[1], f[2])]
    functions.sort(key=lambda f: (-_calls_change(f[1], f[2]), -_time_change(f[1], f[2]), f[0]))
    return Comparison(results, only_a, only_b, functions, (scans[0], scans[1]))


def _first(start: int, a: list[_Seen], b: list[_Seen]) -> Difference:
    for i in range(max(len(a), len(b))):
        ea = a[i] if i < len(a) else None
        eb = b[i] if i < len(b) else None
        if ea is None or eb is None or ea.event != eb.event:
            chain = (ea or eb).chain if (ea or eb) is not None else ()  # type: ignore[union-attr]
            if ea is not None and eb is not None:
                # The chain both runs share at that point.
                common = 0
                while (
                    common < min(len(ea.chain), len(eb.chain))
                    and ea.chain[common] == eb.chain[common]
                ):
                    common += 1
                chain = ea.chain[:common]
            return Difference(start + i, chain, ea.event if ea else None, eb.event if eb else None)
    return Difference(start + max(len(a), len(b)), (), None, None)  # hash collision: rare


def _calls(s: FunctionStats | None) -> int:
    return 0 if s is None else s.calls


def _total(s: FunctionStats | None) -> int:
    return 0 if s is None else s.total_ns


def _calls_change(a: FunctionStats | None, b: FunctionStats | None) -> int:
    return abs(_calls(b) - _calls(a))


def _time_change(a: FunctionStats | None, b: FunctionStats | None) -> int:
    return abs(_total(b) - _total(a))


def _changed(a: FunctionStats | None, b: FunctionStats | None) -> bool:
    if _calls(a) != _calls(b):
        return True
    # Times always vary a little: only a change by a quarter or more counts.
    ta, tb = _total(a), _total(b)
    return abs(tb - ta) * 4 > max(ta, tb, 1) and abs(tb - ta) >= 1_000


def _count(calls: int) -> str:
    return f"{calls:,} call{'s' * (calls != 1)}"


def _event_text(event: Event | None) -> str:
    if event is None:
        return "(no more calls)"
    arrow, _, name, ending = event
    return f"calls {name}" if arrow == "->" else f"{name} {ending}"


def write_diff(result: Comparison, out: Output, limit: int = 15) -> int:
    """The report; returns how many differences it found (tags and functions)."""
    found = 0
    for tag in result.tags:
        diff = tag.difference
        if diff is None:
            out.write(f"{tag.tag}: same calls ({_count(tag.events_a // 2)})\n")
            continue
        found += 1
        out.write(f"{tag.tag}: the call trees differ at event {diff.index + 1:,}\n")
        depth = 0
        for depth, name in enumerate(diff.chain, 1):
            out.write("    " * depth + name + "\n")
        indent = "    " * (depth + 1)
        out.write(f"{indent}A: {_event_text(diff.a)}\n{indent}B: {_event_text(diff.b)}\n")
    for label, tags in (("A", result.only_a), ("B", result.only_b)):
        for only, events in tags:
            found += 1
            out.write(f"{only}: only in {label} ({_count(events // 2)})\n")
    if result.functions:
        found += len(result.functions)
        rows = [("function", "calls A", "calls B", "total A", "total B")]
        for name, a, b in result.functions[:limit]:
            rows.append(
                (
                    name,
                    f"{_calls(a):,}",
                    f"{_calls(b):,}",
                    format_duration(_total(a)),
                    format_duration(_total(b)),
                )
            )
        more = len(result.functions) - limit
        out.write("\nfunctions whose calls or total time changed most:\n")
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, 5)]
            out.write("  " + "  ".join(cells).rstrip() + "\n")
        if more > 0:
            out.write(f"  ... and {more} more\n")
    return found
