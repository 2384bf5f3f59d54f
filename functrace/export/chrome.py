"""Chrome Trace Event JSON, for Perfetto UI and ``chrome://tracing``.

One track per tag: each asyncio task gets a track of its own beside its
thread's, so interleaving tasks never overlap on one track. Complete (``X``)
events with times in microseconds from the trace's start.
"""

from __future__ import annotations

import json
from typing import Any

from functrace.export._timeline import slices
from functrace.export._tracks import pid_of, track_label
from functrace.reading.trace import Trace

__all__ = ["dumps", "to_chrome"]


def to_chrome(trace: Trace) -> dict[str, Any]:
    origin = trace.start_ns
    end = trace.end_ns
    events: list[dict[str, Any]] = []
    for index, (tag, roots) in enumerate(trace.tags().items(), start=1):
        pid = pid_of(trace, tag)
        meta = {"pid": pid, "tid": index, "ts": 0, "cat": "__metadata"}
        events.append(
            {**meta, "ph": "M", "name": "thread_name", "args": {"name": track_label(trace, tag)}}
        )
        events.append(
            {**meta, "ph": "M", "name": "thread_sort_index", "args": {"sort_index": index}}
        )
        for piece in slices(roots, end):
            if piece.closing:
                continue
            call = piece.call
            args: dict[str, Any] = {"tag": tag}
            if call.file:
                args["file"], args["line"] = call.file, call.line
            if call.exception is not None:
                args["exception"] = call.exception
            if call.suspended is not None:
                args["suspended"] = call.suspended
            if call.resumed:
                args["resumed"] = True
            if call.end_ns is None:
                args["unfinished"] = True
            events.append(
                {
                    "name": call.name,
                    "cat": "function",
                    "ph": "X",
                    "pid": pid,
                    "tid": index,
                    "ts": (piece.start - origin) / 1000,
                    "dur": (piece.end - piece.start) / 1000,
                    "args": args,
                }
            )
    metadata = {"source": trace.source, "exact_times": trace.exact}
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": metadata}


def dumps(trace: Trace) -> str:
    return json.dumps(to_chrome(trace), ensure_ascii=False)
