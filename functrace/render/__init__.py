"""Views of a trace while it streams: call trees, a per-function summary, call chains.

Each view is a consumer for :func:`functrace.reading.scan_trace`; only rich
tables and styles need rich, imported lazily, so the runtime never loads this package.
"""

from __future__ import annotations

from functrace.render.focus import Focus, write_focus
from functrace.render.select import Selection, normalize_tag
from functrace.render.summary import FunctionStats, Summary, summary_table, write_summary
from functrace.render.tree import TreePrinter, call_label

__all__ = [
    "Focus",
    "FunctionStats",
    "Selection",
    "Summary",
    "TreePrinter",
    "call_label",
    "normalize_tag",
    "summary_table",
    "write_focus",
    "write_summary",
]
