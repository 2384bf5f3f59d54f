"""Traces to the formats trace viewers and back ends read, written while the trace is read.

``chrome`` and ``speedscope`` are timelines of every run (a generator or
coroutine's runs between suspensions show as separate slices); ``otlp-json``
and ``zipkin`` are spans (see :mod:`functrace.export._spans`). Each format is a
consumer for :func:`functrace.reading.scan_trace` that writes to an open file:
:func:`export_file` streams a trace file (memory bounded by the deepest stack
and the distinct functions), :func:`export` converts a :class:`Trace` already in
memory (a ``functrace.record()`` result) to text.
"""

from __future__ import annotations

import importlib
import io
import os
import time
from typing import Any

from functrace.export._base import Writer
from functrace.reading._stream import Frame, Output, Stream
from functrace.reading.scan import Scan, scan_trace
from functrace.reading.trace import Trace

__all__ = ["FORMATS", "export", "export_file", "writer_for"]

#: format name -> "module:class" of its writer.
FORMATS: dict[str, str] = {
    "chrome": "functrace.export.chrome:ChromeWriter",
    "speedscope": "functrace.export.speedscope:SpeedscopeWriter",
    "otlp-json": "functrace.export.otlp_json:OtlpJsonWriter",
    "zipkin": "functrace.export.zipkin:ZipkinWriter",
}


def writer_for(format: str, out: Output, scan: Scan, **options: Any) -> Writer:
    module, _, name = FORMATS[format].partition(":")
    cls = getattr(importlib.import_module(module), name)
    writer: Writer = cls(out, scan, **options)
    return writer


def export_file(path: str | os.PathLike[str], format: str, out: Output, **options: Any) -> Scan:
    """Read the trace at ``path`` (``-``: stdin) once, writing ``format`` to ``out``.

    A text trace has no clock: it is placed so that it ends at the file's
    modification time (now, for stdin).
    """
    scan = Scan()
    writer = writer_for(format, out, scan, **options)
    scan_trace(path, writer, scan=scan)
    if scan.exact:
        offset = 0  # jsonl times are epoch times already
    else:
        end = time.time_ns() if str(path) == "-" else os.stat(path).st_mtime_ns
        offset = max(0, end - scan.end_ns)  # never before 1970: formats want unsigned times
    writer.finish(scan.end_ns, offset)
    return scan


def export(trace: Trace, format: str, **options: Any) -> str:
    """A trace in memory to ``format``'s text; options go to that format's writer."""
    out = io.StringIO()
    scan = Scan(
        source="jsonl" if trace.exact else "text",
        thread_names=dict(trace.thread_names),
        thread_ids=dict(trace.thread_ids),
        names=dict(trace.names),
    )
    writer = writer_for(format, out, scan, **options)
    if hasattr(writer, "known_offset"):
        writer.known_offset = trace.epoch_offset_ns
    stream = Stream(writer, exact=True)
    starters = trace.origin_calls()
    origin_seen = getattr(writer, "origin_seen", None)
    if origin_seen is not None:
        # Who started what, told before any call (a scan tells each where it reads it).
        for root in trace.roots:
            if root.origin is not None:
                origin_seen(root.tag, root.origin, _within(starters.get(id(root)), root))
    end = 0
    for roots in trace.tags().values():
        end = max(end, _replay(roots, writer, stream))
    writer.finish(end, trace.epoch_offset_ns)
    return out.getvalue().rstrip("\n")


def _replay(roots: list[Any], writer: Writer, stream: Stream) -> int:
    """Calls of one tag as frames, in the order a scan would give them; the latest end."""
    end = 0
    for root in roots:
        for call, opening, depth in _walk(root):
            if opening:
                opened = stream.enter(
                    call.tag,
                    depth,
                    call.name,
                    call.start_ns,
                    call.resumed,
                    call.file,
                    call.line,
                    args=call.args,
                )
                if depth == 1:
                    opened.origin = call.origin
            elif call.end_ns is None:
                continue  # closed as unfinished by the next enter at its level, or finish()
            else:
                frame: Frame = stream.exit(
                    call.tag,
                    depth,
                    call.name,
                    call.end_ns,
                    call.end_ns - call.start_ns,
                    call.exception,
                    call.suspended,
                    call.file,
                    call.line,
                    value=call.returned,
                )
                end = max(end, frame.end_ns)
    stream.finish()
    return max(end, stream.last)


def _within(starter: Any, root: Any) -> int:
    """A moment inside ``starter``'s run when ``root`` started: ``root``'s start if
    the starter was running then, else just before the starter's end."""
    t: int = root.start_ns
    if starter is None or starter.end_ns is None or starter.end_ns > t:
        return t
    return int(starter.end_ns - 1 if starter.end_ns > starter.start_ns else starter.start_ns)


def _walk(root: Any) -> Any:
    stack: list[tuple[Any, bool, int]] = [(root, True, 1)]
    while stack:
        call, opening, depth = stack.pop()
        yield call, opening, depth
        if opening:
            stack.append((call, False, depth))
            stack.extend((c, True, depth + 1) for c in reversed(call.children))
