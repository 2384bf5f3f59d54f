"""speedscope's evented format: one profile per thread and task.

Valid against ``file-format-schema.json`` of the ``speedscope`` npm package.
"""

from __future__ import annotations

import json
from typing import Any

from functrace.export._timeline import slices
from functrace.export._tracks import track_label
from functrace.reading.trace import Trace

__all__ = ["dumps", "to_speedscope"]

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def to_speedscope(trace: Trace, name: str = "functrace") -> dict[str, Any]:
    frames: list[dict[str, Any]] = []
    frame_index: dict[tuple[str, str, int], int] = {}
    profiles = []
    end = trace.end_ns
    for tag, roots in trace.tags().items():
        events: list[dict[str, Any]] = []
        for piece in slices(roots, end):
            call = piece.call
            key = (call.name, call.file, call.line)
            index = frame_index.get(key)
            if index is None:
                index = frame_index[key] = len(frames)
                frame: dict[str, Any] = {"name": call.name}
                if call.file:
                    frame["file"], frame["line"] = call.file, call.line
                frames.append(frame)
            at = piece.end if piece.closing else piece.start
            events.append({"type": "C" if piece.closing else "O", "frame": index, "at": at})
        profiles.append(
            {
                "type": "evented",
                "name": track_label(trace, tag),
                "unit": "nanoseconds",
                "startValue": events[0]["at"] if events else 0,
                "endValue": events[-1]["at"] if events else 0,
                "events": events,
            }
        )
    return {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "functrace",
    }


def dumps(trace: Trace, name: str = "functrace") -> str:
    return json.dumps(to_speedscope(trace, name), ensure_ascii=False)
