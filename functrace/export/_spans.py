"""Calls as spans, written as the trace is read: shared by ``zipkin`` and ``otlp-json``.

One span per call; a coroutine's runs (``... await`` then ``... resume`` at the
same depth of the same thread or task) are one span from its first run's start
to its last run's end, as request spans are in distributed tracing; a
generator's runs stay separate spans, since each ``next()`` is a call made by
whoever consumes it (the live exporter, :mod:`functrace.otel`, does the same).

One trace id per process run (its pid), so every span's parent is a span of
the same file and the same trace; ``--traceparent`` puts every outermost call
under a span of another trace instead. The first call of a thread, task or
thread-pool job that the trace says a traced call started (its origin lines)
has that call's span (the latest one opened of that name in that tag) as its
parent, as the live exporter has for tasks and ``asyncio.to_thread``. Spans wait in a
:class:`~functrace.export._spool.Spool` per process (OTLP nests spans in their
process's resource); a text trace's times are only placed in epoch time at the
end (the trace ends at the file's modification time), so they are spooled as
markers and filled in as the spool is written out.
"""

from __future__ import annotations

import random
import re
from itertools import repeat
from operator import floordiv

from functrace.export._base import Writer
from functrace.export._code import code_attributes, value_attributes
from functrace.export._spool import Spool
from functrace.export._tracks import pid_of
from functrace.reading._stream import Frame, Output
from functrace.reading.scan import Scan

__all__ = ["Span", "SpanWriter"]

#: A time left for the end: \x00NS\x00 in nanoseconds, \x01NS\x01 in microseconds.
_MARK_RE = re.compile("([\x00\x01])([0-9]+)[\x00\x01]")


class Span:
    """One span: a call, or a coroutine's runs."""

    __slots__ = (
        "args",
        "end",
        "exception",
        "file",
        "line",
        "name",
        "parent_id",
        "pid",
        "resumed",
        "returned",
        "runs",
        "span_id",
        "start",
        "suspended",
        "tag",
        "trace_id",
        "unfinished",
    )
    # Ids are kept as the hex text every format writes (made once per span).

    def __init__(self, frame: Frame, span_id: str, parent_id: str, trace_id: str, pid: int) -> None:
        self.name = frame.name
        self.tag = frame.tag
        self.file = frame.file
        self.line = frame.line
        self.start = frame.start_ns
        self.end = frame.start_ns
        self.resumed = frame.resumed
        self.span_id = span_id
        self.parent_id = parent_id  # "": none
        self.trace_id = trace_id
        self.pid = pid
        self.runs = 1
        self.exception: str | None = None
        self.suspended: str | None = None
        self.unfinished = False
        self.args = frame.args  # FUNCTRACE_ARGS: the first run's arguments
        self.returned: str | None = None  # and the last run's value

    def fixed_attributes(self, thread_name: str | None) -> dict[str, str | int | bool]:
        """What every span of this function in this thread or task has."""
        attributes: dict[str, str | int | bool] = {
            **code_attributes(self.name, self.file, self.line),
            "functrace.tag": self.tag,
        }
        if thread_name:
            attributes["thread.name"] = thread_name
        return attributes

    def own_attributes(self) -> dict[str, str | int | bool]:
        """What this span alone has."""
        attributes: dict[str, str | int | bool] = {}
        if self.runs > 1:
            attributes["functrace.runs"] = self.runs
        if self.suspended is not None:
            attributes["functrace.suspended"] = self.suspended
        if self.resumed:
            attributes["functrace.resumed"] = True
        if self.unfinished:
            attributes["functrace.unfinished"] = True
        return attributes


class SpanWriter(Writer):
    """Subclasses say how a span looks (:meth:`encode`) and what surrounds the spans
    (:meth:`write_all`)."""

    def __init__(
        self,
        out: Output,
        scan: Scan,
        service_name: str = "functrace",
        trace_id: int | None = None,
        parent_span_id: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(out, scan)
        self.service_name = service_name
        self.rng = random.Random(seed)
        self.fixed_trace_id = f"{trace_id:032x}" if trace_id else ""
        self.root_parent = f"{parent_span_id:016x}" if parent_span_id else ""
        #: tag -> (pid, trace id): one trace per process run.
        self.processes: dict[str, tuple[int, str]] = {}
        self.trace_ids: dict[int, str] = {}
        #: tag -> depth -> a coroutine's span waiting at that depth for its next run.
        self.parked: dict[str, dict[int, Span]] = {}
        self.spool = Spool()
        self.counts: dict[str, int] = {}
        self.spans = 0
        #: Trace clock to epoch, when known before the end (jsonl: 0, its times
        #: are epoch times); None: times are spooled as markers (a text trace).
        self.known_offset: int | None = None
        #: (name, file, line, tag) -> its fixed attributes, encoded.
        self._fixed: dict[tuple[str, str, int, str], str] = {}
        #: process -> spans not yet in the spool (at most 4096 in all).
        self._pending: dict[str, list[str]] = {}
        self._pending_count = 0
        #: (runs, suspended, resumed, unfinished) -> a span's own attributes, encoded.
        self._own: dict[tuple[int, str | None, bool, bool], str] = {}
        self._bits = self.rng.getrandbits
        self._first = True
        #: (tag, name) -> its latest span: where a thread, task or job it started hangs.
        self.latest: dict[tuple[str, str], Span] = {}

    def _process(self, tag: str) -> tuple[int, str]:
        pid = pid_of(self.scan.thread_ids, tag)
        trace_id = self.fixed_trace_id or self.trace_ids.get(pid)
        if not trace_id:
            trace_id = self.trace_ids[pid] = f"{self.rng.getrandbits(128) or 1:032x}"
        process = self.processes[tag] = (pid, trace_id)
        return process

    def opened(self, frame: Frame) -> None:
        if self._first:
            self._first = False  # the format is known once a frame opens
            if self.known_offset is None and self.scan.exact:
                self.known_offset = 0
        span = None
        if frame.resumed:
            parked = self.parked.get(frame.tag, {}).pop(frame.depth, None)
            if parked is not None:
                if parked.name == frame.name:
                    span = parked
                    span.runs += 1
                else:
                    self._write(parked)
        if span is None:
            parent = frame.parent
            pid, trace_id = self.processes.get(frame.tag) or self._process(frame.tag)
            if parent is not None:
                parent_id = parent.data.span_id
            else:
                parent_id = self.root_parent
                origin = frame.origin
                if origin is not None:
                    starter = self.latest.get((origin.tag, origin.name))
                    if starter is not None and starter.trace_id == trace_id:
                        parent_id = starter.span_id
            span = Span(frame, f"{self._bits(64) or 1:016x}", parent_id, trace_id, pid)
            latest = self.latest
            if len(latest) >= 50_000:
                latest.clear()
            latest[(frame.tag, frame.name)] = span
        frame.data = span

    def closed(self, frame: Frame) -> None:
        span: Span = frame.data
        span.end = frame.end_ns
        span.exception = frame.exception
        span.suspended = frame.suspended
        span.returned = frame.returned
        span.unfinished = frame.duration_ns is None
        if frame.suspended == "await" and not span.unfinished:
            parked = self.parked.setdefault(frame.tag, {})
            waiting = parked.pop(frame.depth, None)
            if waiting is not None:
                self._write(waiting)
            parked[frame.depth] = span
        else:
            self._write(span)

    def _write(self, span: Span) -> None:
        self.spans += 1
        function = (span.name, span.file, span.line, span.tag)
        fixed = self._fixed.get(function)
        if fixed is None:
            attributes = span.fixed_attributes(self.scan.thread_names.get(span.tag))
            fixed = self.encode_attributes(attributes)
            if len(self._fixed) >= 50_000:
                self._fixed.clear()
            self._fixed[function] = fixed
        if span.runs > 1 or span.suspended or span.resumed or span.unfinished:
            own = (span.runs, span.suspended, span.resumed, span.unfinished)
            extra = self._own.get(own)
            if extra is None:
                extra = "," + self.encode_attributes(span.own_attributes())
                if len(self._own) >= 10_000:
                    self._own.clear()
                self._own[own] = extra
            fixed += extra
        if span.args or span.returned is not None:
            values: dict[str, str | int | bool] = {**value_attributes(span.args, span.returned)}
            fixed += "," + self.encode_attributes(values)
        key = str(span.pid)
        texts = self._pending.get(key)
        if texts is None:
            texts = self._pending[key] = []
        texts.append(self.encode(span, fixed))
        self._pending_count += 1
        if self._pending_count >= 4096:
            self._flush()

    def _flush(self) -> None:
        """Spans held back (to add them to the spool in a few large pieces) to the spool;
        a process's spans are separated by ",\n"."""
        add = self.spool.add
        counts = self.counts
        for key, texts in self._pending.items():
            add(key, (",\n" if key in counts else "") + ",\n".join(texts))
            counts[key] = counts.get(key, 0) + len(texts)
        self._pending.clear()
        self._pending_count = 0

    def encode(self, span: Span, attributes: str) -> str:
        """One span; ``attributes`` already encoded by :meth:`encode_attributes`."""
        raise NotImplementedError

    def encode_attributes(self, attributes: dict[str, str | int | bool]) -> str:
        raise NotImplementedError

    def finish(self, end_ns: int, epoch_offset_ns: int) -> None:
        for parked in self.parked.values():
            for span in parked.values():
                self._write(span)
        self.parked.clear()
        self._flush()
        self.write_all(epoch_offset_ns)
        self.spool.close()

    def write_all(self, epoch_offset_ns: int) -> None:
        raise NotImplementedError

    def copy(self, key: str, epoch_offset_ns: int) -> None:
        """A process's spans from the spool to the output, times placed in epoch time."""
        exact = self.known_offset is not None
        # Spans are separated by ",\n" and hold no newline of their own: cutting
        # a piece at its last newline never splits a marker.
        tail = ""
        for text in self.spool.read(key):
            if exact:
                self.out.write(text)
                continue
            text = tail + text
            cut = text.rfind("\n") + 1
            tail = text[cut:]
            self.out.write(_place(text[:cut], epoch_offset_ns))
        if tail:
            self.out.write(_place(tail, epoch_offset_ns))


def _place(text: str, offset: int) -> str:
    """The markers in ``text`` replaced by epoch times. A JSON string holds no raw
    \\x00 or \\x01 (they are escaped), so the markers' bytes cut the text into
    what is around the numbers and the numbers."""
    if "\x01" in text:
        if "\x00" in text:
            return _MARK_RE.sub(lambda m: _placed(m, offset), text)
        parts = text.split("\x01")
        numbers = map(offset.__add__, map(int, parts[1::2]))
        parts[1::2] = map(str, map(floordiv, numbers, repeat(1000)))
        return "".join(parts)
    if "\x00" not in text:
        return text
    parts = text.split("\x00")
    parts[1::2] = map(str, map(offset.__add__, map(int, parts[1::2])))
    return "".join(parts)


def _placed(m: re.Match[str], offset: int) -> str:
    t = int(m.group(2)) + offset
    return str(t) if m.group(1) == "\x00" else str(t // 1000)
