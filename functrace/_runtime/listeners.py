"""The listeners: what, besides lines, is told of every traced call.

Recordings (``functrace.record()``: a tree of :class:`Call` objects) and
observers (live consumers such as OpenTelemetry spans; exporters subscribe one
through ``add_observer``). The events call :func:`record_enter` and each
observer's ``enter``/``exit``; nothing here knows the engine's state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from functrace._runtime.record import Call, Origin, Recording
from functrace._runtime.state import CodeInfo, Context, Entry

__all__ = [
    "Observer",
    "Recorder",
    "add_observer",
    "observers",
    "record_enter",
    "recorders",
    "remove_observer",
    "start_recording",
    "stop_recording",
    "tell_started",
]

recorders: list[Recording] = []


def record_enter(
    ctx: Context,
    info: CodeInfo,
    t: int,
    resumed: bool,
    parent: Entry | None,
    origin: Origin | None = None,
) -> Call | None:
    parent_call: Call | None = parent.node if parent is not None else None
    keep = False
    roots = []
    for rec in recorders:
        if rec.limit is not None and rec.count >= rec.limit:
            rec.dropped += 1
            continue
        rec.count += 1
        keep = True
        if parent_call is None or parent_call.start_ns < rec.start_ns:
            roots.append(rec)
    if not keep or (parent is not None and parent_call is None and not roots):
        return None
    call = Call(info.name, ctx.tag, t, info.file, info.line, resumed)
    call.origin = origin
    if parent_call is not None:
        call._parent = parent_call
        parent_call.children.append(call)
    for rec in roots:
        rec.roots.append(call)
    return call


def start_recording(rec: Recording) -> None:
    recorders.append(rec)
    _changed()


def stop_recording(rec: Recording) -> None:
    try:
        recorders.remove(rec)
    except ValueError:
        pass
    _changed()


class Recorder:
    """``with functrace.record() as rec:`` records while the block runs."""

    __slots__ = ("recording",)

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    def __enter__(self) -> Recording:
        self.recording.start_ns = time.perf_counter_ns()
        start_recording(self.recording)
        return self.recording

    def __exit__(self, *exc: object) -> None:
        stop_recording(self.recording)
        self.recording.end_ns = time.perf_counter_ns()


# ---------------------------------------------------------------- observers


class Observer(Protocol):
    """Told of every event; what ``enter`` returns comes back to ``exit``.

    For consumers that need each call live (OpenTelemetry spans), not lines.
    A generator or coroutine run ends with ``suspended`` set, and its next run
    is a new ``enter`` with ``resumed=True``. An observer may also have
    ``started(tag, origin)``: see :func:`tell_started`.
    """

    def enter(self, tag: str, info: CodeInfo, t_ns: int, resumed: bool) -> Any: ...

    def exit(self, token: Any, t_ns: int, exception: str | None, suspended: str | None) -> None: ...

    # With FUNCTRACE_ARGS, an observer that has them is also told (both optional):
    # ``arguments(token, {name: text})`` after ``enter`` of a call (not a resumption),
    # and ``returned(token, text)`` before ``exit`` (the value, or the exception's
    # arguments). See values.py for what the texts are.


observers: list[Observer] = []


def tell_started(tag: str, origin: Origin) -> None:
    """Before their ``enter``: observers that have a ``started(tag, origin)`` method
    learn that the call about to start in ``tag`` is the first of a thread, task or
    thread-pool job that ``origin`` started (see :mod:`functrace._runtime.origins`)."""
    for obs in observers:
        started = getattr(obs, "started", None)
        if started is not None:
            started(tag, origin)


def add_observer(observer: Observer) -> None:
    observers.append(observer)
    _changed()


def remove_observer(observer: Observer) -> None:
    if observer in observers:
        observers.remove(observer)
    _changed()


#: Told whenever a listener comes or goes (the engine picks its path again).
on_change: list[Callable[[], None]] = []


def _changed() -> None:
    for listener in on_change:
        listener()
