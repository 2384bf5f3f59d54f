"""Issue 10: comment lines (text) and events (jsonl) name the process, and each
thread and asyncio task the first time its tag appears in an output."""

from __future__ import annotations

import json
import shlex
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from functrace._runtime.lines import LINE_RE, NAME_RE, PROCESS_RE
from tests.helpers import balanced, events, named_lines, run_python

TWO_THREADS_TWO_TASKS = textwrap.dedent(
    """
    import asyncio, threading, functrace

    @functrace.trace
    def leaf(i):
        return i

    @functrace.trace
    def work(i):
        return leaf(i)

    @functrace.trace
    async def fetch(i):
        await asyncio.sleep(0)
        return leaf(i)

    async def main():
        users = asyncio.create_task(fetch(1), name="fetch-users")
        orders = asyncio.create_task(fetch(2), name="fetch-orders")
        return await asyncio.gather(users, orders)

    for i in (1, 2):  # one after the other: the thread numbers are known
        t = threading.Thread(target=work, args=(i,), name=f"worker-{i}")
        t.start(); t.join()
    asyncio.run(main())
    """
)

EXPECTED = {
    "t[01]": "worker-1",
    "t[02]": "worker-2",
    "t[03]": "MainThread",
    "t[03]a[01]": "fetch-users",
    "t[03]a[02]": "fetch-orders",
}


def _run(tmp_path: Path, program: str, fmt: str = "text", *args: str) -> list[str]:
    out = tmp_path / f"trace.{fmt}"
    proc = run_python(
        ["-c", program, *args], env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": fmt}
    )
    assert proc.returncode == 0, proc.stderr
    return out.read_text(encoding="utf-8").splitlines()


def test_text_names_each_thread_and_task_once_before_its_first_line(tmp_path: Path) -> None:
    lines = _run(tmp_path, TWO_THREADS_TWO_TASKS)
    assert named_lines(lines) == EXPECTED  # a process line first; each tag named once, first
    kinds = {m["tag"]: (m["kind"], m["native"]) for m in map(NAME_RE.match, lines) if m}
    assert {tag for tag, (kind, _) in kinds.items() if kind == "task"} == {
        "t[03]a[01]",
        "t[03]a[02]",
    }
    # Threads with their native id, tasks without; every thread its own.
    natives = [native for kind, native in kinds.values() if kind == "thread"]
    assert all(natives) and len(set(natives)) == 3
    assert all(native is None for kind, native in kinds.values() if kind == "task")
    # A task's thread is named before the task.
    first = {m["tag"]: i for i, m in enumerate(map(NAME_RE.match, lines)) if m}
    assert first["t[03]"] < first["t[03]a[01]"]
    process = PROCESS_RE.match(lines[0])
    # The command line as a shell would take it back (shlex.join).
    assert process is not None and json.loads(process["command"]).endswith(
        " -c " + shlex.quote("".join(TWO_THREADS_TWO_TASKS))
    )
    assert len(events(lines)) == 2 * 4 + 2 * 6  # per task: 2 runs of fetch, a leaf


def test_jsonl_names_each_thread_and_task_once_before_its_first_event(tmp_path: Path) -> None:
    lines = _run(tmp_path, TWO_THREADS_TWO_TASKS, "jsonl")
    parsed: list[dict[str, Any]] = [json.loads(line) for line in lines]
    process = parsed[0]
    assert process["ev"] == "process" and process["argv"][-2:] == ["-c", TWO_THREADS_TWO_TASKS]
    assert process["ppid"] > 0 and sum(e["ev"] == "process" for e in parsed) == 1
    names: dict[str, dict[str, Any]] = {}
    for event in parsed[1:]:
        assert event["pid"] == process["pid"]
        if event["ev"] in ("thread", "task"):
            assert event["tag"] not in names, event
            names[event["tag"]] = event
            continue
        assert event["tag"] in names, f"{event['tag']} not named before {event}"
        named = names[event["tag"].split("a[")[0]]  # the thread
        assert event["tid"] == named["native_id"] and event["thread"] == named["name"]
    assert {tag: e["name"] for tag, e in names.items()} == EXPECTED
    assert {tag for tag, e in names.items() if e["ev"] == "task"} == {"t[03]a[01]", "t[03]a[02]"}
    assert all(("native_id" in e) == (e["ev"] == "thread") for e in names.values())


RENAMED = textwrap.dedent(
    """
    import asyncio, threading, functrace

    @functrace.trace
    def f():
        return 1

    @functrace.trace
    async def job():
        f()
        asyncio.current_task().set_name("job-renamed")
        await asyncio.sleep(0)
        f()

    f()
    threading.current_thread().name = "renamed"
    f()
    f()

    async def main():
        await asyncio.create_task(job(), name="job")

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_a_renamed_thread_or_task_is_named_again(tmp_path: Path, fmt: str) -> None:
    lines = _run(tmp_path, RENAMED, fmt)
    if fmt == "text":
        naming = [(m["tag"], json.loads(m["name"])) for m in map(NAME_RE.match, lines) if m]
        calls = [line for line in events(lines) if "->" in line and "resume" not in line]
        named = [(i, m) for i, m in enumerate(map(NAME_RE.match, lines)) if m]
        (i, m), (second, again) = named[:2]
        assert (i, m["name"], again["name"]) == (1, '"MainThread"', '"renamed"')
        assert again["native"] == m["native"]  # the same thread
        # Named again before the first line after the rename, not before.
        assert LINE_RE.match(lines[second - 1])["arrow"] == "<-"  # type: ignore[index]
        assert lines[second + 1] == "t[01]:    ->__main__.f"
    else:
        parsed = [json.loads(line) for line in lines]
        naming = [(e["tag"], e["name"]) for e in parsed if e["ev"] in ("thread", "task")]
        calls = [e for e in parsed if e["ev"] == "enter"]
        assert [e["thread"] for e in calls[:3]] == ["MainThread", "renamed", "renamed"]
    assert len(calls) == 3 + 1 + 2
    # The task: named when it starts, again when it resumes under its new name.
    assert naming == [
        ("t[01]", "MainThread"),
        ("t[01]", "renamed"),
        ("t[01]a[01]", "job"),
        ("t[01]a[01]", "job-renamed"),
    ]


FORK = textwrap.dedent(
    """
    import os, functrace

    @functrace.trace
    def f():
        return 1

    f()
    pid = os.fork()
    if pid == 0:
        f()
        functrace.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    f()
    print(os.getpid(), pid)
    """
)


def test_a_forked_child_names_itself_before_its_lines_in_the_same_file(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    proc = run_python(["-c", FORK], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    parent, child = proc.stdout.split()
    lines = out.read_text(encoding="utf-8").splitlines()
    # Each process's lines come as it flushes them (here the child's first): each
    # starts with its process line, then its thread's.
    processes = {m["pid"]: (i, m["ppid"]) for i, m in enumerate(map(PROCESS_RE.match, lines)) if m}
    assert set(processes) == {parent, child} and processes[child][1] == parent
    for pid, tag in ((parent, "t[01]"), (child, f"t[{child}.01]")):
        at = processes[pid][0]
        assert lines[at + 1] == f'# {tag} = thread "MainThread" (native id {pid})'
        assert lines[at + 2] == f"{tag}:    ->__main__.f"
        assert not any(line.startswith(f"{tag}:") for line in lines[:at])
    assert len(events(lines)) == 3 * 2


SWITCH = textwrap.dedent(
    """
    import sys, threading, functrace

    started, go = threading.Event(), threading.Event()

    @functrace.trace
    def leaf():
        return 1

    @functrace.trace
    def wait():
        started.set()
        go.wait()
        return leaf()

    @functrace.trace
    def outer(path):
        leaf()
        functrace.configure(output=path)  # both calls still running
        return leaf()

    t = threading.Thread(target=wait, name="waiter")
    t.start()
    started.wait()
    outer(sys.argv[1])
    go.set()
    t.join()
    """
)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_a_new_output_names_the_tags_it_uses_running_calls_included(
    tmp_path: Path, fmt: str
) -> None:
    second = tmp_path / f"second.{fmt}"
    first = _run(tmp_path, SWITCH, fmt, str(second))
    lines = second.read_text(encoding="utf-8").splitlines()
    if fmt == "text":
        assert named_lines(first) == {"t[01]": "waiter", "t[02]": "MainThread"}
        assert named_lines(lines) == {"t[01]": "waiter", "t[02]": "MainThread"}
        running = sorted(line for line in lines if line.endswith(" running"))  # any order
        assert running == [
            "t[01]:    ->__main__.wait running",
            "t[02]:    ->__main__.outer running",
        ]
        return
    for text in (first, lines):
        parsed = [json.loads(line) for line in text]
        assert parsed[0]["ev"] == "process"
        named = {e["tag"]: e["name"] for e in parsed if e["ev"] == "thread"}
        assert named == {"t[01]": "waiter", "t[02]": "MainThread"}
        seen: set[str] = set()
        for e in parsed[1:]:
            if e["ev"] == "thread":
                seen.add(e["tag"])
            else:
                assert e["tag"] in seen, e
    assert sum(json.loads(line).get("running", False) for line in lines) == 2


ODD_NAME = (
    'say "hi"\nthen \\ leave\t\x07 ü 名\u2028\x85 end'  # splitlines() cuts at U+2028 and U+0085 too
)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_an_odd_thread_name_stays_on_one_line_and_round_trips(tmp_path: Path, fmt: str) -> None:
    program = textwrap.dedent(
        f"""
        import threading, functrace

        @functrace.trace
        def f():
            return 1

        t = threading.Thread(target=f, name={ODD_NAME!r})
        t.start(); t.join()
        """
    )
    lines = _run(tmp_path, program, fmt)
    assert len(lines) == 2 + 2  # the process, the thread, f's two lines
    if fmt == "text":
        m = NAME_RE.match(lines[1])
        assert m is not None and m["tag"] == "t[01]" and m["kind"] == "thread"
        assert json.loads(m["name"]) == ODD_NAME
        assert named_lines(lines) == {"t[01]": ODD_NAME}
    else:
        event = json.loads(lines[1])
        assert event["ev"] == "thread" and event["name"] == ODD_NAME
        assert json.loads(lines[2])["thread"] == ODD_NAME


FOUR_THREADS = textwrap.dedent(
    """
    import asyncio, threading, functrace

    @functrace.trace
    def store(item):
        return item

    @functrace.trace
    async def fetch(item):
        await asyncio.sleep(0)  # the two tasks of a thread take turns
        return store(item)

    async def both(name):
        await asyncio.gather(
            asyncio.create_task(fetch(1), name=f"{name}-first"),
            asyncio.create_task(fetch(2), name=f"{name}-second"),
        )

    together = threading.Barrier(4)

    @functrace.trace
    def serve(name):
        together.wait()  # the four run at once: their lines interleave
        asyncio.run(both(name))
        return store(name)

    threads = [
        threading.Thread(target=serve, args=(name,), name=name)
        for name in ("ingest", "parse", "index", "report")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
)


def test_four_named_threads_each_tree_found_by_its_name(tmp_path: Path) -> None:
    pytest.importorskip("click")  # the CLI's: not in a runtime-only environment (3.13t here)
    from click.testing import CliRunner

    from functrace.cli.show import command as show

    lines = _run(tmp_path, FOUR_THREADS)
    names = named_lines(lines)
    assert sorted(n for n in names.values() if "-" not in n) == [
        "index",
        "ingest",
        "parse",
        "report",
    ]
    for name in ("ingest", "parse", "index", "report"):
        # grep: the thread's tag from its naming line, then the lines of that tag
        # and of its tasks' tags; each task found by its name the same way.
        (tag,) = (t for t, n in names.items() if n == name)
        own = (f"{tag}:", f"{tag}a[", f"# {tag} ", f"# {tag}a[")
        mine = [line for line in lines if line.startswith(own)]
        assert balanced(mine) == {}
        entered = Counter(m["name"] for m in map(LINE_RE.match, mine) if m and m["arrow"] == "->")
        # serve, each task's fetch twice (its start and its resumption), 3 stores
        assert entered == {"__main__.serve": 1, "__main__.fetch": 4, "__main__.store": 3}
        tasks = {n: t for t, n in names.items() if n.startswith(f"{name}-")}
        assert set(tasks) == {f"{name}-first", f"{name}-second"}
        assert all(t.startswith(f"{tag}a[") for t in tasks.values())
        # functrace show --tag NAME: that thread's tree and its tasks', nobody else's.
        shown = CliRunner().invoke(show, [str(tmp_path / "trace.text"), "--tag", name]).stdout
        headings = [line.split()[0] for line in shown.splitlines() if not line.startswith(" ")]
        assert set(headings) == {tag, *tasks.values()}  # (one heading per stretch of a tag)
        assert shown.count("__main__.serve") == 1 and shown.count("__main__.fetch") == 4
        task_shown = (
            CliRunner()
            .invoke(show, [str(tmp_path / "trace.text"), "--tag", f"{name}-first"])
            .stdout
        )
        assert task_shown.splitlines()[0] == f"{tasks[f'{name}-first']} {name}-first"
        assert "__main__.serve" not in task_shown and task_shown.count("__main__.fetch") == 2
