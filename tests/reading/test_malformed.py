"""Malformed trace lines are skipped and reported (``FILE:LINE: reason``), never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from functrace.cli import main
from functrace.reading import Problem, Trace, read_trace, read_trace_lines, read_trace_text

BASE = {"v": 1, "ts": 1000, "pid": 7, "tid": 70, "thread": "main", "task": None, "tag": "t[01]"}


def event(ev: str, depth: int, name: str, ts: int, /, **extra: object) -> str:
    fields: dict[str, object] = {**BASE, "ts": ts, "depth": depth, "ev": ev, "name": name}
    fields.update({"file": "app.py", "line": 3})
    if ev in ("exit", "suspend"):
        fields.update({"dur": 0, "exc": None, "suspended": None})
    fields.update(extra)
    return json.dumps(fields)


def jsonl_around(bad: str) -> str:
    """A good call app.a around one bad line (line 2)."""
    return "\n".join(
        [event("enter", 1, "app.a", 1000), bad, event("exit", 1, "app.a", 2000, dur=1000)]
    )


def names(trace: Trace) -> list[str]:
    return [c.name for c in trace.walk()]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"ts": "x"}, "\"ts\" is 'x', not a whole number from 0 to 2**63-1"),
        ({"ts": -5}, '"ts" is -5, not a whole number from 0 to 2**63-1'),
        ({"ts": 2**70}, f'"ts" is {2**70}, not a whole number from 0 to 2**63-1'),
        ({"ts": True}, '"ts" is True, not a whole number from 0 to 2**63-1'),
        ({"depth": None}, '"depth" is None, not a whole number from 0 to 2**63-1'),
        ({"pid": "7"}, "\"pid\" is '7', not a whole number from 0 to 2**63-1"),
        ({"line": 1.5}, '"line" is 1.5, not a whole number from 0 to 2**63-1'),
        ({"tag": ["t[01]"]}, "\"tag\" is ['t[01]'], not a string"),
        ({"name": 3}, '"name" is 3, not a string'),
        ({"ev": "exit", "dur": "x"}, "\"dur\" is 'x', not a whole number from 0 to 2**63-1"),
        ({"ev": "exit", "dur": 5000}, '"dur" 5000 is longer than "ts" 1500'),
        ({"ev": "exit", "exc": 3}, '"exc" is 3, not a string'),
        ({"ev": "jump"}, 'not a functrace event (no known "ev")'),
        ({"ts": None, "name": None}, '"ts" is None, not a whole number from 0 to 2**63-1'),
    ],
)
def test_bad_jsonl_fields_skip_the_line(extra: dict[str, object], reason: str) -> None:
    bad = json.loads(event("enter", 2, "app.b", 1500))
    bad.update(extra)
    trace = read_trace_text(jsonl_around(json.dumps(bad)))
    assert names(trace) == ["app.a"] and not trace.open_calls()
    assert trace.problems == [Problem(line=2, reason=reason, count=1)]
    assert trace.skipped_lines == 1


def test_missing_field_and_torn_json() -> None:
    missing = json.dumps(
        {k: v for k, v in json.loads(event("enter", 2, "b", 1500)).items() if k != "ts"}
    )
    trace = read_trace_text(jsonl_around(missing) + '\n{"v":1,"ts":')
    assert trace.problems == [
        Problem(line=2, reason='no "ts" field'),
        Problem(line=4, reason="not valid JSON (a torn last line?)"),
    ]


def test_float_overflow_in_json_is_a_bad_field() -> None:
    trace = read_trace_text(jsonl_around(event("enter", 2, "b", 1500).replace("1500", "1e400")))
    assert trace.problems == [
        Problem(line=2, reason='"ts" is inf, not a whole number from 0 to 2**63-1')
    ]


TEXT_OK = "t[01]:    ->app.a\nt[01]:    <-app.a 2.00ms\n"


@pytest.mark.parametrize(
    ("exit_line", "reason"),
    [
        (
            "<-app.b 99999999999999999999999999s",
            "exit of app.b: duration '99999999999999999999999999s' is out of range",
        ),
        (
            "<-app.b " + "9" * 400 + "s",
            "exit of app.b: duration '" + "9" * 37 + "...' is out of range",
        ),
        ("<-app.b 1.2.3s", "exit of app.b: '1.2.3s' is not a duration"),
        ("<-app.b", "exit of app.b has no duration (a torn last line?)"),
    ],
)
def test_bad_text_exit_skips_the_line(exit_line: str, reason: str) -> None:
    text = f"t[01]:    ->app.b\nt[01]:    {exit_line}\n" + TEXT_OK
    trace = read_trace_text(text, end_epoch_ns=10**18)
    assert names(trace) == ["app.b", "app.a"]
    assert [c.name for c in trace.open_calls()] == ["app.b"]  # its exit was skipped
    assert trace.problems == [Problem(line=2, reason=reason)]
    assert trace.epoch_offset_ns >= 0


def test_text_timeline_stays_in_range() -> None:
    # Each exit is fine alone; together they would put the trace thousands of years long.
    text = "".join("t[01]:    ->f\nt[01]:    <-f 999000000s\n" for _ in range(50))
    trace = read_trace_text(text)
    assert 0 < trace.end_ns <= 10**18
    assert trace.problems[0].reason == "exit of f: duration '999000000s' is out of range"
    assert trace.problems[0].count == len(trace.open_calls())


def test_malformed_text_line() -> None:
    trace = read_trace_text("t[01]:  ->two.spaces\n" + TEXT_OK)
    assert names(trace) == ["app.a"]
    assert trace.problems == [Problem(line=1, reason="a malformed text trace line")]


def test_mixed_formats_are_named_with_their_count() -> None:
    jsonl = [event("enter", 1, "j", 1000), event("exit", 1, "j", 2000, dur=1000)]
    text_first = read_trace_text(TEXT_OK + "\n".join(jsonl) + "\n{'not': 'an event'}\n")
    assert names(text_first) == ["app.a"] and text_first.source == "text"
    assert text_first.problems == [
        Problem(
            line=3,
            reason="a jsonl line in a text trace: only the text lines are read",
            count=2,
        )
    ]
    assert text_first.skipped_lines == 3  # and the program's own output, unreported
    jsonl_first = read_trace_text("\n".join(jsonl) + "\n" + TEXT_OK)
    assert names(jsonl_first) == ["j"] and jsonl_first.source == "jsonl"
    assert jsonl_first.problems == [
        Problem(
            line=3, reason="a text line in a jsonl trace: only the jsonl lines are read", count=2
        )
    ]


def test_program_output_is_not_a_problem() -> None:
    trace = read_trace_text("hello\n{'a': 1}\n" + TEXT_OK + "bye\n")
    assert trace.problems == [] and trace.skipped_lines == 3
    jsonl = [event("enter", 1, "j", 1000), '{"not": "an event"}', event("exit", 1, "j", 2000)]
    trace = read_trace_text("\n".join(["hello", *jsonl, "{'a': 1}"]))
    assert names(trace) == ["j"] and trace.source == "jsonl"
    assert trace.problems == [] and trace.skipped_lines == 3


def test_lines_are_streamed() -> None:
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for i in range(100_000):
            consumed = i + 1
            yield "t[01]:    ->f\n" if i % 2 == 0 else "t[01]:    <-f 1.00µs\n"

    trace = read_trace_lines(lines())
    assert consumed == 100_000 and len(trace.roots) == 50_000


def many_problems(tmp_path: Path) -> Path:
    path = tmp_path / "trace.jsonl"
    with path.open("w") as f:
        f.write(event("enter", 1, "app.a", 1000) + "\n")
        for i in range(20_000):
            f.write(event("enter", 2, "b", 0, ts=f"x{1100 + i}") + "\n")
        f.write(event("exit", 1, "app.a", 900_000, dur=899_000) + "\n")
        f.write("t[01]:    ->a.text.line\n")
        f.write('{"v":1,"ts":\n')
    return path


@pytest.mark.parametrize("argv", [["show"], ["export", "-f", "chrome"]])
def test_cli_reports_briefly_on_a_big_bad_file(tmp_path: Path, argv: list[str]) -> None:
    path = many_problems(tmp_path)
    result = CliRunner().invoke(main, [*argv, str(path)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "app.a" in result.stdout
    cmd = f"functrace {argv[0]}"
    assert result.stderr.splitlines() == [
        f"{cmd}: {path}: 1 text line in a jsonl trace skipped (line 20,003); 20,001 unreadable"
        " lines skipped (first at line 2: \"ts\" is 'x1100', not a whole number from 0 to"
        " 2**63-1; 2 kinds: --verbose lists them)"
    ]
    verbose = CliRunner().invoke(main, [*argv, "-v", str(path)], catch_exceptions=False)
    assert verbose.stderr.splitlines() == [
        f"{cmd}: {path}:2: \"ts\" is 'x1100', not a whole number from 0 to 2**63-1"
        " (and 19999 more lines like it)",
        f"{cmd}: {path}:20003: a text line in a jsonl trace: only the jsonl lines are read",
        f"{cmd}: {path}:20004: not valid JSON (a torn last line?)",
        f"{cmd}: {path}: 1 text line in a jsonl trace skipped (line 20,003); 20,001 unreadable"
        " lines skipped (first at line 2: \"ts\" is 'x1100', not a whole number from 0 to"
        " 2**63-1)",
    ]


@pytest.mark.parametrize(
    "argv", [["show"], ["export", "-f", "otlp-json"], ["export", "-f", "zipkin"]]
)
def test_cli_huge_text_duration_from_stdin(argv: list[str]) -> None:
    text = "t[01]:    ->app.a\nt[01]:    <-app.a 99999999999999999999999999s\n" + TEXT_OK
    result = CliRunner().invoke(main, [*argv, "-"], input=text, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    cmd = f"functrace {argv[0]}"
    # The first app.a stays open: its exit was skipped.
    assert result.stderr.splitlines() == [
        f"{cmd}: <stdin>: 1 unreadable line skipped (line 2: exit of app.a: duration"
        " '99999999999999999999999999s' is out of range); 1 call never finished: exit lines"
        " missing or skipped"
    ]


def test_cli_nothing_but_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(event("enter", 1, "a", 0, ts="x") + "\n")
    result = CliRunner().invoke(main, ["show", str(path)], catch_exceptions=False)
    assert result.exit_code != 0
    assert result.stderr.splitlines() == [
        f"functrace show: no trace lines in {path}: 1 unreadable line skipped"
        " (line 1: \"ts\" is 'x', not a whole number from 0 to 2**63-1)",
    ]


def test_read_trace_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_bytes(b"t[01]:    ->a\r\nt[01]:    <-a 1.00ms\r\n\xff\xfe\n")
    trace = read_trace(path)
    assert names(trace) == ["a"] and trace.skipped_lines == 1 and not trace.problems
