"""Trace files back into call trees: ``read_trace("trace.log")``.

Both line formats (text and jsonl) parse into the runtime's own
:class:`~functrace.Call` objects, gathered in a :class:`Trace`; so do the
results of ``functrace.record()`` (:meth:`Trace.from_recording`). Renderers and
exporters read a :class:`Trace` and never care where it came from.

Standard library only, like the runtime.
"""

from __future__ import annotations

from functrace.reading._read import read_trace, read_trace_lines, read_trace_text
from functrace.reading.trace import Problem, Trace

__all__ = ["Problem", "Trace", "read_trace", "read_trace_lines", "read_trace_text"]
