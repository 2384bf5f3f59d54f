"""Rewritten bytecode, cached next to the normal ``.pyc`` (pytest's assertion
rewriter is the model).

``__pycache__/<stem>.<cache_tag>.functrace-<version>-<key>.pyc`` holds a
hash-based pyc (PEP 552): the interpreter's magic number, flags ``0b11``, the
source's ``importlib.util.source_hash`` and the marshalled code. A checkout with
new mtimes still hits; any change of the source misses. ``<key>`` digests what
decides the rewrite (the cache format, and the policy and rewriter code), so a
functrace upgrade or a policy change never reads stale code. Writes are atomic
(temporary file, then ``os.replace``); a directory we cannot write to, or
``sys.dont_write_bytecode``, just means no cache.

A cache is code that a later run executes, maybe as root: nothing is read or
written in a ``__pycache__`` that is a symlink or that another user could write
to (world-writable, even with the sticky bit; group-writable for another group;
owned by someone other than us or root), no cache file is read that is a
symlink or not ours (or root's), and temporary files are created with
``O_EXCL | O_NOFOLLOW`` under an unpredictable name. Any of these just means no
cache, silently.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import stat
import sys
import types

__all__ = ["cache_path", "options_key", "read", "write"]

_FORMAT = 1
_FLAGS = (0b11).to_bytes(4, "little")  # hash-based, checked
_key: str | None = None


def options_key() -> str:
    """Eight hex digits naming what decides the rewrite (computed once)."""
    global _key
    if _key is None:
        import hashlib
        from pathlib import Path

        from functrace import __version__
        from functrace._runtime import probe
        from functrace._runtime.decorator import probes_wanted
        from functrace.codemod import policy
        from functrace.importhook import _rewrite

        digest = hashlib.sha256(f"{__version__}:{_FORMAT}".encode())
        # Inline probes or decorators only: two rewrites of one source.
        digest.update(b"probes" if probes_wanted() else b"decorators")
        for module in (policy, _rewrite, probe):
            try:
                digest.update(Path(module.__file__ or "").read_bytes())
            except OSError:
                digest.update(repr(module).encode())
        _key = digest.hexdigest()[:8]
    return _key


def cache_path(source_path: str) -> str | None:
    """Where the rewritten code of ``source_path`` is cached (None: no cache tag)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    from functrace import __version__

    head, tail = os.path.split(source_path)
    stem = tail.rpartition(".")[0] or tail
    name = f"{stem}.{tag}.functrace-{__version__}-{options_key()}.pyc"
    return os.path.join(head, "__pycache__", name)


def read(path: str, source: bytes) -> types.CodeType | None:
    """The cached code if ``path`` holds it for exactly this ``source``, in a
    file and directory only we (or root) could have written."""
    head, name = os.path.split(path)
    dir_fd = _open_dir(head)
    if dir_fd is None:
        return None
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:  # missing, or a symlink (O_NOFOLLOW)
        return None
    finally:
        os.close(dir_fd)
    with open(fd, "rb") as f:
        try:
            st = os.fstat(fd)
            if not (stat.S_ISREG(st.st_mode) and _trusted(st)):
                return None
            data = f.read()
        except OSError:
            return None
    header = importlib.util.MAGIC_NUMBER + _FLAGS + importlib.util.source_hash(source)
    if len(data) <= 16 or data[:16] != header:
        return None
    try:
        code = marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def write(path: str, source: bytes, code: types.CodeType) -> bool:
    """Write atomically; False (and nothing left behind) when it cannot or must not:
    no ``__pycache__`` we can trust, or ``sys.dont_write_bytecode``."""
    if sys.dont_write_bytecode:
        return False
    data = (
        importlib.util.MAGIC_NUMBER
        + _FLAGS
        + importlib.util.source_hash(source)
        + marshal.dumps(code)
    )
    head, name = os.path.split(path)
    try:
        os.mkdir(head, 0o755)  # never makedirs: a missing package directory is no place for us
    except OSError:
        pass  # it exists (checked next), or cannot be made
    dir_fd = _open_dir(head)
    if dir_fd is None:
        return False
    tmp = _temp_name(name)
    try:
        # O_EXCL | O_NOFOLLOW: a file or link planted under this name is never
        # written through; the rename then replaces a name, not what it points to.
        fd = os.open(tmp, _WRITE_FLAGS, 0o644, dir_fd=dir_fd)
    except OSError:
        os.close(dir_fd)
        return False
    try:
        with open(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        return False
    finally:
        os.close(dir_fd)
    return True


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
#: Without O_NOFOLLOW and ``dir_fd`` (Windows) there is no safe way: no cache.
_SAFE = bool(_NOFOLLOW) and os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


def _temp_name(name: str) -> str:
    # Unpredictable, so nothing can be planted under it in advance.
    return f"{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"


def _open_dir(path: str) -> int | None:
    """A descriptor of directory ``path`` if it is one we can trust (then every
    later step goes through it, so it cannot be swapped for another one meanwhile)."""
    if not _SAFE:
        return None
    try:
        fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError:  # missing, not a directory, or a symlink
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or not _trusted(st):
        os.close(fd)
        return None
    return fd


def _trusted(st: os.stat_result) -> bool:
    """Owned by us or root, and writable by no one else: anyone who could change
    it could put code in it that a later run, maybe root's, would execute. A
    sticky world-writable directory (/tmp) does not count: names can still be
    planted in it."""
    if st.st_uid not in (os.geteuid(), 0):
        return False
    if st.st_mode & stat.S_IWOTH:
        return False
    # Group-writable is fine for our own group (user private groups, umask 002).
    return not (st.st_mode & stat.S_IWGRP and st.st_gid != os.getegid())
