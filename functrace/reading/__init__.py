"""Trace files back into call trees: ``read_trace("trace.log")``.

Both line formats (text and jsonl) parse into the runtime's own
:class:`~functrace.Call` objects, gathered in a :class:`Trace`; so do the
results of ``functrace.record()`` (:meth:`Trace.from_recording`). Renderers and
exporters read a :class:`Trace` and never care where it came from.

:func:`scan_trace` reads a trace without keeping it: each call goes to a
consumer as it opens and closes (what ``show`` and ``export`` use, in bounded
memory whatever the trace's length).

Standard library only, like the runtime.
"""

from __future__ import annotations

from functrace.reading._read import read_trace, read_trace_lines, read_trace_text
from functrace.reading._stream import Consumer, Frame
from functrace.reading.scan import Scan, open_trace, scan_lines, scan_trace
from functrace.reading.trace import Problem, Trace

__all__ = [
    "Consumer",
    "Frame",
    "Problem",
    "Scan",
    "Trace",
    "open_trace",
    "read_trace",
    "read_trace_lines",
    "read_trace_text",
    "scan_lines",
    "scan_trace",
]
