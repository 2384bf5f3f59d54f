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
markers and filled in as the spool is written out, and so is each function's text
common to all its spans (a reference into a table kept to the end: a third of the
bytes to spool). With exact times (jsonl) the first process's spans are written
as they come and only the others wait in the spool.

The optional compiled module ``_spancode`` (setup.py) does what :meth:`SpanWriter.opened`,
:meth:`SpanWriter.closed` and :meth:`SpanWriter._write` do for the common calls (and
:func:`_place`), on the same objects, and hands every other call to them: the output
is the same byte for byte (tests/export/test_spancode_c.py).
"""

from __future__ import annotations

import random
import re
from itertools import repeat
from operator import floordiv
from typing import Any

from functrace.export._base import Writer, jstr
from functrace.export._code import code_attributes, value_attributes
from functrace.export._spool import Spool
from functrace.export._tracks import pid_of
from functrace.reading._stream import Frame, Output
from functrace.reading.scan import Scan

__all__ = ["Span", "SpanWriter", "Spanned", "fixed_attributes", "own_attributes"]

#: A time left for the end: \x00NS\x00 in nanoseconds, \x01NS\x01 in microseconds.
_MARK_RE = re.compile("([\x00\x01])([0-9]+)[\x00\x01]")
#: Random 64-bit ids drawn at a time (as one number: the same values, in the same order,
#: as one draw each).
_DRAWN = 4096
_ZERO_ID = "0" * 16
#: Functions (with their tags and own attributes) whose parts are kept, at most.
_PARTS_MAX = 50_000
#: Characters of common text a text trace's spool refers to (\x02N\x02), at most.
_TABLE_MAX = 8 << 20
#: The version of _spancode.c this file is written for (a build of another is not used).
_SPANCODE_API = 1


def _load_spancode() -> Any:
    try:
        from functrace.export import _spancode
    except ImportError:
        return None
    return _spancode if getattr(_spancode, "API", None) == _SPANCODE_API else None


_spancode = _load_spancode()


class Span:
    """A coroutine's runs joined into one span (a call that is one run is written from
    its frame, with no span object)."""

    __slots__ = (
        "args",
        "end_ns",
        "exception",
        "file",
        "line",
        "name",
        "parent_id",
        "resumed",
        "returned",
        "runs",
        "span_id",
        "start_ns",
        "suspended",
        "tag",
        "unfinished",
    )
    # Ids are kept as the hex text every format writes (made once per span).

    def __init__(self, frame: Frame, span_id: str, parent_id: str) -> None:
        self.name = frame.name
        self.tag = frame.tag
        self.file = frame.file
        self.line = frame.line
        self.start_ns = frame.start_ns
        self.end_ns = frame.start_ns
        self.resumed = frame.resumed
        self.span_id = span_id
        self.parent_id = parent_id  # "": none
        self.runs = 1
        self.exception: str | None = None
        self.suspended: str | None = None
        self.unfinished = False
        self.args = frame.args  # FUNCTRACE_ARGS: the first run's arguments
        self.returned: str | None = None  # and the last run's value


#: What :meth:`SpanWriter.encode` reads of a span: a :class:`Span` or a :class:`Frame`.
Spanned = Span | Frame


def fixed_attributes(
    name: str, file: str, line: int, tag: str, thread_name: str | None
) -> dict[str, str | int | bool]:
    """What every span of this function in this thread or task has."""
    attributes: dict[str, str | int | bool] = {
        **code_attributes(name, file, line),
        "functrace.tag": tag,
    }
    if thread_name:
        attributes["thread.name"] = thread_name
    return attributes


def own_attributes(
    runs: int, suspended: str | None, resumed: bool, unfinished: bool
) -> dict[str, str | int | bool]:
    """What this span alone has."""
    attributes: dict[str, str | int | bool] = {}
    if runs > 1:
        attributes["functrace.runs"] = runs
    if suspended is not None:
        attributes["functrace.suspended"] = suspended
    if resumed:
        attributes["functrace.resumed"] = True
    if unfinished:
        attributes["functrace.unfinished"] = True
    return attributes


class SpanWriter(Writer):
    """Subclasses say how a span looks (:meth:`parts`, :meth:`encode`) and what surrounds
    each process's spans (:meth:`prologue`, :meth:`begin`, :meth:`end`, :meth:`epilogue`)."""

    #: Which span layout ``_spancode`` writes for this class: "otlp" or "zipkin"
    #: (its :meth:`encode` and :meth:`parts`, in C); "": none, Python writes every span.
    layout = ""

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
        #: tag -> (its process's spans not yet in the spool, trace id): one trace per
        #: process run.
        self.processes: dict[str, tuple[list[str], str]] = {}
        self.trace_ids: dict[int, str] = {}
        #: tag -> depth -> a coroutine's span waiting at that depth for its next run.
        self.parked: dict[str, dict[int, Span]] = {}
        self.spool = Spool()
        self.counts: dict[str, int] = {}
        #: Trace clock to epoch, when known before the end (jsonl: 0, its times
        #: are epoch times); None: times are spooled as markers (a text trace).
        self.known_offset: int | None = None
        #: (name, file, line, tag[, own attributes' key]) -> what :meth:`parts` makes of
        #: its attributes: every span of it has the same.
        self._parts: dict[tuple[Any, ...], Any] = {}
        #: The common text that spooled spans refer to as \x02N\x02 (N: its index).
        self._table: list[str] = []
        self._table_size = 0
        #: process (the pid as text: its spool key) -> spans not yet in the spool (at
        #: most 4096 in all).
        self._pending: dict[str, list[str]] = {}
        self._pending_count = 0
        #: The process whose spans go straight to the output (times known: the first
        #: one with spans), or None.
        self._direct: str | None = None
        #: Random 64-bit values as hex, the next one last (see :meth:`_draw`).
        self._ids: list[str] = []
        #: (tag, name) -> its latest span (an id, or a coroutine's Span): where a
        #: thread, task or job it started hangs.
        self.latest: dict[tuple[str, str], str | Span] = {}
        self._first = True
        if _spancode is not None and self.layout:
            # It keeps this writer's Python opened/closed for the calls it does not
            # take, so it is made before they are replaced.
            coder = _spancode.Coder(self, Frame, Span, self.layout == "zipkin", jstr)
            self.opened = coder.opened  # type: ignore[method-assign]
            self.closed = coder.closed  # type: ignore[method-assign]
            self._write = coder.write  # type: ignore[method-assign]
            self._draw = coder.draw  # type: ignore[method-assign]

    def _random_bytes(self) -> bytes:
        """4096 random 64-bit values, big-endian: one draw of 64 * 4096 bits is the
        values of 4096 draws of 64, the first lowest (so last here)."""
        return self.rng.getrandbits(64 * _DRAWN).to_bytes(8 * _DRAWN, "big")

    def _draw(self) -> str:
        """The next random 64-bit value, as 16 hex digits."""
        ids = self._ids
        if not ids:
            ids[:] = self._random_bytes().hex(" ", 8).split(" ")
        return ids.pop()

    def _span_id(self) -> str:
        ids = self._ids
        span_id = ids.pop() if ids else self._draw()
        return span_id if span_id != _ZERO_ID else "0" * 15 + "1"

    def _process(self, tag: str) -> None:
        pid = pid_of(self.scan.thread_ids, tag)
        trace_id = self.fixed_trace_id or self.trace_ids.get(pid)
        if not trace_id:
            low = self._draw()  # as getrandbits(128) has them
            trace_id = self._draw() + low
            if trace_id == _ZERO_ID * 2:
                trace_id = "0" * 31 + "1"
            self.trace_ids[pid] = trace_id
        self.processes[tag] = (self._pending.setdefault(str(pid), []), trace_id)

    def opened(self, frame: Frame) -> None:
        if self._first:
            self._first = False  # the format is known once a frame opens
            if self.known_offset is None and self.scan.exact:
                self.known_offset = 0
        if frame.tag not in self.processes:
            self._process(frame.tag)
        if frame.resumed:
            parked = self.parked.get(frame.tag)
            waiting = parked.pop(frame.depth, None) if parked else None
            if waiting is not None:
                if waiting.name == frame.name:
                    waiting.runs += 1
                    frame.data = waiting
                    return
                self._write_span(waiting)
        # A run of its own until it awaits: its span id alone.
        span_id = self._span_id()
        frame.data = span_id
        if frame.parent is None and frame.origin is not None:
            starter = self.latest.get((frame.origin.tag, frame.origin.name))
            if starter is not None:  # under the call that started it, as the live exporter has it
                parent_id = starter if starter.__class__ is str else starter.span_id  # type: ignore[union-attr]
                frame.data = Span(frame, span_id, parent_id)
        latest = self.latest
        if len(latest) >= 50_000:
            latest.clear()
        latest[(frame.tag, frame.name)] = frame.data

    def closed(self, frame: Frame) -> None:
        data = frame.data
        unfinished = frame.duration_ns is None
        if data.__class__ is str:
            parent = frame.parent
            if parent is None:
                parent_id = self.root_parent
            else:
                parent_id = parent.data
                if parent_id.__class__ is not str:
                    parent_id = parent_id.span_id
            if unfinished or frame.suspended != "await":
                self._write(frame, data, parent_id, 1, unfinished)
                return
            span = Span(frame, data, parent_id)
        else:
            span = data
        span.end_ns = frame.end_ns
        span.exception = frame.exception
        span.suspended = frame.suspended
        span.unfinished = unfinished
        span.returned = frame.returned
        if frame.suspended == "await" and not unfinished:
            parked = self.parked.setdefault(frame.tag, {})
            waiting = parked.pop(frame.depth, None)
            if waiting is not None:
                self._write_span(waiting)
            parked[frame.depth] = span
        else:
            self._write_span(span)

    def _write_span(self, span: Span) -> None:
        self._write(span, span.span_id, span.parent_id, span.runs, span.unfinished)

    def _write(
        self, span: Spanned, span_id: str, parent_id: str, runs: int, unfinished: bool
    ) -> None:
        self.processes[span.tag][0].append(self._text(span, span_id, parent_id, runs, unfinished))
        self._pending_count += 1
        if self._pending_count >= 4096:
            self._flush()

    def _text(
        self, span: Spanned, span_id: str, parent_id: str, runs: int, unfinished: bool
    ) -> str:
        """One span's text, as spooled."""
        tag = span.tag
        suspended = span.suspended
        if runs > 1 or suspended or span.resumed or unfinished:
            own = (runs, suspended, span.resumed, unfinished)
            function: tuple[Any, ...] = (span.name, span.file, span.line, tag, own)
        else:
            function = (span.name, span.file, span.line, tag)
        if span.args or span.returned is not None:
            parts = self._make_parts(function, value_attributes(span.args, span.returned))
        else:
            parts = self._parts.get(function)
            if parts is None:
                parts = self._make_parts(function)
        return self.encode(span, self.processes[tag][1], span_id, parent_id, parts)

    def _make_parts(self, function: tuple[Any, ...], values: dict[str, str] | None = None) -> Any:
        name, file, line, tag = function[:4]
        attributes = fixed_attributes(name, file, line, tag, self.scan.thread_names.get(tag))
        if len(function) > 4:
            attributes.update(own_attributes(*function[4]))
        if values is not None:  # this call's own (FUNCTRACE_ARGS): made for it alone
            attributes.update(values)
            return self.parts(name, self.encode_attributes(attributes))
        parts = self.parts(name, self.encode_attributes(attributes))
        if self.known_offset is None and self._table_size < _TABLE_MAX:
            # Spooled to the end (a text trace): the text every span of it has, once.
            table = self._table
            index = len(table)
            table += parts[:2]
            self._table_size += len(parts[0]) + len(parts[1])
            parts = (f"\x02{index}\x02", f"\x02{index + 1}\x02", *parts[2:])
        if len(self._parts) >= _PARTS_MAX:
            self._parts.clear()
        self._parts[function] = parts
        return parts

    def _flush(self) -> None:
        """Spans held back (to add them to the spool in a few large pieces) to the spool,
        or to the output; a process's spans are separated by ",\n"."""
        add = self.spool.add
        counts = self.counts
        for key, texts in self._pending.items():
            if texts:
                if not counts and self.known_offset is not None:
                    # The first process with spans, its times known: written as read.
                    self._direct = key
                    self.out.write(self.prologue() + self.begin(key, 0))
                more = key in counts
                if key == self._direct:
                    # In pieces of 64 spans: a few MB at once made the heap grow and
                    # shrink at every flush (page faults: a tenth of a jsonl export).
                    write = self.out.write
                    for i in range(0, len(texts), 64):
                        piece = texts[i : i + 64]
                        write(",\n".join(["", *piece] if more or i else piece))
                else:
                    add(key, ",\n".join(["", *texts] if more else texts))
                counts[key] = counts.get(key, 0) + len(texts)
                texts.clear()
        self._pending_count = 0

    def parts(self, name: str, attributes: str) -> tuple[str, ...]:
        """What every span of a function (``name``) with these ``attributes`` (already
        encoded by :meth:`encode_attributes`) has in common, for :meth:`encode`: first
        the text before its start time and the text after its last time when it has
        no exception (in a text trace, each may be a reference \\x02N\\x02 instead)."""
        raise NotImplementedError

    def encode(self, span: Spanned, trace_id: str, span_id: str, parent_id: str, parts: Any) -> str:
        """One span: its times and exception read from ``span``, the rest in ``parts``."""
        raise NotImplementedError

    def encode_attributes(self, attributes: dict[str, str | int | bool]) -> str:
        raise NotImplementedError

    def prologue(self) -> str:
        """The output's start."""
        raise NotImplementedError

    def begin(self, key: str, index: int) -> str:
        """Before the spans of a process (``key``: its pid; ``index``: 0 for the first)."""
        raise NotImplementedError

    def end(self, key: str) -> str:
        """After the spans of a process."""
        raise NotImplementedError

    def epilogue(self) -> str:
        """The output's end."""
        raise NotImplementedError

    def finish(self, end_ns: int, epoch_offset_ns: int) -> None:
        for parked in self.parked.values():
            for span in parked.values():
                self._write_span(span)
        self.parked.clear()
        self._flush()
        out = self.out
        direct = self._direct
        out.write(self.prologue() if direct is None else self.end(direct))
        for index, key in enumerate(self.spool.keys(), 0 if direct is None else 1):
            out.write(self.begin(key, index))
            self.copy(key, epoch_offset_ns)
            out.write(self.end(key))
        out.write(self.epilogue())
        self.spool.close()

    def copy(self, key: str, epoch_offset_ns: int) -> None:
        """A process's spans from the spool to the output, times placed in epoch time."""
        exact = self.known_offset is not None
        # Spans are separated by ",\n" and hold no newline of their own: cutting
        # a piece at its last newline never splits a marker.
        tail = ""
        table = self._table
        for text in self.spool.read(key):
            if exact:
                self.out.write(text)
                continue
            text = tail + text
            cut = text.rfind("\n") + 1
            tail = text[cut:]
            self.out.write(_place(text[:cut], epoch_offset_ns, table))
        if tail:
            self.out.write(_place(tail, epoch_offset_ns, table))


def _place(text: str, offset: int, table: list[str]) -> str:
    """The markers in ``text`` replaced: \\x02N\\x02 by ``table[N]``, times by epoch
    times. A JSON string holds no raw \\x00, \\x01 or \\x02 (they are escaped), so the
    markers' bytes cut the text into what is around the numbers and the numbers.
    The compiled module does it in one pass when it is built."""
    if _spancode is not None:
        placed: str | None = _spancode.place(text, offset, table)
        if placed is not None:
            return placed
    if "\x02" in text:
        parts = text.split("\x02")
        parts[1::2] = map(table.__getitem__, map(int, parts[1::2]))
        text = "".join(parts)
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
