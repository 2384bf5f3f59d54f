"""Rewrite many files, in worker processes when there are several.

Workers receive the transform by name (``"instrument"`` or ``"strip"``), read the
file, rewrite it and write it back themselves, and return a small
:class:`FileReport` (no file contents); reports come back in the order the files
were given.

A worker that dies (a crash in libcst's native parser, the kernel's out-of-memory
killer) costs only the file it was on: that file is reported as failed, naming the
signal, a new worker takes its place and the run goes on.

Ctrl-C: workers ignore SIGINT; the parent calls :meth:`Rewriter.interrupt`, after
which no file is started, and :meth:`Rewriter.drain` yields the reports of the files
being rewritten meanwhile, so no write is cut off.
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import multiprocessing
import multiprocessing.connection
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functrace.codemod.diff import unified_diff
from functrace.codemod.files import (
    DEFAULT_MAX_SIZE,
    Refused,
    check_writable,
    read_source,
    write_atomically,
)
from functrace.codemod.result import Result, Status

__all__ = [
    "TRANSFORMS",
    "FileReport",
    "Mode",
    "Rewriter",
    "Safety",
    "get_transform",
    "rewrite_file",
]

Transform = Callable[[bytes], Result]

#: Transforms by name: ``module:function`` taking source bytes, returning a Result.
TRANSFORMS: dict[str, str] = {
    "instrument": "functrace.codemod.instrument:instrument_source",
    "strip": "functrace.codemod.strip:strip_source",
}


class Mode(str, enum.Enum):
    WRITE = "write"  # rewrite files in place
    CHECK = "check"  # write nothing
    DIFF = "diff"  # write nothing, return a unified diff


@dataclass(frozen=True)
class Safety:
    """What a rewrite may do to a file."""

    #: Rewrite read-only and hard-linked files too.
    force: bool = False
    #: Refuse files larger than this many bytes (None: no limit).
    max_size: int | None = DEFAULT_MAX_SIZE


@dataclass(frozen=True)
class FileReport:
    path: str
    result: Result  # without the output bytes
    diff: str | None = None


def get_transform(name: str) -> Transform:
    module, _, function = TRANSFORMS[name].partition(":")
    transform: Transform = getattr(importlib.import_module(module), function)
    return transform


def rewrite_file(path: str, transform: str, mode: Mode, safety: Safety = Safety()) -> FileReport:
    """Read, rewrite and (in WRITE mode) write back one file. Never raises."""
    try:
        original = read_source(Path(path), safety.max_size)
    except Refused as exc:
        return FileReport(path, Result.failed(f"cannot {transform}: {exc}"))
    except OSError as exc:
        return FileReport(path, Result.failed(f"cannot read: {exc.strerror or exc}"))
    src = original.data
    result = get_transform(transform)(src)
    diff = None
    if result.status is Status.CHANGED and result.output is not None:
        if mode is Mode.WRITE:
            try:
                check_writable(original, safety.force)
                write_atomically(Path(path), result.output, original)
            except Refused as exc:
                return FileReport(path, Result.failed(f"cannot {transform}: {exc}"))
            except OSError as exc:
                return FileReport(path, Result.failed(f"cannot write: {exc.strerror or exc}"))
        elif mode is Mode.DIFF:
            diff = unified_diff(path, src, result.output)
    return FileReport(path, result.without_output(), diff)


Task = tuple[str, str, Mode, Safety]


class Rewriter:
    """Iterate over :class:`FileReport` s of ``paths``; use as a context manager."""

    def __init__(
        self,
        paths: Sequence[str],
        transform: str,
        mode: Mode,
        jobs: int,
        safety: Safety = Safety(),
    ) -> None:
        get_transform(transform)  # imported before forking: workers inherit it
        self._tasks: list[Task] = [(path, transform, mode, safety) for path in paths]
        self._next = 0
        jobs = max(1, min(jobs, len(self._tasks)))
        self._pool = _Pool(jobs, self._tasks) if jobs > 1 else None

    def __iter__(self) -> Iterator[FileReport]:
        if self._pool is not None:
            return self._pool.reports()
        return self._serial()

    def _serial(self) -> Iterator[FileReport]:
        while self._next < len(self._tasks):
            task = self._tasks[self._next]
            self._next += 1
            yield rewrite_file(*task)

    def interrupt(self) -> None:
        """Start no other file."""
        if self._pool is not None:
            self._pool.stopping = True

    def drain(self) -> Iterator[FileReport]:
        """After :meth:`interrupt`: reports of the files finished meanwhile."""
        if self._pool is None:
            return iter(())
        return self._pool.reports()

    def __enter__(self) -> Rewriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._pool is not None:
            self._pool.close(kill=exc_type is not None)


@dataclass
class _Worker:
    process: Any  # a multiprocessing Process (its class depends on the start method)
    conn: multiprocessing.connection.Connection
    task: int | None = None  # index of the task being done


@dataclass
class _Pool:
    """Worker processes fed one task at a time; a dead worker is replaced."""

    jobs: int
    tasks: list[Task]
    stopping: bool = False
    _workers: list[_Worker] = field(default_factory=list)
    _queued: int = 0  # tasks handed out
    _yielded: int = 0  # reports yielded, in order
    _done: dict[int, FileReport] = field(default_factory=dict)
    _context: Any = None

    def __post_init__(self) -> None:
        self._context = _worker_context(self.tasks[0][1] if self.tasks else None)
        self._workers = [self._start() for _ in range(self.jobs)]

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        # SIGINT stays blocked until the worker has set it to be ignored.
        blocked = _block_sigint()
        try:
            process = self._context.Process(target=_serve, args=(theirs,), daemon=True)
            process.start()
        finally:
            _restore_sigmask(blocked)
        theirs.close()
        return _Worker(process, ours)

    def reports(self) -> Iterator[FileReport]:
        while True:
            while self._yielded in self._done:
                report = self._done.pop(self._yielded)
                self._yielded += 1
                yield report
            if self._yielded >= len(self.tasks):
                return
            if not self.stopping:
                self._feed()
            if not any(self._busy(worker) for worker in self._workers):
                for index in sorted(self._done):  # after an interrupt: the rest never ran
                    yield self._done.pop(index)
                self._yielded = len(self.tasks)
                return
            self._wait()

    def _feed(self) -> None:
        for position, worker in enumerate(self._workers):
            if self._queued >= len(self.tasks):
                return
            if self._busy(worker):
                continue
            if not worker.process.is_alive():
                worker = self._workers[position] = self._start()
            try:
                worker.conn.send((self._queued, self.tasks[self._queued]))
            except OSError:  # it died while idle: try again with a new one
                worker.process.join()
                worker = self._workers[position] = self._start()
                worker.conn.send((self._queued, self.tasks[self._queued]))
            worker.task = self._queued
            self._queued += 1

    def _busy(self, worker: _Worker) -> bool:
        # A Ctrl-C may fall between storing a report and marking its worker idle.
        return worker.task is not None and worker.task not in self._done

    def _wait(self) -> None:
        busy = [worker for worker in self._workers if self._busy(worker)]
        waitables: list[Any] = [worker.conn for worker in busy]
        waitables += [worker.process.sentinel for worker in busy]
        ready = multiprocessing.connection.wait(waitables)
        for position, worker in enumerate(self._workers):
            index = worker.task
            if index is None or index in self._done:
                continue
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            try:
                if worker.conn.poll():
                    done, report = worker.conn.recv()
                    self._done[done] = report
                    worker.task = None
                    continue
            except (EOFError, OSError):
                pass  # its end of the pipe is closed: it is exiting
            else:
                if worker.process.is_alive():
                    continue
            worker.process.join()
            path, transform, _mode, _safety = self.tasks[index]
            reason = _death(worker.process.exitcode)
            self._done[index] = FileReport(path, Result.failed(f"cannot {transform}: {reason}"))
            worker.conn.close()
            self._workers[position] = self._start()

    def close(self, kill: bool) -> None:
        for worker in self._workers:
            if kill:
                worker.process.terminate()
            else:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=None if kill else 10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process rewriting it died ({name}); left untouched"
    return f"the worker process rewriting it exited with status {exitcode}; left untouched"


def _worker_context(transform: str | None) -> Any:
    """Workers are forked from a forkserver: a single-threaded process that has
    already imported the transform (libcst included), so they start as fast as
    forked ones. Forking this process instead would copy it with its other threads
    (the progress bar's, a test runner's) and any lock one of them holds: Python
    3.12+ warns of exactly that deadlock."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context()
    context = multiprocessing.get_context("forkserver")
    preload = [__name__]
    if transform is not None:
        preload.append(TRANSFORMS[transform].partition(":")[0])
    context.set_forkserver_preload(preload)
    return context


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """A worker: rewrite each task received until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        index, task = item
        conn.send((index, rewrite_file(*task)))


def _block_sigint() -> set[int] | None:
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}))


def _restore_sigmask(mask: set[int] | None) -> None:
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
