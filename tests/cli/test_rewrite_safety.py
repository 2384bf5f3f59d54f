"""``functrace instrument`` / ``strip`` never lose a user's work (issue 13, items
16-18): concurrent edits, owners, modes, links, hostile and huge files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from functrace.cli import main
from functrace.codemod import Result

A = "  # functrace: added"
SRC = "def f():\n    return 1\n"
OUT = f"import functrace{A}\n@functrace.trace{A}\ndef f():\n    return 1\n"
SUMMARY_1_FAILED = "0 files changed, 0 unchanged, 1 failed; 0 functions instrumented"

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")


def invoke(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "functrace", *args], capture_output=True, timeout=timeout
    )


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".functrace")]


# -- item 16: concurrent edits -------------------------------------------------------


def editing_during_the_rewrite(monkeypatch: pytest.MonkeyPatch, edit: Callable[[], None]) -> None:
    """Make ``edit`` happen after the file is read and before it is written back."""
    from functrace.codemod import parallel

    real = parallel.get_transform

    def get_transform(name: str) -> Callable[[bytes], Result]:
        transform = real(name)

        def slow(src: bytes) -> Result:
            result = transform(src)
            edit()
            return result

        return slow

    monkeypatch.setattr(parallel, "get_transform", get_transform)


def test_a_line_appended_during_the_rewrite_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.py"
    target.write_text(SRC)
    (tmp_path / "b.py").write_text(SRC)

    def append() -> None:
        if target.read_text() == SRC:  # once, on a.py
            with open(target, "a") as stream:
                stream.write("x = 2\n")

    editing_during_the_rewrite(monkeypatch, append)
    code, _, err = invoke("instrument", "-j", "1", str(tmp_path))
    assert code == 1
    assert err.splitlines() == [
        f"{target}: cannot instrument: the file changed while it was being rewritten "
        "(left as it is now)",
        "1 file changed, 0 unchanged, 1 failed; 1 function instrumented",
    ]
    assert target.read_text() == SRC + "x = 2\n"
    assert (tmp_path / "b.py").read_text() == OUT
    assert leftovers(tmp_path) == []


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(tmp_path: Path) -> None:
    from functrace.codemod.files import Refused, read_source, write_atomically

    target = tmp_path / "a.py"
    target.write_text(SRC)
    original = read_source(target)
    target.write_text(SRC.replace("1", "2"))  # same size
    os.utime(target, ns=(original.stat.st_atime_ns, original.stat.st_mtime_ns))
    with pytest.raises(Refused, match="changed while it was being rewritten"):
        write_atomically(target, OUT.encode(), original)
    assert target.read_text() == SRC.replace("1", "2")
    assert leftovers(tmp_path) == []


def test_a_file_replaced_during_the_rewrite_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.py"
    target.write_text(SRC)

    def replace() -> None:  # an editor saving through its own temporary file
        (tmp_path / "new").write_text(SRC)
        os.replace(tmp_path / "new", target)

    editing_during_the_rewrite(monkeypatch, replace)
    code, _, err = invoke("instrument", str(target))
    assert code == 1
    assert "changed while it was being rewritten" in err
    assert target.read_text() == SRC


# -- item 17: owner, group, mode, links ----------------------------------------------


@root_only
def test_owner_group_and_mode_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_text(SRC)
    os.chown(target, 65534, 65534)
    target.chmod(0o640)
    code, _, _ = invoke("instrument", str(target))
    assert code == 0
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)
    assert target.read_text() == OUT
    assert invoke("strip", str(target))[0] == 0
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)


@root_only
def test_a_file_whose_owner_cannot_be_kept_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.py"
    target.write_text(SRC)
    os.chown(target, 65534, 65534)

    def fchown(fd: int, uid: int, gid: int) -> None:  # as a user other than root
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchown", fchown)
    code, _, err = invoke("instrument", str(target))
    assert code == 1
    assert err.splitlines()[0] == (
        f"{target}: cannot instrument: cannot keep its owner 65534:65534 "
        "(only root can give a file away)"
    )
    assert target.read_text() == SRC
    assert target.stat().st_uid == 65534
    assert leftovers(tmp_path) == []


def test_read_only_files_are_refused_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_text(SRC)
    target.chmod(0o444)
    code, _, err = invoke("instrument", str(target))
    assert code == 1
    assert err.splitlines() == [
        f"{target}: cannot instrument: read-only file (use --force to rewrite it)",
        SUMMARY_1_FAILED,
    ]
    assert target.read_text() == SRC
    assert invoke("instrument", "--check", str(target))[0] == 1  # would change: no error
    code, _, _ = invoke("instrument", "--force", str(target))
    assert code == 0
    assert target.read_text() == OUT
    assert stat.S_IMODE(target.stat().st_mode) == 0o444


def test_hard_linked_files_are_refused_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_text(SRC)
    other = tmp_path / "elsewhere.txt"
    os.link(target, other)
    code, _, err = invoke("instrument", str(target))
    assert code == 1
    assert err.splitlines()[0] == (
        f"{target}: cannot instrument: 2 hard links to this file (use --force to rewrite "
        "this name only, which unlinks it from the others)"
    )
    assert target.read_text() == other.read_text() == SRC
    assert target.stat().st_ino == other.stat().st_ino
    code, _, _ = invoke("instrument", "--force", str(target))
    assert code == 0
    assert (target.read_text(), other.read_text()) == (OUT, SRC)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.py").write_text(SRC)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "t.py").write_text(SRC)
    return tmp_path / "outside"


def test_a_symlink_named_on_the_command_line_is_refused(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "tree" / "link.py"
    link.symlink_to(outside / "o.py")
    # `functrace instrument tree/*` names the link, as a shell glob does.
    code, _, err = invoke("instrument", *sorted(str(p) for p in (tmp_path / "tree").iterdir()))
    assert code == 1
    assert err.splitlines() == [
        f"{link}: cannot instrument: symbolic link (use --follow-symlinks to rewrite its target)",
        "1 file changed, 0 unchanged, 1 failed; 1 function instrumented",
    ]
    assert (outside / "o.py").read_text() == SRC
    assert link.is_symlink()
    code, _, _ = invoke("instrument", "--follow-symlinks", str(link))
    assert code == 0
    assert (outside / "o.py").read_text() == OUT
    assert link.is_symlink()


def test_a_symlinked_directory_named_is_refused_too(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "linkdir"
    link.symlink_to(outside)
    code, _, err = invoke("instrument", str(link))
    assert code == 1
    assert err.splitlines()[0].startswith(f"{link}: cannot instrument: symbolic link")
    assert (outside / "o.py").read_text() == SRC


def test_follow_symlinks_inside_a_walk_visits_each_directory_once(
    tmp_path: Path, outside: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "linkdir").symlink_to(outside)
    (tree / "loop").symlink_to(tree)
    (tree / "linkfile.py").symlink_to(outside / "o.py")
    code, _, err = invoke("instrument", str(tree))
    assert (code, err) == (0, "1 file changed, 0 unchanged, 0 failed; 1 function instrumented\n")
    assert (outside / "o.py").read_text() == SRC
    code, _, err = invoke("strip", str(tree))
    code, _, err = invoke("instrument", "--follow-symlinks", str(tree))
    assert (code, err) == (0, "2 files changed, 0 unchanged, 0 failed; 2 functions instrumented\n")
    assert (outside / "o.py").read_text() == OUT
    assert (tree / "linkfile.py").is_symlink()


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "p.py"
    os.mkfifo(fifo)
    (tmp_path / "a.py").write_text(SRC)
    done = run("instrument", str(tmp_path), timeout=30)  # before: blocked for ever
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        f"{fifo}: cannot instrument: not a regular file",
        "1 file changed, 0 unchanged, 1 failed; 1 function instrumented",
    ]


# -- item 18: size, depth, dead workers -------------------------------------------------


def test_files_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_text(SRC + "x = 1\n" * 300)  # 1.8 KiB
    (tmp_path / "small.py").write_text(SRC)
    code, _, err = invoke("instrument", "--max-size", "1K", str(tmp_path))
    assert code == 1
    assert err.splitlines() == [
        f"{big}: cannot instrument: file too large (1.8 KiB, over the 1 KiB limit; see --max-size)",
        "1 file changed, 0 unchanged, 1 failed; 1 function instrumented",
    ]
    assert big.read_text().startswith(SRC)
    assert invoke("instrument", "--max-size", "0", str(big))[0] == 0
    assert invoke("strip", "--max-size", "2000", str(big))[0] == 0
    assert big.read_text().startswith(SRC)
    code, _, err = invoke("instrument", "--max-size", "lots", str(big))
    assert code == 2
    assert "'lots' is not a size" in err


def test_the_default_size_limit_is_2_mib(tmp_path: Path) -> None:
    just_over = tmp_path / "generated.py"
    just_over.write_bytes(SRC.encode() + b"#" * (2 * 1024 * 1024 - len(SRC) + 1))
    code, _, err = invoke("instrument", "--check", str(just_over))
    assert code == 1
    assert err.splitlines()[0] == (
        f"{just_over}: cannot instrument: file too large (2 MiB, over the 2 MiB limit; "
        "see --max-size)"
    )


def test_the_size_limit_applies_to_stdin() -> None:
    code, out, err = invoke("instrument", "--max-size", "10", "-", input=SRC.encode())
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == (
        "<stdin>: cannot instrument: file too large (11 bytes, over the 10 bytes limit; "
        "see --max-size)"
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_tree_with_hostile_files_finishes_and_fails(tmp_path: Path, jobs: str) -> None:
    # Before: SIGSEGV with -j 1; with -j 2 the run never ended.
    (tmp_path / "plus.py").write_bytes(
        b"x = " + b" + ".join([b"1"] * 10_000) + b"\n" + SRC.encode()
    )
    (tmp_path / "neg.py").write_bytes(b"x = " + b"-" * 10_000 + b"1\n" + SRC.encode())
    (tmp_path / "nots.py").write_bytes(b"x = " + b"not " * 50_000 + b"1\n" + SRC.encode())
    (tmp_path / "lambdas.py").write_bytes(b"x = " + b"lambda: " * 20_000 + b"1\n" + SRC.encode())
    (tmp_path / "z.py").write_text(SRC)
    done = run("instrument", "-j", jobs, str(tmp_path))
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.decode().splitlines()
    assert [line.partition(": ")[0] for line in lines[:-1]] == [
        str(tmp_path / name) for name in ("lambdas.py", "neg.py", "nots.py", "plus.py")
    ]
    assert all(": cannot parse: " in line for line in lines[:-1])
    assert lines[-1] == "1 file changed, 0 unchanged, 4 failed; 1 function instrumented"
    assert (tmp_path / "z.py").read_text() == OUT
