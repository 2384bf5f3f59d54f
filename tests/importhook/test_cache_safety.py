"""The bytecode cache never writes through a link and never reads code that
someone else could have planted (issue 13, item 7). ``_cache`` is unit-tested
directly, so these run on every Python, not only where the cache is used."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from functrace.importhook import _cache
from tests.helpers import run_python
from tests.importhook.test_importhook import PROBE, cache_files, write_package

SRC = b"x = 1\n"
CODE = compile(SRC, "m.py", "exec")
OTHER_UID = 54321  # no one in particular

as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown"
)


@pytest.fixture(autouse=True)
def bytecode_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    path.write_text("precious")
    return path


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "pkg" / "__pycache__"
    path.mkdir(parents=True, mode=0o755)
    return path


def test_predictable_temp_name_planted_as_a_link(cache_dir: Path, victim: Path) -> None:
    path = cache_dir / "m.pyc"
    (cache_dir / f"m.pyc.{os.getpid()}.tmp").symlink_to(victim)  # the old temporary name
    assert _cache.write(str(path), SRC, CODE)
    assert victim.read_text() == "precious"
    assert stat.S_ISREG(path.lstat().st_mode)
    assert _cache.read(str(path), SRC) is not None


@pytest.mark.parametrize("planted_link", [True, False])
def test_temp_file_is_created_exclusively_never_through_a_link(
    cache_dir: Path, victim: Path, monkeypatch: pytest.MonkeyPatch, planted_link: bool
) -> None:
    planted = cache_dir / "planted"
    if planted_link:
        planted.symlink_to(victim)
    else:
        planted.write_text("someone else's")
    monkeypatch.setattr(_cache, "_temp_name", lambda name: "planted")
    assert not _cache.write(str(cache_dir / "m.pyc"), SRC, CODE)
    assert victim.read_text() == "precious"
    assert planted.is_symlink() == planted_link
    assert planted.read_text() == ("precious" if planted_link else "someone else's")
    assert sorted(os.listdir(cache_dir)) == ["planted"]


def test_link_at_the_cache_path_is_replaced_not_followed(cache_dir: Path, victim: Path) -> None:
    path = cache_dir / "m.pyc"
    path.symlink_to(victim)
    assert _cache.read(str(path), SRC) is None
    assert _cache.write(str(path), SRC, CODE)
    assert victim.read_text() == "precious" and not path.is_symlink()


def test_cache_file_that_is_a_link_is_not_read(cache_dir: Path) -> None:
    good = cache_dir / "good.pyc"
    assert _cache.write(str(good), SRC, CODE)
    (cache_dir / "m.pyc").symlink_to(good)
    assert _cache.read(str(cache_dir / "m.pyc"), SRC) is None
    assert _cache.read(str(good), SRC) is not None


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o757])
def test_no_cache_in_a_directory_others_can_write(cache_dir: Path, mode: int) -> None:
    path = str(cache_dir / "m.pyc")
    assert _cache.write(path, SRC, CODE)  # while it was safe
    os.chmod(cache_dir, mode)
    assert _cache.read(path, SRC) is None  # it could have been planted
    os.unlink(path)
    assert not _cache.write(path, SRC, CODE)
    assert os.listdir(cache_dir) == []


def test_cache_directory_that_is_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    assert _cache.write(str(elsewhere / "m.pyc"), SRC, CODE)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__pycache__").symlink_to(elsewhere)
    path = str(tmp_path / "pkg" / "__pycache__" / "m.pyc")
    assert _cache.read(path, SRC) is None
    assert not _cache.write(str(tmp_path / "pkg" / "__pycache__" / "n.pyc"), SRC, CODE)
    assert os.listdir(elsewhere) == ["m.pyc"]


def test_other_writable_cache_file_is_not_read(cache_dir: Path) -> None:
    path = cache_dir / "m.pyc"
    assert _cache.write(str(path), SRC, CODE)
    os.chmod(path, 0o666)
    assert _cache.read(str(path), SRC) is None


@as_root
def test_cache_file_of_another_user_is_not_read(cache_dir: Path) -> None:
    path = cache_dir / "m.pyc"
    assert _cache.write(str(path), SRC, CODE)
    os.chown(path, OTHER_UID, OTHER_UID)
    assert _cache.read(str(path), SRC) is None


@as_root
@pytest.mark.parametrize(("uid", "gid", "mode"), [(OTHER_UID, 0, 0o755), (0, OTHER_UID, 0o775)])
def test_no_cache_in_a_directory_of_another_user_or_group(
    cache_dir: Path, uid: int, gid: int, mode: int
) -> None:
    path = str(cache_dir / "m.pyc")
    assert _cache.write(path, SRC, CODE)
    os.chown(cache_dir, uid, gid)
    os.chmod(cache_dir, mode)
    assert _cache.read(path, SRC) is None
    os.unlink(path)
    assert not _cache.write(path, SRC, CODE)
    assert os.listdir(cache_dir) == []


def test_own_group_writable_directory_keeps_the_cache(cache_dir: Path) -> None:
    os.chmod(cache_dir, 0o775)  # umask 002 with a group of one's own
    path = str(cache_dir / "m.pyc")
    assert _cache.write(path, SRC, CODE)
    assert _cache.read(path, SRC) is not None


def test_world_writable_pycache_runs_without_cache_or_error(tmp_path: Path) -> None:
    write_package(tmp_path)
    pycache = tmp_path / "pkg" / "__pycache__"
    pycache.mkdir()
    os.chmod(pycache, 0o777)
    env = {"PYTHONDONTWRITEBYTECODE": "", "FUNCTRACE_OUTPUT": "none"}
    result = run_python(["-c", PROBE], env=env, cwd=tmp_path)
    assert result.stdout.split() == ["16", "TracingLoader"], result.stderr
    assert result.stderr == ""
    assert cache_files(tmp_path) == []
