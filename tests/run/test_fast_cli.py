"""``functrace run``'s options parsed without click agree with click's parse."""

from __future__ import annotations

from typing import Any

import pytest

from functrace.__main__ import parse_run
from functrace.cli.exit_codes import ExitCode
from functrace.cli.run import command
from functrace.importhook import runner


def click_parse(args: list[str]) -> dict[str, Any]:
    ctx = command.make_context("run", list(args))
    params = dict(ctx.params)
    params["include"], params["exclude"] = list(params["include"]), list(params["exclude"])
    params["argv"] = list(params["argv"])
    return params


@pytest.mark.parametrize(
    "args",
    [
        ["prog.py"],
        ["prog.py", "-m", "x", "--include", "y"],
        ["-m", "app", "serve", "--port", "1"],
        ["-mapp", "-i", "a", "--include=b", "-ic", "-e", "d", "--exclude=e", "prog.py"],
        ["-o", "t.log", "--output", "u.log", "--format", "jsonl", "--format=text", "p.py"],
        ["--", "-weird.py", "x"],
        ["-m", "app", "--", "--flag"],
        ["-", "arg"],
        ["-m", "app"],
        ["--output=", "p.py"],
    ],
)
def test_same_as_click(args: list[str]) -> None:
    parsed = parse_run(args)
    assert parsed is not None
    assert parsed == click_parse(args)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["-h"],
        ["--format", "xml", "p.py"],
        ["--nope", "p.py"],
        ["-x", "p.py"],
        ["--include"],
        ["-m"],
        ["-o", "t.log"],
        ["--inc=a", "p.py"],
    ],
)
def test_click_answers_the_rest(args: list[str]) -> None:
    assert parse_run(args) is None


def test_exit_codes_match() -> None:
    assert runner._USAGE == ExitCode.USAGE
    assert runner._INTERRUPTED == ExitCode.INTERRUPTED
