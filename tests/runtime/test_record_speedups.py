"""``record()`` on the compiled path (calls journaled in C, made into Calls when
read) gives exactly the trees of the pure-Python path.

Each program runs twice as a subprocess, with ``FUNCTRACE_SPEEDUPS`` on and off,
and prints every recording it made: each call's name, tag, kind, exception,
values and origin, nesting and order, and the recording's counts. The two
outputs must be equal; on the compiled run the journals must have been used.
"""

from __future__ import annotations

import textwrap
import weakref
from pathlib import Path

import pytest

import functrace
from functrace._runtime import engine
from tests.helpers import events, run_python

try:
    from functrace._runtime import _speedups
except ImportError:
    _speedups = None  # type: ignore[assignment]

needs_speedups = pytest.mark.skipif(_speedups is None, reason="_speedups is not built")

#: Prints recordings; checks what must hold of any tree (parents, start order,
#: times inside the parent's); counts the journals the compiled path made.
_HEADER = """
import sys, functrace
from functrace import trace
from functrace._runtime import listeners

_journals = []
_start = listeners.start_recording

def _spy(rec):
    _start(rec)
    if listeners._session is not None and listeners._session not in _journals:
        _journals.append(listeners._session)

listeners.start_recording = _spy

def short(name):
    return name.rsplit(".", 1)[-1]

def show(label, rec):
    print(label, "count", rec.count, "dropped", rec.dropped, "roots", len(rec.roots))
    starts = [r.start_ns for r in rec.roots]
    assert starts == sorted(starts), label
    assert rec.start_ns <= min(starts, default=rec.start_ns)
    def one(call, depth):
        kind = "resumed" if call.resumed else "call"
        end = "running" if call.end_ns is None else "ended"
        if call.end_ns is not None:
            assert call.end_ns >= call.start_ns
        print("  " * depth + short(call.name), call.tag, kind, end, call.suspended,
              call.exception, call.args, call.returned, call.origin)
        before = call.start_ns
        for child in call.children:
            assert child.parent is call and child.start_ns >= before, (label, child)
            if child.end_ns is not None and call.end_ns is not None:
                assert child.end_ns <= call.end_ns, (label, child)
            before = child.start_ns
            one(child, depth + 1)
    for root in rec.roots:
        one(root, 1)

def journals():
    return sum(len(s.journals) for s in _journals)
"""

PROGRAMS = {
    "nesting, generators, exceptions": """
        @trace
        def leaf(x): return x * 2
        @trace
        def fails(n):
            if n == 0: raise ValueError(n)
            return fails(n - 1)
        @trace
        def catches():
            try: return fails(3)
            except ValueError: return leaf(1)
        @trace
        def gen(n):
            for i in range(n):
                got = yield leaf(i)
                if got: leaf(got)
            return "done"
        @trace
        def drive():
            g = gen(4)
            next(g); g.send(5); leaf(1)
            try: g.throw(KeyError("k"))
            except KeyError: pass
            g2 = gen(3); next(g2); g2.close()
            return list(gen(2))
        @trace
        def top():
            leaf(1); catches(); drive()
            return [leaf(i) for i in range(3)]
        with functrace.record() as rec:
            top(); top()
            try: fails(1)
            except ValueError: pass
        show("rec", rec)
    """,
    "tasks": """
        import asyncio
        @trace
        def leaf(x): return x
        @trace
        async def fetch(i):
            leaf(i)
            await asyncio.sleep(0)
            return leaf(i + 1)
        @trace
        async def agen():
            yield leaf(1)
            await asyncio.sleep(0)
            yield leaf(2)
        @trace
        async def handle(i):
            leaf(i)
            async for v in agen(): leaf(v)
            return await fetch(i)
        @trace
        async def main():
            return await asyncio.gather(handle(1), handle(2))
        with functrace.record() as rec:
            asyncio.run(main())
        show("rec", rec)
    """,
    "threads and jobs": """
        import threading
        from concurrent.futures import ThreadPoolExecutor
        @trace
        def leaf(i): return i
        @trace
        def mid(i): return leaf(i) + leaf(i + 1)
        @trace
        def work(i): return mid(i) + mid(i)
        @trace
        def spawn():
            for n in range(2):  # one after the other: tags are deterministic
                t = threading.Thread(target=work, args=(n,))
                t.start(); t.join()
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(work, 5).result()
                pool.submit(work, 6).result()
        with functrace.record() as rec:
            spawn()
            work(9)
        show("rec", rec)
    """,
    "started inside a running call, read while running": """
        @trace
        def leaf(i): return i
        @trace
        def mid(i): return leaf(i) + leaf(i)
        @trace
        def gen():
            yield mid(1)
            yield mid(2)
        recs = []
        @trace
        def outer():
            leaf(0)
            with functrace.record() as rec:
                mid(1)
                g = gen(); next(g)
                recs.append(rec)
                show("inside", rec)  # read while this call and others run
                mid(2)
            leaf(3)  # not recorded
            next(g)  # its run is not recorded; the generator's frame is not either
            return rec
        @trace
        def top():
            rec = outer()
            show("after outer", rec)
            return rec
        rec = top()
        show("after top", rec)
    """,
    "nested and overlapping recordings": """
        @trace
        def leaf(i): return i
        @trace
        def mid(i): return leaf(i) + leaf(i)
        @trace
        def outer(holder):
            mid(0)
            with functrace.record() as inner:
                mid(1)
            holder.append(inner)
            return mid(2)
        holder = []
        with functrace.record() as rec:
            outer(holder)
        show("outer", rec)
        show("inner", holder[0])
        print("shared", holder[0].roots[0] is rec.roots[0].children[1])
        a = functrace.record(); b = functrace.record()
        ra = a.__enter__(); mid(3)
        rb = b.__enter__(); mid(4)
        a.__exit__(None, None, None); mid(5)
        b.__exit__(None, None, None); mid(6)
        show("a", ra); show("b", rb)
        with functrace.record() as first:
            mid(7)
        with functrace.record() as second:
            mid(8)
        show("second", second); show("first", first)
    """,
    "limits": """
        @trace
        def leaf(i): return i
        @trace
        def mid(i): return leaf(i) + leaf(i)
        @trace
        def top(n): return [mid(i) for i in range(n)]
        with functrace.record(limit=5) as small:
            top(4)
        show("small", small)
        with functrace.record() as outer:
            top(2)
            with functrace.record(limit=3) as inner:
                top(2)
            top(1)
        show("outer", outer); show("inner", inner)
    """,
    "speedups and output switched mid-recording": """
        import os
        @trace
        def leaf(i): return i
        @trace
        def mid(action):
            leaf(1)
            action()
            return leaf(2)
        @trace
        def top(action): return mid(action) + leaf(3)
        with functrace.record() as rec:
            top(lambda: None)
            top(lambda: functrace.configure(speedups=False))
            top(lambda: None)
            top(lambda: functrace.configure(speedups=True))
            top(lambda: functrace.configure(output=os.devnull))
            top(lambda: functrace.configure(output="none"))
            top(lambda: (functrace.disable(), leaf(0), functrace.enable()))
            top(lambda: functrace.configure(max_depth=2))
            top(lambda: functrace.configure(max_depth=0))
        show("rec", rec)
    """,
    "at the recursion limit": """
        @trace
        def down(n): return down(n + 1)
        @trace
        def leaf(): return 1
        @trace
        def top():
            for _ in range(3):
                try: down(0)
                except RecursionError: pass
            return leaf()
        with functrace.record() as rec:
            top()
        # Thousands of calls: print the shape, not each one.
        print("roots", [short(r.name) for r in rec.roots], rec.dropped)
        def depth(c):
            d = 0
            while c.children:
                c, d = c.children[0], d + 1
            return d
        tops = rec.roots[0].children
        print([short(c.name) for c in tops], [c.exception for c in tops])
        print("deepest", max(depth(c) for c in tops) > 100)
        print("ends", sum(c.end_ns is None for c in rec.calls()))
    """,
    "observer and values": """
        from functrace._runtime import engine
        class Seen:
            def enter(self, tag, info, t, resumed): return info.name
            def exit(self, token, t, exception, suspended): pass
        @trace
        def leaf(i): return i
        @trace
        def mid(i): return leaf(i) + leaf(i)
        with functrace.record() as rec:
            mid(1)
            engine.add_observer(Seen()); mid(2)
            functrace.configure(args=True); mid(3)
        show("rec", rec)
    """,
}


def _run(tmp_path: Path, name: str, speedups: str, **env: str) -> tuple[str, str]:
    script = tmp_path / f"{name.replace(' ', '_').replace(',', '')}.py"
    script.write_text(_HEADER + textwrap.dedent(PROGRAMS[name]) + _FOOTER, encoding="utf-8")
    env.setdefault("FUNCTRACE_OUTPUT", "none")
    proc = run_python([str(script)], env={"FUNCTRACE_SPEEDUPS": speedups, **env})
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    out, _, used = proc.stdout.rpartition("journals ")
    return out, used.strip()


_FOOTER = """
print("journals", journals())
"""


@needs_speedups
@pytest.mark.parametrize("output", ["none", "file"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_trees_with_and_without_speedups(tmp_path: Path, name: str, output: str) -> None:
    env = {} if output == "none" else {"FUNCTRACE_OUTPUT": str(tmp_path / "trace-{pid}.log")}
    compiled, journals = _run(tmp_path, name, "1", **env)
    pure, none = _run(tmp_path, name, "0", **env)
    assert compiled == pure
    if name != "speedups and output switched mid-recording":  # it turns them on
        assert none == "0"
    if name not in ("limits",):  # a limit is the Python path's: no journal
        assert int(journals) > 0, "the compiled path journaled nothing"
    if output == "file":
        logs = sorted(tmp_path.glob("trace-*.log"))
        assert len(logs) == 2
        texts = [_masked(p.read_text(encoding="utf-8")) for p in logs]
        if name == "at the recursion limit":
            # How deep each path gets differs by a few frames; above, the same lines
            # (before 3.12 the compiled path lost an end there: the engine's first
            # builtin calls count against the limit).
            texts = ["".join(_shallow(t)) for t in texts]
            assert " lost" not in texts[0] and texts[0].count("!RecursionError") == 3
        assert texts[0] == texts[1]  # and the lines written meanwhile are the same


def _shallow(text: str) -> list[str]:
    return [line for line in text.splitlines(True) if not line.startswith("t[01]:" + " " * 12)]


def _masked(text: str) -> str:
    import re

    from tests.runtime.test_speedups import _DURATION, _IDS

    text = re.sub(r"\(parent [0-9]+\)|native id [0-9]+", "", text)
    return _IDS.sub("<id>", _DURATION.sub("<dur>", text))


# ---------------------------------------------------------------- in this process


@functrace.trace
def _leaf(i: int) -> int:
    return i


@functrace.trace
def _mid(i: int) -> int:
    return _leaf(i) + _leaf(i + 1)


@functrace.trace
def _top(n: int) -> int:
    return sum(_mid(i) for i in range(n))


def _compiled() -> bool:
    return engine.native_module() is not None


@needs_speedups
def test_nested_calls_of_a_recording_take_the_compiled_way(monkeypatch: pytest.MonkeyPatch) -> None:
    handed_on: list[object] = []
    enter, leave = engine.enter, engine.leave

    def counting_enter(*args: object) -> object:
        handed_on.append(args)
        return enter(*args)  # type: ignore[arg-type]

    def counting_leave(*args: object) -> object:
        handed_on.append(args)
        return leave(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "enter", counting_enter)
    monkeypatch.setattr(engine, "leave", counting_leave)
    with functrace.record() as rec:
        _top(50)
    assert rec.count == 1 + 50 * 3 and len(rec.roots) == 1
    if _compiled():
        assert len(handed_on) == 2, handed_on  # the outermost call's start and end only


@needs_speedups
def test_the_tree_is_made_when_read_not_before() -> None:
    if not _compiled():
        pytest.skip("pure-Python run")
    with functrace.record() as rec:
        _top(20)
        session = rec._pending
        assert sum(len(j) for j in session.journals) == 20 * 3  # journaled, not made yet
    assert sum(len(j) for j in session.journals) == 20 * 3  # ended: still not made
    assert [c.name.rsplit(".", 1)[1] for c in rec.roots[0].children[:2]] == ["_mid", "_mid"]
    assert sum(len(j) for j in session.journals) == 0 and rec._pending is None
    assert rec.count == 61 and len(rec.calls()) == 61


def test_a_recording_nobody_reads_leaves_nothing_behind() -> None:
    with functrace.record() as rec:
        _top(10)
    session = rec._pending
    journals = [weakref.ref(j) for j in session.journals] if session is not None else []
    assert len(journals) == (1 if _compiled() else 0)
    del rec, session
    assert all(j() is None for j in journals)  # gone with it (no cycle: no collection needed)
    with functrace.record() as again:
        _top(1)
    assert again.count == 4


@needs_speedups
def test_a_call_read_while_it_runs_gets_its_end_and_children_later() -> None:
    @functrace.trace
    def middle(holder: list[functrace.Recording]) -> None:
        _mid(1)
        call = holder[0].roots[0]  # read while it runs: made now
        assert call.end_ns is None and call.children[0].end_ns is not None
        _leaf(2)

    @functrace.trace
    def top() -> None:
        with functrace.record() as rec:
            middle([rec])
        _leaf(0)
        holder.append(rec)

    holder: list[functrace.Recording] = []
    top()
    (rec,) = holder
    (call,) = rec.roots
    assert call.end_ns is not None and call.end_ns <= rec.end_ns  # type: ignore[operator]
    assert [c.name.rsplit(".", 1)[1] for c in call.children] == ["_mid", "_leaf"]
    assert call.children[1].parent is call and rec.count == 5


@needs_speedups
def test_lines_and_a_recording_at_once(trace_lines) -> None:  # type: ignore[no-untyped-def]
    with functrace.record() as rec:
        _top(3)
    lines = trace_lines()
    assert len(rec.calls()) == 10 and len(events(lines)) == 20


@needs_speedups
def test_threads_each_journal_their_own_calls() -> None:
    import threading

    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        _top(30)

    with functrace.record() as rec:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    session = rec._pending
    assert len(rec.roots) == 4 and len({r.tag for r in rec.roots}) == 4
    assert all(len(list(r.walk())) == 1 + 30 * 3 for r in rec.roots)
    if _compiled():
        assert len(session.journals) == 4  # one per thread


def test_a_recording_read_while_threads_record_stays_whole() -> None:
    # Reading makes the journals into Calls while their threads go on journaling
    # (without the GIL: at the same time).
    import threading

    go = threading.Event()

    def work() -> None:
        go.wait()
        for _ in range(300):
            _top(20)

    reads = 0
    with functrace.record() as rec:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        go.set()
        while any(t.is_alive() for t in threads):
            reads += 1
            roots = list(rec.roots)  # as they are now: one running per thread at most
            assert sum(r.end_ns is None for r in roots) <= 4
        for t in threads:
            t.join()
    assert len(rec.roots) == 4 * 300 and reads > 1
    for root in rec.roots:
        calls = list(root.walk())
        assert len(calls) == 1 + 20 * 3 and all(c.end_ns is not None for c in calls)
        assert all(c.parent is root for c in root.children)
    assert rec.count == 4 * 300 * 61
