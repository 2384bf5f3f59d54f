"""A traced function behaves exactly as before: results, exception objects,
the generator, coroutine and async generator protocols."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import functrace
from tests.helpers import match_lines


class Boom(Exception):
    pass


def test_results_and_exception_objects_pass_through(trace_lines: Callable[[], list[str]]) -> None:
    error = Boom("x")

    @functrace.trace
    def add(a: int, b: int = 2, *, c: int = 3) -> int:
        return a + b + c

    @functrace.trace
    def fail() -> None:
        raise error

    assert add(1) == 6 and add(1, 1, c=1) == 3
    with pytest.raises(Boom) as info:
        fail()
    assert info.value is error
    match_lines(
        trace_lines(),
        [
            "t[*]:    ->tests.runtime.test_protocols.*.<locals>.add",
            "t[*]:    <-tests.runtime.test_protocols.*.<locals>.add <dur>",
            "t[*]:    ->tests.runtime.test_protocols.*.<locals>.add",
            "t[*]:    <-tests.runtime.test_protocols.*.<locals>.add <dur>",
            "t[*]:    ->tests.runtime.test_protocols.*.<locals>.fail",
            "t[*]:    <-tests.runtime.test_protocols.*.<locals>.fail <dur> !Boom",
        ],
    )


def test_generator_send_throw_close_and_return_value(trace_lines: Callable[[], list[str]]) -> None:
    log: list[object] = []

    @functrace.trace
    def gen():
        try:
            got = yield 1
            log.append(got)
            try:
                yield 2
            except Boom as exc:
                log.append(exc)
                yield 3
            yield 4
        finally:
            log.append("finally")
        return "done"

    g = gen()
    assert next(g) == 1
    assert g.send("sent") == 2
    error = Boom()
    assert g.throw(error) == 3
    assert next(g) == 4
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"
    assert log == ["sent", error, "finally"]

    g2 = gen()
    next(g2)
    g2.close()
    assert log[-1] == "finally"
    with pytest.raises(StopIteration):
        next(g2)
    lines = [line.split(":", 1)[1].strip() for line in trace_lines()]
    suffixes = [(line[:2], line.split()[-1]) for line in lines]
    # Five runs of g (four suspended, one returned) then g2: one run, a closing run.
    assert suffixes[:10] == [
        ("->", lines[0].split()[-1]),
        ("<-", "yield"),
        ("->", "resume"),
        ("<-", "yield"),
        ("->", "resume"),
        ("<-", "yield"),
        ("->", "resume"),
        ("<-", "yield"),
        ("->", "resume"),
        ("<-", lines[9].split()[-1]),
    ]
    assert lines[10].startswith("->") and lines[11].endswith("yield")
    assert lines[12].endswith("resume") and lines[13].endswith("!GeneratorExit")


def test_generator_yield_from_and_return(trace_lines: Callable[[], list[str]]) -> None:
    @functrace.trace
    def inner():
        x = yield "a"
        return x * 2

    @functrace.trace
    def outer():
        result = yield from inner()
        yield result

    g = outer()
    assert next(g) == "a"
    assert g.send(21) == 42
    lines = trace_lines()
    depths = [len(line.split(":", 1)[1]) - len(line.split(":", 1)[1].lstrip()) for line in lines]
    # inner always runs nested one level under outer
    assert depths == [4, 8, 8, 4, 4, 8, 8, 4]


def test_coroutines_results_exceptions_and_cancellation(
    trace_lines: Callable[[], list[str]],
) -> None:
    @functrace.trace
    async def slow() -> str:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return "slow"

    @functrace.trace
    async def failing() -> None:
        await asyncio.sleep(0)
        raise Boom("async")

    @functrace.trace
    async def forever() -> None:
        await asyncio.sleep(3600)

    async def main() -> list[object]:
        results: list[object] = [await slow()]
        try:
            await failing()
        except Boom as exc:
            results.append(str(exc))
        task = asyncio.ensure_future(forever())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            results.append("cancelled")
        return results

    assert asyncio.run(main()) == ["slow", "async", "cancelled"]
    lines = trace_lines()
    assert any(line.endswith("!Boom") for line in lines)
    assert any(line.endswith("!CancelledError") for line in lines)
    assert sum(line.endswith(" await") for line in lines) == 2 + 1 + 1


def test_async_generator_asend_athrow_aclose(trace_lines: Callable[[], list[str]]) -> None:
    log: list[object] = []

    @functrace.trace
    async def agen():
        try:
            got = yield 1
            log.append(got)
            await asyncio.sleep(0)
            try:
                yield 2
            except Boom:
                log.append("caught")
                yield 3
            yield 4
        finally:
            log.append("finally")

    async def main() -> list[object]:
        a = agen()
        out = [await a.__anext__(), await a.asend("sent"), await a.athrow(Boom())]
        await a.aclose()
        out += [x async for x in agen()]
        return out

    assert asyncio.run(main()) == [1, 2, 3, 1, 2, 4]
    assert log == ["sent", "caught", "finally", None, "finally"]
    lines = trace_lines()
    assert sum(line.endswith(" yield") for line in lines) == 3 + 3
    assert sum(line.endswith(" await") for line in lines) == 2
    # every line balanced per tag
    opened = sum(" ->" in f" {line.split(':', 1)[1].lstrip()}" for line in lines)
    assert opened * 2 == len(lines)


def test_disable_and_enable_at_run_time(trace_lines: Callable[[], list[str]]) -> None:
    @functrace.trace
    def f() -> int:
        return 1

    f()
    functrace.disable()
    assert not functrace.is_enabled()
    f()
    functrace.enable()
    f()
    names = [line.split(":", 1)[1].strip()[:2] for line in trace_lines()]
    assert names == ["->", "<-", "->", "<-"]


def test_calls_made_before_enable_end_silently(trace_lines: Callable[[], list[str]]) -> None:
    @functrace.trace
    def inner() -> None:
        pass

    @functrace.trace
    def outer() -> None:
        functrace.enable()
        inner()

    functrace.disable()
    outer()
    match_lines(trace_lines(), ["t[*]:    ->*.inner", "t[*]:    <-*.inner <dur>"])


def test_a_generator_s_items_die_when_the_program_drops_them() -> None:
    # more-itertools checks when islice_extended releases items: a driver that
    # kept the last item (or the last value sent) alive would change that.
    import gc
    import weakref

    class Item:
        pass

    def lifetimes(traced: bool) -> list[int]:
        seen: list[weakref.ref[Item]] = []

        def make() -> Item:
            item = Item()
            seen.append(weakref.ref(item))
            return item

        def produce(n: int):  # type: ignore[no-untyped-def]
            for _ in range(n):
                yield make()  # neither the item nor the value sent in is kept

        fn = functrace.trace(produce) if traced else produce
        gen = fn(3)
        alive = []
        next(gen)  # the result is dropped at once
        for _ in range(2):
            gen.send(Item())  # so is this value, and the next item
            gc.collect()
            alive.append(sum(ref() is not None for ref in seen))
        return alive

    assert lifetimes(traced=True) == lifetimes(traced=False) == [0, 0]
