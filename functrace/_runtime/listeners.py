"""The listeners: what, besides lines, is told of every traced call.

Recordings (``functrace.record()``: a tree of :class:`Call` objects) and
observers (live consumers such as OpenTelemetry spans; exporters subscribe one
through ``add_observer``). The events call :func:`record_enter`,
:func:`record_close` and each observer's ``enter``/``exit``; nothing here knows
the engine's state.

The compiled path records too, without making a :class:`Call` per call: while a
:class:`Session` (one or more recordings active) lets it, _speedups.c keeps each
context's calls in a *journal* (``Context.journal``, a weak reference: the
session holds it; per call its info, tag,
times, parent and kind, in C memory) and marks their stack entries with the
journal as ``node``. The journal is made into Calls (:meth:`Session.build`) when
a recording is read, a context's own journal before the Python path gives a Call
a parent there (children stay in start order), and a journal whose call the
Python path ends (``call_for``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Protocol

from functrace._runtime.record import Call, Origin, Recording
from functrace._runtime.state import CodeInfo, Context, Entry, clock, contexts

__all__ = [
    "Observer",
    "Recorder",
    "Session",
    "add_observer",
    "detach_journals",
    "observers",
    "record_close",
    "record_enter",
    "recorders",
    "remove_observer",
    "session",
    "start_recording",
    "stop_recording",
    "tell_started",
]

recorders: list[Recording] = []


class Window:
    """One recording's part of a :class:`Session`: the calls that started while
    it was active (``start`` <= t <= ``end``) are counted for it, and are among
    its ``roots`` when their parent is not recorded or started before it."""

    __slots__ = ("count", "dirty", "end", "roots", "start")

    def __init__(self, roots: list[Call], start: int) -> None:
        self.roots = roots
        self.start = start
        self.end: int | None = None  # still active
        #: Calls the journals added (Recording.count adds the Python path's).
        self.count = 0
        #: Journals appended roots since they were last sorted.
        self.dirty = False


class Session:
    """The recordings active together, from the first one's start until none is:
    the journals the compiled path kept meanwhile (one per context, registered by
    _speedups.c) and each recording's window. Held by those recordings (and the
    compiled module while it journals); a journal holds it weakly."""

    __slots__ = ("__weakref__", "ended", "journals", "windows")

    def __init__(self) -> None:
        self.journals: list[Any] = []
        self.windows: list[Window] = []
        self.ended = False

    def build(self) -> None:
        """Make every journaled call a :class:`Call`, in its place."""
        for journal in list(self.journals):
            journal.flush()
        for window in self.windows:
            if window.dirty:
                window.dirty = False
                window.roots.sort(key=_start_ns)  # stable: start order, as the Python path appends


_start_ns = attrgetter("start_ns")
_session: Session | None = None
_count_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _count_lock
    _count_lock = threading.Lock()  # another thread may have held it at the fork


def session() -> Session | None:
    """The session the compiled path may journal into: one or more recordings
    active, none with a ``limit`` (counting against it is the Python path's)."""
    if not recorders or any(rec.limit is not None for rec in recorders):
        return None
    return _session


def record_enter(
    ctx: Context,
    info: CodeInfo,
    t: int,
    resumed: bool,
    parent: Entry | None,
    origin: Origin | None = None,
) -> Call | None:
    node: Any = parent.node if parent is not None else None
    if node is not None:
        journal = ctx.journal() if ctx.journal is not None else None
        if journal is not None:
            journal.flush()  # this context's earlier calls first: children in start order
        if type(node) is not Call:
            node = node.call_for(parent, False)  # journaled: its Call, made now
    parent_call: Call | None = node
    keep = False
    roots = []
    with _count_lock:  # threads count at once without the GIL (3.13t)
        for rec in recorders:
            if rec.limit is not None and rec._count >= rec.limit:
                rec.dropped += 1
                continue
            rec._count += 1
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
        rec._roots.append(call)
    return call


def record_close(
    node: Any,
    entry: Entry,
    t: int,
    exception: str | None,
    suspended: str | None,
    value: str | None,
) -> None:
    """The call of ``entry`` (recorded as ``node``) ended."""
    if type(node) is not Call:
        node = node.call_for(entry, True)  # journaled: its Call, made now
        if node is None:
            return
    node.end_ns = t
    node.exception = exception
    node.suspended = suspended
    node.returned = value


def start_recording(rec: Recording) -> None:
    global _session
    if not recorders or _session is None:
        _session = Session()
    window = Window(rec._roots, rec.start_ns)
    _session.windows.append(window)
    rec._pending = _session
    rec._window = window
    recorders.append(rec)
    _changed()


def stop_recording(rec: Recording) -> None:
    global _session
    if rec._window is not None and rec._window.end is None:
        rec._window.end = clock()
    try:
        recorders.remove(rec)
    except ValueError:
        pass
    if not recorders and _session is not None:
        _session.ended = True
        _session = None
    _changed()


def detach_journals() -> None:
    """The Python path takes over: every stack entry a journal marks gets its
    Call instead (the Python path's first branches know only Calls)."""
    for ctx in list(contexts):
        journal = ctx.journal() if ctx.journal is not None else None
        if journal is not None:
            journal.detach(ctx.stack)
        ctx.journal = None


class Recorder:
    """``with functrace.record() as rec:`` records while the block runs."""

    __slots__ = ("recording",)

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    def __enter__(self) -> Recording:
        self.recording.start_ns = clock()
        start_recording(self.recording)
        return self.recording

    def __exit__(self, *exc: object) -> None:
        stop_recording(self.recording)
        self.recording.end_ns = clock()


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


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
