"""``functrace instrument`` / ``functrace strip`` through click's CliRunner and as real
subprocesses."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from functrace.cli import main

A = "  # functrace: added"
SRC = "def f():\n    return 1\n"
OUT = f"import functrace{A}\n@functrace.trace{A}\ndef f():\n    return 1\n"


def invoke(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text(SRC)
    (tmp_path / "pkg" / "b.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "notes.txt").write_text("def not_python(): pass\n")
    for excluded in (".git", "build", "__pycache__", ".venv", "site-packages", "x.egg-info"):
        (tmp_path / "pkg" / excluded).mkdir()
        (tmp_path / "pkg" / excluded / "e.py").write_text(SRC)
    (tmp_path / "pkg" / "myenv").mkdir()
    (tmp_path / "pkg" / "myenv" / "pyvenv.cfg").write_text("")
    (tmp_path / "pkg" / "myenv" / "e.py").write_text(SRC)
    return tmp_path / "pkg"


def skipped_in(tree: Path) -> str:
    """The line saying what the default excludes passed over in ``tree``."""
    names = (".git", ".venv", "build", "myenv", "site-packages")
    listed = ", ".join(str(tree / name) for name in names)
    return (
        f"skipped by default: 6 directories ({listed}...); --no-default-excludes to include them\n"
    )


def test_instrument_then_strip_a_tree(tree: Path) -> None:
    code, out, err = invoke("instrument", str(tree))
    assert (code, out) == (0, "")
    summary = "1 file changed, 1 unchanged, 0 failed; 1 function instrumented\n"
    assert err == skipped_in(tree) + summary
    assert (tree / "a.py").read_text() == OUT
    for excluded in (
        ".git",
        "build",
        "__pycache__",
        ".venv",
        "site-packages",
        "x.egg-info",
        "myenv",
    ):
        assert (tree / excluded / "e.py").read_text() == SRC
    code, out, err = invoke("strip", str(tree))
    assert code == 0
    assert err == skipped_in(tree) + "1 file changed, 1 unchanged, 0 failed; 1 function untraced\n"
    assert (tree / "a.py").read_text() == SRC


def test_write_flag_is_accepted(tree: Path) -> None:
    assert invoke("instrument", "-w", str(tree / "a.py"))[0] == 0
    assert (tree / "a.py").read_text() == OUT


def test_check_writes_nothing_and_exits_1_when_work_is_found(tree: Path) -> None:
    code, out, err = invoke("instrument", "--check", str(tree))
    assert (code, out) == (1, "")
    assert err.endswith(
        "\n1 file would change, 1 unchanged, 0 failed; 1 function would be instrumented\n"
    )
    assert (tree / "a.py").read_text() == SRC
    invoke("instrument", str(tree))
    assert invoke("instrument", "--check", str(tree))[0] == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(tree: Path) -> None:
    code, out, _err = invoke("instrument", "--diff", str(tree / "a.py"))
    path = str(tree / "a.py")
    assert code == 0
    assert out == (
        f"--- {path}\n+++ {path}\n@@ -1,2 +1,4 @@\n"
        f"+import functrace{A}\n+@functrace.trace{A}\n def f():\n     return 1\n"
    )
    assert (tree / "a.py").read_text() == SRC


def test_stdin_to_stdout() -> None:
    code, out, _err = invoke("instrument", "-", input=SRC.encode())
    assert (code, out) == (0, OUT)
    code, out, _err = invoke("strip", "-", input=OUT.encode())
    assert (code, out) == (0, SRC)


def test_exclude_glob(tree: Path) -> None:
    code, _, err = invoke("instrument", "--exclude", "a.py", str(tree))
    assert code == 0
    assert "\n0 files changed, 1 unchanged" in err
    invoke("instrument", "--exclude", "*.py", str(tree))
    assert (tree / "a.py").read_text() == SRC


def test_unparsable_file_is_reported_and_the_rest_processed(tree: Path) -> None:
    (tree / "bad.py").write_text("x = 1\ndef f(:\n    pass\n")
    code, _out, err = invoke("instrument", str(tree))
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == f"{tree / 'bad.py'}:2:7: cannot parse: invalid syntax"
    assert lines[-1] == "1 file changed, 1 unchanged, 1 failed; 1 function instrumented"
    assert (tree / "bad.py").read_text() == "x = 1\ndef f(:\n    pass\n"
    assert (tree / "a.py").read_text() == OUT


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _out, err = invoke("instrument", str(tmp_path / "nope.py"), str(tmp_path / "empty"))
    assert code == 1
    assert err.splitlines() == [
        f"{tmp_path / 'nope.py'}: no such file or directory",
        f"{tmp_path / 'empty'}: no Python files found",
        "0 files changed, 0 unchanged, 1 failed; 0 functions instrumented",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(tree: Path) -> None:
    (tree / "a.py").chmod(0)
    code, _, err = invoke("instrument", str(tree / "a.py"))
    assert code == 1
    assert err.splitlines()[0] == f"{tree / 'a.py'}: cannot read: Permission denied"


def test_a_file_that_cannot_be_read_is_a_result_not_a_crash(tmp_path: Path) -> None:
    from functrace.codemod.parallel import Mode, rewrite_file

    report = rewrite_file(str(tmp_path), "instrument", Mode.WRITE)  # a directory
    assert report.result.describe(report.path) == f"{tmp_path}: cannot read: Is a directory"


def test_permissions_are_kept_and_unchanged_files_untouched(tree: Path) -> None:
    (tree / "a.py").chmod(0o751)
    before = (tree / "b.py").stat().st_mtime_ns
    os.utime(tree / "b.py", ns=(before - 10**9, before - 10**9))
    invoke("instrument", str(tree))
    assert stat.S_IMODE((tree / "a.py").stat().st_mode) == 0o751
    assert (tree / "b.py").stat().st_mtime_ns == before - 10**9
    assert [p.name for p in tree.iterdir() if p.name.endswith(".functrace")] == []


def test_symlinks_out_of_the_tree_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.py").write_text(SRC)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link.py").symlink_to(outside / "o.py")
    (tree / "linkdir").symlink_to(outside)
    _code, _, err = invoke("instrument", str(tree))
    assert (outside / "o.py").read_text() == SRC
    assert (
        err == f"{tree}: no Python files found\n"
        "0 files changed, 0 unchanged, 0 failed; 0 functions instrumented\n"
    )


def test_write_and_check_together_is_a_usage_error(tree: Path) -> None:
    assert invoke("instrument", "-w", "--check", str(tree))[0] == 2
    assert invoke("instrument")[0] == 2


def test_parallel_jobs(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"m{i}.py").write_text(SRC)
    code, _, err = invoke("instrument", "-j", "2", str(tmp_path))
    assert code == 0
    assert err == "12 files changed, 0 unchanged, 0 failed; 12 functions instrumented\n"
    assert all((tmp_path / f"m{i}.py").read_text() == OUT for i in range(12))


def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "functrace", *args], input=input, capture_output=True, timeout=60
    )


def test_subprocess_round_trip(tree: Path) -> None:
    (tree / "crlf.py").write_bytes(b"class A:\r\n\tdef m(self):\r\n\t\tpass")
    done = run("instrument", "-j", "2", str(tree))
    assert done.returncode == 0, done.stderr
    summary = "2 files changed, 1 unchanged, 0 failed; 2 functions instrumented\n"
    assert done.stderr.decode() == skipped_in(tree) + summary
    assert b"Traceback" not in done.stderr
    assert run("instrument", "--check", str(tree)).returncode == 0
    assert run("strip", str(tree)).returncode == 0
    assert (tree / "crlf.py").read_bytes() == b"class A:\r\n\tdef m(self):\r\n\t\tpass"
    assert (tree / "a.py").read_text() == SRC


def test_subprocess_stdin_and_bad_input(tmp_path: Path) -> None:
    done = run("instrument", "-", input=SRC.encode())
    assert (done.returncode, done.stdout) == (0, OUT.encode())
    done = run("instrument", str(tmp_path / "missing"))
    assert done.returncode == 1
    assert (
        done.stderr.splitlines()[0] == f"{tmp_path / 'missing'}: no such file or directory".encode()
    )
    assert b"Traceback" not in done.stderr


def test_interrupt_prints_a_partial_summary_and_exits_130(tmp_path: Path) -> None:
    import signal
    import time

    body = "".join(f"def f{i}(x):\n    return [x, {i}]\n" for i in range(400))
    for i in range(300):
        (tmp_path / f"m{i}.py").write_text(body)
    proc = subprocess.Popen(
        [sys.executable, "-m", "functrace", "instrument", "-j", "2", str(tmp_path)],
        stderr=subprocess.PIPE,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("finished before the interrupt")
    assert proc.returncode == 130
    assert err.decode().startswith("interrupted: ")
    assert b"Traceback" not in err
    assert not list(tmp_path.glob(".*.functrace"))
