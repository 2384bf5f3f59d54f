"""Parse a text or jsonl trace into a :class:`Trace`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

from functrace._runtime.lines import LINE_RE, parse_duration
from functrace.reading._build import Builder
from functrace.reading._timeline import fit
from functrace.reading.trace import Trace

__all__ = ["read_trace", "read_trace_text"]

_SUSPEND_WORDS = frozenset({"yield", "await"})


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace file, text or jsonl (told apart by its first trace line).

    A text trace has no clock: it is placed so that it ends at the file's
    modification time.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return read_trace_text(text, end_epoch_ns=os.stat(path).st_mtime_ns)


def read_trace_text(text: str, end_epoch_ns: int | None = None) -> Trace:
    """Parse trace lines already in memory; ``end_epoch_ns`` places a text trace in time."""
    lines = text.splitlines()
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("{"):
            return _read_jsonl(lines)
        if LINE_RE.match(line):
            break
    trace = _read_text(lines)
    end = time.time_ns() if end_epoch_ns is None else end_epoch_ns
    trace.epoch_offset_ns = end - trace.end_ns
    return trace


def _read_text(lines: Iterable[str]) -> Trace:
    builder = Builder()
    skipped = 0
    clock = 0  # rebuilt time: each event is as late as anything before it
    for line in lines:
        m = LINE_RE.match(line)
        if m is None:
            skipped += 1 if line.strip() else 0
            continue
        tag, name, details = m.group("tag"), m.group("name"), m.group("details")
        depth = len(m.group("indent")) // 4
        if m.group("arrow") == "->":
            builder.enter(tag, depth, name, clock, details == "resume")
            continue
        words = (details or "").split()
        duration = parse_duration(words[0]) if words else None
        if duration is None:
            skipped += 1
            continue
        exception = suspended = None
        for word in words[1:]:
            if word.startswith("!"):
                exception = word[1:]
            elif word in _SUSPEND_WORDS:
                suspended = word
        call = builder.exit(tag, depth, name, None, duration, exception, suspended, now=clock)
        clock = max(clock, call.end_ns or clock)
    for root in builder.roots:
        fit(root)
    return Trace(roots=builder.roots, source="text", exact=False, skipped_lines=skipped)


def _read_jsonl(lines: Iterable[str]) -> Trace:
    builder = Builder()
    trace = Trace(source="jsonl", exact=True)
    for line in lines:
        event = _event(line)
        if event is None:
            trace.skipped_lines += 1 if line.strip() else 0
            continue
        tag = event["tag"]
        if tag not in trace.thread_names:
            trace.thread_names[tag] = str(event.get("thread", ""))
            trace.thread_ids[tag] = (int(event.get("pid", 0)), int(event.get("tid", 0)))
        kind, depth, name = event["ev"], int(event["depth"]), str(event["name"])
        file, lineno, ts = str(event.get("file", "")), int(event.get("line", 0)), int(event["ts"])
        if kind in ("enter", "resume"):
            builder.enter(tag, depth, name, ts, kind == "resume", file, lineno)
        else:
            exc = event.get("exc")
            suspended = event.get("suspended")
            builder.exit(
                tag,
                depth,
                name,
                ts,
                int(event.get("dur", 0)),
                None if exc is None else str(exc),
                None if suspended is None else str(suspended),
                file,
                lineno,
            )
    trace.roots = sorted(builder.roots, key=lambda c: c.start_ns)
    return trace


_KINDS = frozenset({"enter", "resume", "exit", "suspend"})


def _event(line: str) -> dict[str, Any] | None:
    if not line.lstrip().startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None  # e.g. the torn last line of a killed process
    if not isinstance(event, dict) or event.get("ev") not in _KINDS:
        return None
    if not all(k in event for k in ("tag", "depth", "name", "ts")):
        return None
    return event
