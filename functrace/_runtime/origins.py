"""Who started what: the traced call running where a thread, an asyncio task or a
thread-pool job was created, captured there (never per call).

- **Threads.** ``threading`` starts a thread through a private function of its
  own (``_start_new_thread``, ``_start_joinable_thread`` on 3.13): replaced, while
  tracing is on, by one that notes the starting thread's innermost traced call
  against the new :class:`threading.Thread` and calls the original. It runs in
  the starting thread and has returned before the new thread runs: the new
  thread's stack and ``Thread.start`` are untouched. (An audit hook would see the
  same, but 3.10 and 3.11 raise no event for it, and it could never be removed.)
- **Thread-pool jobs** (``ThreadPoolExecutor.submit``, ``loop.run_in_executor``,
  ``asyncio.to_thread``): the pool's private work item class gets a subclass
  whose ``fn`` is a property: set by the submitting thread (noted there), read by
  the worker just before it calls it (the job starts: its thread's next outermost
  traced call gets the origin). No frame is added around the job either.
- **asyncio tasks** copy their creator's ``contextvars``: a variable set once per
  context (:data:`_creator`) tells a task's first traced call which context
  created it. If that context is running a traced call (the thread that called
  ``asyncio.run``, an eager task), that call is the origin, exactly; if it is a
  task that has suspended since (``gather``, ``create_task`` then ``await``),
  it is the coroutine that suspended it last (``Context.awaited``): the one that
  awaited right after creating the task, as a rule, but only as a rule.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import weakref
from typing import Any

from functrace._runtime import state
from functrace._runtime.record import Origin
from functrace._runtime.state import CodeInfo, Context, tls

__all__ = ["install", "started"]

#: The context (thread or task) whose contextvars a new task copied.
_creator: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "functrace_creator", default=None
)
#: Threads started while a traced call ran -> that call. Keyed by weak references
#: whose callback is the dict's own (C) ``__delitem__``: a thread object's death
#: runs no library code (a WeakKeyDictionary's callback is Python, and would be
#: traced whenever the include patterns take in ``weakref``). An entry taken at
#: the thread's first traced call takes its key with it, so no callback is left.
_threads: dict[weakref.ref[threading.Thread], Origin] = {}
_lock = threading.Lock()
#: threading's own name for its start function, and the original.
_patched: tuple[str, Any] | None = None
_pool_patched: tuple[Any, Any] | None = None
#: The key a job's origin waits under in its work item's ``__dict__``.
_KEY = "_functrace_origin"


def here(kind: str) -> Origin | None:
    """The innermost traced call running in this thread (None if there is none)."""
    ctx: Context | None = getattr(tls, "cur", None)
    if ctx is None:
        return None
    try:
        return Origin(ctx.tag, ctx.stack[-1].info.name, kind)
    except IndexError:
        return None


def _new_context(ctx: Context) -> None:
    """A thread's or task's context is made (at its first traced call)."""
    if ctx.base is None:
        with _lock:
            origin = _threads.pop(weakref.ref(threading.current_thread()), None)
        ctx.origin = origin
        job = getattr(tls, "job", None)
        if job is not None:
            del tls.job
        ctx.due = job or origin
    else:
        creator = _creator.get()
        if creator is not None and creator in state.contexts:  # not a forked parent's
            info: CodeInfo | None
            try:
                info = creator.stack[-1].info  # still running: the call that made it
            except IndexError:
                info = creator.awaited  # suspended since
            if info is not None:
                ctx.origin = ctx.due = Origin(creator.tag, info.name, "task")
        base = ctx.base
        if ctx.due is None and base.due is not None and not base.stack:
            # A thread whose first traced call is in a task (it runs an event loop):
            # the thread's origin goes to that call, as the readers give it.
            ctx.due, base.due = base.due, None
    _creator.set(ctx)


def started(ctx: Context) -> Origin | None:
    """The origin of ``ctx``'s outermost call starting now (its first, or a job's)."""
    due = ctx.due
    ctx.due = None
    return due


def _note_thread(function: Any) -> None:
    thread = getattr(function, "__self__", None)
    if not isinstance(thread, threading.Thread):
        return
    origin = here("thread")
    if origin is not None:
        with _lock:
            _threads[weakref.ref(thread, _threads.__delitem__)] = origin
    if _pool_patched is None and "concurrent.futures.thread" in sys.modules:
        _patch_pool()  # a pool's first worker: its own first job is the thread's


def _wrap_start(original: Any) -> Any:
    def start_thread(function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            _note_thread(function)
        except Exception:
            pass  # never the program's problem
        return original(function, *args, **kwargs)

    start_thread.__name__ = getattr(original, "__name__", "start_thread")
    start_thread.__doc__ = getattr(original, "__doc__", None)
    return start_thread


def _job_fn_get(item: Any) -> Any:
    d = item.__dict__
    origin = d.pop(_KEY, None)
    if origin is not None:  # the worker is about to run the job
        ctx = getattr(tls, "base", None)
        if ctx is not None:
            ctx.due = origin
        else:
            tls.job = origin  # its context is made at its first traced call
    return d["fn"]


def _job_fn_set(item: Any, fn: Any) -> None:
    d = item.__dict__
    d["fn"] = fn
    origin = here("job")
    if origin is not None:
        d[_KEY] = origin


def _patch_pool() -> None:
    global _pool_patched
    module = sys.modules.get("concurrent.futures.thread")
    item = getattr(module, "_WorkItem", None)
    if item is None or _pool_patched is not None:
        return
    job = type(
        "_WorkItem",
        (item,),
        {"fn": property(_job_fn_get, _job_fn_set), "__module__": item.__module__},
    )
    _pool_patched = (module, item)
    module._WorkItem = job  # type: ignore[union-attr]


def install() -> None:
    """Start noting origins (once tracing starts)."""
    global _patched
    if _new_context not in state.on_new_context:
        state.on_new_context.append(_new_context)
    if _patched is None:
        for name in ("_start_joinable_thread", "_start_new_thread"):
            original = getattr(threading, name, None)
            if original is not None:
                _patched = (name, original)
                setattr(threading, name, _wrap_start(original))
                break
    if "concurrent.futures.thread" in sys.modules:
        _patch_pool()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
