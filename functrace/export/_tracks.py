"""Process and thread numbers for a tag, for formats that want integers, and its label."""

from __future__ import annotations

import re

from functrace.reading.scan import Scan

__all__ = ["pid_of", "track_label"]

_PID_RE = re.compile(r"^t\[([0-9]+)\.")


def pid_of(thread_ids: dict[str, tuple[int, int]], tag: str) -> int:
    """The real pid when the trace says (jsonl), else the one in the tag, else 1."""
    ids = thread_ids.get(tag)
    if ids is not None:
        return ids[0]
    m = _PID_RE.match(tag)
    return int(m.group(1)) if m else 1


def track_label(scan: Scan, tag: str) -> str:
    """The tag and the name its naming line gives it (a task's own name; text traces
    too), else the name of the thread it ran on (jsonl events carry that)."""
    name = scan.names.get(tag) or scan.thread_names.get(tag)
    return f"{tag} {name}" if name else tag
