"""Which files a command line names, and how a rewritten file is read and written back.

Directories are searched recursively for ``*.py`` files, skipping the default excludes
(version control, virtual environments, ``site-packages``, caches, nox/tox
environments, and ``build`` and ``dist`` folders that are not Python packages: a
``build`` with an ``__init__.py``, such as ``pip/_internal/operations/build``, is
source) unless ``default_excludes`` is off; the directories so skipped are reported.
An ``--exclude`` glob is matched against whole paths, as black and ruff do (``*``
crosses ``/``): a relative pattern matches the end of a path, whole names only
(``items.py``, ``tomlkit/items.py`` and ``*/items.py`` all exclude
``src/tomlkit/items.py``); one starting with ``./`` is anchored at the working
directory or at each directory given, one starting with ``/`` is absolute. A file
named explicitly is always taken, excludes or not, except a ``.pyi`` stub when stubs
are refused (it has no bodies to trace).

Symbolic links are not followed unless asked (``--follow-symlinks``): one found inside
a directory is passed over, one named on the command line is refused.

Writing back never loses anything: the new text goes to a temporary file in the same
directory, given the owner, group and mode of the old one, and is renamed over it
only if the file is still exactly what was read (no concurrent edit). Read-only and
hard-linked files are refused unless forced; files over a size limit are not read.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BUILD_OUTPUTS",
    "DEFAULT_EXCLUDES",
    "DEFAULT_MAX_SIZE",
    "Discovery",
    "Original",
    "Refused",
    "check_writable",
    "discover",
    "format_size",
    "read_source",
    "write_atomically",
]

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "site-packages",
    "__pycache__",
    ".tox",
    ".nox",
    ".eggs",
    "*.egg-info",
)

#: Skipped by default only when not a Python package (no ``__init__.py``): there
#: they are build outputs, while ``pip/_internal/operations/build/`` is source.
BUILD_OUTPUTS: tuple[str, ...] = ("build", "dist")

#: Skipped by default but never reported: they hold no source.
_UNREPORTED = ("__pycache__",)


@dataclass
class Discovery:
    """Files to process, and one line per path that gave nothing."""

    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # missing paths: failures
    warnings: list[str] = field(default_factory=list)  # e.g. a directory with no Python file
    notes: list[str] = field(default_factory=list)  # files named but deliberately not taken
    #: Directories passed over by the default excludes (not ``--exclude``).
    skipped_by_default: list[Path] = field(default_factory=list)


def discover(
    paths: Iterable[str],
    excludes: Sequence[str] = (),
    *,
    follow_symlinks: bool = False,
    verb: str = "rewrite",
    default_excludes: bool = True,
    refuse_stubs: bool = False,
) -> Discovery:
    """Expand ``paths`` into files, in a stable order, each once.

    A symbolic link named in ``paths`` is refused (a problem) unless
    ``follow_symlinks``; then it stands for its target, and links met inside
    directories are followed too (each directory walked once). With ``refuse_stubs``
    a ``.pyi`` file named is not taken (a note); a walk never takes stubs."""
    found = Discovery()
    matcher = _Excludes(excludes, default_excludes)
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_symlink() and not follow_symlinks:
            if path.exists():
                found.problems.append(
                    f"{raw}: cannot {verb}: symbolic link (use --follow-symlinks to "
                    "rewrite its target)"
                )
            else:
                found.problems.append(f"{raw}: broken symbolic link")
            continue
        if path.is_dir():
            files = list(_walk(path, matcher, follow_symlinks, found.skipped_by_default))
            if not files:
                found.warnings.append(f"{raw}: no Python files found")
        elif refuse_stubs and path.suffix == ".pyi" and path.exists():
            found.notes.append(f"{raw}: skipped: a stub (.pyi) has no function bodies to trace")
            continue
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


def _walk(root: Path, matcher: _Excludes, follow: bool, skipped: list[Path]) -> Iterable[Path]:
    visited: set[tuple[int, int]] = set()  # (device, inode) of directories walked
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow):
        here = Path(dirpath)
        if follow:
            try:
                info = here.stat()
            except OSError:
                dirnames[:] = []
                continue
            if (info.st_dev, info.st_ino) in visited:  # a loop of links, or a second way in
                dirnames[:] = []
                continue
            visited.add((info.st_dev, info.st_ino))
        kept = []
        for name in sorted(dirnames):
            sub = here / name
            if (sub.is_symlink() and not follow) or matcher.given(sub, root):
                continue
            if matcher.by_default(sub):
                if name not in _UNREPORTED:
                    skipped.append(sub)
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            file = here / name
            if matcher.given(file, root):
                continue
            if file.is_symlink():
                if not follow or not file.is_file():
                    continue
                file = file.resolve()
            yield file


class _Excludes:
    """The default excludes (by name) and ``--exclude`` globs (by name or path)."""

    def __init__(self, patterns: Sequence[str], defaults: bool) -> None:
        self.defaults = defaults
        self.patterns = [p for p in map(_normalize, patterns) if p]
        self.cwd = Path.cwd()

    def by_default(self, directory: Path) -> bool:
        if not self.defaults:
            return False
        name = directory.name
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in DEFAULT_EXCLUDES):
            return True
        if name in BUILD_OUTPUTS and not (directory / "__init__.py").exists():
            return True
        return (directory / "pyvenv.cfg").exists()  # a virtual environment of any name

    def given(self, path: Path, root: Path) -> bool:
        if not self.patterns:
            return False
        absolute = path.absolute()
        whole = absolute.as_posix()
        anchored = {whole, path.relative_to(root).as_posix()}
        if absolute.is_relative_to(self.cwd):
            anchored.add(absolute.relative_to(self.cwd).as_posix())
        for pattern in self.patterns:
            if pattern.startswith(("./", "/")):
                bare = pattern.removeprefix("./")
                if any(fnmatch.fnmatchcase(form, bare) for form in anchored):
                    return True
            elif fnmatch.fnmatchcase(whole, "*/" + pattern):  # the end of the path
                return True
        return False


def _normalize(pattern: str) -> str:
    """``a/b/`` is ``a/b`` (a trailing ``/`` says nothing); ``././a`` is ``./a``."""
    pattern = pattern.replace(os.sep, "/")
    while pattern.startswith("././"):
        pattern = pattern[2:]
    return "" if pattern in (".", "./") else pattern.rstrip("/")


class Refused(Exception):
    """A file is not read or not written back, for the reason given (one line)."""


#: Files larger than this are refused unless ``--max-size`` says otherwise: libcst
#: needs from about 100 to 700 bytes of memory per byte of source.
DEFAULT_MAX_SIZE = 2 * 1024 * 1024


@dataclass(frozen=True)
class Original:
    """A file as it was read: its bytes and what ``stat`` said about it."""

    data: bytes
    stat: os.stat_result

    def same_as(self, now: os.stat_result) -> bool:
        was = self.stat
        return (was.st_dev, was.st_ino, was.st_size, was.st_mtime_ns) == (
            now.st_dev,
            now.st_ino,
            now.st_size,
            now.st_mtime_ns,
        )


def read_source(path: Path, max_size: int | None = DEFAULT_MAX_SIZE) -> Original:
    """Read a regular file without following a symbolic link in its last component and
    without blocking on a FIFO. Raises :class:`Refused` or :class:`OSError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP and path.is_symlink():
            raise Refused("symbolic link (use --follow-symlinks to rewrite its target)") from None
        raise
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused("not a regular file")
        if max_size is not None and info.st_size > max_size:
            raise Refused(too_large(info.st_size, max_size))
        data = stream.read() if max_size is None else stream.read(max_size + 1)
        if max_size is not None and len(data) > max_size:  # it grew meanwhile
            raise Refused(too_large(len(data), max_size))
    return Original(data, info)


def too_large(size: int, limit: int) -> str:
    size_, limit_ = format_size(size), format_size(limit)
    return f"file too large ({size_}, over the {limit_} limit; see --max-size)"


def format_size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def check_writable(original: Original, force: bool) -> None:
    """Refuse a read-only or hard-linked file unless ``force``."""
    if force:
        return
    info = original.stat
    if not info.st_mode & stat.S_IWUSR:
        raise Refused("read-only file (use --force to rewrite it)")
    if info.st_nlink > 1:
        raise Refused(
            f"{info.st_nlink} hard links to this file (use --force to rewrite this name "
            "only, which unlinks it from the others)"
        )


def write_atomically(path: Path, data: bytes, original: Original | None = None) -> None:
    """Replace ``path`` with ``data`` through a temporary file in the same directory,
    keeping the file's owner, group and permission bits. A reader sees the old or the
    new file, never a part of it.

    With ``original`` (what was read), the file is replaced only if it is still that:
    same inode, size, modification time and bytes; otherwise :class:`Refused` is
    raised and the file is left as it now is."""
    info = os.stat(path) if original is None else original.stat
    mode = stat.S_IMODE(info.st_mode)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".functrace", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            mine = os.fstat(fd)
            if (mine.st_uid, mine.st_gid) != (info.st_uid, info.st_gid):
                try:
                    os.fchown(fd, info.st_uid, info.st_gid)
                except PermissionError:
                    raise Refused(
                        f"cannot keep its owner {info.st_uid}:{info.st_gid} "
                        "(only root can give a file away)"
                    ) from None
            os.fchmod(fd, mode)  # after chown, which may clear set-id bits
        if original is not None:
            _unchanged_since(path, original)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _unchanged_since(path: Path, original: Original) -> None:
    changed = Refused("the file changed while it was being rewritten (left as it is now)")
    try:
        now = os.stat(path, follow_symlinks=False)
        if not original.same_as(now):
            raise changed
        with open(path, "rb") as stream:
            if stream.read(len(original.data) + 1) != original.data:
                raise changed
    except FileNotFoundError:
        raise Refused("the file was removed while it was being rewritten") from None
