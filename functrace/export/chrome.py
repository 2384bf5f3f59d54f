"""Chrome Trace Event JSON, for Perfetto UI and ``chrome://tracing``, written as read.

One track per tag: each asyncio task gets a track of its own beside its
thread's, so interleaving tasks never overlap on one track. Complete (``X``)
events with times in microseconds from the trace's start, written when each
call ends (viewers sort them).

Who started what (a thread, a task, a thread-pool job: the trace's origin
lines) is a flow: an ``s`` event on the starting call's track, inside the
starting call (where the origin line was read if that call was running then,
else just before the end of its last run), and an ``f`` event on the new track
where the origin line was read, which binds to the next slice there: the first
call of what was started. Perfetto draws it as an arrow.
"""

from __future__ import annotations

import json
from typing import Any

from functrace._runtime.record import Origin
from functrace.export._base import Writer, jstr, load_timelinecode
from functrace.export._code import value_attributes
from functrace.export._tracks import pid_of, track_label
from functrace.reading._stream import Frame, Output
from functrace.reading.scan import Scan

__all__ = ["ChromeWriter"]

_timelinecode = load_timelinecode()


#: ns % 1000 -> what follows the whole microseconds: "" or ".001" to ".999".
_FRACTIONS = [""] + [f".{i:03d}" for i in range(1, 1000)]


def _us(ns: int) -> str:
    """Nanoseconds as microseconds, exactly (no float rounding)."""
    return str(ns // 1000) + _FRACTIONS[ns % 1000]


def _extra_args(frame: Frame) -> str:
    args = ""
    if frame.exception is not None:
        args += f',"exception":{jstr(frame.exception)}'
    if frame.suspended is not None:
        args += f',"suspended":"{frame.suspended}"'
    if frame.resumed:
        args += ',"resumed":true'
    if frame.duration_ns is None:
        args += ',"unfinished":true'
    if frame.args or frame.returned is not None:  # FUNCTRACE_ARGS: as the spans have them
        for key, text in value_attributes(frame.args, frame.returned).items():
            args += f",{jstr(key)}:{json.dumps(text, ensure_ascii=False)}"
    return args


def _inside(run: tuple[int, int] | None, t: int) -> int:
    """Just before the end of ``run`` (so not in a call it made), else ``t``."""
    if run is None:
        return t
    return run[1] - 1 if run[1] > run[0] else run[0]


class ChromeWriter(Writer):
    def __init__(self, out: Output, scan: Scan) -> None:
        super().__init__(out, scan)
        self.origin: int | None = None
        #: tag -> the head of its events ('"pid":1,"tid":2'), and its args prefix.
        self.tracks: dict[str, tuple[str, str]] = {}
        self.pending: list[str] = []
        #: (tag, name, file, line) -> an event's text before its start, and after its dur.
        self.events: dict[tuple[str, str, str, int], list[Any]] = {}
        #: (tag, name) -> its last run's [start, end, flows waiting for a run of it]:
        #: where a flow from that call starts. Flows: [id, time, (start, end) | None].
        self.runs: dict[tuple[str, str], list[Any]] = {}
        self.flows = 0
        self.last_flow: tuple[str, str, str, int] | None = None
        self.early: list[tuple[str, Origin, int]] = []
        out.write('{"traceEvents":[\n')
        self.first = True
        if _timelinecode is not None:
            # It keeps this writer's Python opened/closed for the calls it does not
            # take, so it is made before they are replaced.
            coder = _timelinecode.Chrome(self, Frame)
            self.opened = coder.opened  # type: ignore[method-assign]
            self.closed = coder.closed  # type: ignore[method-assign]

    def _track(self, tag: str, starter: str | None = None) -> tuple[str, str]:
        ids = self.scan.thread_ids
        # A track made when a start is read comes before the tag's first event (which
        # says its pid in jsonl): it is in its starter's process.
        pid = pid_of(ids, starter if starter is not None and tag not in ids else tag)
        index = len(self.tracks) + 1
        head = f'"pid":{pid},"tid":{index}'
        label = jstr(track_label(self.scan, tag))
        meta = f'{{{head},"ts":0,"cat":"__metadata","ph":"M",'
        self._add(f'{meta}"name":"thread_name","args":{{"name":{label}}}}}')
        self._add(f'{meta}"name":"thread_sort_index","args":{{"sort_index":{index}}}}}')
        track = self.tracks[tag] = (head, f'"args":{{"tag":{jstr(tag)}')
        return track

    def _add(self, event: str) -> None:
        pending = self.pending
        pending.append(event)
        if len(pending) >= 2048:
            self._write()

    def _write(self) -> None:
        text = ",\n".join(self.pending)
        self.out.write(text if self.first else ",\n" + text)
        self.first = False
        self.pending.clear()

    def closed(self, frame: Frame) -> None:
        key = (frame.tag, frame.name, frame.file, frame.line)
        parts = self.events.get(key)
        if parts is None:
            parts = self._parts(key)
        origin = self.origin
        assert origin is not None  # set by opened(), which saw this frame first
        start = frame.start_ns - origin
        if start < 0:
            start = 0
        end = frame.end_ns - origin
        dur = (end if end > 0 else 0) - start
        event = (
            f"{parts[0]}{start // 1000}{_FRACTIONS[start % 1000]}"
            f',"dur":{dur // 1000}{_FRACTIONS[dur % 1000]}{parts[1]}'
        )
        run = parts[2]
        run[0] = frame.start_ns
        run[1] = frame.end_ns
        if run[2]:
            self._settle(run, frame.tag)
        if (
            frame.exception is not None
            or frame.suspended is not None
            or frame.resumed
            or frame.duration_ns is None
            or frame.args
            or frame.returned is not None
        ):
            event = event[:-2] + _extra_args(frame) + "}}"
        pending = self.pending
        pending.append(event)
        if len(pending) >= 2048:
            self._write()

    def _parts(self, key: tuple[str, str, str, int]) -> list[Any]:
        """An event of this function on this track, around its times; and its runs."""
        tag, name, file, line = key
        track = self.tracks.get(tag) or self._track(tag)
        args = track[1]
        if file:
            args += f',"file":{jstr(file)},"line":{line}'
        parts = [
            f'{{"name":{jstr(name)},"cat":"function","ph":"X",{track[0]},"ts":',
            f",{args}}}}}",
            self._run(tag, name),
        ]
        if len(self.events) >= 50_000:
            self.events.clear()
        self.events[key] = parts
        return parts

    def _run(self, tag: str, name: str) -> list[Any]:
        run = self.runs.get((tag, name))
        if run is None:
            if len(self.runs) >= 100_000:
                self._forget_runs()
            run = self.runs[(tag, name)] = [None, None, [], tag]
        return run

    def _forget_runs(self) -> None:
        """Memory stays bounded (a task is a tag of its own): flows still waiting
        start where they can now, and the runs are forgotten."""
        for (tag, _), run in self.runs.items():
            for flow in run[2]:
                self._flow_start(flow[0], tag, _inside(flow[2], flow[1]))
            run[2] = []
        self.runs.clear()
        self.events.clear()  # their parts hold the runs

    def origin_seen(self, tag: str, origin: Origin, t: int) -> None:
        """The trace says ``origin`` started ``tag`` (its next outermost call), at ``t``."""
        if self.origin is None:  # before the first call: told again when it opens
            self.early.append((tag, origin, t))
            return
        said = (tag, origin.tag, origin.name, t)
        if said == self.last_flow:
            return  # a pool thread's first job: its thread's origin, said just before
        self.last_flow = said
        self.flows += 1
        head = (self.tracks.get(tag) or self._track(tag, origin.tag))[0]
        kind = jstr(origin.kind)
        self._add(
            f'{{"name":"started","cat":"origin","ph":"f","id":{self.flows},{head},'
            f'"ts":{_us(max(0, t - self.origin))},"args":{{"kind":{kind}}}}}'
        )
        run = self._run(origin.tag, origin.name)
        before = None if run[0] is None else (run[0], run[1])
        run[2].append([self.flows, t, before])

    def _settle(self, run: list[Any], tag: str) -> None:
        """A run of a call that flows start from has ended: flows from a moment it
        spans start here; flows from after the run before it, just before that one's end."""
        start, end = run[0], run[1]
        waiting = []
        for flow in run[2]:
            t = flow[1]
            if start <= t < end:
                self._flow_start(flow[0], tag, t)
            elif start <= t == end:  # it ended as the line came: not where its calls end
                self._flow_start(flow[0], tag, _inside((start, end), t))
            elif start > t:
                self._flow_start(flow[0], tag, _inside(flow[2], t))
            else:
                waiting.append(flow)
        run[2] = waiting

    def _flow_start(self, flow: int, tag: str, t: int) -> None:
        head = (self.tracks.get(tag) or self._track(tag))[0]
        origin: int = self.origin  # type: ignore[assignment]
        self._add(
            f'{{"name":"started","cat":"origin","ph":"s","id":{flow},{head},'
            f'"ts":{_us(max(0, t - origin))}}}'
        )

    def opened(self, frame: Frame) -> None:
        if frame.tag not in self.tracks:
            if self.origin is None:
                self.origin = frame.start_ns
                for early in self.early:
                    self.origin = min(self.origin, early[2])
                for early in self.early:
                    self.origin_seen(*early)
                self.early.clear()
            if frame.tag not in self.tracks:
                self._track(frame.tag)  # tracks in order of first appearance

    def finish(self, end_ns: int, epoch_offset_ns: int) -> None:
        self._forget_runs()  # flows whose call never ended in the trace start there
        if self.pending:
            self._write()
        source = jstr(self.scan.source or "text")
        exact = "true" if self.scan.exact else "false"
        self.out.write(
            f'\n],"displayTimeUnit":"ns","otherData":{{"source":{source},"exact_times":{exact}}}}}\n'
        )
