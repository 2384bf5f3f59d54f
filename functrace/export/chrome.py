"""Chrome Trace Event JSON, for Perfetto UI and ``chrome://tracing``, written as read.

One track per tag: each asyncio task gets a track of its own beside its
thread's, so interleaving tasks never overlap on one track. Complete (``X``)
events with times in microseconds from the trace's start, written when each
call ends (viewers sort them).
"""

from __future__ import annotations

from functrace.export._base import Writer, jstr
from functrace.export._tracks import pid_of, track_label
from functrace.reading._stream import Frame, Output
from functrace.reading.scan import Scan

__all__ = ["ChromeWriter"]


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
    return args


class ChromeWriter(Writer):
    def __init__(self, out: Output, scan: Scan) -> None:
        super().__init__(out, scan)
        self.origin: int | None = None
        #: tag -> the head of its events ('"pid":1,"tid":2'), and its args prefix.
        self.tracks: dict[str, tuple[str, str]] = {}
        self.pending: list[str] = []
        #: (tag, name, file, line) -> an event's text before its start, and after its dur.
        self.events: dict[tuple[str, str, str, int], tuple[str, str]] = {}
        out.write('{"traceEvents":[\n')
        self.first = True

    def _track(self, tag: str) -> tuple[str, str]:
        pid = pid_of(self.scan.thread_ids, tag)
        index = len(self.tracks) + 1
        head = f'"pid":{pid},"tid":{index}'
        label = jstr(track_label(self.scan.thread_names, tag))
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
        if (
            frame.exception is not None
            or frame.suspended is not None
            or frame.resumed
            or frame.duration_ns is None
        ):
            event = event[:-2] + _extra_args(frame) + "}}"
        pending = self.pending
        pending.append(event)
        if len(pending) >= 2048:
            self._write()

    def _parts(self, key: tuple[str, str, str, int]) -> tuple[str, str]:
        """An event of this function on this track, around its times."""
        tag, name, file, line = key
        track = self.tracks.get(tag) or self._track(tag)
        args = track[1]
        if file:
            args += f',"file":{jstr(file)},"line":{line}'
        parts = (
            f'{{"name":{jstr(name)},"cat":"function","ph":"X",{track[0]},"ts":',
            f",{args}}}}}",
        )
        if len(self.events) >= 50_000:
            self.events.clear()
        self.events[key] = parts
        return parts

    def opened(self, frame: Frame) -> None:
        if frame.tag not in self.tracks:
            if self.origin is None:
                self.origin = frame.start_ns
            self._track(frame.tag)  # tracks in order of first appearance

    def finish(self, end_ns: int, epoch_offset_ns: int) -> None:
        if self.pending:
            self._write()
        source = jstr(self.scan.source or "text")
        exact = "true" if self.scan.exact else "false"
        self.out.write(
            f'\n],"displayTimeUnit":"ns","otherData":{{"source":{source},"exact_times":{exact}}}}}\n'
        )
