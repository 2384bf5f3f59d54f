"""``functrace.record()``: call trees as data, across threads and tasks."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading

import pytest

import functrace
from functrace._runtime import listeners, state
from tests.helpers import events, run_python


@functrace.trace
def d() -> str:
    return "d"


@functrace.trace
def c1() -> str:
    return d()


@functrace.trace
def b1() -> str:
    return c1()


@functrace.trace
def a1() -> str:
    return b1()


@functrace.trace
def c2() -> str:
    return d()


@functrace.trace
def a2() -> str:
    return c2()


@functrace.trace
def fails() -> None:
    raise ValueError("x")


def short(name: str) -> str:
    return name.rsplit(".", 1)[1]


def test_roots_children_and_which_chain_reached_d() -> None:
    with functrace.record() as rec:
        a1()
        a2()
        with pytest.raises(ValueError):
            fails()
    assert [short(r.name) for r in rec.roots] == ["a1", "a2", "fails"]
    assert [[short(n) for n in chain] for chain in rec.chains("d")] == [
        ["a1", "b1", "c1", "d"],
        ["a2", "c2", "d"],
    ]
    a = rec.roots[0]
    assert a.children[0].children[0].parent is a.children[0]
    assert a.duration_ns is not None and a.duration_ns >= a.children[0].duration_ns  # type: ignore[operator]
    assert a.start_ns <= a.children[0].start_ns and a.end_ns >= a.children[0].end_ns  # type: ignore[operator]
    assert rec.roots[2].exception == "ValueError" and a.exception is None
    assert a.tag.startswith("t[") and a.file == __file__ and a.line > 0


def test_threads_and_tasks_are_all_recorded_with_their_tags() -> None:
    async def main() -> None:
        @functrace.trace
        async def job(n: int) -> None:
            await asyncio.sleep(0)
            a1()

        await asyncio.gather(job(1), job(2))

    with functrace.record() as rec:
        worker = threading.Thread(target=a2)
        worker.start()
        worker.join()
        asyncio.run(main())
    tags = [r.tag for r in rec.roots]
    names = [short(r.name) for r in rec.roots]
    assert names[0] == "a2" and names.count("job") == 4  # two tasks, each run twice
    assert len({t for t, n in zip(tags, names) if n == "job"}) == 2
    assert all("a[" in t for t, n in zip(tags, names) if n == "job")
    resumed = [r for r in rec.roots if r.resumed]
    assert len(resumed) == 2 and all(short(r.children[0].name) == "a1" for r in resumed)
    assert {r.suspended for r in rec.roots if short(r.name) == "job" and not r.resumed} == {"await"}


def test_nested_recordings_each_see_their_own_roots() -> None:
    @functrace.trace
    def outer() -> None:
        with functrace.record() as inner:
            b1()
        holder.append(inner)

    holder: list[functrace.Recording] = []
    with functrace.record() as rec:
        outer()
    assert [short(r.name) for r in holder[0].roots] == ["b1"]
    assert [short(c.name) for c in rec.roots[0].walk()] == ["outer", "b1", "c1", "d"]


def test_limit_keeps_memory_bounded_and_counts_what_it_dropped() -> None:
    with functrace.record(limit=10) as rec:
        for _ in range(100):
            a1()
    assert rec.count == 10 and rec.dropped == 390
    assert sum(1 for _ in rec.walk()) == 10


def test_outside_record_nothing_accumulates() -> None:
    for _ in range(1000):
        a1()
    assert listeners.recorders == []
    ctx = state.tls.cur
    assert ctx.stack == []


def test_record_while_lines_go_to_stderr_too() -> None:
    program = textwrap.dedent(
        """
        import functrace

        @functrace.trace
        def f():
            return 1

        with functrace.record() as rec:
            f()
        print(len(rec.roots), rec.roots[0].name)
        """
    )
    proc = run_python(["-c", program])
    assert proc.stdout == "1 __main__.f\n" and len(events(proc.stderr.splitlines())) == 2


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring")
def test_tool_id_taken_by_others_moves_on_then_falls_back_to_wrappers() -> None:
    program = textwrap.dedent(
        """
        import sys, warnings
        mon = sys.monitoring
        for i in TAKEN:
            mon.use_tool_id(i, "someone else")
        import functrace
        def f(): return 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = functrace.trace(f)
            functrace.trace(lambda: 2)
        print(g is f, [str(w.message) for w in caught], mon.get_tool(3), mon.get_tool(4))
        with functrace.record() as rec:
            g()
        print(len(rec.roots))
        """
    )
    proc = run_python(["-c", program.replace("TAKEN", "(4,)")])
    assert proc.stdout.splitlines() == ["True [] functrace someone else", "1"]
    proc = run_python(["-c", program.replace("TAKEN", "(3, 4)")])
    first, second = proc.stdout.splitlines()
    assert first.startswith("False [") and first.count("no free sys.monitoring tool id") == 1
    assert second == "1"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring")
def test_coexists_with_a_coverage_style_tool_on_the_same_code() -> None:
    program = textwrap.dedent(
        """
        import sys
        mon = sys.monitoring
        mon.use_tool_id(mon.COVERAGE_ID, "cov")
        lines = []
        mon.register_callback(mon.COVERAGE_ID, mon.events.LINE,
                              lambda code, line: lines.append(line))
        import functrace

        @functrace.trace
        def f(x):
            y = x + 1
            return y

        mon.set_local_events(mon.COVERAGE_ID, f.__code__, mon.events.LINE)
        with functrace.record() as rec:
            print(f(1))
        print(len(lines), len(rec.roots))
        """
    )
    proc = run_python(["-c", program])
    assert proc.stdout.splitlines() == ["2", "2 1"], proc.stderr
