"""Read a trace once, line by line, handing each call to a consumer as it opens and closes.

``scan_trace("trace.log", consumer)`` never holds the trace: memory is bounded
by the deepest stack and what the consumer keeps. The consumer sees
:class:`~functrace.reading.Frame` objects (see :mod:`functrace.reading._stream`).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, TextIO

from functrace._runtime.record import Origin
from functrace.reading import _fast
from functrace.reading._fast import run_jsonl, run_jsonl_summary, run_text, run_text_summary
from functrace.reading._read import _Reader, is_torn
from functrace.reading._stream import Consumer, Stream
from functrace.reading.trace import Problem, report_problems

__all__ = ["Scan", "open_trace", "scan_lines", "scan_trace"]

#: Bytes read at a time: lines are parsed a block at a time (small enough to stay
#: in the processor's cache while they are).
_BLOCK = 1 << 16


@dataclasses.dataclass
class Scan:
    """What a scan saw besides the calls; filled in while it runs."""

    #: "text", "jsonl", or None while no trace line has been seen.
    source: str | None = None
    #: Calls (and runs) read, unfinished ones included.
    calls: int = 0
    #: Calls that never finished: the trace was cut off, or their exits were skipped.
    unfinished: int = 0
    lines: int = 0
    skipped_lines: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)
    #: tag -> thread name / (pid, tid), when the format says (jsonl); filled as read.
    thread_names: dict[str, str] = dataclasses.field(default_factory=dict)
    thread_ids: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: Tag -> the name its naming line gives it (see :attr:`Trace.names`).
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Tag -> the traced call that started its thread or task (see :attr:`Trace.origins`).
    origins: dict[str, Origin] = dataclasses.field(default_factory=dict)
    #: The latest time in the trace (on the trace's clock).
    end_ns: int = 0
    #: Lines written before ``FUNCTRACE_MAX_LINES`` cut the trace; 0: not cut.
    cut_after: int = 0
    #: The number of a last line cut mid-write (a kill), which was not read; 0: none.
    torn_line: int = 0

    @property
    def exact(self) -> bool:
        """True when times were measured (jsonl); a text trace's are rebuilt."""
        return self.source == "jsonl"

    def problem_report(self, name: str) -> list[str]:
        return report_problems(self.problems, name)


def scan_lines(
    lines: Iterable[str],
    consumer: Consumer,
    on_source: Callable[[Scan], None] | None = None,
    scan: Scan | None = None,
) -> Scan:
    """Feed ``lines`` (each with or without its newline) through ``consumer``;
    ``on_source(scan)`` runs once the format is known.

    ``scan``, when given, is the :class:`Scan` filled in (its ``thread_names``
    grow while the trace is read: a consumer may hold on to them). Each line is
    read as soon as it comes.
    """
    return _scan_blocks(_line_blocks(lines), consumer, on_source, scan)


def _line_blocks(lines: Iterable[str]) -> Iterator[list[str]]:
    for line in lines:
        if line.endswith("\n") and line.find("\n") == len(line) - 1:
            line = line[:-1]
        yield [line]


def _file_blocks(
    binary: BinaryIO, size: int = _BLOCK, torn: list[str] | None = None
) -> Iterator[list[str]]:
    """A binary file as blocks of lines, decoded as ``open(path, encoding="utf-8",
    errors="replace")`` reads them (universal newlines). A block ends at a newline, so
    no character is split between blocks (no UTF-8 sequence holds the byte ``\\n``).
    With ``torn``, a last line cut mid-write (see :func:`~functrace.reading._read.is_torn`)
    goes there instead of into the last block."""
    read = getattr(binary, "read1", binary.read)
    held: list[bytes] = []
    while True:
        data = read(size)
        if not data:
            break
        cut = data.rfind(b"\n") + 1
        if not cut:
            held.append(data)  # a long line: wait for its end
            continue
        # The block is the bytes held (the start of its first line) and data[:cut].
        yield _split(data, cut, b"".join(held) if held else b"")
        held = [data[cut:]] if cut < len(data) else []
    chunk = b"".join(held)
    if chunk:
        lines = _split(chunk, len(chunk), b"")
        if torn is not None and lines and not chunk.endswith(b"\r") and is_torn(lines[-1]):
            torn.append(lines.pop())
        if lines:
            yield lines


def _split(data: bytes, end: int, head: bytes) -> list[str]:
    """The lines of ``head + data[:end]``."""
    compiled = _fast._scan
    if compiled is not None:  # the same lines in one pass, no copy of the block (None:
        # it holds a CR)
        done: list[str] | None = compiled.split(data, end, head)
        if done is not None:
            return done
    text = (head + data[:end]).decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()
    return lines


def _scan_blocks(
    blocks: Iterable[list[str]],
    consumer: Consumer,
    on_source: Callable[[Scan], None] | None = None,
    scan: Scan | None = None,
) -> Scan:
    scan = Scan() if scan is None else scan
    stream, reader = _start(consumer, on_source, scan)
    blocks = iter(blocks)
    number = 0
    rest: list[str] = []
    for block in blocks:
        for i, line in enumerate(block):
            number += 1
            reader.feed(line, number)
            if reader.source is not None:
                rest = block[i + 1 :]
                break
        if reader.source is not None:
            break
    if reader.source is not None:
        lines = itertools.chain([rest], blocks)
        if getattr(consumer, "counts_every_call", False):
            rows: dict[str, list[int]] = {}
            run = run_text_summary if reader.source == "text" else run_jsonl_summary
            number = run(reader, stream, lines, number, rows)
            consumer.add_rows(rows)  # type: ignore[attr-defined]
        elif reader.source == "text":
            number = run_text(reader, stream, lines, number)
        else:
            number = run_jsonl(reader, stream, lines, number)
    _finish(scan, stream, reader, number)
    return scan


def _start(
    consumer: Consumer, on_source: Callable[[Scan], None] | None, scan: Scan
) -> tuple[Stream, _Reader]:
    """A stream into ``consumer`` and its general reader, noting in ``scan`` what
    they learn (the format once it is decided, names, threads, origins)."""
    stream = Stream(consumer, exact=False)
    reader = _Reader(stream)
    reader.thread_names = scan.thread_names
    reader.thread_ids = scan.thread_ids
    reader.names = scan.names
    reader.origins = scan.origins

    def decided(source: str) -> None:
        scan.source = source
        if on_source is not None:
            on_source(scan)

    reader.on_source = decided
    reader.on_origin = getattr(consumer, "origin_seen", None)
    return stream, reader


def _finish(scan: Scan, stream: Stream, reader: _Reader, lines: int) -> None:
    """The stream finished (calls left open end with the trace) and ``scan`` told
    what the read of ``lines`` lines came to."""
    stream.finish()
    scan.lines = lines
    scan.calls = stream.opened_count
    scan.unfinished = stream.unfinished
    scan.skipped_lines = reader.skipped
    scan.problems = list(reader.problems.values())
    scan.end_ns = stream.last
    scan.cut_after = reader.cut_after


@contextmanager
def open_trace(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A trace file (``-``: stdin) as lines, decoded leniently, never read whole."""
    if str(path) == "-":
        stdin = io.TextIOWrapper(sys.stdin.buffer, "utf-8", errors="replace")
        try:
            yield stdin
        finally:
            stdin.detach()  # sys.stdin stays open
    else:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield f


def scan_trace(
    path: str | os.PathLike[str],
    consumer: Consumer,
    on_source: Callable[[Scan], None] | None = None,
    scan: Scan | None = None,
) -> Scan:
    """:func:`scan_lines` over a file (``-``: stdin). A last line cut mid-write (a
    process killed) is not read: ``Scan.torn_line`` says where it was."""
    if str(path) == "-":
        return _scan_file(sys.stdin.buffer, consumer, on_source, scan)
    with open(path, "rb") as f:
        return _scan_file(f, consumer, on_source, scan)


def _scan_file(
    binary: BinaryIO,
    consumer: Consumer,
    on_source: Callable[[Scan], None] | None = None,
    scan: Scan | None = None,
    size: int = _BLOCK,
) -> Scan:
    torn: list[str] = []
    scan = _scan_blocks(_file_blocks(binary, size, torn), consumer, on_source, scan)
    if torn:
        scan.torn_line = scan.lines + 1
    return scan
