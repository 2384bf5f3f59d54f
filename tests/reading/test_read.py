"""Trace files (text and jsonl) parse into the runtime's Call trees."""

from __future__ import annotations

import json
from pathlib import Path

from functrace.reading import Trace, read_trace, read_trace_text
from tests.helpers import ROOT, run_python

TEXT = """\
t[01]:    ->app.main
t[01]:        ->app.load
t[01]:        <-app.load 1.00ms
some output of the program itself
t[01]:        ->app.gen
t[01]:        <-app.gen 2.00µs yield
t[01]:        ->app.gen resume
t[01]:        <-app.gen 3.00µs !ValueError
t[01]:    <-app.main 2.00ms
t[01]a[02]:    ->app.task
t[01]a[02]:    <-app.task 10.0µs await
"""


def shape(trace: Trace) -> list[str]:
    out = []
    for call in trace.walk():
        depth = 0
        node = call.parent
        while node is not None:
            depth, node = depth + 1, node.parent
        out.append(
            f"{call.tag} {'  ' * depth}{call.name} {call.duration_ns} "
            f"{call.exception} {call.suspended} {call.resumed}"
        )
    return out


def test_text_into_call_trees() -> None:
    trace = read_trace_text(TEXT, end_epoch_ns=10**18)
    assert shape(trace) == [
        "t[01] app.main 2000000 None None False",
        "t[01]   app.load 1000000 None None False",
        "t[01]   app.gen 2000 None yield False",
        "t[01]   app.gen 3000 ValueError None True",
        "t[01]a[02] app.task 10000 None await False",
    ]
    assert trace.source == "text" and not trace.exact
    assert trace.skipped_lines == 1
    assert list(trace.tags()) == ["t[01]", "t[01]a[02]"]


def test_text_timeline_nests_and_keeps_durations() -> None:
    trace = read_trace_text(TEXT, end_epoch_ns=10**18)
    main, load, gen1, gen2, task = trace.walk()
    assert (main.start_ns, main.end_ns) == (0, 2_000_000)
    assert (load.start_ns, load.end_ns) == (0, 1_000_000)
    assert (gen1.start_ns, gen2.start_ns) == (1_000_000, 1_002_000)  # one after the other
    assert task.start_ns == 2_000_000  # after everything written before it
    assert trace.epoch_offset_ns + trace.end_ns == 10**18


def test_rounded_children_are_pulled_inside_their_parent() -> None:
    text = "t[01]:    ->a\nt[01]:        ->b\nt[01]:        <-b 1.01ms\nt[01]:    <-a 1.00ms\n"
    a, b = read_trace_text(text).walk()
    assert a.start_ns <= b.start_ns and b.end_ns is not None and a.end_ns is not None
    assert b.end_ns <= a.end_ns


def test_cut_off_trace_leaves_open_calls() -> None:
    cut = "\n".join(TEXT.splitlines()[:5]) + "\nt[01]:        <-app.g"  # torn last line
    trace = read_trace_text(cut)
    assert [c.name for c in trace.open_calls()] == ["app.main", "app.gen"]
    assert trace.skipped_lines == 2


def test_exit_without_enter_and_skipped_exits() -> None:
    text = (
        "t[01]:        <-app.inner 1.00µs\n"  # the file starts mid-call
        "t[01]:    <-app.outer 5.00µs\n"
        "t[01]:    ->app.a\n"
        "t[01]:        ->app.b\n"  # its exit never came
        "t[01]:    <-app.a 9.00µs\n"
    )
    trace = read_trace_text(text)
    assert shape(trace) == [
        "t[01] app.inner 1000 None None False",
        "t[01] app.outer 5000 None None False",
        "t[01] app.a 9000 None None False",
        "t[01]   app.b None None None False",
    ]


def jsonl_event(ev: str, depth: int, name: str, ts: int, **extra: object) -> str:
    event = {
        "v": 1,
        "ts": ts,
        "pid": 7,
        "tid": 70,
        "thread": "worker",
        "task": None,
        "tag": "t[01]",
        "depth": depth,
        "ev": ev,
        "name": name,
        "file": "app.py",
        "line": 3,
        **extra,
    }
    return json.dumps(event)


def test_jsonl_exact_times() -> None:
    lines = [
        jsonl_event("enter", 1, "app.a", 1000),
        jsonl_event("enter", 2, "app.b", 1100),
        jsonl_event("exit", 2, "app.b", 1600, dur=500, exc="KeyError", suspended=None),
        jsonl_event("exit", 1, "app.a", 2000, dur=1000, exc=None, suspended=None),
        '{"v":1,"ts":',  # torn
    ]
    trace = read_trace_text("\n".join(lines))
    a, b = trace.walk()
    assert (a.start_ns, a.end_ns, b.start_ns, b.end_ns) == (1000, 2000, 1100, 1600)
    assert b.exception == "KeyError" and b.parent is a and (b.file, b.line) == ("app.py", 3)
    assert trace.exact and trace.epoch_offset_ns == 0 and trace.skipped_lines == 1
    assert trace.thread_names == {"t[01]": "worker"} and trace.thread_ids == {"t[01]": (7, 70)}


def test_real_program_text_and_jsonl_agree(tmp_path: Path) -> None:
    trees = []
    for fmt in ("text", "jsonl"):
        out = tmp_path / f"trace.{fmt}"
        result = run_python(
            [str(ROOT / "examples" / "tasks.py")],
            env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": fmt},
        )
        assert result.returncode == 0, result.stderr
        trace = read_trace(out)
        assert trace.source == fmt and not trace.open_calls()
        trees.append(
            [
                (c.tag, c.name, c.exception, c.suspended, c.resumed, len(c.children))
                for c in trace.walk()
            ]
        )
    assert trees[0] == trees[1]
    assert len(trees[0]) == 12
