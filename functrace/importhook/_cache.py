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
"""

from __future__ import annotations

import importlib.util
import marshal
import os
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
        from functrace.codemod import policy
        from functrace.importhook import _rewrite

        digest = hashlib.sha256(f"{__version__}:{_FORMAT}".encode())
        for module in (policy, _rewrite):
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
    """The cached code if ``path`` holds it for exactly this ``source``."""
    try:
        with open(path, "rb") as f:
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
    """Write atomically; False (and nothing left behind) when it cannot."""
    if sys.dont_write_bytecode:
        return False
    data = (
        importlib.util.MAGIC_NUMBER
        + _FLAGS
        + importlib.util.source_hash(source)
        + marshal.dumps(code)
    )
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True
