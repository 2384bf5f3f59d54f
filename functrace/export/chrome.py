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


def _us(ns: int) -> str:
    """Nanoseconds as microseconds, exactly (no float rounding)."""
    whole, frac = divmod(ns, 1000)
    return f"{whole}.{frac:03d}" if frac else str(whole)


class ChromeWriter(Writer):
    def __init__(self, out: Output, scan: Scan) -> None:
        super().__init__(out, scan)
        self.origin: int | None = None
        #: tag -> the head of its events ('"pid":1,"tid":2'), and its args prefix.
        self.tracks: dict[str, tuple[str, str]] = {}
        self.pending: list[str] = []
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
        if self.origin is None:
            self.origin = frame.start_ns
        track = self.tracks.get(frame.tag) or self._track(frame.tag)
        start = max(frame.start_ns - self.origin, 0)
        dur = max(frame.end_ns - self.origin, 0) - start
        args = track[1]
        if frame.file:
            args += f',"file":{jstr(frame.file)},"line":{frame.line}'
        if frame.exception is not None:
            args += f',"exception":{jstr(frame.exception)}'
        if frame.suspended is not None:
            args += f',"suspended":"{frame.suspended}"'
        if frame.resumed:
            args += ',"resumed":true'
        if frame.duration_ns is None:
            args += ',"unfinished":true'
        self._add(
            f'{{"name":{jstr(frame.name)},"cat":"function","ph":"X",{track[0]},'
            f'"ts":{_us(start)},"dur":{_us(dur)},{args}}}}}'
        )

    def opened(self, frame: Frame) -> None:
        if self.origin is None:
            self.origin = frame.start_ns
        if frame.tag not in self.tracks:
            self._track(frame.tag)  # tracks in order of first appearance

    def finish(self, end_ns: int, epoch_offset_ns: int) -> None:
        if self.pending:
            self._write()
        source = jstr(self.scan.source or "text")
        exact = "true" if self.scan.exact else "false"
        self.out.write(
            f'\n],"displayTimeUnit":"ns","otherData":{{"source":{source},"exact_times":{exact}}}}}\n'
        )
