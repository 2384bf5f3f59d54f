"""Issue 10, who started what: a thread, an asyncio task or a thread-pool job started
while a traced call runs names that call, in text, jsonl and ``record()``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from functrace._runtime.lines import JOB_RE, NAME_RE, job_line, name_line, origin_text
from tests.helpers import balanced, match_lines, run_python

#: A named thread, gather'd tasks, asyncio.to_thread and a ThreadPoolExecutor, one
#: after the other (so the tags are known).
PROGRAM = textwrap.dedent(
    """
    import asyncio, sys, threading, functrace
    from concurrent.futures import ThreadPoolExecutor

    @functrace.trace
    def leaf(i):
        return i

    @functrace.trace
    def in_thread():
        leaf(0)

    @functrace.trace
    async def fetch(i):
        await asyncio.sleep(0)
        return leaf(i)

    @functrace.trace
    def blocking(i):
        return leaf(i)

    @functrace.trace
    async def gather_them():
        await asyncio.gather(fetch(1), fetch(2))
        await asyncio.to_thread(blocking, 3)

    @functrace.trace
    def submit_jobs():
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
            pool.submit(blocking, 4).result()
            pool.submit(blocking, 5).result()

    @functrace.trace
    def main():
        t = threading.Thread(target=in_thread, name="worker-1")
        t.start()
        t.join()
        asyncio.run(gather_them())
        submit_jobs()

    def untraced_start():  # no traced call runs: no origin
        t = threading.Thread(target=in_thread, name="orphan")
        t.start()
        t.join()

    if "record" in sys.argv:
        with functrace.record() as rec:
            main()
        for root in rec.roots:
            print(root.tag, root.name, root.origin and tuple(root.origin))
    else:
        main()
        untraced_start()
    """
)

#: The comment lines, in order (process and native ids aside).
COMMENTS = [
    '# t[01] = thread "MainThread" (native id *)',
    '# t[02] = thread "worker-1" (native id *) started by t[01] in __main__.main',
    '# t[01]a[01] = task "Task-*" started by t[01] in __main__.main',
    '# t[01]a[02] = task "Task-*" started by t[01]a[01] in __main__.gather_them',
    '# t[01]a[03] = task "Task-*" started by t[01]a[01] in __main__.gather_them',
    '# t[03] = thread "asyncio_0" (native id *) started by t[01]a[01] in __main__.gather_them',
    "# t[03] job started by t[01]a[01] in __main__.gather_them",
    '# t[04] = thread "pool_0" (native id *) started by t[01] in __main__.submit_jobs',
    "# t[04] job started by t[01] in __main__.submit_jobs",
    "# t[04] job started by t[01] in __main__.submit_jobs",
    '# t[05] = thread "orphan" (native id *)',
]


def _run(tmp_path: Path, fmt: str = "text", *args: str, **env: str) -> list[str]:
    out = tmp_path / f"trace.{fmt}"
    proc = run_python(
        ["-c", PROGRAM, *args],
        env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": fmt, **env},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return out.read_text(encoding="utf-8").splitlines() if out.exists() else []


def test_every_new_tag_names_the_call_that_started_it(tmp_path: Path) -> None:
    lines = _run(tmp_path)
    assert balanced(lines) == {}
    match_lines([line for line in lines[1:] if line.startswith("# ")], COMMENTS)
    # A job's line comes right before the job's first line, each time.
    for i, line in enumerate(lines):
        if JOB_RE.match(line):
            assert lines[i + 1].startswith(f"{JOB_RE.match(line)['tag']}:    ->__main__.blocking")


def test_jsonl_carries_the_origin_tag_and_call(tmp_path: Path) -> None:
    events = [json.loads(line) for line in _run(tmp_path, "jsonl")]
    said = [
        (e["ev"], e["tag"], e.get("origin_tag"), e.get("origin"))
        for e in events
        if e["ev"] in ("thread", "task", "job")
    ]
    assert said == [
        ("thread", "t[01]", None, None),
        ("thread", "t[02]", "t[01]", "__main__.main"),
        ("task", "t[01]a[01]", "t[01]", "__main__.main"),
        ("task", "t[01]a[02]", "t[01]a[01]", "__main__.gather_them"),
        ("task", "t[01]a[03]", "t[01]a[01]", "__main__.gather_them"),
        ("thread", "t[03]", "t[01]a[01]", "__main__.gather_them"),
        ("job", "t[03]", "t[01]a[01]", "__main__.gather_them"),
        ("thread", "t[04]", "t[01]", "__main__.submit_jobs"),
        ("job", "t[04]", "t[01]", "__main__.submit_jobs"),
        ("job", "t[04]", "t[01]", "__main__.submit_jobs"),
        ("thread", "t[05]", None, None),
    ]
    job = next(e for e in events if e["ev"] == "job")
    assert set(job) == {"v", "ts", "ev", "pid", "tag", "origin_tag", "origin"}
    first = next(e for e in events if e.get("tag") == "t[03]" and e["ev"] == "enter")
    assert job["ts"] == first["ts"]  # said when its first call starts


def test_record_gives_each_first_outermost_call_its_origin(tmp_path: Path) -> None:
    proc = run_python(["-c", PROGRAM, "record"], env={"FUNCTRACE_OUTPUT": "none"})
    assert proc.returncode == 0, proc.stderr
    job = "('t[01]', '__main__.submit_jobs', 'job')"
    assert proc.stdout.splitlines() == [
        "t[01] __main__.main None",
        "t[02] __main__.in_thread ('t[01]', '__main__.main', 'thread')",
        "t[01]a[01] __main__.gather_them ('t[01]', '__main__.main', 'task')",
        "t[01]a[02] __main__.fetch ('t[01]a[01]', '__main__.gather_them', 'task')",
        "t[01]a[03] __main__.fetch ('t[01]a[01]', '__main__.gather_them', 'task')",
        "t[01]a[02] __main__.fetch None",  # the same tasks' later runs: no new start
        "t[01]a[03] __main__.fetch None",
        "t[01]a[01] __main__.gather_them None",
        "t[03] __main__.blocking ('t[01]a[01]', '__main__.gather_them', 'job')",
        "t[01]a[01] __main__.gather_them None",
        f"t[04] __main__.blocking {job}",
        f"t[04] __main__.blocking {job}",
    ]


def test_the_python_path_says_the_same(tmp_path: Path) -> None:
    lines = _run(tmp_path, "text", FUNCTRACE_SPEEDUPS="0")
    match_lines([line for line in lines[1:] if line.startswith("# ")], COMMENTS)


def test_a_task_first_run_after_its_creator_suspended_names_the_awaiting_call() -> None:
    """By then the creating call (``spawn``) has returned: the origin is the
    coroutine whose await let the task run, as the docs say."""
    program = textwrap.dedent(
        """
        import asyncio, functrace

        @functrace.trace
        async def child():
            return 1

        @functrace.trace
        def spawn():
            return asyncio.ensure_future(child())

        @functrace.trace
        async def inner():
            task = spawn()
            await task

        @functrace.trace
        async def parent():
            await inner()

        with functrace.record() as rec:
            asyncio.run(parent())
        print([tuple(r.origin) for r in rec.roots if r.origin is not None])
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": "none"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str([("t[01]a[01]", "__main__.inner", "task")])


def test_nothing_changes_with_tracing_off(tmp_path: Path) -> None:
    check = PROGRAM + textwrap.dedent(
        """
        import _thread, concurrent.futures.thread as cft
        start = getattr(threading, "_start_joinable_thread", None) or threading._start_new_thread
        print(start is getattr(_thread, start.__name__), "fn" in vars(cft._WorkItem))
        """
    )
    out = tmp_path / "off.log"
    proc = run_python(["-c", check], env={"FUNCTRACE": "0", "FUNCTRACE_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "True False\n"  # threading's start and the pool's work items untouched
    assert not out.exists() or out.read_text() == ""
    proc = run_python(["-c", check], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.stdout == "False True\n"  # while tracing: replaced (the control)


def test_the_started_code_sees_the_same_stack() -> None:
    """No frame around a thread's target or a pool job: what they see is unchanged."""
    program = textwrap.dedent(
        """
        import threading, traceback, functrace
        from concurrent.futures import ThreadPoolExecutor

        seen = []

        def look():  # untraced: a wrapper (3.10, 3.11) adds frames to traced ones only
            seen.append([f.name for f in traceback.extract_stack()])

        @functrace.trace
        def main():
            t = threading.Thread(target=look)
            t.start()
            t.join()
            with ThreadPoolExecutor(1) as pool:
                pool.submit(look).result()
                pool.submit(look).result()

        main()
        print(seen)
        """
    )
    on = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": "none"})
    off = run_python(["-c", program], env={"FUNCTRACE": "0"})
    assert on.returncode == off.returncode == 0, on.stderr + off.stderr
    assert on.stdout == off.stdout
    assert "'_worker', 'run', 'look'" in on.stdout


@pytest.mark.parametrize(
    ("tag", "kind", "origin_tag", "origin"),
    [
        ("t[02]", "thread", "t[01]", "app.main"),
        ("t[4711.01]a[03]", "task", "t[4711.01]a[01]", "m.f"),
    ],
)
def test_the_grammar_reads_back_what_it_writes(
    tag: str, kind: str, origin_tag: str, origin: str
) -> None:
    line = name_line(
        tag, kind, '"a \\"name\\" started by t[09] in x"', 12, origin_text(origin_tag, origin)
    )
    m = NAME_RE.match(line.rstrip("\n"))
    assert m and (m["tag"], m["origin_tag"], m["origin"]) == (tag, origin_tag, origin)
    job = JOB_RE.match(job_line(tag, origin_tag, origin).rstrip("\n"))
    assert job and (job["tag"], job["origin_tag"], job["origin"]) == (tag, origin_tag, origin)
    assert NAME_RE.match(name_line(tag, kind, '"x"').rstrip("\n"))["origin"] is None  # type: ignore[index]


def test_a_thread_that_runs_an_event_loop_gives_its_origin_to_its_first_task(
    tmp_path: Path,
) -> None:
    """Its first traced call is in a task: that call is the thread's start, in the
    lines (as the readers read them) and in record()."""
    program = textwrap.dedent(
        """
        import asyncio, threading, functrace

        @functrace.trace
        async def serve():
            await asyncio.sleep(0)

        @functrace.trace
        def main():
            t = threading.Thread(target=asyncio.run, args=(serve(),), name="loop")
            t.start()
            t.join()

        with functrace.record() as rec:
            main()
        print([(r.tag, r.origin and tuple(r.origin)) for r in rec.roots])
        """
    )
    out = tmp_path / "trace.log"
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    origin = ("t[01]", "__main__.main", "thread")
    assert proc.stdout.strip() == str(
        [("t[01]", None), ("t[02]a[01]", origin), ("t[02]a[01]", None)]
    )
    from functrace.reading import read_trace

    lines = out.read_text(encoding="utf-8").splitlines()
    match_lines(
        [line for line in lines if line.startswith("# t")],
        [
            '# t[01] = thread "MainThread" (native id *)',
            '# t[02] = thread "loop" (native id *) started by t[01] in __main__.main',
            '# t[02]a[01] = task "Task-*"',
        ],
    )
    roots = read_trace(out).roots
    assert [(r.tag, r.origin and tuple(r.origin)) for r in roots] == [
        ("t[01]", None),
        ("t[02]a[01]", origin),
        ("t[02]a[01]", None),
    ]
