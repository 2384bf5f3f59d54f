"""Process and thread numbers for a tag, for formats that want integers."""

from __future__ import annotations

import re

from functrace.reading.trace import Trace

__all__ = ["pid_of", "track_label"]

_PID_RE = re.compile(r"^t\[([0-9]+)\.")


def pid_of(trace: Trace, tag: str) -> int:
    """The real pid when the trace says (jsonl), else the one in the tag, else 1."""
    if tag in trace.thread_ids:
        return trace.thread_ids[tag][0]
    m = _PID_RE.match(tag)
    return int(m.group(1)) if m else 1


def track_label(trace: Trace, tag: str) -> str:
    name = trace.thread_names.get(tag)
    return f"{tag} {name}" if name else tag
