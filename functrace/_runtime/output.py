"""Where the lines go: one shared buffer of whole lines, flushed in chunks.

Events append complete lines to ``buffer`` (``list.append`` is atomic, so threads
never tear each other's lines); :func:`flush` writes them as one chunk per call.
The compiled fast path appends UTF-8 lines to ``bytearray`` chunks instead; a
flush writes str lines and chunks in buffer order.
A file is opened for appending and written with single ``os.write`` calls of
whole lines, so processes sharing it interleave lines, never bytes within one.
A pipe is written in pieces of whole lines of at most ``PIPE_BUF`` bytes, the
most the system writes in one piece there (a child process writing to the same
inherited stderr pipe would otherwise cut into a longer write).
Nothing is lost at exit: ``flush`` runs from ``atexit`` (registered at import,
hence after the program's own exit handlers) and after ``sys.exit`` or an
unhandled exception alike. A reader that goes away (``| head``) turns the
output off quietly; the traced program never sees the error.
"""

from __future__ import annotations

import _thread
import atexit
import codecs
import errno
import itertools
import os
import select
import signal  # at import: an import in the flusher thread can deadlock with the program's
import stat
import sys
import threading
import time
from typing import IO, Any

from functrace._runtime.notices import notice
from functrace._runtime.state import clock, own_work_begin

__all__ = ["buffer", "configure", "flush", "lock", "next_flush_ns"]

#: Whole lines, each ending in "\n", waiting to be written: str lines, and
#: UTF-8 lines from the compiled path (bytearray chunks of many lines; bytes,
#: one line each, on free-threaded builds).
buffer: list[str | bytes | bytearray] = []
#: The engine flushes when its clock passes this (perf_counter_ns).
next_flush_ns = 0

_INTERVAL_NS = 50_000_000  # how long lines may wait in the buffer while calls go on
#: Held while lines are written and while the output changes, so that no write
#: ever reaches a descriptor after it is closed (the program may have reused its
#: number). Re-entrant: a flush can start inside a flush's write (a signal handler).
lock = threading.RLock()
_target = "stderr"
_fd: int | None = None  # open file for a path target
_path: str | None = None
#: The output failed (True, the lines are counted as lost) or its reader went
#: away (_GONE: `| head`, nothing to say): lines are dropped.
_dead: object = False
_GONE = "gone"
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


def configure(
    target: str,
    line_budget: int = 0,
    follow_symlinks: bool = False,
    carry: list[str | bytes | bytearray] | None = None,
) -> str:
    """Send lines to ``target`` ("stderr", "stdout", "none" or a path); returns
    the target actually used (a path that cannot be opened falls back to stderr).
    The old output gets ``carry`` if given (the lines queued before a snapshot;
    the rest stay for the new one), else everything queued."""
    global _target, _path, _dead, _interval_ns, file_is_shared, _follow
    global max_lines, lines_written, lines_dropped
    with lock:  # no writer may see the old descriptor once it is closed
        if carry is None:
            flush()
        else:
            _write_items(carry)
        _close()
        _dead = False
        file_is_shared = False
        max_lines, lines_written, lines_dropped = line_budget, 0, 0
        _target, _path, _follow = target, None, follow_symlinks
        if target not in ("stderr", "stdout", "none"):
            _path = target
            try:
                _open()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                if exc.errno == errno.ELOOP and not follow_symlinks:
                    reason = "it is a symbolic link; FUNCTRACE_FOLLOW_SYMLINKS=1 follows it"
                notice(
                    f"functrace: cannot open FUNCTRACE_OUTPUT={target!r} ({reason}); "
                    "writing to stderr",
                )
                _target, _path = "stderr", None
        # On a terminal a person is watching: write every line as it happens.
        _interval_ns = 0 if _is_tty() else _INTERVAL_NS
    if _interval_ns and _target != "none":
        _start_flusher()
    return _target


_follow = False


def _open() -> None:
    global _fd, file_is_shared
    assert _path is not None
    _fd = open_trace_file(_path.replace("{pid}", str(os.getpid())), _follow)
    # The null device keeps nothing to tell processes apart in: never "shared"
    # (else tags took the pid whenever another process had it locked).
    file_is_shared = not _is_null_device(os.fstat(_fd)) and not _claim(_fd)


def open_trace_file(path: str, follow_symlinks: bool = False) -> int:
    """A descriptor for appending lines to ``path``, opened so that it can never
    hang or write where it should not: not through a symbolic link (unless asked),
    and only to a regular file, a terminal or the null device. Never to a FIFO,
    which would block the program until a reader comes. Raises OSError."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_CLOEXEC | _O_NONBLOCK
    if not follow_symlinks:
        flags |= _O_NOFOLLOW
    fd = os.open(path, flags, 0o644)
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or os.isatty(fd) or _is_null_device(st)):
            raise OSError(errno.EINVAL, "not a regular file, a terminal or /dev/null")
        if _O_NONBLOCK:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_null_device(st: os.stat_result) -> bool:
    if not stat.S_ISCHR(st.st_mode):
        return False
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return st.st_rdev == null.st_rdev


def writes_to_file() -> bool:
    return _fd is not None


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
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


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
    global next_flush_ns
    with lock:
        # Past the last flush at exit, every line is written as it comes.
        next_flush_ns = 0 if _finished else clock() + _interval_ns
        if buffer:
            items = take()
            try:
                _write_items(items)
            except RecursionError:
                # At the program's recursion limit (a flush from a deep event): it
                # comes before any byte goes out (a descriptor's writing calls nothing
                # in Python), so the lines go back in front, in order, for the next
                # flush. Dropped, they were lost lines in a trace (3.13, filtered).
                buffer[:0] = items
                raise


def _write_items(items: list[str | bytes | bytearray]) -> None:
    """Write lines taken from the buffer to the current output (under ``lock``)."""
    global _dead, lines_lost
    if not items or _target == "none":
        return
    if _dead:
        if _dead is not _GONE:
            _count_lost(items)
        return
    if max_lines:
        items = _within_budget(items)
        if not items:
            return
    try:
        _write(items)
    except BrokenPipeError:
        _dead = _GONE  # the reader went away (`| head`): stop quietly
    except _WriteFailed as failed:
        _dead = True
        lines_lost += failed.lost
        notice(f"functrace: trace output failed ({failed.reason}); trace output off")
    except (OSError, ValueError) as exc:
        _dead = True
        _count_lost(items)
        notice(f"functrace: trace output failed ({exc}); trace output off")


def take_lines() -> list[str | bytes | bytearray]:
    """Cut every queued line out of the buffer (lines queued meanwhile stay)."""
    n = len(buffer)
    items = buffer[:n]
    del buffer[:n]
    return items


#: How flush cuts the buffer: the compiled module's take() when it is loaded
#: (it fills chunks in place, and must not be filling one while it is taken).
take = take_lines


#: Lines that could not be written (a full disk, a failed output); said at exit.
lines_lost = 0


def _count_lost(items: list[str | bytes | bytearray]) -> None:
    global lines_lost
    lines_lost += sum(1 if isinstance(item, str) else item.count(b"\n") for item in items)


class _WriteFailed(Exception):
    def __init__(self, reason: str, lost: int) -> None:
        self.reason, self.lost = reason, lost


def _within_budget(items: list[str | bytes | bytearray]) -> list[str | bytes | bytearray]:
    """The lines that still fit in ``max_lines``; the marker line where it runs out."""
    global lines_written, lines_dropped
    room = max_lines - lines_written
    kept: list[str | bytes | bytearray] = []
    for item in items:
        count = 1 if isinstance(item, str) else item.count(b"\n")
        if room <= 0:
            lines_dropped += count
        elif count <= room:
            kept.append(item)
            room -= count
            lines_written += count
        else:  # a chunk of many lines (the compiled path): keep its first `room`
            assert not isinstance(item, str)
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


def _write(items: list[str | bytes | bytearray]) -> None:
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


def _text(items: list[str | bytes | bytearray]) -> str:
    try:
        return "".join(items)  # type: ignore[arg-type]  # str lines only
    except TypeError:
        pass
    try:
        return b"".join(items).decode("utf-8")  # type: ignore[arg-type]  # UTF-8 lines only
    except TypeError:
        return "".join(item if isinstance(item, str) else item.decode("utf-8") for item in items)


def _encode(items: list[str | bytes | bytearray], encoding: str) -> bytes | bytearray:
    if len(items) == 1 and not isinstance(items[0], str) and encoding == "utf-8":
        # One chunk of the compiled path's (take() handed it over: it is never
        # filled again), the common flush: written as it is, not copied by a join.
        return items[0]
    try:
        text = "".join(items)  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        return text.encode(encoding, "backslashreplace")
    utf8 = codecs.lookup(encoding).name == "utf-8"
    if utf8:
        try:
            return b"".join(items)  # type: ignore[arg-type]  # UTF-8 lines only: as they are
        except TypeError:
            pass
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


def _write_all(fd: int, data: bytes | bytearray) -> None:
    """Write ``data`` (whole lines); if the output fails part way (a full disk),
    leave no torn line behind where the file is ours alone, and count what was lost."""
    start = _end_of(fd) if fd == _fd and not file_is_shared else None
    piece = _PIPE_BUF if fd != _fd and _is_pipe(fd) else len(data)
    view = memoryview(data)
    done = 0
    try:
        while done < len(data):
            end = len(data)
            if end - done > piece:
                cut = data.rfind(b"\n", done, done + piece)
                # A line longer than a piece goes whole, in as few writes as it takes.
                end = cut + 1 if cut >= done else (data.find(b"\n", done + piece) + 1 or end)
            while done < end:
                done += os.write(fd, view[done:end])
    except BrokenPipeError:
        raise
    except OSError as exc:
        whole = data.rfind(b"\n", 0, done) + 1  # bytes of whole lines that made it
        if start is not None and whole != done:
            try:
                os.ftruncate(fd, start + whole)
            except OSError:
                pass
        raise _WriteFailed(exc.strerror or str(exc), data.count(b"\n", whole)) from exc


#: The most bytes a pipe takes in one piece, never mixed with another writer's.
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _end_of(fd: int) -> int | None:
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        return None


# ---------------------------------------------------------------- the flusher

# Lines must reach the output within the interval even when no traced call
# happens to notice the time (an idle server, a worker waiting for work). A
# thread of the low-level _thread module does that: it is not in
# threading.enumerate(), so the program's view of its own threads is unchanged;
# it blocks every signal, so none meant for the program lands on it; and it is
# stopped around fork(), so the program stays single-threaded there (3.12+ warns
# about fork() in a multi-threaded process). It sleeps on a pipe: b"S" stops it,
# b"T" comes from the compiled module's SIGTERM handler (see sigterm_install).
_flusher_pid = 0
_flusher_tid = 0
_flusher_done = _thread.allocate_lock()
_wake: tuple[int, int] | None = None  # the pipe (read end, write end)
#: The compiled module: offered by exits.py (_sigterm_native), and once it
#: catches SIGTERM for the flusher (_sigterm).
_sigterm_native: Any = None
_sigterm: Any = None


def _start_flusher() -> None:
    global _flusher_pid, _flusher_tid, _wake
    if _flusher_pid == os.getpid() or _finished:
        return
    try:
        if _wake is None:
            r, w = os.pipe()
            for fd in (r, w):
                os.set_blocking(fd, False)
                os.set_inheritable(fd, False)
            _wake = (r, w)
        _flusher_pid, _flusher_tid = os.getpid(), 0
        if _flusher_done.locked():
            _flusher_done.release()
        _thread.start_new_thread(_flush_loop, (_wake[0],))
    except (OSError, RuntimeError):  # no pipes or threads left, or shutting down
        _flusher_pid = 0
        return
    _arm_sigterm()


def _flush_loop(wake: int) -> None:
    global _flusher_tid
    _flusher_done.acquire()
    own_work_begin()  # for the thread's whole life: whatever it calls writes no line
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        _flusher_tid = _thread.get_native_id()
        while True:
            ready, _, _ = select.select([wake], [], [], _INTERVAL_NS / 1e9)
            word = os.read(wake, 64) if ready else b""
            if b"T" in word and _sigterm is not None:
                flush()
                _sigterm.sigterm_reraise()  # ends the process, by SIGTERM
            if b"S" in word:
                return
            if buffer and clock() >= next_flush_ns:
                flush()
    except BaseException:
        pass  # the next call's flush will say what failed
    finally:
        _flusher_done.release()


def catch_sigterm(native: Any) -> None:
    """Let the compiled module catch a default SIGTERM for the flusher, whenever it runs."""
    global _sigterm_native
    _sigterm_native = native
    if _flusher_pid == os.getpid():
        _arm_sigterm()


def _arm_sigterm() -> None:
    global _sigterm
    native = _sigterm_native
    if native is not None and _wake is not None and native.sigterm_install(_wake[1]):
        _sigterm = native


def _stop_flusher_thread(wait_s: float) -> bool:
    """Stop the flusher and wait (at most ``wait_s``) until its thread is gone;
    whether it was running."""
    global _flusher_pid
    if _flusher_pid != os.getpid() or _wake is None:
        return False
    _flusher_pid = 0
    if _sigterm is not None:
        _sigterm.sigterm_install(-1)  # SIGTERM now acts at once, as by default
    try:
        os.write(_wake[1], b"S")
    except OSError:
        pass
    if _flusher_done.acquire(timeout=wait_s):
        _flusher_done.release()
    # The function has returned; the thread itself ends a moment later.
    task = f"/proc/self/task/{_flusher_tid}"
    deadline = time.monotonic() + wait_s
    while _flusher_tid and os.path.exists(task) and time.monotonic() < deadline:
        time.sleep(0.0001)
    return True


#: Set by the last flush at exit (``finish``).
_finished = False


def finish() -> None:
    """The last flush at exit. The flusher must not be caught mid-write when the
    interpreter stops its threads, so it stops first; from here on each line is
    written as it comes (code still runs after atexit: weakref callbacks and
    finalizers during shutdown, whose lines would otherwise wait forever)."""
    global _finished
    if not _finished:
        _stop_flusher_thread(0.5)
        _finished = True
    flush()


def _at_exit() -> None:
    finish()
    if lines_lost:
        notice(f"functrace: {lines_lost} trace lines could not be written", stacklevel=1)


# ---------------------------------------------------------------- fork

_restart_after_fork = False


def _before_fork() -> None:
    global _restart_after_fork
    _restart_after_fork = _stop_flusher_thread(0.2)
    # No lock of ours may be held in the child: take the output lock (waiting
    # for a write in progress in another thread to end) and hand fresh ones over.
    lock.acquire()


def _after_fork_in_parent() -> None:
    lock.release()
    if _restart_after_fork:
        _start_flusher()


def _after_fork_in_child() -> None:
    global lock, next_flush_ns, lines_lost, _flusher_done, _wake, _finished, _dead
    global file_is_shared
    _finished = False
    lock = threading.RLock()
    _flusher_done = _thread.allocate_lock()
    # A pipe of its own: a SIGTERM to the child must wake the child's flusher only.
    # The handler lets go of the old pipe first: its descriptor number may soon
    # be one of the child's own files.
    if _sigterm is not None:
        _sigterm.sigterm_install(-1)
    if _wake is not None:
        for fd in _wake:
            try:
                os.close(fd)
            except OSError:
                pass
        _wake = None
    # The parent writes the lines buffered before the fork; a {pid} file is the child's own.
    del buffer[:]
    lines_lost = 0
    next_flush_ns = 0
    if _path is not None and "{pid}" in _path:
        _close()
        try:
            _open()
        except OSError:
            _dead = True
    elif _fd is not None:
        file_is_shared = True  # the parent's descriptor: both write to it now
    if _restart_after_fork:
        _start_flusher()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
