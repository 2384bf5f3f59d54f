"""``functrace run``'s options parsed without click agree with click's parse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functrace.__main__ import parse_run
from functrace.cli.exit_codes import ExitCode
from functrace.cli.run import command
from functrace.importhook import runner
from tests.helpers import run_python


def click_parse(args: list[str]) -> dict[str, Any]:
    ctx = command.make_context("run", list(args))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in ctx.params.items()}


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
        ["--output=", "p.py"],
    ],
)
def test_click_answers_the_rest(args: list[str]) -> None:
    assert parse_run(args) is None


def test_exit_codes_match() -> None:
    assert runner._USAGE == ExitCode.USAGE
    assert runner._INTERRUPTED == ExitCode.INTERRUPTED


def test_entry_point_function(tmp_path: Path) -> None:
    """``functrace.__main__:main`` as a console script calls it: ``run`` without
    click, anything else through the click group."""
    (tmp_path / "probe.py").write_text("import sys\nprint('click' in sys.modules)\n")
    call = "import sys; from functrace.__main__ import main; sys.argv[0] = 'functrace'; main()"
    ran = run_python(["-c", call, "run", "probe.py"], cwd=tmp_path)
    assert ran.stdout == "False\n", ran.stderr
    version = run_python(["-c", call, "--version"], cwd=tmp_path)
    assert version.returncode == 0 and "version" in version.stdout
