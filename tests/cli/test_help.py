"""``functrace --help`` and each command's help; the documented variables are the
ones the runtime reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from functrace._runtime import state
from functrace._runtime.config import VARIABLES
from functrace.cli import _COMMANDS, main
from tests.helpers import ROOT, run_python

VARIABLE_RE = re.compile(r"\bFUNCTRACE(?:_[A-Z][A-Z0-9_]*)?\b")
DOCS = ("docs/deploying.md", "docs/configuration.md")


def _module_constant(path: Path, name: str) -> str:
    """The string a module assigns to ``name`` at its top level, read without
    importing it (functrace.otel needs the otel extra)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                assert isinstance(node.value, ast.Constant)
                assert isinstance(node.value.value, str)
                return node.value.value
    raise AssertionError(f"{name} not assigned in {path}")


def runtime_variables() -> set[str]:
    """Every FUNCTRACE* variable functrace reads: the settings table, plus those
    read on their own (the trace's first process, the OpenTelemetry exit wait, the
    policy a followed child traces by)."""
    return {
        *VARIABLES,
        state.ROOT_ENV,
        _module_constant(ROOT / "functrace/children/__init__.py", "VARIABLE"),
        _module_constant(ROOT / "functrace/otel/_export.py", "EXIT_TIMEOUT_VAR"),
    }


def documented(path: str) -> set[str]:
    return set(VARIABLE_RE.findall((ROOT / path).read_text(encoding="utf-8")))


def test_top_help_lists_every_command_whole() -> None:
    result = run_python(["-m", "functrace", "--help"], env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "…" not in out and "..." not in out.replace("[ARGS]...", "")
    section = out.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = dict(line.split(None, 1) for line in section)  # one line per command
    assert sorted(rows) == sorted(_COMMANDS)
    for name, description in rows.items():
        assert description.strip().endswith((".", "?")), (name, description)
    assert max(len(line) for line in out.splitlines()) <= 80
    # The environment and the pytest plugin are named, all of the variables.
    assert "docs/configuration.md" in out and "pytest --functrace=PKG" in out
    named = set(VARIABLE_RE.findall(out))
    assert named <= runtime_variables()
    assert set(VARIABLES) <= named


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_each_command_help_has_an_example(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    example = result.output.split("Examples:", 1)[1]
    assert f"functrace {name} " in example  # the lines kept as written (\b)
    assert max(len(line) for line in result.output.splitlines()) <= 80


@pytest.mark.parametrize("path", DOCS)
def test_documented_variables_are_read(path: str) -> None:
    named = documented(path)
    assert named, path
    assert named <= runtime_variables(), named - runtime_variables()


def test_every_setting_is_documented() -> None:
    missing = set(VARIABLES) - documented("docs/configuration.md")
    assert not missing


def test_deploying_names_the_otel_and_output_variables() -> None:
    text = (ROOT / "docs/deploying.md").read_text(encoding="utf-8")
    for needed in (
        "Environment=FUNCTRACE_OUTPUT=/var/log/app/trace-{pid}.log",
        "FUNCTRACE_FOLLOW_SYMLINKS",
        "env {",
        "FUNCTRACE_EXPORTER=otel",
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "FUNCTRACE_OTEL_EXIT_TIMEOUT",
    ):
        assert needed in text, needed


def test_runtime_variables_are_all_the_source_names() -> None:
    # A FUNCTRACE* name read somewhere new must join runtime_variables() (and so
    # be checked against the docs).
    in_source: set[str] = set()
    for path in (ROOT / "functrace").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and VARIABLE_RE.fullmatch(value):
                in_source.add(value)
    assert in_source == runtime_variables()
