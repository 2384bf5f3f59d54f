"""``functrace run``'s options: the program's arguments are its own after SCRIPT or
``-m MODULE``; both parsers read every option alike; the runtime's settings as
options; notes at exit when what was asked for could not be traced."""

from __future__ import annotations

import importlib.machinery
import os
import textwrap
from pathlib import Path
from typing import Any

import click
import pytest

from functrace.__main__ import RUN_OPTIONS, RunOption, parse_run
from functrace._runtime.config import Settings, settings_from_env
from functrace.cli.run import command
from functrace.importhook.runner import SETTING_OF
from tests.helpers import ROOT, run_python

RUN = ["-m", "functrace", "run"]

# A value each option accepts, and one it refuses (None: it takes any).
GOOD = {"module": "app", "include": "a", "exclude": "b", "output": "t.log", "fmt": "jsonl"}
GOOD |= {"max_depth": "3", "min_duration": "2ms", "max_lines": "10", "no_children": ""}
GOOD |= {"args": "1", "args_repr": "repr"}  # flags: the value they stand for
BAD = {"fmt": "xml", "max_depth": "-1", "min_duration": "5xs", "max_lines": "many", "output": ""}


def click_parse(args: list[str]) -> dict[str, Any]:
    ctx = command.make_context("run", list(args))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in ctx.params.items()}


def spellings(option: RunOption, value: str) -> list[list[str]]:
    if option.flag or option.flag_value is not None:
        return [[flag] for flag in option.flags]
    forms = []
    for flag in option.flags:
        forms.append([flag, value])
        if flag.startswith("--"):
            forms.append([f"{flag}={value}"])
        elif value:  # "-o" + "" is "-o" alone
            forms.append([flag + value])
    return forms


@pytest.mark.parametrize("option", RUN_OPTIONS, ids=lambda o: o.key)
def test_both_parsers_read_every_option_alike(option: RunOption) -> None:
    assert set(GOOD) == {o.key for o in RUN_OPTIONS}  # a new option needs values here
    for form in spellings(option, GOOD[option.key]):
        for args in ([*form, "p.py", "-x"], [*form, "-m", "mod", "-o", "x"]):
            parsed = parse_run(args)
            assert parsed is not None, args
            assert parsed == click_parse(args), args
            expected = True if option.flag else GOOD[option.key]
            assert parsed[option.key] in (expected, [expected])
    if option.flag or option.flag_value is not None:
        assert parse_run([f"{option.flags[0]}=1", "p.py"]) is None  # a flag takes no value
        with pytest.raises(click.BadOptionUsage):
            click_parse([f"{option.flags[0]}=1", "p.py"])
    if option.key in BAD:
        for form in spellings(option, BAD[option.key]):
            assert parse_run([*form, "p.py"]) is None
            with pytest.raises(click.BadParameter):
                click_parse([*form, "p.py"])


@pytest.mark.parametrize(
    ("args", "module", "argv"),
    [
        (["-m", "pytest", "-q"], "pytest", ["-q"]),
        (["-m", "mod", "-o", "foo.txt"], "mod", ["-o", "foo.txt"]),
        (["-m", "a", "-m", "b"], "a", ["-m", "b"]),
        (["-o", "t.log", "-mmod", "--help", "--"], "mod", ["--help", "--"]),
        (["prog.py", "-m", "b", "-q"], None, ["prog.py", "-m", "b", "-q"]),
    ],
)
def test_after_the_module_everything_is_the_programs(
    args: list[str], module: str | None, argv: list[str]
) -> None:
    for parsed in (parse_run(args), click_parse(args)):
        assert parsed is not None
        assert (parsed["module"], parsed["argv"]) == (module, argv)
    assert click_parse(args)["output"] == parse_run(args)["output"]  # type: ignore[index]


def test_each_setting_option_sets_its_variable_and_says_so() -> None:
    for option in RUN_OPTIONS:
        if option.env is None:
            continue
        assert option.env in option.help  # documented beside its variable
        field = SETTING_OF[option.env]
        assert getattr(settings_from_env({option.env: GOOD[option.key]}), field) != getattr(
            Settings(), field
        )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {
        "app/__init__.py": "",
        "app/core.py": """
            import time
            def leaf(): return 1
            def slow():
                time.sleep(0.03)
                return leaf()
            def top(): return slow() + leaf()
        """,
        "app/__main__.py": """
            import os, sys
            from app import core
            print(sys.argv[1:], core.top(), os.environ.get("FUNCTRACE_MAX_DEPTH"))
        """,
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def elsewhere(project: Path) -> dict[str, Any]:
    """Run from a directory that does not hold app, importable as an installed
    package is."""
    (project / "cwd").mkdir(exist_ok=True)
    return {"cwd": project / "cwd", "env": {"PYTHONPATH": f"{ROOT}{os.pathsep}{project}"}}


def calls(stderr: str) -> list[str]:
    return [line.split(":", 1)[1].rstrip() for line in stderr.splitlines() if "->" in line]


def test_module_arguments_reach_the_program(project: Path) -> None:
    ran = run_python([*RUN, "-m", "app", "-q", "-o", "foo.txt", "-m", "b"], cwd=project)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "['-q', '-o', 'foo.txt', '-m', 'b'] 2 None\n"
    assert not (project / "foo.txt").exists()
    assert len(calls(ran.stderr)) == 4  # lines on stderr: -o was the program's


def test_args_options_show_values(project: Path) -> None:
    ran = run_python([*RUN, "--args", "-m", "app"], cwd=project)
    assert ran.returncode == 0, ran.stderr
    assert calls(ran.stderr)[0] == "    ->app.core.top()"
    leaf_exits = [line for line in ran.stderr.splitlines() if "<-app.core.leaf " in line]
    assert leaf_exits and all(line.endswith(" => 1") for line in leaf_exits)
    plain = run_python([*RUN, "-m", "app"], cwd=project)
    assert calls(plain.stderr)[0] == "    ->app.core.top"


def test_settings_as_options(project: Path) -> None:
    deep = run_python([*RUN, "--max-depth", "1", "-m", "app"], cwd=project)
    assert deep.stdout == "[] 2 1\n", deep.stderr  # the program's children see it too
    assert calls(deep.stderr) == ["    ->app.core.top"]
    slow = run_python([*RUN, "--min-duration", "20ms", "-m", "app"], cwd=project)
    assert calls(slow.stderr) == ["    ->app.core.top", "        ->app.core.slow"]
    capped = run_python([*RUN, "--max-lines=2", "--format", "jsonl", "-m", "app"], cwd=project)
    lines = capped.stderr.splitlines()
    assert len(lines) == 3 and lines[0].startswith("{") and "cut after 2 lines" in lines[2]


def test_bad_duration_names_the_units(project: Path) -> None:
    bad = run_python([*RUN, "--min-duration", "5xs", "-m", "app"], cwd=project)
    assert bad.returncode == 2
    assert (
        "Invalid value for '--min-duration': '5xs' is not a duration: a number and a "
        "unit, ns, us (or µs), ms or s (500us, 2ms, 1.5s), or 0"
    ) in bad.stderr


def test_bare_include_takes_the_submodules(project: Path) -> None:
    ran = run_python([*RUN, "--include", "app", "-m", "app"], **elsewhere(project))
    assert ran.returncode == 0, ran.stderr  # run from outside: only --include decides
    assert calls(ran.stderr)[:2] == ["    ->app.core.top", "        ->app.core.slow"]
    assert "functrace: " not in ran.stderr
    (project / "app" / "sub").mkdir()
    (project / "app" / "sub" / "__init__.py").write_text("def f(): return 1\n")
    (project / "app" / "__main__.py").write_text("import app.sub, app.core\napp.sub.f()\n")
    ran = run_python([*RUN, "-i", "app", "-e", "app.core", "-m", "app"], **elsewhere(project))
    assert calls(ran.stderr) == ["    ->app.sub.f"], ran.stderr
    ran = run_python([*RUN, "-i", "app.sub", "-m", "app"], **elsewhere(project))
    assert calls(ran.stderr) == ["    ->app.sub.f"], ran.stderr


def test_notes_at_exit_for_what_could_not_be_traced(project: Path) -> None:
    # A compiled submodule, as mypyc and Cython build them: no Python code.
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    speedups = ROOT / "functrace" / "_runtime" / f"_speedups{suffix}"
    (project / "app" / f"_speedups{suffix}").write_bytes(speedups.read_bytes())
    (project / "app" / "__main__.py").write_text("import app._speedups\n")
    ran = run_python(
        [*RUN, "-i", "app", "-i", "nothere", "-i", "gone*", "-m", "app"], **elsewhere(project)
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.splitlines() == [
        "functrace: no imported module matched --include nothere, gone*",
        "functrace: compiled, no Python code to trace (mypyc, Cython): app._speedups",
    ]


def test_note_when_an_installed_module_is_run_without_include(project: Path) -> None:
    ran = run_python([*RUN, "-m", "app"], **elsewhere(project))
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == (
        "functrace: nothing traced: app is not under the current directory "
        "(installed packages are traced when named: --include app)\n"
    )


def test_no_note_when_the_module_does_not_exist(project: Path) -> None:
    ran = run_python([*RUN, "-m", "nosuchmodule"], **elsewhere(project))
    assert ran.returncode == 1
    assert ran.stderr.endswith(": No module named nosuchmodule\n")
    assert "functrace" not in ran.stderr.replace("-m functrace", "")
