"""The runtime's state: what the C module is written against.

- :class:`CodeInfo`, one per traced code object, and the registry ``infos``
  (keyed by ``id(code)``, emptied of a code object when it dies);
- :class:`Context`, one per thread and per asyncio task: its tag and its stack
  of running traced calls, each an :class:`Entry`;
- ``tls``: the thread's current context (``tls.cur``) and its own (``tls.base``).

Nothing here knows how lines look or where they go. The events (engine.py, and
_speedups.c, which reads these classes' slots by name) change this state.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring_ascii as _json_str  # C: never traced
from types import CodeType
from typing import Any

from functrace._runtime.config import VARIABLES
from functrace._runtime.lines import ENTER, EXIT, INDENT, task_tag, thread_tag
from functrace._runtime.record import Origin

__all__ = [
    "SPEEDUPS_API",
    "CodeInfo",
    "Context",
    "Entry",
    "WeakRefs",
    "claim_root",
    "clock",
    "contexts",
    "info_for",
    "infos",
    "own_work",
    "own_work_begin",
    "own_work_end",
    "registered",
    "reset_contexts",
    "retag",
    "task_context",
    "thread_context",
    "tls",
]

#: The interface this module is to the compiled module (_speedups.c's API_VERSION):
#: a build of another version is not used (the slots, entry points and clock differ).
SPEEDUPS_API = 16


def _events_clock() -> Callable[[], int]:
    """The clock of every event, recording window and flush deadline: perf_counter_ns's,
    read by the compiled module when it is built (it may read the CPU's TSC scaled to
    that clock: docs/performance.md). One clock for the process's life, whichever path
    an event takes: a call entered in C and left in Python (or the other way round)
    is timed on one clock, never a few ns below zero. FUNCTRACE_SPEEDUPS=0 at start:
    time.perf_counter_ns itself."""
    _, switch = VARIABLES["FUNCTRACE_SPEEDUPS"]
    try:
        wanted = bool(switch(os.environ.get("FUNCTRACE_SPEEDUPS", "1")))
    except ValueError:
        wanted = True  # config warns about the value; the compiled module's default
    if wanted:
        try:
            from functrace._runtime import _speedups
        except ImportError:
            pass
        else:
            if getattr(_speedups, "API", None) == SPEEDUPS_API:
                return _speedups.clock
    return time.perf_counter_ns


clock: Callable[[], int] = _events_clock()

_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ITERABLE_COROUTINE = 0x100
_CO_ASYNC_GENERATOR = 0x200


class CodeInfo:
    """What the engine needs to know about one traced code object, computed once."""

    __slots__ = (
        "code_ref",
        "enter_line",
        "enter_text",
        "exit_head",
        "exit_text",
        "file",
        "is_async",
        "json_head",
        "line",
        "name",
        "params",
        "resume_line",
        "resume_text",
        "suspend_word",
    )

    def __init__(self, code: CodeType, module: str, qualname: str) -> None:
        # No reference to the code: the registry drops this info when it dies.
        self.name = f"{module}.{qualname}" if module else qualname
        self.enter_text = f"{ENTER}{self.name}\n"
        self.resume_text = f"{ENTER}{self.name} resume\n"
        self.exit_text = f"{EXIT}{self.name} "
        # The same in UTF-8, for the Python fast path (bytes lines need no encoding).
        self.enter_line = self.enter_text.encode()
        self.resume_line = self.resume_text.encode()
        self.exit_head = self.exit_text.encode()
        self.file = code.co_filename
        self.line = code.co_firstlineno
        flags = code.co_flags
        self.is_async = bool(flags & (_CO_COROUTINE | _CO_ITERABLE_COROUTINE | _CO_ASYNC_GENERATOR))
        if flags & _CO_ASYNC_GENERATOR:
            self.suspend_word = "asyncgen"  # "yield" or "await", told apart per event
        elif flags & (_CO_COROUTINE | _CO_ITERABLE_COROUTINE):
            self.suspend_word = "await"
        else:
            self.suspend_word = "yield"
        self.json_head = (
            f'"name":{_json_str(self.name)},"file":{_json_str(self.file)},"line":{self.line}'
        )
        #: Its parameters as values.py needs them, made at its first call with
        #: arguments shown: (settings generation, (names, redacted?, has **kwargs)).
        self.params: Any = None
        #: A weak reference to its code (set by :func:`info_for`): the Python fast
        #: path tells an event of the innermost call by it, without a registry lookup.
        self.code_ref: Callable[[], CodeType | None] = _no_code


#: See :attr:`Context.lines`.
LineSlot = tuple[CodeInfo | None, bytes, bytes, bytes]


def _no_code() -> None:
    return None


class Entry:
    """One running traced call (or run of a generator/coroutine) on a context's stack.

    The C module makes and reads these too, slot by slot (their offsets are read
    once, at its ``init``): keep the slots in step with ``_speedups.c``'s ``E_*``.
    """

    __slots__ = ("args", "info", "node", "start", "tokens", "written")

    def __init__(self, info: CodeInfo, start: int, written: bool) -> None:
        self.info = info
        #: When it started (or resumed): time.perf_counter_ns().
        self.start = start
        #: Its enter line is written (else its exit writes it, if it is long enough).
        self.written = written
        #: Its :class:`~functrace.Call` while a recording is active.
        self.node: Any = None
        #: Each observer's token for it (observers' ``enter`` results), or None.
        self.tokens: list[Any] | None = None
        #: Its arguments as ``(name, text)`` pairs (FUNCTRACE_ARGS), or None.
        self.args: Any = None

    def __repr__(self) -> str:
        return f"<Entry {self.info.name} start={self.start} written={self.written}>"


class Context:
    """One thread's, or one asyncio task's, stack of running traced calls."""

    __slots__ = (
        "__weakref__",
        "awaited",
        "base",
        "busy",
        "due",
        "fresh",
        "journal",
        "json_head",
        "lines",
        "lost",
        "name",
        "named",
        "native_id",
        "number",
        "origin",
        "owner",
        "prefixes",
        "spare",
        "stack",
        "tag",
        "task_id",
    )

    def __init__(
        self, tag: str, base: Context | None, task_id: int | None, number: int, owner: Any = None
    ) -> None:
        self.tag = tag
        #: What it is: the Thread, or a weak reference to the asyncio task.
        self.owner = owner
        #: The name last written for it, and in which output (see engine._generation).
        self.name: str | None = None
        self.named = -1
        self.native_id = threading.get_native_id()
        #: The thread's number (by first traced call), or the task's.
        self.number = number
        #: True while an event of this context changes its stack and writes its line.
        #: A signal handler or a finalizer that Python runs in between (inside our
        #: own code) is not traced at all, rather than at a wrong depth.
        self.busy = False
        #: Calls whose end could not be written when it happened (the program was at
        #: its recursion limit): (entry, depth, t, exception, suspended), written by
        #: this context's next event, before its own.
        self.lost: list[tuple[Entry, int, int, str | None, str | None]] = []
        #: The thread's own context; ``None`` for the thread context itself.
        self.base = base
        self.task_id = task_id
        #: The running traced calls, innermost last.
        self.stack: list[Entry] = []
        #: Entries the Python fast path has popped (written, with no node, tokens
        #: or arguments), for its next pushes to reuse: making an Entry costs more
        #: than the rest of a plain event. Only this context's own events touch
        #: it; the general path keeps it short (engine._MAX_SPARE).
        self.spare: list[Entry] = []
        self.prefixes = [f"{tag}:"]
        #: Per depth, the Python fast path's lines: (the function it last entered
        #: at this depth, that call's enter line, the start of its exit line, the
        #: depth's tag and indent), UTF-8. A call at the depth of the one before
        #: it there (loops, recursion) writes both its lines without making them.
        self.lines: list[LineSlot] = [(None, b"", b"", self.prefixes[0].encode())]
        self._head(threading.current_thread().name)
        #: The traced call that started this thread or task (origins.py), if known.
        self.origin: Origin | None = None
        #: The origin the next outermost call is given (its own, then each job's).
        self.due: Origin | None = None
        #: The innermost coroutine at this context's last suspension (an await), and
        #: whether a coroutine entered or resumed since: what a task created by this
        #: one, and first seen after it suspended, names as its origin.
        self.awaited: CodeInfo | None = None
        self.fresh = False
        #: A weak reference to its journal of calls in the recording being made on
        #: the compiled path (made by _speedups.c, see listeners.Session), or None.
        self.journal: Any = None

    def _head(self, thread_name: str) -> None:
        task = "null" if self.task_id is None else self.task_id
        self.json_head = (
            f'"pid":{os.getpid()},"tid":{self.native_id},'
            f'"thread":{_json_str(thread_name)},"task":{task},"tag":"{self.tag}"'
        )

    def current_name(self) -> str:
        """The thread's or task's name now (it may have been renamed)."""
        owner = self.owner
        if self.base is None:
            return str(owner.name) if owner is not None else ""
        task = owner() if owner is not None else None
        return str(task.get_name()) if task is not None else (self.name or "")

    def renamed(self, name: str) -> None:
        """The name to write from now on (the jsonl head names the thread too)."""
        self.name = name
        if self.base is None:
            self._head(name)

    def retag(self, tag: str) -> None:
        """A new tag (the process tag changed with the output): from the next line on."""
        head = self.json_head
        self.json_head = head[: head.rindex('"tag":')] + f'"tag":"{tag}"'
        self.prefixes = [f"{tag}:"]
        self.lines = [(None, b"", b"", self.prefixes[0].encode())]
        # The compiled module reads a tag without a reference of its own (every
        # thread would share its count): another thread may be writing with the
        # old one right now, so it is kept alive, never freed (retags are rare).
        _retired_tags.append(self.tag)
        self.tag = tag
        self.named = -1  # a new tag is named anew

    def prefix(self, depth: int) -> str:
        prefixes = self.prefixes
        while len(prefixes) <= depth:
            prefixes.append(f"{self.tag}:{INDENT * len(prefixes)}")
        return prefixes[depth]

    def line_slot(self, depth: int) -> LineSlot:
        """``lines[depth]``, the list grown to it first."""
        lines = self.lines
        while len(lines) <= depth:
            lines.append((None, b"", b"", self.prefix(len(lines)).encode()))
        return lines[depth]


# ---------------------------------------------------------------- contexts

_retired_tags: list[str] = []

tls = threading.local()
_lock = threading.Lock()
_threads = 0
_tasks_seen = 0
pid_in_tag: int | None = None  # set in any process but the first of a trace


class WeakRefs:
    """A set of objects held weakly, whose references' callback is the set's own
    ``discard``: C, so an object's death runs no Python code (a ``WeakSet``'s
    callback is Python: functrace's own work, traced when the include patterns
    take in ``_weakrefset``, and run while the dying context may still be the
    compiled module's current one). Iteration and ``len`` run no library code."""

    __slots__ = ("refs",)

    def __init__(self) -> None:
        self.refs: set[weakref.ref[Any]] = set()

    def add(self, obj: Any) -> None:
        self.refs.add(weakref.ref(obj, self.refs.discard))

    def __contains__(self, obj: object) -> bool:
        try:
            return weakref.ref(obj) in self.refs
        except TypeError:  # not weakly referenceable: not one of ours
            return False

    def __iter__(self) -> Iterator[Any]:
        for ref in list(self.refs):
            obj = ref()
            if obj is not None:
                yield obj

    def __len__(self) -> int:
        return len(self.refs)

    def clear(self) -> None:
        self.refs.clear()


contexts = WeakRefs()  # of Context
#: Told of each new context, in its thread (and task), before its first event
#: goes on: origins.py gives it its origin.
on_new_context: list[Callable[[Context], None]] = []
#: Called right after this thread's ``tls.cur`` changes or goes, while the context
#: it held is still alive: the compiled module remembers each thread's current
#: context (borrowed) until then. Set by the engine when that module is loaded.
current_changed: Callable[[], object] | None = None
_task_contexts: dict[int, tuple[weakref.ref[Any], Context]] = {}
ROOT_ENV = "FUNCTRACE_ROOT_PID"


def claim_root() -> None:
    """Say, to every process started from now on, that this one is the first of
    the trace. Done when functrace is imported (not at the first traced call), so
    that children started before that call still tag their lines with their pid."""
    os.environ.setdefault(ROOT_ENV, str(os.getpid()))


def retag(pid: int | None) -> None:
    global pid_in_tag
    if pid == pid_in_tag:
        return
    pid_in_tag = pid
    every = list(contexts)
    for ctx in every:  # threads first: a task's tag starts with its thread's
        if ctx.base is None:
            ctx.retag(thread_tag(ctx.number, pid))
    for ctx in every:
        if ctx.base is not None:
            ctx.retag(task_tag(ctx.base.tag, ctx.number))


def thread_context() -> Context | None:
    """This thread's context, made at its first traced call; None while it is
    being made (a signal handler or finalizer that runs meanwhile is not traced:
    it would wait for the lock its own thread holds)."""
    global _threads
    if getattr(tls, "making", False):
        return None
    tls.making = True
    try:
        with _lock:
            _threads += 1
            ctx = Context(
                thread_tag(_threads, pid_in_tag), None, None, _threads, threading.current_thread()
            )
            contexts.add(ctx)
        tls.base = ctx
        tls.cur = ctx
        ctx.busy = True  # the hooks are functrace's own work (origins: threading's code)
        try:
            for hook in on_new_context:
                hook(ctx)
        finally:
            ctx.busy = False
    finally:
        tls.making = False
    return ctx


def own_work_begin() -> Any:
    """functrace's own work starts in this thread (registering code, naming it,
    opening the output): whatever it calls writes no line, whatever the include
    patterns. Returns what :func:`own_work_end` takes."""
    ctx = getattr(tls, "cur", None)
    if ctx is None:
        if getattr(tls, "making", False):
            return None
        tls.making = True  # an event finds no context and makes none: not traced
        return tls
    if ctx.busy:
        return None
    ctx.busy = True  # as inside an event: see Context.busy
    return ctx


def own_work_end(token: Any) -> None:
    if token is tls:
        tls.making = False
    elif token is not None:
        token.busy = False


class own_work:
    """``with own_work():`` around functrace's own work (finding and compiling
    modules for the import hook, importing its own modules meanwhile): no line
    comes of it. A class rather than a contextlib generator: that would run code
    of contextlib's, traceable, before the guard is up."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = own_work_begin()

    def __exit__(self, *exc: object) -> None:
        own_work_end(self.token)


def task_context(base: Context) -> Context:
    """The context of the asyncio task running in this thread, else ``base``."""
    # `in` and a subscript: on 3.13t dict.get locks the dict, and a forked child
    # hung on sys.modules' lock, held at the fork by a thread of the parent's
    # here. `in` first: a KeyError raised and caught was most of this function's
    # cost in a program without asyncio (one per outermost call).
    if "asyncio" not in sys.modules:
        return base
    try:
        asyncio = sys.modules["asyncio"]
    except KeyError:
        return base
    loop = asyncio._get_running_loop()
    if loop is None:
        return base
    task = asyncio.current_task(loop)
    if task is None:
        return base
    key = id(task)
    try:  # a subscript, not dict.get: see engine.enter
        known = _task_contexts[key]
        if known[0]() is task:
            return known[1]
    except KeyError:
        pass
    global _tasks_seen
    with _lock:
        _tasks_seen += 1
        number = _tasks_seen
        ctx = Context(task_tag(base.tag, number), base, number, number)
        contexts.add(ctx)

    def forget(ref: weakref.ref[Any], key: int = key) -> None:
        entry = _task_contexts.get(key)
        if entry is not None and entry[0] is ref:
            del _task_contexts[key]

    ctx.owner = weakref.ref(task, forget)
    _task_contexts[key] = (ctx.owner, ctx)
    for hook in on_new_context:
        hook(ctx)
    return ctx


# ---------------------------------------------------------------- code objects

#: id(code) -> CodeInfo for every live traced code object. An entry goes when its
#: code object dies (a reloaded module, an exec'd function): the weak reference's
#: callback runs before the address can be reused, so an id found here is always
#: the code it was registered for, and memory stays bounded.
infos: dict[int, CodeInfo] = {}
#: Called after a code object's info is dropped (the compiled module keeps a cache).
on_forget: list[Callable[[], None]] = []
_code_refs: dict[int, _CodeRef] = {}


class _CodeRef(weakref.ref):  # type: ignore[type-arg]
    __slots__ = ("key",)
    key: int


def info_for(code: CodeType, module: str, qualname: str) -> CodeInfo:
    """The registered info of ``code``, registering it first if needed."""
    key = id(code)
    info = infos.get(key)
    if info is None:
        ref = _CodeRef(code, _forget_code)
        ref.key = key
        _code_refs[key] = ref
        info = CodeInfo(code, module, qualname)
        info.code_ref = ref
        infos[key] = info
    return info


def registered(code: CodeType) -> bool:
    return id(code) in infos


def _forget_code(ref: _CodeRef) -> None:
    # A weakref callback: it must never raise (Python would print "Exception
    # ignored" on the program's stderr), also at shutdown, with modules half gone.
    try:
        if _code_refs.get(ref.key) is ref:
            del _code_refs[ref.key]
            infos.pop(ref.key, None)
            for forgotten in on_forget:
                forgotten()
    except Exception:
        pass


def reset_contexts() -> None:
    """Forget every running call (used when tracing is switched back on)."""
    for ctx in list(contexts):
        del ctx.stack[:]


def after_fork_in_child() -> None:
    # The child's traces are its own: new thread numbers, and the calls it
    # inherited mid-way end silently (their enters are the parent's).
    global _threads, pid_in_tag, _tasks_seen, _lock
    _lock = threading.Lock()  # it may have been held by another thread at the fork
    _threads = 0
    _tasks_seen = 0
    _task_contexts.clear()
    contexts.clear()
    pid_in_tag = -1  # decided afresh by the engine, once the output has been
    old = getattr(tls, "cur", None)  # kept alive until current_changed() has run
    for name in ("cur", "base", "making"):
        try:
            delattr(tls, name)
        except AttributeError:
            pass
    if current_changed is not None:
        current_changed()
    del old
