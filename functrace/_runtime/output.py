"""Where the lines go: one shared buffer of whole lines, flushed in chunks.

Events append complete lines to ``buffer`` (``list.append`` is atomic, so threads
never tear each other's lines); :func:`flush` writes them as one chunk per call.
The compiled fast path appends UTF-8 lines to ``bytearray`` chunks instead; a
flush writes str lines and chunks in buffer order.
A file is opened for appending and written with single ``os.write`` calls of
whole lines, so processes sharing it interleave lines, never bytes within one.
Nothing is lost at exit: ``flush`` runs from ``atexit`` (registered at import,
hence after the program's own exit handlers) and after ``sys.exit`` or an
unhandled exception alike. A reader that goes away (``| head``) turns the
output off quietly; the traced program never sees the error.
"""

from __future__ import annotations

import atexit
import codecs
import itertools
import os
import sys
import threading
import time
import warnings
from typing import IO

__all__ = ["buffer", "configure", "flush", "next_flush_ns"]

#: Whole lines, each ending in "\n", waiting to be written: str lines, and
#: bytearray chunks of UTF-8 lines from the compiled fast path.
buffer: list[str | bytearray] = []
#: The engine flushes when its clock passes this (perf_counter_ns).
next_flush_ns = 0

_INTERVAL_NS = 50_000_000  # how long lines may wait in the buffer while calls go on
_lock = threading.RLock()  # re-entrant: a flush can start inside a flush's write
_target = "stderr"
_fd: int | None = None  # open file for a path target
_path: str | None = None
_dead = False  # the reader went away or the file failed: drop lines
_interval_ns = _INTERVAL_NS
#: True when the trace file already holds another run's lines, or another process
#: has it open: this process then puts its pid in its tags to keep them unique.
file_is_shared = False


#: At most this many lines per output (0: no limit); then one marker line, and the
#: rest are only counted in ``lines_dropped``.
max_lines = 0
lines_written = 0
lines_dropped = 0
CUT_MARKER = "# functrace: trace cut after {} lines (FUNCTRACE_MAX_LINES)\n"


def configure(target: str, line_budget: int = 0) -> str:
    """Send lines to ``target`` ("stderr", "stdout", "none" or a path); returns
    the target actually used (a path that cannot be opened falls back to stderr)."""
    global _target, _fd, _path, _dead, _interval_ns, file_is_shared
    global max_lines, lines_written, lines_dropped
    flush()
    _close()
    _dead = False
    file_is_shared = False
    max_lines, lines_written, lines_dropped = line_budget, 0, 0
    _target, _path = target, None
    if target not in ("stderr", "stdout", "none"):
        _path = target
        try:
            _open()
        except OSError as exc:
            warnings.warn(
                f"functrace: cannot open FUNCTRACE_OUTPUT={target!r} ({exc.strerror}); "
                "writing to stderr",
                RuntimeWarning,
                stacklevel=2,
            )
            _target, _path = "stderr", None
    # On a terminal a person is watching: write every line as it happens.
    _interval_ns = 0 if _is_tty() else _INTERVAL_NS
    return _target


def _open() -> None:
    global _fd, file_is_shared
    assert _path is not None
    path = _path.replace("{pid}", str(os.getpid()))
    _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_CLOEXEC, 0o644)
    file_is_shared = not _claim(_fd)


def _claim(fd: int) -> bool:
    """Whether this process is the first and only writer of the file: it is empty
    and nobody else holds it (the lock lasts as long as the descriptor)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the size alone decides
        return os.fstat(fd).st_size == 0
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return os.fstat(fd).st_size == 0


_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _close() -> None:
    global _fd
    if _fd is not None:
        try:
            os.close(_fd)
        except OSError:
            pass
        _fd = None


def _is_tty() -> bool:
    stream = _stream()
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _stream() -> IO[str] | None:
    if _target == "stderr":
        return sys.stderr
    if _target == "stdout":
        return sys.stdout
    return None


def flush() -> None:
    """Write every buffered line now."""
    global next_flush_ns, _dead
    with _lock:
        n = len(buffer)
        next_flush_ns = time.perf_counter_ns() + _interval_ns
        if not n:
            return
        items = buffer[:n]
        del buffer[:n]
        if _dead or _target == "none":
            return
        if max_lines:
            items = _within_budget(items)
            if not items:
                return
        try:
            _write(items)
        except BrokenPipeError:
            _dead = True
        except (OSError, ValueError) as exc:
            _dead = True
            warnings.warn(
                f"functrace: trace output failed ({exc}); trace output off",
                RuntimeWarning,
                stacklevel=2,
            )


def _within_budget(items: list[str | bytearray]) -> list[str | bytearray]:
    """The lines that still fit in ``max_lines``; the marker line where it runs out."""
    global lines_written, lines_dropped
    room = max_lines - lines_written
    kept: list[str | bytearray] = []
    for item in items:
        count = 1 if isinstance(item, str) else item.count(b"\n")
        if room <= 0:
            lines_dropped += count
        elif count <= room:
            kept.append(item)
            room -= count
            lines_written += count
        else:  # a chunk of many lines (the compiled path): keep its first `room`
            assert isinstance(item, bytearray)
            end = -1
            for _ in range(room):
                end = item.index(b"\n", end + 1)
            kept.append(item[: end + 1])
            lines_written += room
            lines_dropped += count - room
            room = 0
        if room <= 0 and lines_written == max_lines:
            lines_written += 1  # the marker: written once
            kept.append(CUT_MARKER.format(max_lines))
    return kept


def _write(items: list[str | bytearray]) -> None:
    if _fd is not None:
        _write_all(_fd, _encode(items, "utf-8"))
        return
    stream = _stream()
    if stream is None:
        return
    original: object = sys.__stderr__ if _target == "stderr" else sys.__stdout__
    fileno = _fileno(stream) if stream is original else None
    if fileno is None:
        # Redirected (contextlib.redirect_stderr, pytest's capture): honour it.
        stream.write(_text(items))
        stream.flush()
        return
    # The real stream: keep the program's own buffered text first, then write
    # bytes straight to the descriptor so a closed pipe leaves nothing behind
    # in Python's buffers to fail again at interpreter exit.
    stream.flush()
    encoding = getattr(stream, "encoding", None) or "utf-8"
    _write_all(fileno, _encode(items, encoding))


def _text(items: list[str | bytearray]) -> str:
    try:
        return "".join(items)  # type: ignore[arg-type]  # str lines only: the common case
    except TypeError:
        return "".join(item if isinstance(item, str) else item.decode("utf-8") for item in items)


def _encode(items: list[str | bytearray], encoding: str) -> bytes:
    try:
        text = "".join(items)  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        return text.encode(encoding, "backslashreplace")
    utf8 = codecs.lookup(encoding).name == "utf-8"
    parts: list[bytes | bytearray] = []
    for kind, run in itertools.groupby(items, type):
        if kind is str:
            parts.append("".join(run).encode(encoding, "backslashreplace"))  # type: ignore[arg-type]
        elif utf8:
            parts.extend(run)  # type: ignore[arg-type]
        else:
            text = "".join(chunk.decode("utf-8") for chunk in run)  # type: ignore[union-attr]
            parts.append(text.encode(encoding, "backslashreplace"))
    return b"".join(parts)


def _fileno(stream: IO[str]) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _after_fork_in_child() -> None:
    # The parent writes its own buffered lines; a {pid} file is the child's own.
    del buffer[:]
    if _path is not None and "{pid}" in _path:
        _close()
        try:
            _open()
        except OSError:
            global _dead
            _dead = True


class _ForkToken:
    """A weak-referenceable key for multiprocessing's after-fork registry."""


_fork_token = _ForkToken()


def _before_fork() -> None:
    # multiprocessing's forked children leave through os._exit, past atexit.
    # Its own exit path runs the finalizers registered after its fork, so flush
    # from there, last of all. (Registering at fork time is too early: the
    # child's bootstrap clears that registry first.)
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and not getattr(_fork_token, "registered", False):
        mp_util.register_after_fork(
            _fork_token, lambda _: mp_util.Finalize(None, flush, exitpriority=-1_000_000)
        )
        _fork_token.registered = True  # type: ignore[attr-defined]


atexit.register(flush)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
