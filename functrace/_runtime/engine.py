"""The events: what happens when a traced call starts, resumes, returns, raises
or suspends (the Python implementation of the event contract; _speedups.c is
the other), which of the two runs, and what becomes of calls at an internal
error, a fork, a switch of output and the exit.

Both sources (``sys.monitoring`` on 3.12+, the wrapper elsewhere) call
:func:`enter` and :func:`leave`; those keep, per thread and per asyncio task, a
*context* (state.py): its tag and the stack of traced calls running in it.
Lines are written by the sink's writers (sink.py); recordings and observers are
told through listeners.py. A context's
depth is its stack's length, so the indent is always the true depth; a
generator or coroutine is on the stack only while it runs, which keeps every
tag balanced when it suspends.

``cur`` (per thread) is the context events go to. It only changes when a
context's stack is empty: a task switch can only happen once every traced frame
of the previous task has suspended, and each of those suspensions is an event.
So the (comparatively costly) asyncio lookup runs only for an outermost call or
for coroutine code, never for a nested plain call.
"""

from __future__ import annotations

import atexit
import functools
import gc
import operator
import os
import sys
import threading
import time
import traceback  # at import: an import inside an event can deadlock a forked child
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from types import CodeType
from typing import Any

from functrace._runtime import output, sink, values
from functrace._runtime import state as _state
from functrace._runtime.config import Settings
from functrace._runtime.lines import (
    _SMALL_LINES as _DURATION_LINES,
)
from functrace._runtime.lines import (
    LOST,
    format_duration,
    warm_duration_cache,
)
from functrace._runtime.listeners import (
    Observer,
    add_observer,
    remove_observer,
    start_recording,
    stop_recording,
)
from functrace._runtime.listeners import detach_journals as _detach_journals
from functrace._runtime.listeners import observers as _observers
from functrace._runtime.listeners import on_change as _listeners_changed
from functrace._runtime.listeners import record_close as _record_close
from functrace._runtime.listeners import record_enter as _record_enter
from functrace._runtime.listeners import recorders as _recorders
from functrace._runtime.listeners import session as _record_session
from functrace._runtime.listeners import tell_started as _tell_started
from functrace._runtime.notices import notice
from functrace._runtime.origins import started as _started
from functrace._runtime.state import ROOT_ENV as _ROOT_ENV
from functrace._runtime.state import (
    CodeInfo,
    Context,
    Entry,
    claim_root,
    info_for,
    infos,
    on_forget,
    reset_contexts,
    retag,
)
from functrace._runtime.state import after_fork_in_child as _state_after_fork
from functrace._runtime.state import contexts as _contexts
from functrace._runtime.state import own_work_begin as _own_work_begin
from functrace._runtime.state import own_work_end as _own_work_end
from functrace._runtime.state import task_context as _task_context
from functrace._runtime.state import thread_context as _thread_context
from functrace._runtime.state import tls as _tls

__all__ = [
    "CodeInfo",
    "Context",
    "Observer",
    "add_observer",
    "enter",
    "info_for",
    "leave",
    "native_callbacks",
    "remove_observer",
    "start_recording",
    "stop_recording",
]

_clock = _state.clock

# ---------------------------------------------------------------- contexts


def _decide_process_tag() -> None:
    """Decided again whenever the output changes (and after a fork): several
    processes may write one trace (a shared file, an inherited stderr); the first
    one keeps the plain t[NN] tags, the others put their pid in. A file tells by
    itself (output.file_is_shared: another process has it open, or it holds
    another run's lines); a stream by the variable the first process set. A
    process that holds its output alone (a per-test file of a pytest-xdist
    worker, a ``{pid}`` file) writes plain tags, whatever wrote elsewhere."""
    claim_root()
    if output.writes_to_file():
        shared = output.file_is_shared
    else:
        shared = os.environ[_ROOT_ENV] != str(os.getpid())
    retag(os.getpid() if shared else None)


# ---------------------------------------------------------------- code objects

# ---------------------------------------------------------------- events


RETURN, UNWIND, SUSPEND = 0, 1, 2
#: Passed as ``arg`` with SUSPEND by the wrapper backend for an async generator's own yield.
ASYNC_YIELD = object()
#: Passed as ``arg`` with RETURN by a 3.10/3.11 inline probe: ``__exit__`` never
#: sees the value returned, so the exit line says nothing of it (not ``=> None``).
NO_VALUE = object()
#: The ``kind`` of a pure-Python inline probe's exit (probe.py): ``__exit__``'s
#: own arguments follow, ``(exc_type, exc, tb)`` in the place of ``(offset, arg)``.
PROBE_EXIT = 3


def enter(
    resumed: bool,
    code: CodeType,
    offset: int = 0,
    exc: Any = None,
    given: tuple[Any, ...] | None = None,
    # Locals, the hot path's lookups: a free-threaded 3.13 does not specialise
    # global loads (each is a dict lookup); elsewhere it makes no difference.
    _infos: dict[int, CodeInfo] = infos,
    _id: Callable[[object], int] = id,
    _len: Callable[[Any], int] = len,
    _tls: Any = _tls,
    _clock: Callable[[], int] = _clock,
    _put: Callable[[bytes], None] = output.buffer.append,
    _buffer: list[Any] = output.buffer,
) -> Any:
    """A traced call starts (or a generator/coroutine resumes) in this thread.

    The ``sys.monitoring`` callbacks are ``partial(enter, resumed)`` themselves:
    one Python frame per event, so the recursion limit moves as little as it can.
    ``given``: the call's arguments in the signature's order, handed over by a
    generated wrapper made while values were wanted (else, when they are, they
    are read from the caller's frame).
    """
    try:
        # A subscript, not dict.get: on 3.13t, get() of an entry another thread
        # created waits on a lock (~140 us); the subscript does not.
        try:
            info = _infos[_id(code)]
        except KeyError:
            return  # PY_THROW is global: some other generator
        try:
            ctx: Context | None = _tls.cur
        except AttributeError:
            ctx = _thread_context()
        if ctx is None or ctx.busy:
            return  # a signal handler or finalizer run by this very event: see Context.busy
        stack = ctx.stack
        if _plain and stack and stack[-1].written and not info.is_async and not ctx.lost:
            # The common case, taken first: a nested plain call, plain text lines
            # (no filter, recording or observer), its parent's line written (one
            # held back by a filter since switched off goes first). Same effects
            # as below.
            ctx.busy = True
            if _paused and _wait_resumed(ctx):  # an output switch: the format may change
                ctx.busy = False
                return enter(resumed, code, offset, exc, given)
            try:
                t = _clock()
                try:
                    entry = ctx.spare.pop()  # see Context.spare
                except IndexError:
                    stack.append(Entry(info, t, True))
                else:
                    entry.info = info
                    entry.start = t
                    stack.append(entry)
                # _enter_line, inline:
                depth = _len(stack)
                lines = ctx.lines
                try:
                    last, line, _, head = lines[depth]
                except IndexError:
                    last, line, _, head = ctx.line_slot(depth)
                if resumed:
                    line = head + info.resume_line
                elif last is not info:
                    line = head + info.enter_line
                    lines[depth] = (info, line, head + info.exit_head, head)
                _put(line)
            finally:
                ctx.busy = False
            if t >= output.next_flush_ns or _len(_buffer) > _MAX_BUFFERED:
                output.flush()
            return
        ctx.busy = True
        if _paused:
            _wait_resumed(ctx)
        base = ctx
        try:
            if ctx.base is None and (info.is_async or not stack):
                task_ctx = _task_context(ctx)
                if task_ctx is not ctx:
                    task_ctx.busy = True
                    _tls.cur = ctx = task_ctx
                    if _cur_changed is not None:
                        _cur_changed()
                    stack = ctx.stack
            t = _clock()
            parent = stack[-1] if stack else None
            spare = ctx.spare
            if spare:
                entry = spare.pop()  # see Context.spare
                entry.info, entry.start, entry.written = info, t, False
            else:
                entry = Entry(info, t, False)
            stack.append(entry)  # first: whatever fails below, the stack stays true
            try:
                if _len(spare) > _MAX_SPARE:
                    del spare[_MAX_SPARE:]
                args = None
                if _args and not resumed:
                    if given is not None:
                        args = entry.args = values.given_arguments(info, code, given)
                    else:
                        # The caller is the call's own frame (sys.monitoring, a
                        # probe), its wrapper's, or a generator driver's.
                        args = entry.args = values.arguments(info, code, sys._getframe(1))
                if ctx.lost:
                    _settle_lost(ctx)
                if _lines_on and (
                    ctx.named != _generation or (parent is None and ctx.current_name() != ctx.name)
                ):
                    _name(ctx, t)  # first in this output, or renamed since
                origin = None
                if parent is None and ctx.due is not None:
                    origin = _started(ctx)  # a thread's, task's or job's first call
                    if _lines_on and origin is not None and origin.kind == "job":
                        sink.put(sink.job_line(ctx, origin, _text, t))
                if info.is_async:
                    ctx.fresh = True  # see Context.awaited
                if _recorders:
                    node = entry.node = _record_enter(ctx, info, t, resumed, parent, origin)
                    if node is not None and args is not None:
                        node.args = dict(args)
                if _observers:
                    if origin is not None:
                        _tell_started(ctx.tag, origin)
                    tokens = _tell_entered(ctx, info, t, resumed)
                    if args:
                        _tell_arguments(tokens, dict(args))
                    entry.tokens = tokens
                if _lines_on:
                    depth = _len(stack)
                    # Ends still waiting to be written come first: then this line waits too.
                    if depth <= _max_depth and not _min_duration and not ctx.lost:
                        if parent is not None and not parent.written:
                            _write_pending(ctx, depth - 1)  # missed for want of a frame
                        if _plain:
                            _put(_enter_line(ctx, depth, info, resumed))
                        else:
                            _emit_enter(ctx, depth, info, t, resumed, args)
                        entry.written = True  # only once written: else its exit writes it
            except RecursionError:
                pass  # at the program's recursion limit: the call's exit writes its lines
        finally:
            ctx.busy = base.busy = False
        if _lines_on and (t >= output.next_flush_ns or _len(_buffer) > _MAX_BUFFERED):
            output.flush()
    except RecursionError:
        pass  # the program is at its recursion limit: lose this event, not the program's call
    except Exception as exc:
        _internal_error(exc)


def leave(
    kind: int,
    code: CodeType,
    offset: Any = 0,
    arg: Any = None,
    tb: Any = None,
    _infos: dict[int, CodeInfo] = infos,  # locals: see enter()
    _id: Callable[[object], int] = id,
    _len: Callable[[Any], int] = len,
    _tls: Any = _tls,
    _clock: Callable[[], int] = _clock,
    _put: Callable[[bytes], None] = output.buffer.append,
    _buffer: list[Any] = output.buffer,
    _small: list[bytes] = _DURATION_LINES,
) -> Any:
    """The innermost traced call of this thread returns (RETURN), raises (UNWIND,
    ``arg`` the exception) or suspends (SUSPEND, ``arg`` the value it hands out);
    PROBE_EXIT: either of the first two, told by a probe's ``__exit__`` arguments."""
    try:
        t = _clock()
        try:
            ctx: Context = _tls.cur
        except AttributeError:
            return  # a call that started before tracing did in this thread
        if ctx.busy:
            return  # a signal handler or finalizer run by this very event
        stack = ctx.stack
        if (
            _plain
            and (not kind or kind == SUSPEND or (kind == PROBE_EXIT and offset is None))
            and (depth := _len(stack))
            and (info := (entry := stack[-1]).info).code_ref() is code  # no registry lookup
            and entry.written is True
            and (not kind or info.suspend_word == "yield")  # a plain function's is "yield" too
            and not ctx.lost
        ):
            # The common case, taken first: a nested call's return (or a plain
            # generator's yield) whose enter line is written, plain text lines.
            # Same effects as below.
            ctx.busy = True
            if _paused and _wait_resumed(ctx):  # an output switch: the format may change
                ctx.busy = False
                return leave(kind, code, offset, arg, tb)
            try:
                stack.pop()
                if entry.node is not None:
                    entry.node.end_ns = t  # started inside a recording that has ended since
                    if kind == SUSPEND:
                        entry.node.suspended = "yield"
                    entry.node = None
                if entry.tokens is None and entry.args is None:
                    ctx.spare.append(entry)  # for the next enter: see Context.spare
                duration = t - entry.start
                # See lines._SMALL_LINES: most calls' durations are in it.
                if duration < 1_000:
                    text = _small[duration]
                elif duration < 10_000:
                    text = _small[900 + duration // 10]
                elif duration < 100_000:
                    text = _small[1_800 + duration // 100]
                else:
                    text = f"{format_duration(duration)}\n".encode()
                if kind == SUSPEND:
                    text = text[:-1] + b" yield\n"
                try:
                    last, _, start, head = ctx.lines[depth]
                except IndexError:
                    last, _, start, head = ctx.line_slot(depth)
                if last is info:
                    _put(start + text)  # see Context.lines
                else:
                    _put(_join_bytes((head, info.exit_head, text)))
            finally:
                ctx.busy = False
            if t >= output.next_flush_ns or _len(_buffer) > _MAX_BUFFERED:
                output.flush()
            if depth == 1 and (flush_outermost or ctx.base is not None):
                _outermost_ended(ctx)
            return
        try:
            info = _infos[_id(code)]
        except KeyError:
            return  # PY_UNWIND is global: some other function
        if kind == PROBE_EXIT:
            kind, arg = (RETURN, NO_VALUE) if offset is None else (UNWIND, arg)
        ctx.busy = True
        if _paused:
            _wait_resumed(ctx)
        try:
            if (not stack or stack[-1].info is not info) and not _resync(ctx, info, t):
                return
            exception: str | None = None
            suspended: str | None = None
            if kind == UNWIND:
                exception = type(arg).__qualname__
            elif kind == SUSPEND:
                suspended = info.suspend_word
                if suspended == "asyncgen":
                    # An async generator's own `yield` hands out a wrapped value;
                    # anything else it hands to the event loop is an await.
                    own = (
                        arg is ASYNC_YIELD or type(arg).__name__ == "async_generator_wrapped_value"
                    )
                    suspended = "yield" if own else "await"
                if suspended == "await" and ctx.fresh:
                    ctx.fresh = False
                    ctx.awaited = info  # the innermost coroutine to suspend: see Context.awaited
            value = _value(kind, info, suspended, arg) if _args else None
            entry = stack.pop()
            # At the program's recursion limit there may be no frame to spare for
            # the writing: then the end waits on ctx.lost, behind any earlier ones,
            # and the context's next event writes them all, in order.
            if ctx.lost:
                ctx.lost.append((entry, _len(stack) + 1, t, exception, suspended))
                try:
                    _settle_lost(ctx)
                except RecursionError:
                    pass
            else:
                try:
                    _close(ctx, entry, _len(stack) + 1, t, exception, suspended, None, value)
                except RecursionError:
                    ctx.lost.append((entry, _len(stack) + 1, t, exception, suspended))
        finally:
            ctx.busy = False
        if _lines_on and (t >= output.next_flush_ns or _len(_buffer) > _MAX_BUFFERED):
            output.flush()
        if not stack:
            _outermost_ended(ctx)
    except RecursionError:
        pass
    except Exception as exc:
        _internal_error(exc)


#: Write the buffer whenever an outermost call ends (exits.py sets it in
#: multiprocessing workers: a task's lines reach the output before its result
#: reaches the parent, which may end the pool at once).
flush_outermost = False


def _outermost_ended(ctx: Context) -> None:
    """The context's outermost traced call has returned or suspended."""
    if flush_outermost and _lines_on:
        output.flush()
    if ctx.base is not None:
        _tls.cur = ctx.base  # the task's traced frames are all off-CPU now
        if _cur_changed is not None:
            _cur_changed()


def _close(
    ctx: Context,
    entry: Entry,
    depth: int,
    t: int,
    exception: str | None,
    suspended: str | None,
    off_stack: list[tuple[Entry, int]] | None = None,
    value: str | None = None,
) -> None:
    """A call (or run) taken off the stack at ``depth`` ends: listeners and lines."""
    info, t0, node, written = entry.info, entry.start, entry.node, entry.written
    ended = None if suspended is LOST else suspended  # listeners see a plain end
    if entry.tokens is not None:
        for obs, token in zip(_observers, entry.tokens):
            if value is not None and hasattr(obs, "returned"):
                obs.returned(token, value)
            obs.exit(token, t, exception, ended)
    if node is not None:
        _record_close(node, entry, t, exception, ended, value)
    if _lines_on and depth <= _max_depth:
        duration = t - t0
        if written:
            _emit_exit(ctx, depth, info, t, duration, exception, suspended, value)
        elif duration >= _min_duration or exception is not None:
            _write_pending(ctx, depth - 1, off_stack)
            _emit_enter(ctx, depth, info, t0, False, entry.args)
            _emit_exit(ctx, depth, info, t, duration, exception, suspended, value)


def _tell_entered(ctx: Context, info: CodeInfo, t: int, resumed: bool) -> list[Any]:
    # Not a comprehension inside enter(): before 3.12 that makes a closure, whose
    # cells slow every event down.
    return [obs.enter(ctx.tag, info, t, resumed) for obs in _observers]


def _tell_arguments(tokens: list[Any], args: dict[str, str]) -> None:
    for obs, token in zip(_observers, tokens):
        if hasattr(obs, "arguments"):
            obs.arguments(token, args)


def _value(kind: int, info: CodeInfo, suspended: str | None, arg: Any) -> str | None:
    """The text an exit line ends with: what the call returned or handed out, or
    what its exception says. An async generator's own ``yield`` hands out a value
    wrapped where Python code cannot read it (3.12+): none, there and everywhere."""
    if kind == UNWIND:
        return values.exception_text(arg)
    if arg is NO_VALUE:
        return None
    if kind == SUSPEND and suspended == "yield" and info.suspend_word == "asyncgen":
        return None
    return values.value_text(arg)


def _settle_lost(ctx: Context) -> None:
    """Write the ends that could not be written when they happened, in order."""
    lost = ctx.lost
    while lost:
        entry, depth, t, exception, suspended = lost[0]
        # Ancestors whose enter line is still unwritten may be off the stack too,
        # further down this list: started no later, shallower.
        off_stack = None
        if not entry.written and len(lost) > 1:
            off_stack = sorted(
                (
                    (e, d)
                    for e, d, *_ in lost[1:]
                    if not e.written and d < depth and e.start <= entry.start
                ),
                key=lambda pair: pair[1],
            )
        _close(ctx, entry, depth, t, exception, suspended, off_stack)
        del lost[0]  # only once written: at the limit still, the rest wait again


def settle_all_lost(closed: frozenset[Context] = frozenset()) -> None:
    """At exit: what the last events could not write (``closed``: contexts whose
    thread writes nothing more, busy for good)."""
    for ctx in list(_contexts):
        if ctx.lost and (not ctx.busy or ctx in closed):
            try:
                _settle_lost(ctx)
            except Exception:
                pass


def _resync(ctx: Context, info: CodeInfo, t: int) -> bool:
    """An end that is not the innermost call's: events were missed (tracing was
    switched on mid-call, or the program was at its recursion limit with no
    compiled path to keep count). Calls above ``info``'s can no longer end: each
    gets an exit line marked ``lost``. False if ``info`` is not running at all."""
    stack = ctx.stack
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].info is info:
            while len(stack) > i + 1:
                entry = stack.pop()
                if entry.written:
                    ctx.lost.append((entry, len(stack) + 1, t, None, LOST))
            return True
    return False


def _write_pending(
    ctx: Context, upto: int, off_stack: list[tuple[Entry, int]] | None = None
) -> None:
    # With a minimum duration, enter lines wait until the call turns out long
    # enough; a long call writes its waiting ancestors first, outermost first.
    # (So do calls whose enter could not be written for want of a frame.)
    pending = list(enumerate(ctx.stack[:upto], start=1))
    pending += [(depth, entry) for entry, depth in off_stack or ()]
    for depth, entry in pending:
        if not entry.written and depth <= _max_depth:
            _emit_enter(ctx, depth, entry.info, entry.start, False, entry.args)
            entry.written = True


#: Only plain text lines are wanted (no filter, recording or observer): then the
#: events take their first branch for nested calls (select_path decides).
_plain = False
_emit_enter: sink.EnterWriter = sink.text_enter
_emit_exit: sink.ExitWriter = sink.text_exit
_buffer = output.buffer
_put = output.buffer.append


def _enter_line(ctx: Context, depth: int, info: CodeInfo, resumed: bool) -> bytes:
    """The plain text enter line, UTF-8 (sink.text_enter's, without arguments): the
    one :attr:`Context.lines` remembers for ``depth`` when it is ``info``'s."""
    lines = ctx.lines
    try:
        last, line, _, head = lines[depth]
    except IndexError:
        last, line, _, head = ctx.line_slot(depth)
    if resumed:
        return head + info.resume_line
    if last is not info:
        line = head + info.enter_line
        lines[depth] = (info, line, head + info.exit_head, head)
    return line


def _put_utf8(line: str) -> None:
    # Encoded as a flush would (output._encode): then a flush of the Python path's
    # lines, all bytes, is one join, not runs of str and bytes told apart.
    _put(line.encode("utf-8", "backslashreplace"))


_join_bytes = b"".join
_MAX_BUFFERED = sink.MAX_BUFFERED
#: Entries a context keeps for reuse beyond those its calls need at once.
_MAX_SPARE = 256
_lines_on = True
_max_depth = sys.maxsize
_min_duration = 0
#: Arguments and return values wanted (FUNCTRACE_ARGS): the Python fast branch gives way
#: (the compiled one writes them itself: see select_path).
_args = False


def configure(settings: Settings) -> None:
    """Apply the output part of ``settings``. A switch of output stops every
    event meanwhile (see pause_events)."""
    paused = _lines_on and settings.output != _output_now and pause_events()
    try:
        with output.lock:  # the running lines go first in the new output
            _configure(settings, paused)
    finally:
        if paused:
            resume_events()


#: An output switch is under way: every event waits (see pause_events), but in
#: the thread doing it (functrace's own work there may call traced code).
_paused = False
_pauser = 0


def pause_events() -> bool:
    """Stop every event, in every thread but this one, until resume_events(): True
    once none is in progress (then every stack, the queued lines, the tags and the
    names can change as one), False if that could not be had within ~2 s (a thread
    busy in functrace's own work that waits on this one, say): resumed then, and
    the switch takes what it can get (with the GIL, still one instant). Each event
    checks the flag after marking its context busy, this thread checks the busy
    marks after raising the flag: one of the two sees the other."""
    global _paused, _pauser
    _pauser = threading.get_ident()
    _paused = True
    native = _native if _speedups_on else None
    if native is not None and not native.pause(True):
        resume_events()
        return False
    mine = getattr(_tls, "cur", None)
    own = {id(mine), id(getattr(mine, "base", None))}
    deadline = time.monotonic() + 2.0
    for ctx in list(_contexts):
        while ctx.busy and id(ctx) not in own:
            if time.monotonic() > deadline:
                resume_events()
                return False
            time.sleep(0.00002)
    return True


def resume_events() -> None:
    global _paused
    _paused = False
    if _native is not None:
        _native.pause(False)


def _wait_resumed(ctx: Context) -> bool:
    """An event met an output switch (see pause_events): wait, not busy, until it
    is over; False at once in the thread doing it."""
    if _pauser == threading.get_ident():
        return False
    ctx.busy = False
    native = _native
    while _paused:
        if native is not None:
            native.wait_resumed()  # as outside any compiled event meanwhile
        else:
            time.sleep(0.00002)
    ctx.busy = True
    if _paused:  # paused again meanwhile: the pausing thread may have missed this mark
        _wait_resumed(ctx)
    return True


def _configure(settings: Settings, paused: bool = False) -> None:
    global _emit_enter, _emit_exit, _lines_on, _max_depth, _min_duration, _text, _output_now
    global _generation, _args
    switching = _lines_on and settings.output != _output_now
    if settings.output != _output_now:
        # Every tag is named anew in a new output: from the snapshot's instant on
        # (it forgets every context's naming), so the generation moves first.
        _generation += 1
    # Every event stopped: the stacks and the queue as they are now are one instant.
    snapshot = _snapshot() if switching and not paused else None
    target = output.configure(
        settings.output,
        settings.max_lines,
        settings.follow_symlinks,
        carry=None if snapshot is None else snapshot[0],
    )
    _lines_on = target != "none"
    if settings.output != _output_now:
        _decide_process_tag()
    _emit_enter, _emit_exit = sink.WRITERS[settings.format]
    _max_depth = settings.max_depth or sys.maxsize
    _min_duration = settings.min_duration_ns
    _text = settings.format == "text"
    values.configure(
        settings.args, settings.args_length, settings.args_line_length, settings.redact
    )
    _args = bool(settings.args)
    warm_duration_cache()  # before the fast paths are on: they index it
    _use_speedups(settings.speedups)
    if _lines_on and settings.output != _output_now:
        own = _own_work_begin()  # naming lines call library code (shlex, threading)
        try:
            _write_running(None if snapshot is None else snapshot[1])
        finally:
            _own_work_end(own)
    _output_now = settings.output


_output_now = ""


#: A running call as a new output's ``running`` line needs it: (info, start, written).
Running = tuple[CodeInfo, int, bool]


def _snapshot() -> tuple[list[Any], list[tuple[Context, list[Running]]]] | None:
    """The queued lines and every context's stack at one instant (with the GIL);
    None where that cannot be had (a free-threaded build has no such instant)."""
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        return None
    native = _native if _speedups_on else None
    contexts = list(_contexts)
    for _ in range(10_000):
        if native is not None:
            # The naming forgotten in the same step: see _forget_naming.
            taken, *_ = tuple(chain(map(native.snapshot, (contexts,)), _forget_naming(contexts)))
            if taken is not None:
                stacks = [[(e.info, e.start, e.written) for e in stack] for stack in taken[1]]
                return taken[0], list(zip(contexts, stacks))
        else:
            pure = _pure_snapshot(contexts)
            if pure is not None:
                return pure
        time.sleep(0)  # a thread is mid-event: let it finish
    return None


def _forget_naming(contexts: list[Context]) -> Iterator[None]:
    """Every context, and the process, to be named again before its next line,
    as an iterator of C calls only, to be run inside a snapshot's one step: an
    event after that step names its context in the new output; one before it
    did so in the old output."""
    return chain(
        map(setattr, contexts, repeat("named"), repeat(-1)),
        map(setattr, (sys.modules[__name__],), ("_process_named",), (-1,)),
    )


_busy_of = operator.attrgetter("busy")
_calls_of = functools.partial(map, operator.attrgetter("info", "start", "written"))
_stack_of = operator.attrgetter("stack")
#: The weak references behind ``contexts`` (a set: its len() is C).
_context_refs: set[Any] = _contexts.refs


def _pure_snapshot(
    contexts: list[Context],
) -> tuple[list[Any], list[tuple[Context, list[Running]]]] | None:
    """:func:`_snapshot` without the compiled module: every value is read inside
    one call of ``tuple`` over iterators made of C functions only (map, attrgetter,
    partial, len), so no bytecode runs, so no other thread can, between the first
    read and the last (the collector paused: a finalizer would be bytecode). The
    entries' fields are copied, not the entries: the Python path reuses them."""
    reads: tuple[Iterator[Any], ...] = (  # lazy: nothing is read yet
        map(_busy_of, contexts),
        map(tuple, map(_calls_of, map(_stack_of, contexts))),
        map(len, (output.buffer, _context_refs)),
        _forget_naming(contexts),
    )
    gc_was = gc.isenabled()
    gc.disable()
    try:
        busy, calls, sizes, _ = tuple(map(tuple, reads))  # the one step
    finally:
        if gc_was:
            gc.enable()
    if any(busy) or sizes[1] != len(contexts):
        return None  # mid-event, or a context made since the list: ask again
    buffer = output.buffer
    queued = buffer[: sizes[0]]
    del buffer[: sizes[0]]  # only the switch (under output.lock) takes from the front
    return queued, [(ctx, list(stack)) for ctx, stack in zip(contexts, calls)]


#: Which output this is (one more at each switch, and in a forked child): a
#: context's name is written once per output (Context.named).
_generation = 0


#: The output in which this process's first line was written (``_generation``).
_process_named = -1
_naming_lock = threading.Lock()


def _name(ctx: Context, t: int, lines: list[str] | None = None, again: bool = False) -> None:
    """Name ``ctx`` (and its thread first, for a task) in this output: a comment
    line queued, or added to ``lines``; the process first, before its first line
    in this output (a process that never traces writes nothing at all). ``again``:
    the context even if named already (its naming line may be queued behind
    ``lines``)."""
    global _process_named
    if _process_named != _generation:
        # Threads race to their first line: the process line must be queued
        # before any of them, so it is marked written only once it is queued,
        # and queued straight on the buffer (not a thread's own line buffer).
        with _naming_lock:
            if _process_named != _generation:
                line = sink.process_naming_line(_text, t)
                if lines is None:
                    output.buffer.append(line)
                else:
                    lines.append(line)
                _process_named = _generation
    for one in (ctx.base, ctx):
        if one is None:
            continue
        name = one.current_name()
        if one.named == _generation and one.name == name and not again:
            continue
        one.renamed(name)
        one.named = _generation
        line = sink.naming_line(one, name, _text, t)
        if lines is None:
            sink.put(line)
        else:
            lines.append(line)


def _write_running(stacks: list[tuple[Context, list[Running]]] | None) -> None:
    """A new output starts with the calls already running, one ``running`` enter
    line each, so that every trace file is well-formed on its own (a test's file
    opened while a server thread is inside a traced call, say). They go before
    anything queued since the stacks were taken: exits of those calls included."""
    global _process_named
    if stacks is None:  # no snapshot to be had: the stacks as they are now
        stacks = [
            (ctx, [(e.info, e.start, e.written) for e in list(ctx.stack)])
            for ctx in list(_contexts)
        ]
    now = _clock()
    lines: list[str] = []
    named_process = False
    for ctx, stack in stacks:
        if stack and stack[0][2]:
            # Ahead of its running lines, even if an event since the snapshot named
            # it already: that naming line is queued behind them.
            if not named_process:
                with _naming_lock:
                    lines.append(sink.process_naming_line(_text, now))
                    _process_named = _generation
                named_process = True
            _name(ctx, now, lines, again=True)
        for depth, (info, start, written) in enumerate(stack, start=1):
            if depth > _max_depth or not written:
                # Not written then (a filter holds it back): its end writes it, with
                # those below it, as it does in any output.
                break
            lines.append(sink.running_line(ctx, depth, info, start, _text))
    if lines:
        output.buffer[0:0] = lines  # one step: ahead of every line queued meanwhile


# ---------------------------------------------------------------- compiled fast path

# functrace._runtime._speedups (built from _speedups.c when a compiler was there)
# is enter / leave in C: the plain case itself, with the same effects, and the
# same hand-offs to enter / leave for the rest. Missing, or of another API
# version: the Python path runs.
_native: Any = None
_speedups_on = True
#: Called right after every ``_tls.cur = ...`` once the compiled module is loaded:
#: it remembers each thread's current context until then (a thread's first
#: context, set by state.thread_context, replaces none and needs no call).
_cur_changed: Callable[[], object] | None = None


def _load_speedups() -> Any:
    try:
        from functrace._runtime import _speedups
    except ImportError:
        return None
    if getattr(_speedups, "API", None) != _state.SPEEDUPS_API:
        return None  # built from another version of _speedups.c
    try:
        _speedups.init(sys.modules[__name__], output)
    except Exception:
        return None
    return _speedups


def _use_speedups(on: bool) -> None:
    """Allow (or forbid) the compiled fast path; the benchmark flips this at run time."""
    global _speedups_on, _native, _cur_changed
    _speedups_on = on
    if on and _native is None:
        _native = _load_speedups()
        _cur_changed = _native.current_changed if _native is not None else None
        _state.current_changed = _cur_changed
    elif _native is not None:
        _native.init(sys.modules[__name__], output)  # the output may have changed
    # Every line through one queue: the compiled module's while it is in use
    # (it may keep a thread's lines in a buffer of its own until they are whole),
    # else the list's own append, in UTF-8 as the Python fast branch's lines are.
    native = _native if on else None
    sink.put = native.put if native is not None else _put_utf8
    output.take = native.take if native is not None else output.take_lines
    select_path()


def native_module() -> Any:
    """The compiled module when it is loaded (and allowed), else None."""
    return _native if _speedups_on else None


def native_callbacks() -> tuple[Callable[..., Any], ...] | None:
    """When the compiled path is in force: its ``sys.monitoring`` callbacks for
    PY_START, PY_RESUME, PY_THROW, PY_RETURN, PY_YIELD and PY_UNWIND."""
    if _native is None or current[0] is not _native.enter:
        return None
    n = _native
    return (n.py_start, n.py_resume, n.py_resume, n.py_return, n.py_yield, n.py_unwind)


_text = True
#: The callbacks in force: (enter, leave); backends read these.
current: tuple[Callable[..., Any], Callable[..., Any]] = (enter, leave)
_path_listeners: list[Callable[[], None]] = []


def select_path() -> None:
    """Use the fast path whenever only lines are wanted: the compiled one when it
    is built and allowed (``FUNCTRACE_SPEEDUPS``), else the Python one (plain
    text lines only)."""
    global current, _plain
    lines_only = _lines_on and not _min_duration and not _recorders and not _observers
    unlimited = _max_depth == sys.maxsize
    _plain = lines_only and _text and unlimited and not _args
    if _speedups_on and _native is not None:
        # Always the compiled entry points: they take the fast way when plain,
        # else hand on to enter/leave, and keep the stack right when the
        # program's recursion limit leaves no frame for them (see Context.lost).
        # What they hand on takes the general way (every line through put()).
        # The compiled way also writes jsonl lines, text lines with values
        # (without a depth limit), and keeps a depth limit (past it: no line).
        with_values = lines_only and _text and unlimited and _args
        _native.set_args(
            with_values,
            values.mode == "repr",
            *values.limits(),
            values,
        )
        _native.set_lines(not _text, _max_depth, sink.epoch_offset_ns, sink.json_quote)
        # A recording takes the fast way too when nothing else is asked of the
        # events (plain text lines or none, no observer, no values, no limit): the
        # compiled path journals its calls (listeners.Session).
        session = None
        if not _observers and not _args and (not _lines_on or _text_plain()):
            session = _record_session()
        _native.set_record(session, _lines_on)
        _native.set_plain((lines_only and not _args) or with_values or session is not None)
        _plain = False
        chosen = (_native.enter, _native.leave)
    else:
        chosen = (enter, leave)
        if _native is not None:
            _native.set_record(None, True)
            if current != chosen:
                _detach_journals()  # the Python path's first branches know only Calls
    if _native is not None:
        _native.set_direct(chosen[0] is _native.enter)  # for the inline probes (probe.py)
    if chosen != current:
        current = chosen
        for listener in _path_listeners:
            listener()


def _text_plain() -> bool:
    return _lines_on and _text and _max_depth == sys.maxsize and not _min_duration


_listeners_changed.append(select_path)  # a recording or an observer came or went


# ---------------------------------------------------------------- failure

_on_failure: list[Callable[[], None]] = []
_failed = False


def on_failure(switch_off: Callable[[], None]) -> None:
    """Call ``switch_off`` when an internal error turns tracing off."""
    _on_failure.append(switch_off)


def on_path_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever ``current`` (the callbacks in force) changes."""
    _path_listeners.append(listener)


def recover() -> None:
    """Tracing is switched back on: after an internal error every event was off,
    so what was running is unknown; start from empty stacks."""
    global _failed
    if _failed:
        _failed = False
        reset_contexts()


def _internal_error(exc: BaseException) -> None:
    # A bug of ours must never reach the traced program: switch tracing off, say so once.
    global _failed
    if _failed:
        return
    _failed = True
    for switch_off in _on_failure:
        try:
            switch_off()
        except Exception:
            pass
    try:
        where = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if exc.__traceback__ is None:
            # Raised by the compiled module: no Python frame of ours to show, so
            # the place is the program's call that was being traced.
            stack = traceback.format_stack(sys._getframe(1), limit=12)
            where = f"in the compiled path (_speedups), during this call:\n{''.join(stack)}{where}"
    except Exception:
        where = repr(exc)
    # With the traceback: a bug report then says where.
    notice(f"functrace: internal error, tracing is off from here on: {exc!r}\n{where}")


def _close_unending(t: int) -> frozenset[Context]:
    """At exit: every call of another thread ends here, marked ``lost`` (a daemon
    thread is stopped, not unwound: its calls would stay open forever), and that
    thread writes nothing more. The exiting thread's own calls are left to end."""
    mine = getattr(_tls, "base", None)
    closed = []
    for ctx in list(_contexts):
        if mine is not None and (ctx is mine or ctx.base is mine):
            continue
        if ctx.busy:
            continue  # mid-event in its thread (a write in progress): leave it be
        ctx.busy = True  # for good: see Context.busy
        closed.append(ctx)
        stack = ctx.stack
        while stack:
            entry = stack.pop()
            if entry.written:
                ctx.lost.append((entry, len(stack) + 1, t, None, LOST))
    return frozenset(closed)


def _at_exit() -> None:
    # Before output's own exit hook (atexit runs the last registered first).
    own = _own_work_begin()  # whatever it calls writes no line
    try:
        _finish()
    finally:
        _own_work_end(own)


def _finish() -> None:
    try:
        closed = _close_unending(_clock())
    except Exception:
        closed = frozenset()
    settle_all_lost(closed)
    output.finish()
    if _native is not None:
        # It remembers when the next flush is due; from now on it is always due.
        _native.init(sys.modules[__name__], output)


def _after_fork_in_child() -> None:
    global _generation, _naming_lock, _paused
    _paused = False  # a switch in another thread of the parent does not go on here
    if _native is not None:
        _native.pause(False)
    _naming_lock = threading.Lock()  # another thread may have held it at the fork
    _state_after_fork()
    _decide_process_tag()  # output's own after-fork hook has run: the file is known
    _generation += 1  # names (the process's first) come again, before its first line


def _forget_native() -> None:
    if _native is not None:
        _native.forget()  # its cache of infos may hold the forgotten code's


on_forget.append(_forget_native)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
