"""Which files a command line names, and how a rewritten file is written back.

Directories are searched recursively for ``*.py`` files, skipping the default excludes
(version control, virtual environments, ``site-packages``, caches, build and dist
folders, nox/tox environments) and any ``--exclude`` glob, which is matched against
each entry's name and its path relative to the directory given. Symbolic links found
inside a directory are never followed (a link to a file in the tree is rewritten under
its real path anyway); a file named explicitly is always taken, excludes or not.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_EXCLUDES", "Discovery", "discover", "write_atomically"]

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "site-packages",
    "__pycache__",
    "build",
    "dist",
    ".tox",
    ".nox",
    ".eggs",
    "*.egg-info",
)


@dataclass
class Discovery:
    """Files to process, and one line per path that gave nothing."""

    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # missing paths: failures
    warnings: list[str] = field(default_factory=list)  # e.g. a directory with no Python file


def discover(paths: Iterable[str], excludes: Sequence[str] = ()) -> Discovery:
    """Expand ``paths`` into files, in a stable order, each once."""
    found = Discovery()
    patterns = (*DEFAULT_EXCLUDES, *excludes)
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = list(_walk(path, patterns))
            if not files:
                found.warnings.append(f"{raw}: no Python files found")
        elif path.exists():
            files = [path.resolve() if path.is_symlink() else path]
        elif path.is_symlink():
            found.problems.append(f"{raw}: broken symbolic link")
            continue
        else:
            found.problems.append(f"{raw}: no such file or directory")
            continue
        for file in files:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                found.files.append(file)
    return found


def _walk(root: Path, patterns: Sequence[str]) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            sub = here / name
            if sub.is_symlink() or _excluded(sub, root, patterns):
                continue
            if (sub / "pyvenv.cfg").exists():  # a virtual environment of any name
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            file = here / name
            if file.is_symlink() or _excluded(file, root, patterns):
                continue
            yield file


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    relative = path.relative_to(root).as_posix()
    return any(
        fnmatch.fnmatchcase(path.name, pattern) or fnmatch.fnmatchcase(relative, pattern)
        for pattern in patterns
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a temporary file in the same directory,
    keeping the file's permission bits. A reader sees the old or the new file, never
    a part of it."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".functrace", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
