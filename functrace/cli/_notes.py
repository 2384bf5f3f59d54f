"""What the reading commands (``show``, ``export``, ``diff``) say about a trace that was
not read whole: one line per file (issue 11), e.g.

``trace.log: cut mid-line at line 1,234,567 (read to the last complete event); 3 calls
never finished``

``--verbose`` adds, before it, one line per kind of unreadable line (where it first
occurred, why, how many more).
"""

from __future__ import annotations

from typing import Protocol

import click

from functrace.reading.trace import Problem, report_problems

__all__ = ["Read", "no_trace_lines", "note_on", "say_notes"]

#: The kind of problem of a line in the other format (see functrace.reading._read).
_OTHER_FORMAT = "other-format"


class Read(Protocol):
    """What a scan or a whole trace says about how it was read (read-only here)."""

    @property
    def source(self) -> str | None: ...
    @property
    def problems(self) -> list[Problem]: ...
    @property
    def cut_after(self) -> int: ...
    @property
    def torn_line(self) -> int: ...


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' * (count != 1)}"


def _skipped(read: Read, verbose: bool) -> list[str]:
    """The lines skipped, in at most two parts: another format's, and unreadable ones."""
    parts = []
    other = [p for p in read.problems if p.kind == _OTHER_FORMAT]
    if other:
        first = other[0]
        source = read.source or "text"
        foreign = "text" if source == "jsonl" else "jsonl"
        where = f"line {first.line:,}" if first.count == 1 else f"first at line {first.line:,}"
        parts.append(
            f"{_plural(first.count, foreign + ' line')} in a {source} trace skipped ({where})"
        )
    bad = [p for p in read.problems if p.kind != _OTHER_FORMAT]
    if bad:
        total = sum(p.count for p in bad)
        first = min(bad, key=lambda p: p.line)
        where = f"line {first.line:,}" if total == 1 else f"first at line {first.line:,}"
        more = "" if len(bad) == 1 or verbose else f"; {len(bad)} kinds: --verbose lists them"
        parts.append(f"{_plural(total, 'unreadable line')} skipped ({where}: {first.reason}{more})")
    return parts


def note_on(read: Read, unfinished: int, verbose: bool = False) -> str:
    """The one line (without the file's name) about a trace not read whole; "" if it was."""
    parts = []
    cut = bool(read.cut_after or read.torn_line)
    if read.cut_after:
        parts.append(f"cut after {read.cut_after:,} lines by FUNCTRACE_MAX_LINES")
    if read.torn_line:
        parts.append(f"cut mid-line at line {read.torn_line:,} (read to the last complete event)")
    parts.extend(_skipped(read, verbose))
    if unfinished:
        calls = _plural(unfinished, "call")
        if cut:
            parts.append(f"{calls} never finished")
        elif read.problems:
            parts.append(f"{calls} never finished: exit lines missing or skipped")
        else:
            their = "its exit" if unfinished == 1 else "their exits"
            parts.append(f"{calls} never finished: the trace ends before {their}")
    return "; ".join(parts)


def _details(cmd: str, label: str, read: Read) -> None:
    """``--verbose``: each kind of unreadable line, where it first occurred and why."""
    for line in report_problems(read.problems, label)[:-1]:  # the total is in the note
        click.echo(f"functrace {cmd}: {line}", err=True)


def say_notes(cmd: str, label: str, read: Read, unfinished: int, verbose: bool) -> None:
    """Print the note on ``read`` (the file ``label``) to stderr, if there is one; with
    ``verbose``, each kind of unreadable line first."""
    if verbose:
        _details(cmd, label, read)
    note = note_on(read, unfinished, verbose)
    if note:
        click.secho(f"functrace {cmd}: {label}: {note}", err=True, fg="yellow")


def no_trace_lines(cmd: str, label: str, read: Read, verbose: bool) -> None:
    """Say that ``label`` had no trace line, and why if it had bad ones (one line)."""
    if verbose:
        _details(cmd, label, read)
    why = _skipped(read, verbose)
    if read.torn_line:
        why.insert(0, f"line {read.torn_line:,} cut mid-line")
    said = f": {'; '.join(why)}" if why else ""
    click.echo(f"functrace {cmd}: no trace lines in {label}{said}", err=True)
