"""The rewriter's edges: default excludes said aloud, ``--exclude`` over whole paths,
stubs named explicitly, and a summary without escape codes on a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from functrace.cli import main

SRC = "def f():\n    return 1\n"
DONE = "@functrace.trace  # functrace: added\n"
HINT = "--no-default-excludes to include them"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stderr


def instrumented(path: Path) -> bool:
    return DONE in path.read_text()


def write(path: Path, text: str = SRC) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with build outputs at its top and a package named ``build`` inside."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pip" / "__init__.py", "")
    write(tmp_path / "pip" / "ops" / "__init__.py", "")
    write(tmp_path / "pip" / "ops" / "build" / "__init__.py", "")
    write(tmp_path / "pip" / "ops" / "build" / "wheel.py")
    write(tmp_path / "build" / "lib" / "pip" / "copy.py")
    write(tmp_path / "dist" / "old.py")
    write(tmp_path / ".tox" / "py311" / "t.py")
    write(tmp_path / "pip" / "__pycache__" / "junk.py")
    return tmp_path


def test_a_package_named_build_is_source_and_skipped_outputs_are_named(project: Path) -> None:
    code, err = invoke("instrument", ".")
    assert code == 0
    assert instrumented(project / "pip" / "ops" / "build" / "wheel.py")
    for left in ("build/lib/pip/copy.py", "dist/old.py", ".tox/py311/t.py"):
        assert not instrumented(project / left), left
    assert err == (
        f"skipped by default: 3 directories (.tox, build, dist); {HINT}\n"
        "1 file changed, 3 unchanged, 0 failed; 1 function instrumented\n"
    )


def test_no_default_excludes_searches_everything(project: Path) -> None:
    code, err = invoke("instrument", "--no-default-excludes", ".")
    assert code == 0
    for path in ("build/lib/pip/copy.py", "dist/old.py", ".tox/py311/t.py"):
        assert instrumented(project / path), path
    assert "skipped by default" not in err
    assert err.endswith("5 files changed, 3 unchanged, 0 failed; 5 functions instrumented\n")


def test_nothing_skipped_says_nothing(tmp_path: Path) -> None:
    write(tmp_path / "a.py")
    assert invoke("instrument", str(tmp_path))[1] == (
        "1 file changed, 0 unchanged, 0 failed; 1 function instrumented\n"
    )


@pytest.fixture
def tomlkit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "src" / "tomlkit" / "items.py")
    write(tmp_path / "src" / "tomlkit" / "api.py")
    write(tmp_path / "src" / "tomlkit" / "sub" / "items.py")
    return tmp_path / "src" / "tomlkit"


@pytest.mark.parametrize(
    ("arg", "pattern", "kept"),
    [
        ("src", "tomlkit/items.py", ["items.py"]),
        ("src/tomlkit", "tomlkit/items.py", ["items.py"]),  # the end of a path
        (".", "tomlkit/items.py", ["items.py"]),
        ("src/tomlkit", "src/tomlkit/items.py", ["items.py"]),
        ("src/tomlkit", "./src/tomlkit/items.py", ["items.py"]),  # from the working dir
        ("src", "./tomlkit/items.py", ["items.py"]),  # from the argument
        (".", "./tomlkit/items.py", []),  # anchored: not the end of any path
        ("src/tomlkit", "*/items.py", ["items.py", "sub/items.py"]),
        ("src/tomlkit", "tomlkit/*.py", ["items.py", "api.py", "sub/items.py"]),
        ("src/tomlkit", "items.py", ["items.py", "sub/items.py"]),  # a name, at any depth
        ("src/tomlkit", "src/tomlkit/sub/", ["sub/items.py"]),  # a folder
        (".", "src/*/sub", ["sub/items.py"]),
    ],
)
def test_exclude_matches_whole_paths(
    tomlkit: Path, arg: str, pattern: str, kept: list[str]
) -> None:
    code, _ = invoke("instrument", "--exclude", pattern, arg)
    assert code == 0
    for name in ("items.py", "api.py", "sub/items.py"):
        assert instrumented(tomlkit / name) is (name not in kept), name


def test_exclude_an_absolute_path(tomlkit: Path) -> None:
    invoke("instrument", "--exclude", str(tomlkit / "items.py"), "src")
    assert not instrumented(tomlkit / "items.py")
    assert instrumented(tomlkit / "sub" / "items.py")


def test_a_stub_named_is_refused_in_one_line(tmp_path: Path) -> None:
    stub = write(tmp_path / "m.pyi", "def f(x: int) -> int: ...\n")
    code, err = invoke("instrument", str(stub))
    assert code == 0
    assert err == (
        f"{stub}: skipped: a stub (.pyi) has no function bodies to trace\n"
        "0 files changed, 0 unchanged, 1 skipped, 0 failed; 0 functions instrumented\n"
    )
    assert stub.read_text() == "def f(x: int) -> int: ...\n"


def test_stubs_in_a_walk_are_passed_over_silently(tmp_path: Path) -> None:
    write(tmp_path / "m.pyi", "def f(x: int) -> int: ...\n")
    write(tmp_path / "m.py")
    code, err = invoke("instrument", str(tmp_path))
    assert (code, err) == (0, "1 file changed, 0 unchanged, 0 failed; 1 function instrumented\n")
    assert not instrumented(tmp_path / "m.pyi")


def test_strip_still_takes_a_stub_an_older_version_instrumented(tmp_path: Path) -> None:
    text = "def f(x: int) -> int: ...\n"
    stub = write(tmp_path / "m.pyi", f"import functrace  # functrace: added\n{DONE}{text}")
    assert invoke("strip", str(stub))[0] == 0
    assert stub.read_text() == text


def test_unparsable_file_through_the_cli(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.py", "x = (1,\n")
    code, err = invoke("instrument", str(bad))
    assert code == 1
    assert err.splitlines()[0] == f"{bad}:1:5: cannot parse: '(' was never closed"


@pytest.mark.parametrize("env", [{}, {"FORCE_COLOR": "1", "TERM": "xterm-256color"}])
def test_no_escape_codes_when_stderr_is_a_pipe(tmp_path: Path, env: dict[str, str]) -> None:
    for i in range(3):
        write(tmp_path / f"m{i}.py")
    write(tmp_path / "build" / "x.py")
    write(tmp_path / "bad.py", "x = (1,\n")
    done = subprocess.run(
        [sys.executable, "-m", "functrace", "instrument", "-j", "1", str(tmp_path)],
        capture_output=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.returncode == 1
    assert b"\x1b" not in done.stderr and b"\r" not in done.stderr, done.stderr
    assert done.stderr.decode().splitlines() == [
        f"{tmp_path / 'bad.py'}:1:5: cannot parse: '(' was never closed",
        f"skipped by default: 1 directory ({tmp_path / 'build'}); {HINT}",
        "3 files changed, 0 unchanged, 1 failed; 3 functions instrumented",
    ]
