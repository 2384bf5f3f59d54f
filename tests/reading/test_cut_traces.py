"""A trace that was not read whole gets one line on stderr (issue 11): cut by
``FUNCTRACE_MAX_LINES``, torn mid-line as a process killed while writing leaves it,
ended between lines, mixing text and jsonl, or holding malformed lines. Every reader
(``show`` in each mode, every export, ``diff``) reads to the last complete event, exits
as it would without the damage, and says it in one line naming the file: never the
line-by-line report (that is ``--verbose``), never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from functrace._runtime.output import CUT_MARKER
from functrace.cli import main
from functrace.reading import read_trace, read_trace_text, scan_trace
from functrace.reading._read import CUT_RE, is_torn
from functrace.render import Summary
from tests.helpers import run_python

PROGRAM = """
import functrace

@functrace.trace
def leaf(i):
    return i * 2

@functrace.trace
def work(n):
    return sum(leaf(i) for i in range(n))

@functrace.trace
def main():
    for _ in range(200):
        work(5)

main()
"""

# Lines 1-2 name the process and the thread; main enters at line 3; the k-th work
# call (from 0) takes lines 4+12k (enter) to 15+12k (exit), its five leaves between.
WORK_EXIT = 15
TORN = 63  # the exit of the fifth work call


def _trace(folder: Path, fmt: str, **env: str) -> Path:
    out = folder / f"trace-{len(env)}.{fmt}"
    proc = run_python(
        ["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": fmt, **env}
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """format -> (the whole trace, the trace cut by FUNCTRACE_MAX_LINES=101)."""
    folder = tmp_path_factory.mktemp("cut")
    return {
        fmt: (_trace(folder, fmt), _trace(folder, fmt, FUNCTRACE_MAX_LINES="101"))
        for fmt in ("text", "jsonl")
    }


def _bad_exit(line: bytes, fmt: str) -> bytes:
    if fmt == "text":
        return line.replace(b"<-__main__.work ", b"<-__main__.work 1.2.3ms ")
    event = json.loads(line)
    event["dur"] = "x"
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _case(traces: dict[str, tuple[Path, Path]], fmt: str, case: str, tmp: Path) -> tuple[Path, str]:
    """A damaged trace, and the one line every reader says about it (a pattern)."""
    whole, cut = traces[fmt]
    if case == "max-lines":
        return cut, "cut after 101 lines by FUNCTRACE_MAX_LINES; 3 calls never finished"
    lines = whole.read_bytes().splitlines(keepends=True)
    path = tmp / f"{case}.{fmt}"
    if case == "torn":
        path.write_bytes(b"".join(lines[: TORN - 1]) + lines[TORN - 1][:25])
        said = f"cut mid-line at line {TORN} (read to the last complete event)"
        return path, said + "; 2 calls never finished"
    if case == "ended":  # killed between two writes: every line whole
        path.write_bytes(b"".join(lines[: TORN - 1]))
        return path, "2 calls never finished: the trace ends before their exits"
    if case == "mixed":
        other = traces["jsonl" if fmt == "text" else "text"][0].read_bytes().splitlines(True)
        path.write_bytes(b"".join(lines[:10] + other[2:4] + lines[10:]))
        foreign = "jsonl" if fmt == "text" else "text"
        return path, f"2 {foreign} lines in a {fmt} trace skipped (first at line 11)"
    assert case == "malformed"
    lines[WORK_EXIT - 1] = _bad_exit(lines[WORK_EXIT - 1], fmt)
    path.write_bytes(b"".join(lines))
    why = (
        "exit of __main__.work: '1.2.3ms' is not a duration"
        if fmt == "text"
        else "\"dur\" is 'x', not a whole number from 0 to 2**63-1"
    )
    return path, (
        f"1 unreadable line skipped (line {WORK_EXIT}: {why}); "
        "1 call never finished: exit lines missing or skipped"
    )


READERS = [
    ["show"],
    ["show", "--summary"],
    ["show", "--focus", "leaf"],
    ["show", "--name", "work", "--min-duration", "1ns"],
    ["show", "--tag", "1", "--max-depth", "2"],
    ["show", "--under-origin"],
    *(["export", "-f", fmt, "-o", "-"] for fmt in ("chrome", "speedscope", "otlp-json", "zipkin")),
    ["diff"],
]


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("case", ["max-lines", "torn", "ended", "mixed", "malformed"])
@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_one_line_names_the_file_and_what_happened(
    traces: dict[str, tuple[Path, Path]], fmt: str, case: str, argv: list[str], tmp_path: Path
) -> None:
    path, said = _case(traces, fmt, case, tmp_path)
    paths = [str(traces[fmt][0]), str(path)] if argv == ["diff"] else [str(path)]
    result = CliRunner().invoke(main, [*argv, *paths], catch_exceptions=False)
    assert result.exit_code in ((0, 1) if argv == ["diff"] else (0,)), result.stderr
    assert result.stderr.splitlines() == [f"functrace {argv[0]}: {path}: {said}"]
    if argv[0] == "export":
        json.loads(result.stdout)
    elif argv == ["show", "--summary"]:
        table = result.stdout
        unfinished = {"max-lines": 1, "torn": 1, "ended": 1, "mixed": 0, "malformed": 1}[case]
        assert bool(re.search(r"work +[0-9]+ \(1 unfinished\)", table)) == bool(unfinished)


def test_cut_by_max_lines_reads_to_its_marker(traces: dict[str, tuple[Path, Path]]) -> None:
    for fmt in ("text", "jsonl"):
        cut = traces[fmt][1]
        assert cut.read_text(encoding="utf-8").endswith(CUT_MARKER.format(101))
        table = CliRunner().invoke(main, ["show", "--summary", str(cut)]).stdout
        # 101 lines: two naming lines, main, 8 whole work calls (12 lines each), a 9th
        # work and 1 leaf (open).
        assert re.search(r"work +9 \(1 unfinished\)", table)
        assert re.search(r"leaf +41 \(1 unfinished\)", table)


def test_the_marker_is_the_runtimes() -> None:
    marker = CUT_MARKER.format(1_234_567)
    assert (m := CUT_RE.match(marker)) is not None and m[1] == "1234567"
    trace = read_trace_text("t[01]:    ->a\n" + marker + "hello\n")
    assert trace.cut_after == 1_234_567 and trace.skipped_lines == 1 and not trace.problems


@pytest.mark.parametrize(
    ("last", "torn"),
    [
        ("t[01]:        <-app.wo", True),
        ("t[01]:        ->app.wo", True),  # a whole enter line to the eye, all the same
        ("t[0", True),
        ("t", True),
        ('{"v":1,"ts":12', True),
        ('{"v":1,"ts":12}', False),  # a JSON object that parses is whole
        ("# t[02] = thread ", True),
        ("50% done t[01]:    ->app.f", True),  # the program's text, then a torn line
        ("t[01]:    <-app.f 1.00ms\n", False),  # it has its newline
        ("t[01]:    <-app.f 1.00ms\r", False),
        ("done", False),  # the program's own last words on a shared stderr
        ("total = 3", False),
        ("", False),
    ],
)
def test_what_is_a_torn_last_line(last: str, torn: bool) -> None:
    assert is_torn(last) is torn


def test_a_torn_line_is_not_read(tmp_path: Path) -> None:
    """Not as the call to ``app.wo`` it would read as: a kill cut ``app.work``."""
    path = tmp_path / "torn.log"
    path.write_text("t[01]:    ->app.main\nt[01]:        ->app.wo")
    trace = read_trace(path)
    assert [c.name for c in trace.walk()] == ["app.main"] and trace.torn_line == 2
    summary = Summary()
    scan = scan_trace(path, summary)
    assert list(summary.stats) == ["app.main"]
    assert (scan.torn_line, scan.lines, scan.unfinished) == (2, 1, 1)
    path.write_text("t[01]:    ->app.main\nall done")  # the program's words: no tear
    assert read_trace(path).torn_line == 0 and scan_trace(path, Summary()).torn_line == 0


def test_from_stdin_too() -> None:
    text = "t[01]:    ->app.main\nt[01]:        ->app.f\nt[01]:        <-app.f 1.0"
    result = CliRunner().invoke(main, ["show", "-"], input=text, catch_exceptions=False)
    assert result.exit_code == 0
    assert "app.f" in result.stdout and "1.0" not in result.stdout
    assert result.stderr.splitlines() == [
        "functrace show: <stdin>: cut mid-line at line 3 (read to the last complete event);"
        " 2 calls never finished"
    ]


def test_verbose_says_each_kind_first(traces: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    path, said = _case(traces, "text", "malformed", tmp_path)
    for argv in (["show", "-v"], ["export", "-f", "chrome", "-o", "-", "--verbose"]):
        result = CliRunner().invoke(main, [*argv, str(path)], catch_exceptions=False)
        cmd = f"functrace {argv[0]}"
        assert result.stderr.splitlines() == [
            f"{cmd}: {path}:{WORK_EXIT}: exit of __main__.work: '1.2.3ms' is not a duration",
            f"{cmd}: {path}: {said}",
        ]
