"""The compiled fast path (``_speedups``) writes exactly what the pure-Python path writes.

Each program runs twice as a subprocess, with ``FUNCTRACE_SPEEDUPS`` on and off,
in text and in jsonl, with and without a depth limit, and the two traces must be
equal byte for byte once times, durations and process ids are masked.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from functrace._runtime import engine
from functrace._runtime.lines import format_duration
from tests.helpers import run_python

try:
    from functrace._runtime import _speedups
except ImportError:
    _speedups = None  # type: ignore[assignment]

needs_speedups = pytest.mark.skipif(_speedups is None, reason="_speedups is not built")
_FREE_THREADED_BUILD = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

_DURATION = re.compile(r"(?<= )[0-9]+(?:\.[0-9]+)?(?:ns|µs|\\xb5s|ms|s)(?= |$)", re.MULTILINE)
#: What differs from run to run in the comment lines naming the process and threads.
_IDS = re.compile(r"(?<=^# process )[0-9]+|(?<=\(native id )[0-9]+(?=\)$)", re.MULTILINE)
#: The same in jsonl: times, durations and ids.
_JSON_NUMBERS = re.compile(r'("(?:ts|dur|pid|tid|ppid|native_id)":)[0-9]+')

# Programs that exercise each way a call can start and end.
PROGRAMS = {
    "threads": """
        import threading
        @trace
        def leaf(i): return i
        @trace
        def mid(i): return leaf(i) + leaf(i + 1)
        @trace
        def top(i): return mid(i) + mid(i)
        for n in range(3):  # one after the other: thread numbers are deterministic
            t = threading.Thread(target=top, args=(n,))
            t.start(); t.join()
        top(9)
    """,
    "generators": """
        @trace
        def leaf(x): return x * 2
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
        def outer(): return drive()
        outer()
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
        async def handle(i):
            leaf(i)
            return await fetch(i)
        @trace
        async def main():
            return await asyncio.gather(handle(1), handle(2))
        asyncio.run(main())
    """,
    "exceptions": """
        @trace
        def fails(n):
            if n == 0: raise ValueError(n)
            return fails(n - 1)
        @trace
        def catches(n):
            try: return fails(n)
            except ValueError: return leaf()
        @trace
        def leaf(): return 1
        @trace
        def top():
            catches(3)
            try: fails(2)
            except ValueError: pass
            return catches(0)
        top()
        try: top2 = fails(1)
        except ValueError: pass
        class Fehlerß(Exception): pass  # its name in UTF-8, or \u00df in jsonl
        class Meta(type): pass
        class Odd(Exception, metaclass=Meta): pass  # a metaclass: the engine's
        @trace
        def raises(kind): raise kind()
        @trace
        def outer():
            for kind in (Fehlerß, Odd, KeyError):
                try: raises(kind)
                except Exception: pass
        outer()
    """,
    "deep recursion": """
        @trace
        def down(n): return n if n == 0 else down(n - 1)
        @trace
        def top(): return down(300)
        top()
    """,
    "switches mid-run": """
        import functrace
        @trace
        def leaf(): return 1
        @trace
        def mid(action):
            action()
            return leaf()
        @trace
        def top(action): return mid(action) + leaf()
        def rec():
            with functrace.record() as r:
                leaf()
            assert r.roots
        top(rec)
        top(lambda: (functrace.disable(), leaf(), functrace.enable()))
        top(lambda: functrace.configure(max_depth=2))
        top(lambda: functrace.configure(max_depth=0))
        top(lambda: functrace.configure(min_duration_ns=10**12))
        top(lambda: functrace.configure(min_duration_ns=0))
        top(lambda: None)
        with functrace.record():
            top(lambda: None)
    """,
    "depth limit changes mid-run": """
        import functrace
        @trace
        def leaf(n): return n if n < 1 else leaf(n - 1)
        @trace
        def mid(action):
            action()
            return leaf(2)
        @trace
        def gen(n):
            for i in range(n):
                yield leaf(i)
        @trace
        def top(action): return mid(action) + sum(gen(3))
        functrace.configure(max_depth=1)
        # mid's enter line is held back; its child, under no limit now, writes it first
        top(lambda: functrace.configure(max_depth=0))
        top(lambda: functrace.configure(max_depth=3))
        top(lambda: functrace.configure(max_depth=2))
        top(lambda: None)
    """,
    "unicode names": """
        @trace
        def grüße(n): return n
        @trace
        def 外側(): return grüße(1) + grüße(2)
        外側()
    """,
}

_HEADER = """
import sys
if sys.argv[1] == "wrapper" and sys.version_info >= (3, 12):
    for tool in (3, 4):  # no free sys.monitoring id: the wrapper backend
        sys.monitoring.use_tool_id(tool, "other")
from functrace import trace
"""


#: The lines compared: each format, with and without a depth limit.
LINES = {
    "text": {},
    "jsonl": {"FUNCTRACE_FORMAT": "jsonl"},
    "text, max depth 3": {"FUNCTRACE_MAX_DEPTH": "3"},
    "jsonl, max depth 3": {"FUNCTRACE_FORMAT": "jsonl", "FUNCTRACE_MAX_DEPTH": "3"},
}


def _trace_of(tmp_path: Path, name: str, backend: str, speedups: str, **env: str) -> str:
    script = tmp_path / f"{name.replace(' ', '_')}.py"
    script.write_text(_HEADER + textwrap.dedent(PROGRAMS[name]), encoding="utf-8")
    out = tmp_path / f"{name.replace(' ', '_')}-{backend}-{speedups}.log"
    env.setdefault("FUNCTRACE_OUTPUT", str(out))
    proc = run_python([str(script), backend], env={"FUNCTRACE_SPEEDUPS": speedups, **env})
    assert proc.returncode == 0, proc.stderr
    if env["FUNCTRACE_OUTPUT"] == "stderr":
        text = proc.stderr
    else:
        assert "internal error" not in proc.stderr, proc.stderr
        text = out.read_text(encoding="utf-8")
    assert text.count("\n") >= 4
    if env.get("FUNCTRACE_FORMAT") == "jsonl":
        return _JSON_NUMBERS.sub(r"\1<n>", text)
    return _IDS.sub("<id>", _DURATION.sub("<dur>", text))


@needs_speedups
@pytest.mark.parametrize("lines", sorted(LINES))
@pytest.mark.parametrize("backend", ["monitoring", "wrapper"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_lines_with_and_without_speedups(
    tmp_path: Path, name: str, backend: str, lines: str
) -> None:
    compiled = _trace_of(tmp_path, name, backend, "1", **LINES[lines])
    pure = _trace_of(tmp_path, name, backend, "0", **LINES[lines])
    assert compiled == pure


@needs_speedups
def test_same_bytes_on_a_stream_that_cannot_encode_micro(tmp_path: Path) -> None:
    # stderr in ASCII: "µs" becomes "\xb5s" on both paths.
    env = {"FUNCTRACE_OUTPUT": "stderr", "PYTHONIOENCODING": "ascii"}
    compiled = _trace_of(tmp_path, "unicode names", "monitoring", "1", **env)
    pure = _trace_of(tmp_path, "unicode names", "monitoring", "0", **env)
    assert compiled == pure
    assert "\\u5916\\u5074" in compiled


_REDIRECTED = """
import contextlib, io, sys, functrace
@functrace.trace
def grüße(n): return n
@functrace.trace
def outer(): return grüße(1) + grüße(2)
captured = io.StringIO()
with contextlib.redirect_stderr(captured):
    outer()
    functrace.flush()
sys.stdout.write(captured.getvalue())
"""


@needs_speedups
def test_same_text_on_a_redirected_stream() -> None:
    # A stream that is not the real stderr (pytest's capture) gets text: the
    # compiled path's chunks and the pure path's lines, both UTF-8, decoded.
    texts = []
    for speedups in ("1", "0"):
        proc = run_python(
            ["-c", _REDIRECTED], env={"FUNCTRACE_OUTPUT": "stderr", "FUNCTRACE_SPEEDUPS": speedups}
        )
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        lines = [line for line in proc.stdout.splitlines() if not line.startswith("# ")]
        texts.append(_DURATION.sub("<dur>", "\n".join(lines)))
    assert texts[0] == texts[1]
    assert [line.split(":", 1)[1].strip() for line in texts[1].splitlines()] == [
        "->__main__.outer",
        "->__main__.grüße",
        "<-__main__.grüße <dur>",
        "->__main__.grüße",
        "<-__main__.grüße <dur>",
        "<-__main__.outer <dur>",
    ]


_WHICH_PATH = """
import functrace
from functrace._runtime import engine
@functrace.trace
def f(): return 1
f()
enter, leave = engine.current
print(type(enter).__name__, enter.__module__, enter.__name__)
"""


@needs_speedups
def test_the_compiled_path_is_used_when_built() -> None:
    proc = run_python(
        ["-c", _WHICH_PATH], env={"FUNCTRACE_SPEEDUPS": "1", "FUNCTRACE_OUTPUT": os.devnull}
    )
    assert proc.stdout.split() == [
        "builtin_function_or_method",
        "functrace._runtime._speedups",
        "enter",
    ]
    # In this process too, unless the test run itself asks for pure Python.
    import functrace

    functrace.trace(lambda: None)  # the backend starts with the first traced function
    if functrace.configure().speedups:
        functrace.configure(output=os.devnull)
        assert engine.current == (_speedups.enter, _speedups.leave)
    else:
        functrace.configure(output=os.devnull)
        assert engine.current == (engine.enter, engine.leave)


@pytest.mark.parametrize("value", ["0", "off", "false", "no"])
def test_functrace_speedups_off_selects_the_pure_python_path(value: str) -> None:
    proc = run_python(
        ["-c", _WHICH_PATH], env={"FUNCTRACE_SPEEDUPS": value, "FUNCTRACE_OUTPUT": os.devnull}
    )
    assert proc.stdout.split() == ["function", "functrace._runtime.engine", "enter"]


def test_a_bad_functrace_speedups_value_warns_and_keeps_the_default() -> None:
    proc = run_python(
        ["-c", _WHICH_PATH], env={"FUNCTRACE_SPEEDUPS": "maybe", "FUNCTRACE_OUTPUT": os.devnull}
    )
    assert "ignoring FUNCTRACE_SPEEDUPS='maybe'" in proc.stderr
    assert proc.stdout.split()[-1] == "enter"  # the default (on): engine's or the C one


@needs_speedups
def test_compiled_duration_text_is_byte_identical() -> None:
    values = {0, 1, 999, 1_000, 9_999, 10_000, 99_999, 100_000, 999_999}
    for power in range(3, 13):
        base = 10**power
        values.update({base - 1, base, base + 1, 2 * base + 345, 10 * base - 7})
    values.update(range(0, 200_000, 7))
    for ns in sorted(values):
        assert _speedups.format_duration(ns) == format_duration(ns), ns


@needs_speedups
def test_an_internal_error_in_the_compiled_path_turns_tracing_off_once() -> None:
    program = """
import warnings, functrace
from functrace._runtime import engine
@functrace.trace
def leaf(): return 1
@functrace.trace
def top(): return leaf()
top()
info = next(i for i in engine.infos.values() if i.name.endswith("leaf"))
info.exit_text = None  # a bug of ours: a line text that is not a str
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert top() == 1  # the program never sees the error
message = str(caught[0].message)
# The place: raised in C, so the program's call being traced, innermost last.
place = [line for line in message.splitlines() if line.lstrip().startswith("File ")][-1]
print(len(caught), "internal error" in message, "compiled path" in message)
print(place.endswith("in leaf"))
"""
    proc = run_python(
        ["-c", program], env={"FUNCTRACE_SPEEDUPS": "1", "FUNCTRACE_OUTPUT": os.devnull}
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True", "True", "True"], proc.stdout


def test_at_the_recursion_limit_the_program_runs_as_untraced() -> None:
    program = """
import sys, functrace
@functrace.trace
def down(n): return 0 if n == 0 else 1 + down(n - 1)
def untraced(n): return 0 if n == 0 else 1 + untraced(n - 1)
def deepest(f):
    n = 10
    while True:
        try: f(n)
        except RecursionError: return n
        n += 10
print(deepest(down) > 0, deepest(untraced) > 0)
"""
    for speedups in ("1", "0"):
        proc = run_python(
            ["-c", program], env={"FUNCTRACE_SPEEDUPS": speedups, "FUNCTRACE_OUTPUT": os.devnull}
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["True", "True"]
        assert "internal error" not in proc.stderr


def test_speedups_setting_is_parsed_once_into_settings() -> None:
    from functrace._runtime.config import settings_from_env

    assert settings_from_env({}).speedups is True
    assert settings_from_env({"FUNCTRACE_SPEEDUPS": "0"}).speedups is False
    assert sys.modules["functrace._runtime.engine"] is engine


@needs_speedups
def test_a_plain_generators_yields_take_the_compiled_way(trace_lines, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A lexer's yields are as common as its returns: they must not go through the
    # engine's Python path one by one.
    import functrace

    @functrace.trace
    def items(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    @functrace.trace
    def consume() -> int:
        return sum(items(500))

    handed_on = []
    leave = engine.leave

    def counting(*args):  # type: ignore[no-untyped-def]
        handed_on.append(args[0])
        return leave(*args)

    monkeypatch.setattr(engine, "leave", counting)
    assert consume() == sum(range(500))
    lines = trace_lines()
    assert sum(line.endswith(" yield") for line in lines) == 500
    if functrace.configure().speedups:
        assert len(handed_on) <= 2, handed_on  # the outermost call's end, at most


def _traced_workload():  # type: ignore[no-untyped-def]
    """consume() -> items() (a plain generator) -> leaf(), every fifth leaf raising."""
    import functrace

    @functrace.trace
    def leaf(i: int) -> int:
        if i % 5 == 0:
            raise KeyError(i)
        return i

    @functrace.trace
    def items(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            try:
                yield leaf(i)
            except KeyError:
                pass

    @functrace.trace
    def consume() -> int:
        return sum(items(50))

    return consume


def _count_hand_ons(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which events the compiled module hands on to engine.enter / leave, in order."""
    handed_on: list[str] = []
    enter, leave = engine.enter, engine.leave

    def counting_enter(*args):  # type: ignore[no-untyped-def]
        handed_on.append("enter")
        return enter(*args)

    def counting_leave(*args):  # type: ignore[no-untyped-def]
        handed_on.append("leave")
        return leave(*args)

    monkeypatch.setattr(engine, "enter", counting_enter)
    monkeypatch.setattr(engine, "leave", counting_leave)
    return handed_on


@needs_speedups
@pytest.mark.parametrize(
    "settings",
    [{}, {"format": "jsonl"}, {"max_depth": 2}, {"format": "jsonl", "max_depth": 2}],
    ids=["text", "jsonl", "text, max depth 2", "jsonl, max depth 2"],
)
def test_nested_calls_yields_and_raises_take_the_compiled_way(  # type: ignore[no-untyped-def]
    trace_lines, monkeypatch, settings
) -> None:
    # Only the outermost call's enter goes to the engine's Python path (the
    # thread's first line in this output: the engine names it); its end does not
    # (a free-threaded build leaves both to the engine).
    import functrace

    consume = _traced_workload()
    functrace.configure(**settings)
    handed_on = _count_hand_ons(monkeypatch)
    assert consume() == sum(i for i in range(50) if i % 5)
    jsonl = settings.get("format") == "jsonl"
    events = [
        line
        for line in trace_lines()
        if ('"depth":' in line if jsonl else "->" in line or "<-" in line)
    ]
    # consume: 2 lines; items: 41 runs (40 yields, then its return), 82 lines;
    # leaf: 50 calls, 100 lines (10 of them raise), none past depth 2.
    deep = "max_depth" in settings
    assert len(events) == (84 if deep else 184)
    raised = [
        line
        for line in events
        if ('"exc":"KeyError"' in line if jsonl else line.endswith(" !KeyError"))
    ]
    assert len(raised) == (0 if deep else 10)
    if functrace.configure().speedups:
        assert handed_on == (["enter", "leave"] if _FREE_THREADED_BUILD else ["enter"])


@needs_speedups
@pytest.mark.skipif(
    _FREE_THREADED_BUILD, reason="a free-threaded build leaves outermost calls to the engine"
)
def test_outermost_calls_take_the_compiled_way_unless_the_engine_has_work_there(  # type: ignore[no-untyped-def]
    trace_lines, monkeypatch
) -> None:
    # A thread's outermost calls are written in C like nested ones, except where
    # the engine has something to do: the first line in an output (naming), a
    # renamed thread, an asyncio task's call, a recording.
    import asyncio
    import threading

    import functrace

    @functrace.trace
    def inner() -> int:
        return 1

    @functrace.trace
    def outer() -> int:
        return inner()

    functrace.configure()
    handed_on = _count_hand_ons(monkeypatch)
    if not functrace.configure().speedups:
        pytest.skip("the compiled path is switched off")
    for _ in range(3):
        outer()
    assert handed_on == ["enter"]  # the first: the thread is named in this output
    thread = threading.current_thread()
    old_name = thread.name
    thread.name = "renamed-now"
    try:
        outer()
        outer()
    finally:
        thread.name = old_name
    assert handed_on == ["enter", "enter"]  # named again, once

    async def main() -> int:
        return outer() + outer()

    handed_on.clear()
    assert asyncio.run(main()) == 2
    assert handed_on.count("enter") == 2 and handed_on.count("leave") == 2
    handed_on.clear()
    with functrace.record() as rec:
        outer()
    assert handed_on == ["enter", "leave"]  # the engine's Call, and its end
    assert [c.name for c in rec.roots] == [f"{outer.__module__}.{outer.__qualname__}"]
    # Every call's two lines, at its depth, whichever way it took.
    shapes = [re.sub(r"(<-\S+) \S+$", r"\1", line.split(":", 1)[1]) for line in trace_lines()]
    outer_name = f"{outer.__module__}.{outer.__qualname__}"
    inner_name = f"{inner.__module__}.{inner.__qualname__}"
    one = [f"    ->{outer_name}", f"        ->{inner_name}"]
    one += [f"        <-{inner_name}", f"    <-{outer_name}"]
    assert shapes == one * (3 + 2 + 2 + 1)


@needs_speedups
def test_the_compiled_clock_is_perf_counter_ns_clock() -> None:
    # Where the compiled path reads the TSC itself ("tsc": x86-64 Linux, the
    # kernel's clock source the TSC), it is scaled to perf_counter_ns's clock:
    # each read falls between two of perf_counter_ns around it, within the
    # uncertainty of an anchor, and never goes back; over 0.3 s, several anchors.
    import time

    assert _speedups is not None
    assert _speedups.CLOCK in ("tsc", "perf_counter")
    worst_before = worst_after = 0
    last = _speedups.clock()
    end = time.perf_counter_ns() + 300_000_000
    while (before := time.perf_counter_ns()) < end:
        now = _speedups.clock()
        after = time.perf_counter_ns()
        assert now >= last
        last = now
        worst_before = max(worst_before, before - now)
        worst_after = max(worst_after, now - after)
    assert worst_before < 1_000 and worst_after < 1_000, (worst_before, worst_after)


def test_jsonl_times_are_the_clock_plus_one_epoch_offset(trace_lines) -> None:  # type: ignore[no-untyped-def]
    import json
    import time

    import functrace
    from functrace._runtime import sink

    consume = _traced_workload()
    functrace.configure(format="jsonl")
    before = time.perf_counter_ns()
    consume()
    after = time.perf_counter_ns()
    events = [json.loads(line) for line in trace_lines() if '"depth":' in line]
    assert len(events) == 184
    offset = sink.epoch_offset_ns
    starts: list[int] = []
    for event in events:
        assert offset + before <= event["ts"] <= offset + after
        if event["ev"] in ("enter", "resume"):
            starts.append(event["ts"])
            assert event["depth"] == len(starts)
        else:
            assert event["depth"] == len(starts)
            assert event["ts"] - event["dur"] == starts.pop()
    assert starts == []


@needs_speedups
def test_entries_a_program_keeps_stay_whole_after_their_calls_end(trace_lines) -> None:  # type: ignore[no-untyped-def]
    # The compiled path reuses the Entry of a call that ended when nothing else
    # holds it: one that Python code still holds (a snapshot of the stack, taken
    # here while the calls run) must keep its slots, and a kept spare must never
    # show up half empty to the garbage collector's walk.
    import gc
    import time

    import functrace
    from functrace._runtime import state

    kept: list[list[state.Entry]] = []
    keeping = True
    if not functrace.configure().speedups:
        pytest.skip("the Python path reuses every popped entry (Context.spare)")

    @functrace.trace
    def leaf(i: int) -> int:
        if keeping:
            kept.append(list(state.tls.cur.stack))
        return i

    @functrace.trace
    def mid(i: int) -> int:
        return leaf(i) + leaf(i + 1)

    @functrace.trace
    def top() -> int:
        return sum(mid(i) for i in range(20))

    assert top() == sum(2 * i + 1 for i in range(20))
    keeping = False
    for _ in range(50):
        mid(0)  # calls whose entries nobody keeps: spares, then reused
    seen = set()
    now = time.perf_counter_ns()
    for snapshot in kept:
        assert [entry.info.name.rsplit(".", 1)[-1] for entry in snapshot] == ["top", "mid", "leaf"]
        starts = [entry.start for entry in snapshot]  # ints, wherever they are kept
        assert all(type(t) is int for t in starts) and starts == sorted(starts) and starts[-1] < now
        for entry in snapshot:
            assert entry.written is True and entry.node is None
            seen.add(id(entry))
    entry = kept[0][-1]
    entry.start = 12345  # the engine sets a reused entry's start
    assert entry.start == 12345
    assert len(seen) == 1 + 20 + 40  # each call its own entry, none reused while held
    for obj in gc.get_objects():
        if isinstance(obj, state.Entry):
            assert isinstance(obj.start, int)  # every slot set: raises if one is empty
    assert len([line for line in trace_lines() if "<-" in line]) == 1 + 20 + 40 + 50 * 3
