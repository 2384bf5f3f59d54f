"""The line format, checked on whole runs of the bundled examples and small programs."""

from __future__ import annotations

import re
import sys
import textwrap

from functrace._runtime.lines import LINE_RE, format_duration, parse_duration
from tests.helpers import ROOT, events, match_lines, named_lines, run_python

DUR = "<dur>"  # any duration: 850ns, 12.3µs, 4.56ms, 2.00s


def run_example(name: str, **env: str) -> tuple[str, list[str]]:
    proc = run_python([str(ROOT / "examples" / name)], env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr.splitlines()


def test_seed_demo_two_threads_each_a_balanced_tree() -> None:
    _, lines = run_example("chains.py")
    # The worker thread makes the first traced call, so it is t[01].
    match_lines(
        lines,
        [
            "t[01]:    ->__main__.A2",
            "t[01]:        ->__main__.B2",
            "t[01]:            ->__main__.C2",
            "t[01]:                ->__main__.D",
            f"t[01]:                <-__main__.D {DUR}",
            f"t[01]:            <-__main__.C2 {DUR}",
            f"t[01]:        <-__main__.B2 {DUR}",
            f"t[01]:    <-__main__.A2 {DUR}",
            "t[02]:    ->__main__.A1",
            "t[02]:        ->__main__.B1",
            "t[02]:            ->__main__.C1",
            "t[02]:                ->__main__.D",
            f"t[02]:                <-__main__.D {DUR}",
            f"t[02]:            <-__main__.C1 {DUR}",
            f"t[02]:        <-__main__.B1 {DUR}",
            f"t[02]:    <-__main__.A1 {DUR}",
        ],
    )


def test_generator_suspends_and_caller_calls_nest_under_the_caller() -> None:
    out, lines = run_example("generators.py")
    assert out == "total: 30\n"
    match_lines(
        lines,
        [
            "t[01]:    ->__main__.consume",
            "t[01]:        ->__main__.numbers",
            f"t[01]:        <-__main__.numbers {DUR} yield",
            "t[01]:        ->__main__.show",
            f"t[01]:        <-__main__.show {DUR}",
            "t[01]:        ->__main__.numbers resume",
            f"t[01]:        <-__main__.numbers {DUR} yield",
            "t[01]:        ->__main__.show",
            f"t[01]:        <-__main__.show {DUR}",
            "t[01]:        ->__main__.numbers resume",
            f"t[01]:        <-__main__.numbers {DUR}",
            f"t[01]:    <-__main__.consume {DUR}",
        ],
    )


def test_interleaving_tasks_get_their_own_tags_and_depths() -> None:
    out, lines = run_example("tasks.py")
    assert out == "[10, 9]\n"
    match_lines(
        lines,
        [
            "t[01]a[01]:    ->__main__.main",
            f"t[01]a[01]:    <-__main__.main {DUR} await",
            "t[01]a[02]:    ->__main__.handle",
            "t[01]a[02]:        ->__main__.fetch",
            f"t[01]a[02]:        <-__main__.fetch {DUR} await",
            f"t[01]a[02]:    <-__main__.handle {DUR} await",
            "t[01]a[03]:    ->__main__.handle",
            "t[01]a[03]:        ->__main__.fetch",
            f"t[01]a[03]:        <-__main__.fetch {DUR} await",
            f"t[01]a[03]:    <-__main__.handle {DUR} await",
            "t[01]a[03]:    ->__main__.handle resume",
            "t[01]a[03]:        ->__main__.fetch resume",
            "t[01]a[03]:            ->__main__.parse",
            f"t[01]a[03]:            <-__main__.parse {DUR}",
            f"t[01]a[03]:        <-__main__.fetch {DUR}",
            f"t[01]a[03]:    <-__main__.handle {DUR}",
            "t[01]a[02]:    ->__main__.handle resume",
            "t[01]a[02]:        ->__main__.fetch resume",
            "t[01]a[02]:            ->__main__.parse",
            f"t[01]a[02]:            <-__main__.parse {DUR}",
            f"t[01]a[02]:        <-__main__.fetch {DUR}",
            f"t[01]a[02]:    <-__main__.handle {DUR}",
            "t[01]a[01]:    ->__main__.main resume",
            f"t[01]a[01]:    <-__main__.main {DUR}",
        ],
    )


def test_grep_recipes_pick_one_thread_and_one_task() -> None:
    _, lines = run_example("chains.py")
    t02 = [line for line in lines if re.match(r"^t\[02\]", line)]
    assert len(t02) == 8 and all("1" in line.split(".", 1)[1] for line in t02 if "D" not in line)
    _, lines = run_example("tasks.py")
    a02 = [line for line in lines if re.search(r"a\[02\]:", line)]
    assert len(a02) == 10 and {line.split(":")[0] for line in a02} == {"t[01]a[02]"}


def test_raised_exception_marks_exit_lines_and_is_the_same_object() -> None:
    program = textwrap.dedent(
        """
        import functrace

        class Oops(Exception):
            pass

        ERROR = Oops("boom")

        @functrace.trace
        def inner():
            raise ERROR

        @functrace.trace
        def outer():
            try:
                inner()
            except Oops as exc:
                assert exc is ERROR
                raise

        try:
            outer()
        except Oops as exc:
            print(exc is ERROR)
        """
    )
    proc = run_python(["-c", program])
    assert proc.stdout == "True\n", proc.stderr
    match_lines(
        proc.stderr.splitlines(),
        [
            "t[01]:    ->__main__.outer",
            "t[01]:        ->__main__.inner",
            f"t[01]:        <-__main__.inner {DUR} !Oops",
            f"t[01]:    <-__main__.outer {DUR} !Oops",
        ],
    )


def test_names_are_module_and_qualname() -> None:
    program = textwrap.dedent(
        """
        import functrace

        class A:
            @functrace.trace
            def method(self):
                @functrace.trace
                def inner():
                    return 1
                return inner()

        A().method()
        """
    )
    proc = run_python(["-c", program])
    names = [LINE_RE.match(line)["name"] for line in events(proc.stderr.splitlines())]
    assert names == [
        "__main__.A.method",
        "__main__.A.method.<locals>.inner",
        "__main__.A.method.<locals>.inner",
        "__main__.A.method",
    ]


def test_every_line_of_many_threads_is_whole_and_balanced() -> None:
    program = textwrap.dedent(
        """
        import threading
        import functrace

        @functrace.trace
        def leaf(i):
            return i

        @functrace.trace
        def work(n):
            return sum(leaf(i) for i in range(n))

        threads = [threading.Thread(target=work, args=(300,)) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        """
    )
    proc = run_python(["-c", program])
    threads = named_lines(proc.stderr.splitlines())
    assert sorted(threads.values()) == [f"Thread-{i} (work)" for i in range(1, 9)]
    lines = events(proc.stderr.splitlines())
    assert len(lines) == 8 * (2 + 600)
    depth: dict[str, int] = {}
    for line in lines:
        m = LINE_RE.match(line)
        assert m, line
        level = len(m["indent"]) // 4
        if m["arrow"] == "->":
            depth[m["tag"]] = depth.get(m["tag"], 0) + 1
            assert level == depth[m["tag"]]
        else:
            assert level == depth[m["tag"]]
            depth[m["tag"]] -= 1
    assert sorted(depth) == [f"t[{i:02d}]" for i in range(1, 9)]
    assert set(depth.values()) == {0}


def test_durations_read_as_human_units() -> None:
    assert [format_duration(n) for n in (0, 999, 1_000, 12_345, 456_789, 4_560_000, 2 * 10**9)] == [
        "0ns",
        "999ns",
        "1.00µs",
        "12.3µs",
        "456µs",
        "4.56ms",
        "2.00s",
    ]
    assert parse_duration("4.56ms") == 4_560_000
    assert parse_duration("yield") is None


def test_the_interpreter_is_the_one_under_test() -> None:
    proc = run_python(["-c", "import sys; print(sys.version_info[:2])"])
    assert proc.stdout.strip() == str(sys.version_info[:2])
