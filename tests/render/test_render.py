"""Trees, the summary and focus, printed while the trace streams (plain lines, as on a pipe)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from functrace.cli.show import command as show
from functrace.reading import scan_lines
from functrace.render import Selection, TreePrinter, normalize_tag

TEXT = """\
t[01]:    ->app.main
t[01]:        ->app.load
t[01]:        <-app.load 1.00ms
t[01]:        ->app.gen
t[01]:        <-app.gen 2.00µs yield
t[01]:        ->app.gen resume
t[01]:            ->app.parse
t[01]:            <-app.parse 1.00µs
t[01]:        <-app.gen 3.00µs !ValueError
t[01]:    <-app.main 2.00ms
t[01]a[02]:    ->app.task
t[01]a[02]:        ->app.load
"""


def tree(text: str, selection: Selection | None = None, limit: int = 2000) -> str:
    out: list[str] = []
    printer = TreePrinter(
        lambda tag, depth, line: out.append("    " * depth + line), selection, limit=limit
    )
    scan_lines(io.StringIO(text), printer)
    printer.finish()
    return "\n".join(out) + "\n"


def run(tmp_path: Path, *args: str, text: str = TEXT) -> tuple[int, str, str]:
    path = tmp_path / "trace.log"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(show, [str(path), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_trees_per_tag_with_open_calls_marked() -> None:
    assert tree(TEXT) == (
        "t[01]\n"
        "    app.main 2.00ms\n"
        "        app.load 1.00ms\n"
        "        app.gen 2.00µs yield\n"
        "        app.gen resume 3.00µs !ValueError\n"
        "            app.parse 1.00µs\n"
        "t[01]a[02]\n"
        "    app.task … unfinished\n"
        "        app.load … unfinished\n"
    )


def test_selection_by_tag_name_duration_and_depth() -> None:
    assert tree(TEXT, Selection(tags=("t[01]a[02]",))).startswith("t[01]a[02]\n")
    assert tree(TEXT, Selection(tags=("t[1]",))).count("t[01]") == 2  # its tasks too
    assert tree(TEXT, Selection(name="parse")) == (
        "t[01]\n"
        "    app.main 2.00ms\n"
        "        app.gen resume 3.00µs !ValueError\n"
        "            app.parse 1.00µs\n"
    )
    assert tree(TEXT, Selection(min_duration_ns=500_000, max_depth=2)) == (
        "t[01]\n"
        "    app.main 2.00ms\n"
        "        app.load 1.00ms\n"
        "        app.gen resume 3.00µs !ValueError\n"
        "t[01]a[02]\n"
        "    app.task … unfinished\n"
        "        app.load … unfinished\n"
    )


def test_a_short_call_hides_what_is_below_it_even_a_long_enough_child() -> None:
    text = (
        "t[01]:    ->a.short\n"
        "t[01]:        ->a.inner\n"
        "t[01]:        <-a.inner 2.00ms\n"
        "t[01]:    <-a.short 900µs\n"  # rounding: the child looks longer
    )
    assert tree(text, Selection(min_duration_ns=1_000_000)) == "\n"


def test_tag_forms_and_thread_names() -> None:
    assert normalize_tag("2") == normalize_tag("t[2]") == normalize_tag("t[02]") == "t[02]"
    assert normalize_tag("t[1]a[3]") == "t[01]a[03]"
    assert normalize_tag("t[4711.2]") == "t[4711.02]"
    assert normalize_tag("worker-1") == "worker-1"
    selection = Selection(tags=("worker-1",))
    assert selection.tag_shown("t[02]", "worker-1") and not selection.tag_shown("t[01]", "main")


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("leaf", "app.Class.leaf", True),
        ("Class.leaf", "app.Class.leaf", True),
        ("app.Class.leaf", "app.Class.leaf", True),
        ("*.leaf", "app.Class.leaf", True),
        ("lea*", "app.Class.leaf", True),
        ("eaf", "app.Class.leaf", False),
        ("Class", "app.Class.leaf", False),
        ("p.Class.leaf", "app.Class.leaf", False),
    ],
)
def test_name_matches_last_parts_and_globs(pattern: str, name: str, matches: bool) -> None:
    assert Selection(name=pattern).name_matches(name) is matches


def test_tree_streams_and_stays_bounded() -> None:
    """Lines come out while the trace is still being read, and a call open for the whole
    trace prints early (… then a closing line) instead of holding everything below it."""
    printed: list[str] = []
    read = 0

    def lines() -> Iterator[str]:
        nonlocal read
        yield "t[01]:    ->app.main\n"
        for i in range(500):
            read += 1
            yield f"t[01]:        ->app.step{i}\n"
            yield f"t[01]:        <-app.step{i} 1.00µs\n"
            if i == 100:
                assert len(printed) > 50  # printed while reading, not at the end
        yield "t[01]:    <-app.main 1.00ms\n"

    printer = TreePrinter(lambda tag, depth, line: printed.append("    " * depth + line), limit=20)
    peak = 0

    class Watch:
        def opened(self, frame: object) -> None:
            printer.opened(frame)  # type: ignore[arg-type]

        def closed(self, frame: object) -> None:
            nonlocal peak
            printer.closed(frame)  # type: ignore[arg-type]
            peak = max(peak, max(len(q.items) for q in printer.queues.values()))

    scan_lines(lines(), Watch())
    printer.finish()
    assert peak <= 21
    assert printed[:3] == ["t[01]", "    app.main …", "        app.step0 1.00µs"]
    assert printed[-1] == "    … app.main 1.00ms"
    assert len(printed) == 503


def test_summary_sorted_by_own_time(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "--summary")
    assert code == 0
    assert out == (
        "function              calls   total     own     max\n"
        "app.load   2 (1 unfinished)  1.00ms  1.00ms  1.00ms\n"
        "app.main                  1  2.00ms   995µs  2.00ms\n"
        "app.gen                   1  5.00µs  4.00µs  3.00µs\n"
        "app.parse                 1  1.00µs  1.00µs  1.00µs\n"
        "app.task   1 (1 unfinished)     0ns     0ns     0ns\n"
    )


def test_show_command(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "--max-depth", "1")
    assert code == 0
    assert out == "t[01]\n    app.main 2.00ms\nt[01]a[02]\n    app.task … unfinished\n"
    assert err.endswith(": 2 calls never finished: the trace ends before their exits\n")
    code, out, _ = run(tmp_path, "--summary", "--name", "app.gen")
    assert code == 0 and "app.gen" in out and "app.load" not in out
    assert run(tmp_path, "--min-duration", "soon")[0] == 2
    assert run(tmp_path, text="nothing traced\n")[0] == 1


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["--name", "nothing"], "--name nothing"),
        (["--tag", "7"], "--tag 7"),
        (["--summary", "--name", "nothing"], "--name nothing"),
        (["--focus", "nothing"], "--focus nothing"),
        (["--name", "main", "--min-duration", "1s"], "--name main, --min-duration 1.00s"),
    ],
)
def test_a_filter_that_matches_nothing_says_so(tmp_path: Path, args: list[str], what: str) -> None:
    code, out, err = run(tmp_path, *args)
    assert code == 1 and out == ""
    path = tmp_path / "trace.log"
    assert err.splitlines()[-1] == f"functrace show: no call in {path} matches {what}"


def test_pipe_lines_never_wrap_and_width_wraps(tmp_path: Path) -> None:
    name = "app." + "very_long_module_name." * 6 + "leaf"
    text = f"t[01]:    ->{name}\nt[01]:    <-{name} 1.00ms\n"
    code, out, _ = run(tmp_path, text=text)
    assert code == 0 and out.splitlines() == ["t[01]", f"    {name} 1.00ms"]
    code, out, _ = run(tmp_path, "--summary", text=text)
    assert name in out.splitlines()[1]
    code, out, _ = run(tmp_path, "--width", "40", text=text)
    assert all(len(line) <= 40 for line in out.splitlines()) and len(out.splitlines()) > 2


FOCUS = """\
t[01]:    ->app.main
t[01]:        ->app.handle
t[01]:            ->app.fetch
t[01]:            <-app.fetch 1.00ms
t[01]:            ->app.fetch
t[01]:            <-app.fetch 3.00ms
t[01]:        <-app.handle 5.00ms
t[01]:        ->app.retry
t[01]:            ->app.handle
t[01]:                ->app.fetch
t[01]:                <-app.fetch 10.0µs !TimeoutError
t[01]:            <-app.handle 20.0µs
t[01]:        <-app.retry 30.0µs
t[01]:    <-app.main 9.00ms
t[02]:    ->app.fetch
t[02]:    <-app.fetch 2.00µs
"""


def test_focus_prints_each_chain_once_with_counts(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "--focus", "fetch", text=FOCUS)
    assert code == 0
    assert out == (
        "calls   total  call chain\n"
        "    2  4.00ms  app.main > app.handle > app.fetch\n"
        "    1  10.0µs  app.main > app.retry > app.handle > app.fetch\n"
        "    1  2.00µs  app.fetch\n"
    )
    code, out, _ = run(tmp_path, "--focus", "fetch", "--depth", "1", "--tag", "1", text=FOCUS)
    assert out == "calls   total  call chain\n    3  4.01ms  … > app.handle > app.fetch\n"
    assert run(tmp_path, "--focus", "fetch", "--name", "x", text=FOCUS)[0] == 2
    assert run(tmp_path, "--focus", "fetch", "--summary", text=FOCUS)[0] == 2
    code, out, _ = run(tmp_path, "--focus", "fetch", "--min-duration", "1ms", text=FOCUS)
    assert out.splitlines()[1:] == [
        "    2  4.00ms  app.main > app.handle > app.fetch",
        "    1  10.0µs  app.main > app.retry > app.handle > app.fetch",  # it raised
    ]


def test_terminal_lines_are_styled_and_stream(tmp_path: Path) -> None:
    from functrace.cli.show import _LineWriter

    out = io.StringIO()
    writer = _LineWriter(out, terminal=True, width=80)
    printer = TreePrinter(writer.emit)
    scan_lines(io.StringIO(TEXT), printer)
    printer.finish()
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["t[01]", "app.main 2.00ms", "│   app.load 1.00ms"]
    assert "│   app.gen resume 3.00µs !ValueError" in lines


def test_jsonl_headers_name_the_thread(tmp_path: Path) -> None:
    import json

    events = [
        {"ts": 10, "depth": 1, "ev": "enter"},
        {"ts": 20, "depth": 1, "ev": "exit", "dur": 10, "exc": None, "suspended": None},
    ]
    text = "".join(
        json.dumps(
            {
                "v": 1,
                "pid": 1,
                "tid": 2,
                "thread": "worker-1",
                "task": None,
                "tag": "t[02]",
                "name": "app.job",
                "file": "a.py",
                "line": 1,
                **e,
            }
        )
        + "\n"
        for e in events
    )
    code, out, _ = run(tmp_path, text=text)
    assert code == 0 and out == "t[02] worker-1\n    app.job 10ns\n"
    assert run(tmp_path, "--tag", "worker-1", text=text)[1] == out
    assert run(tmp_path, "--tag", "2", text=text)[1] == out
    assert run(tmp_path, "--tag", "worker-2", text=text)[0] == 1


NAMED = """\
# process 4711 = "python app.py" (parent 4700)
# t[01] = thread "MainThread" (native id 4711)
t[01]:    ->app.main
t[01]:    <-app.main 1.00µs
# t[02] = thread "worker-1" (native id 4712)
# t[02]a[01] = task "fetch-users"
t[02]a[01]:    ->app.fetch
t[02]a[01]:    <-app.fetch 2.00µs
# t[02]a[02] = task "fetch-orders"
t[02]a[02]:    ->app.orders
t[02]a[02]:    <-app.orders 3.00µs
"""


def test_tag_takes_the_names_a_text_trace_gives_threads_and_tasks(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "--tag", "fetch-users", text=NAMED)
    # Each tag's heading names it as the trace's naming lines do.
    assert code == 0 and err == "" and out == "t[02]a[01] fetch-users\n    app.fetch 2.00µs\n"
    # A thread's name selects its tasks, as its tag does.
    by_name = run(tmp_path, "--tag", "worker-1", text=NAMED)[1]
    assert by_name == run(tmp_path, "--tag", "t[02]", text=NAMED)[1]
    assert "app.fetch" in by_name and "app.orders" in by_name and "app.main" not in by_name
    main = run(tmp_path, "--tag", "MainThread", text=NAMED)[1]
    assert main == "t[01] MainThread\n    app.main 1.00µs\n"
    assert run(tmp_path, "--tag", "worker-2", text=NAMED)[0] == 1
