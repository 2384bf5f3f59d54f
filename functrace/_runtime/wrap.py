"""Python 3.10/3.11 (or no free ``sys.monitoring`` id): a wrapper per traced function.

Each wrapper has the shape of what it wraps, so ``inspect`` classifies it the
same way: a plain function, a generator function that drives the wrapped
generator step by step (``send``, ``throw``, ``close`` and the return value),
a coroutine function, an async generator function. Coroutine steps are driven
one by one too, so every ``await`` that suspends writes its exit line, exactly
as ``sys.monitoring`` reports it on 3.12+.

What a wrapper cannot hide is its frame: see the README for what differs.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from types import CodeType
from typing import Any

from functrace._runtime import engine

__all__ = ["WrapperBackend"]


class WrapperBackend:
    def __init__(self) -> None:
        self.on = False

    def switch(self, on: bool) -> None:
        # A wrapper checks this when a call starts only: a call that started while
        # on ends with its exit line whatever happens to the switch meanwhile.
        self.on = on

    def stop(self) -> None:
        self.on = False

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(fn):
            wrapper = _wrap_asyncgen(self, fn)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _wrap_coroutine(self, fn)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _wrap_generator(self, fn)
        else:
            wrapper = _wrap_function(self, fn)
        functools.update_wrapper(wrapper, fn)
        # Introspection that does not follow __wrapped__ sees the function's own
        # signature and defaults, and each wrapper has a code object of its own
        # (code keyed caches, such as jinja2's or networkx's, must not collide).
        wrapper.__signature__ = inspect.signature(fn)
        wrapper.__defaults__ = fn.__defaults__
        wrapper.__kwdefaults__ = fn.__kwdefaults__
        names = {"co_name": fn.__name__}
        if sys.version_info >= (3, 11):
            names["co_qualname"] = fn.__qualname__
        wrapper.__code__ = wrapper.__code__.replace(**names)
        wrapper.__functrace_wrapped__ = True
        result: Callable[..., Any] = wrapper
        return result


def _wrap_function(backend: WrapperBackend, fn: Callable[..., Any]) -> Any:
    code = fn.__code__  # the wrapper keeps fn, hence its code, alive
    RETURN, UNWIND = engine.RETURN, engine.UNWIND

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest: show the traced function, not us
        if not backend.on:
            return fn(*args, **kwargs)
        enter, leave = engine.current
        enter(False, code)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            leave(UNWIND, code, 0, exc)
            raise
        leave(RETURN, code)
        return result

    return wrapper


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
    # Suspensions are rare next to plain calls: the general path is fine here.
    enter, leave = engine.enter, engine.leave
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
                leave(RETURN, code)
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


def _wrap_generator(backend: WrapperBackend, fn: Callable[..., Any]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        gen = fn(*args, **kwargs)
        del args, kwargs  # the generator holds what it needs; we must not hold more
        if not backend.on:
            return (yield from gen)
        return (yield from _drive(gen, fn.__code__, False, None))

    return wrapper


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


def _wrap_coroutine(backend: WrapperBackend, fn: Callable[..., Any]) -> Any:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        coro: Awaitable[Any] = fn(*args, **kwargs)
        if not backend.on:
            return await coro
        return await _Steps(coro, fn.__code__, False, None)

    return wrapper


def _wrap_asyncgen(backend: WrapperBackend, fn: Callable[..., Any]) -> Any:
    code = fn.__code__

    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        agen = fn(*args, **kwargs)
        del args, kwargs
        resumed = False
        box: list[Any] = [None]  # as in _drive: nothing held across a suspension
        pending: list[BaseException] = []
        while True:
            step = agen.athrow(pending.pop()) if pending else agen.asend(box.pop())
            try:
                box.append(await (_Steps(step, code, resumed, "yield") if backend.on else step))
            except StopAsyncIteration:
                return
            finally:
                del step
            resumed = True
            try:
                box.append((yield box.pop()))
            except GeneratorExit:
                closing = agen.aclose()
                await (_Steps(closing, code, True, None) if backend.on else closing)
                raise
            except BaseException as exc:
                pending.append(exc)

    return wrapper
