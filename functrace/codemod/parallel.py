"""Rewrite many files, in worker processes when there are several.

Workers receive the transform by name (``"instrument"`` or ``"strip"``), read the
file, rewrite it and write it back themselves, and return a small
:class:`FileReport` (no file contents), in the order the files were given.

Ctrl-C: workers ignore SIGINT; the parent calls :meth:`Rewriter.interrupt`, after
which workers finish the file they are on and skip the rest, so no write is cut off;
:meth:`Rewriter.drain` then yields the reports of the files that were finished.
"""

from __future__ import annotations

import enum
import importlib
import multiprocessing
import multiprocessing.pool
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functrace.codemod.diff import unified_diff
from functrace.codemod.files import write_atomically
from functrace.codemod.result import Result, Status

__all__ = ["TRANSFORMS", "FileReport", "Mode", "Rewriter", "get_transform", "rewrite_file"]

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
class FileReport:
    path: str
    result: Result  # without the output bytes
    diff: str | None = None


def get_transform(name: str) -> Transform:
    module, _, function = TRANSFORMS[name].partition(":")
    transform: Transform = getattr(importlib.import_module(module), function)
    return transform


def rewrite_file(path: str, transform: str, mode: Mode) -> FileReport:
    """Read, rewrite and (in WRITE mode) write back one file. Never raises."""
    try:
        src = Path(path).read_bytes()
    except OSError as exc:
        return FileReport(path, Result.failed(f"cannot read: {exc.strerror or exc}"))
    result = get_transform(transform)(src)
    diff = None
    if result.status is Status.CHANGED and result.output is not None:
        if mode is Mode.WRITE:
            try:
                write_atomically(Path(path), result.output)
            except OSError as exc:
                return FileReport(path, Result.failed(f"cannot write: {exc.strerror or exc}"))
        elif mode is Mode.DIFF:
            diff = unified_diff(path, src, result.output)
    return FileReport(path, result.without_output(), diff)


_stop: Any = None  # the parent's stop Event, in a worker


def _init_worker(stop: Any) -> None:
    global _stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop = stop


def _work(task: tuple[str, str, Mode]) -> FileReport | None:
    if _stop is not None and _stop.is_set():
        return None
    return rewrite_file(*task)


class Rewriter:
    """Iterate over :class:`FileReport` s of ``paths``; use as a context manager."""

    def __init__(self, paths: Sequence[str], transform: str, mode: Mode, jobs: int) -> None:
        get_transform(transform)  # imported before forking: workers inherit it
        tasks = [(path, transform, mode) for path in paths]
        self._pool: multiprocessing.pool.Pool | None = None
        self._stop: Any = None
        self._results: Iterator[FileReport | None]
        jobs = max(1, min(jobs, len(tasks)))
        if jobs == 1:
            self._results = (rewrite_file(*task) for task in tasks)
        else:
            self._stop = multiprocessing.Event()
            self._pool = multiprocessing.Pool(jobs, _init_worker, (self._stop,))
            self._results = self._pool.imap(_work, tasks, chunksize=1)

    def __iter__(self) -> Iterator[FileReport]:
        for report in self._results:
            if report is not None:
                yield report

    def interrupt(self) -> None:
        """Ask the workers to skip the files they have not started."""
        if self._stop is not None:
            self._stop.set()

    def drain(self) -> Iterator[FileReport]:
        """After :meth:`interrupt`: reports of files finished meanwhile."""
        if self._pool is None:
            return iter(())
        return iter(self)

    def __enter__(self) -> Rewriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._pool is not None:
            if exc_type is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
