"""Python 3.10/3.11 (or no free ``sys.monitoring`` id): a wrapper per traced function.

Each wrapper is generated for the function it wraps: the same parameters (names,
kinds, defaults, keyword-only ones), compiled into a function that runs in the
original's module globals, with a code object of its own named after it. So:

- ``wrapper.__code__`` tells what the original's tells (``co_varnames[:co_argcount]``,
  ``co_flags``): libraries that learn keyword arguments from it keep working;
- ``sys._getframe(1).f_globals`` inside the traced function is its own module's
  (lazy importers and warning filters look there), and the wrapper frame's lines
  point at the function's own ``def``;
- wrong arguments raise TypeError when the function is called, also for a
  generator or coroutine function (whose wrapper is one too, so ``inspect``
  classifies it the same way): the arguments bind at the call, not at the first
  ``next()`` or ``await``.

A generator wrapper drives the wrapped generator step by step (``send``,
``throw``, ``close`` and the return value); coroutine steps are driven one by one
too, so every ``await`` that suspends writes its exit line, exactly as
``sys.monitoring`` reports it on 3.12+. What a wrapper cannot hide is its frame:
see docs/runtime.md for what differs.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import types
from collections.abc import Callable, Generator
from types import CodeType
from typing import Any

from functrace._runtime import engine, probe, values

__all__ = ["WrapperBackend"]

_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


class WrapperBackend:
    def __init__(self) -> None:
        self.on = False

    def switch(self, on: bool) -> None:
        # A wrapper checks this when a call starts only: a call that started while
        # on ends with its exit line whatever happens to the switch meanwhile.
        # Inline probes (probe.py) decide the same way.
        self.on = on
        probe.switch(on)

    def stop(self) -> None:
        self.on = False
        probe.switch(False)

    def wrap(self, fn: types.FunctionType, given: bool = False) -> Callable[..., Any]:
        """``fn``'s wrapper. ``given``: values are wanted (FUNCTRACE_ARGS), and a
        plain function's wrapper hands its arguments to ``enter`` (read from no
        frame: the cheap way); without it, the arguments are read from the
        wrapper's frame if values are switched on later."""
        if inspect.isasyncgenfunction(fn):
            kind = "asyncgen"
        elif inspect.iscoroutinefunction(fn):
            kind = "coroutine"
        elif inspect.isgeneratorfunction(fn):
            kind = "generator"
        else:
            kind = "function"
        code = fn.__code__
        names = _parameters(code)
        made = _factory(kind, code, names, given)(fn, self, code, _HELPERS)
        own = _renamed(made.__code__, fn, names)
        wrapper = types.FunctionType(
            own, fn.__globals__, fn.__name__, fn.__defaults__, made.__closure__
        )
        wrapper.__kwdefaults__ = fn.__kwdefaults__
        functools.update_wrapper(wrapper, fn)
        wrapper.__functrace_wrapped__ = True  # type: ignore[attr-defined]
        return wrapper


# ---------------------------------------------------------------- generation


def _parameters(code: CodeType) -> tuple[str, ...]:
    """The names of ``code``'s parameters, in ``co_varnames`` order."""
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & _CO_VARARGS) + bool(code.co_flags & _CO_VARKEYWORDS)
    return code.co_varnames[:n]


def _source(code: CodeType) -> tuple[str, str, str, str]:
    """The wrapper's parameter list, the call that passes them on, the ``del``
    that drops them and the tuple of their values in the signature's order (as
    values.py names them: positional, ``*args``, keyword-only, ``**kwargs``),
    spelled with stand-in names (``a0``… positional, ``k0``… keyword-only): one
    compiled template serves every function of the same structure, and gets the
    real names afterwards (see ``_renamed``)."""
    n_posonly, n_pos, n_kw = code.co_posonlyargcount, code.co_argcount, code.co_kwonlyargcount
    pos = [f"a{i}" for i in range(n_pos)]
    kw = [f"k{i}" for i in range(n_kw)]
    params = pos[:n_posonly] + (["/"] if n_posonly else []) + pos[n_posonly:]
    call = list(pos)
    if code.co_flags & _CO_VARARGS:
        params.append("*va")
        call.append("*va")
    elif n_kw:
        params.append("*")
    params += kw
    call += [f"{name}={name}" for name in kw]
    if code.co_flags & _CO_VARKEYWORDS:
        params.append("**vk")
        call.append("**vk")
    star = ["va"] if code.co_flags & _CO_VARARGS else []
    double_star = ["vk"] if code.co_flags & _CO_VARKEYWORDS else []
    names = pos + kw + star + double_star
    given = pos + star + kw + double_star
    return (
        ", ".join(params),
        ", ".join(call),
        f"del {', '.join(names)}" if names else "pass",
        f"({', '.join(given)},)" if given else "()",
    )


# Each template is the body of one kind of wrapper. ``P`` is the prefix of every
# name of ours; everything the body uses comes through the closure, never the
# module's globals (the wrapper runs in those, and they are the program's).
_TEMPLATES = {
    "function": """
def P_factory(P_fn, P_backend, P_code, P_h):
    P_engine, P_RETURN, P_UNWIND, P_BaseException = P_h[:4]
    def wrapper(PARAMS):
        HIDE  # pytest: show the traced function, not us
        if not P_backend.on:
            return P_fn(CALL)
        P_enter, P_leave = P_engine.current
        ENTER
        try:
            P_result = P_fn(CALL)
        except P_BaseException as P_exc:
            P_leave(P_UNWIND, P_code, 0, P_exc)
            raise
        P_leave(P_RETURN, P_code, 0, P_result)
        return P_result
    return wrapper
""",
    "generator": """
def P_factory(P_fn, P_backend, P_code, P_h):
    P_drive = P_h[4]
    def wrapper(PARAMS):
        HIDE
        P_gen = P_fn(CALL)
        DROP  # the generator holds what it needs; we must not hold more
        if not P_backend.on:
            return (yield from P_gen)
        return (yield from P_drive(P_gen, P_code, False, None))
    return wrapper
""",
    "coroutine": """
def P_factory(P_fn, P_backend, P_code, P_h):
    P_Steps = P_h[5]
    async def wrapper(PARAMS):
        HIDE
        P_coro = P_fn(CALL)
        DROP
        if not P_backend.on:
            return await P_coro
        return await P_Steps(P_coro, P_code, False, None)
    return wrapper
""",
    "asyncgen": """
def P_factory(P_fn, P_backend, P_code, P_h):
    P_BaseException, P_Steps, P_StopAsyncIteration, P_GeneratorExit = P_h[3], *P_h[5:]
    async def wrapper(PARAMS):
        HIDE
        P_agen = P_fn(CALL)
        DROP
        P_resumed = False
        P_box = [None]  # as in _drive: nothing held across a suspension
        P_pending = []
        while True:
            P_step = P_agen.athrow(P_pending.pop()) if P_pending else P_agen.asend(P_box.pop())
            try:
                P_box.append(
                    await (P_Steps(P_step, P_code, P_resumed, "yield") if P_backend.on else P_step)
                )
            except P_StopAsyncIteration:
                return
            finally:
                del P_step
            P_resumed = True
            try:
                P_box.append((yield P_box.pop()))
            except P_GeneratorExit:
                P_closing = P_agen.aclose()
                await (P_Steps(P_closing, P_code, True, None) if P_backend.on else P_closing)
                raise
            except P_BaseException as P_exc:
                P_pending.append(P_exc)
    return wrapper
""",
}

_factories: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _factory(kind: str, code: CodeType, names: tuple[str, ...], given: bool) -> Callable[..., Any]:
    """The compiled maker of ``kind`` wrappers for functions of ``code``'s
    structure (parameter counts and kinds), compiled once per structure.
    ``given``: a plain function's wrapper hands its arguments to ``enter``."""
    # Our own locals must not share a name with a parameter: pick a prefix that
    # no parameter has (and leave pytest's marker out if a parameter is called so).
    prefix, n = "_ft_", 0
    while any(name.startswith(prefix) for name in names):
        n += 1
        prefix = f"_ft{n}_"
    hide = "__tracebackhide__" not in names
    key = (
        kind,
        code.co_posonlyargcount,
        code.co_argcount,
        code.co_kwonlyargcount,
        code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS),
        prefix,
        hide,
        given and kind == "function",
    )
    made = _factories.get(key)
    if made is None:
        params, call, drop, in_order = _source(code)
        words = {
            "PARAMS": params,
            "CALL": call,
            "DROP": drop,
            # Without given arguments, values (if wanted) are read from our frame.
            "ENTER": f"{prefix}enter(False, {prefix}code, 0, None, {in_order})"
            if given
            else f"{prefix}enter(False, {prefix}code)",
            "HIDE": "__tracebackhide__ = True" if hide else "pass",
        }
        source = re.sub(
            r"\b(PARAMS|CALL|DROP|ENTER|HIDE)\b",
            lambda m: words[m.group()],
            _TEMPLATES[kind].replace("P_", prefix),
        )
        tree = ast.parse(source)
        # Every instruction on one line, without columns: the wrapper's frame then
        # points at the traced function's own first line (co_firstlineno is set
        # per wrapper), and tracebacks draw no carets under it.
        for node in ast.walk(tree):
            if "lineno" in node._attributes:
                node.lineno = node.end_lineno = 1  # type: ignore[attr-defined]
                node.col_offset = node.end_col_offset = -1  # type: ignore[attr-defined]
        namespace: dict[str, Any] = {}
        exec(compile(tree, "<functrace>", "exec"), namespace)
        made = _factories[key] = namespace[f"{prefix}factory"]
    return made


def _renamed(template: CodeType, fn: types.FunctionType, names: tuple[str, ...]) -> CodeType:
    """``template`` with the parameters called as ``fn``'s and named after ``fn``:
    its ``co_varnames`` start with ``fn``'s parameters, and the keyword names its
    call passes on (constants: a tuple, or single strings when the call also
    unpacks ``**``) are ``fn``'s keyword-only ones."""
    code = fn.__code__
    stand_in = template.co_varnames[: len(names)]
    real = dict(zip(stand_in, names))
    consts = tuple(
        real.get(const, const)
        if type(const) is str
        else tuple(real.get(item, item) for item in const)
        if type(const) is tuple and any(item in real for item in const)
        else const
        for const in template.co_consts
    )
    extra: dict[str, Any] = {"co_qualname": fn.__qualname__} if hasattr(code, "co_qualname") else {}
    return template.replace(
        co_varnames=names + template.co_varnames[len(names) :],
        co_consts=consts,
        co_name=fn.__name__,
        co_filename=code.co_filename,
        co_firstlineno=code.co_firstlineno,
        **extra,
    )


# ---------------------------------------------------------------- driving


def _drive(
    step: Generator[Any, Any, Any] | Any,
    code: CodeType,
    resumed: bool,
    word_on_stop: str | None,
) -> Generator[Any, Any, Any]:
    """Run an iterator-protocol object (a generator, a coroutine, an ``asend``
    awaitable) step by step, writing an enter line each time it runs and an
    exit line each time it stops. Each value it hands out is a suspension
    (``yield`` for generators, ``await`` for coroutines); its StopIteration ends
    the call, or for an async generator step (``word_on_stop="yield"``) is the
    async generator's own yield."""
    # The callbacks in force (the compiled ones when built): a lexer's yields are
    # as common as its calls.
    enter, leave = engine.current
    RETURN, UNWIND, SUSPEND = engine.RETURN, engine.UNWIND, engine.SUSPEND
    # Values pass through `box` and exceptions through `pending`, never through a
    # local kept across a suspension: the driven generator's items and the values
    # sent to it must die when the program drops them, exactly as untraced.
    box: list[Any] = [None]
    pending: list[BaseException] = []
    while True:
        enter(resumed, code)
        resumed = True
        try:
            box.append(step.throw(pending.pop()) if pending else step.send(box.pop()))
        except StopIteration as stop:
            if word_on_stop == "yield":
                leave(SUSPEND, code, 0, engine.ASYNC_YIELD)
            else:
                leave(RETURN, code, 0, stop.value)
            return stop.value
        except BaseException as exc:
            # An async generator step that ends the generator raises
            # StopAsyncIteration: that is its return, not an error.
            if word_on_stop == "yield" and isinstance(exc, StopAsyncIteration):
                leave(RETURN, code)
            else:
                leave(UNWIND, code, 0, exc)
            raise
        leave(SUSPEND, code, 0, box[-1])
        try:
            box.append((yield box.pop()))
        except GeneratorExit as exit_:
            enter(True, code)
            try:
                step.close()
            except BaseException as exc:
                leave(UNWIND, code, 0, exc)
                raise
            leave(UNWIND, code, 0, exit_)
            raise
        except BaseException as exc:
            pending.append(exc)


class _Steps:
    """An awaitable whose ``__await__`` drives another awaitable with events."""

    __slots__ = ("code", "resumed", "target", "word_on_stop")

    def __init__(self, target: Any, code: CodeType, resumed: bool, word_on_stop: str | None):
        self.target = target
        self.code = code
        self.resumed = resumed
        self.word_on_stop = word_on_stop

    def __await__(self) -> Generator[Any, Any, Any]:
        target = self.target
        if not hasattr(target, "send"):
            target = target.__await__()
        return _drive(target, self.code, self.resumed, self.word_on_stop)


#: What the generated wrappers use, handed over through their closures.
_HELPERS = (
    engine,
    engine.RETURN,
    engine.UNWIND,
    BaseException,
    _drive,
    _Steps,
    StopAsyncIteration,
    GeneratorExit,
)


def _driven_frame(frame: types.FrameType, code: CodeType) -> types.FrameType | None:
    """The frame of the call ``_drive`` runs (``frame`` is _drive's), for its
    arguments: the generator's or coroutine's own, or for an async generator
    step the async generator's, found in the wrapper that awaits the step."""
    for scope_frame, attr in ((frame, "step"), (frame.f_back, None)):
        if scope_frame is None:
            continue
        scope = scope_frame.f_locals
        try:
            candidates = [scope.get(attr)] if attr else list(scope.values())
        finally:
            if type(scope) is dict:
                scope.clear()  # a snapshot kept on the frame (up to 3.12): see values.py
        for obj in candidates:
            if attr is not None:
                own = getattr(obj, "gi_frame", None) or getattr(obj, "cr_frame", None)
            elif type(obj) is types.AsyncGeneratorType:
                own = obj.ag_frame
            else:
                own = None
            if isinstance(own, types.FrameType) and own.f_code is code:
                return own
    return None


values.frame_finders[id(_drive.__code__)] = _driven_frame
