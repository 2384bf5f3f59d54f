"""Process and thread numbers for a tag, for formats that want integers."""

from __future__ import annotations

import re

__all__ = ["pid_of", "track_label"]

_PID_RE = re.compile(r"^t\[([0-9]+)\.")


def pid_of(thread_ids: dict[str, tuple[int, int]], tag: str) -> int:
    """The real pid when the trace says (jsonl), else the one in the tag, else 1."""
    ids = thread_ids.get(tag)
    if ids is not None:
        return ids[0]
    m = _PID_RE.match(tag)
    return int(m.group(1)) if m else 1


def track_label(thread_names: dict[str, str], tag: str) -> str:
    name = thread_names.get(tag)
    return f"{tag} {name}" if name else tag
