"""``functrace show TRACE``: a trace file (text or jsonl) as call trees, a summary, or the
call chains leading to one function; printed while the trace is read, in bounded memory."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

import click

from functrace.cli._notes import no_trace_lines, say_notes
from functrace.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["command"]


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> int:
    if value is None:
        return 0
    from functrace._runtime.config import parse_duration_ns

    try:
        return parse_duration_ns(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("show")
@click.argument("trace", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Only this thread or task: t[02], t[2] or 2 (t[01] includes its tasks), "
    "or a thread's or task's name (a thread's includes its tasks); repeatable.",
)
@click.option(
    "--name",
    metavar="GLOB",
    help="Only calls whose name, or its last parts (fetch, Client.fetch), match; "
    "with the chain they came from.",
)
@click.option(
    "--min-duration",
    callback=_duration,
    metavar="DURATION",
    help="Hide calls shorter than this (e.g. 1ms), unless they raised.",
)
@click.option(
    "--max-depth",
    "--depth",
    "max_depth",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Hide calls deeper than N (0: no limit); with --focus, keep the N nearest callers.",
)
@click.option(
    "--summary", is_flag=True, help="A table per function instead: calls, total, own time, max."
)
@click.option(
    "--focus",
    metavar="NAME",
    help="Every distinct call chain that leads to NAME (matched like --name), "
    "with its call count and total time.",
)
@click.option(
    "--under-origin",
    is_flag=True,
    help="Each thread's, task's and thread-pool job's calls under the call that started "
    "them (reads the whole trace first).",
)
@click.option(
    "--width",
    type=click.IntRange(min=20),
    metavar="COLUMNS",
    help="Wrap lines at this width (default: a terminal's width; never on a pipe or file).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Say where and why each kind of unreadable line was skipped.",
)
def command(
    trace: str,
    tags: tuple[str, ...],
    name: str | None,
    min_duration: int,
    max_depth: int,
    summary: bool,
    focus: str | None,
    under_origin: bool,
    width: int | None,
    verbose: bool,
) -> None:
    """Print a trace as call trees, a summary, or the chains to a call.

    TRACE is a text or jsonl trace file, or - for stdin; by default it is shown as
    one call tree per thread and task. Printed while the trace is read, in
    bounded memory. On a pipe or a file,
    plain lines (four spaces per level) that never wrap; on a terminal, styled.
    Exits 1 when nothing matches the filters.

    Examples:

    \b
      functrace show trace.log
      functrace show trace.log --min-duration 1ms --max-depth 4
      functrace show trace.jsonl --summary
      functrace show trace.log --focus fetch    # every chain leading to fetch
      functrace show trace.log --under-origin  # under what started them
      functrace run app.py 2>&1 >/dev/null | functrace show -
    """
    from functrace.reading import Scan, scan_trace
    from functrace.render import Focus, Selection, Summary, TreePrinter

    if summary and focus:
        raise click.UsageError("--summary and --focus are two different views: pick one")
    if focus and name:
        raise click.UsageError("--focus NAME already names the function: drop --name")
    if under_origin:
        if summary or focus or name or min_duration or tags:
            raise click.UsageError(
                "--under-origin shows every call: it takes --max-depth and --width only"
            )
        _show_under_origin(trace, max_depth, width, verbose)
        return
    scan = Scan()
    # The names the trace gives its tags, as they are read: before each tag's first line.
    selection = Selection(tags, name, min_duration, max_depth, names=scan.names)
    out = sys.stdout
    terminal = out.isatty()
    consumer: Summary | Focus | TreePrinter
    lines = _LineWriter(out, terminal, width)
    if summary:
        consumer = Summary(selection, scan.thread_names)
    elif focus:
        consumer = Focus(focus, selection, scan.thread_names)
    else:
        consumer = TreePrinter(lines.emit, selection, scan.thread_names, names=scan.names)
    try:
        scan_trace(trace, consumer, scan=scan)
        if isinstance(consumer, TreePrinter):
            consumer.finish()
            found = consumer.shown
        elif isinstance(consumer, Summary):
            found = len(consumer.stats)
            if found:
                _print_summary(consumer, lines, terminal, width)
        else:
            found = len(consumer.chains)
            if found:
                from functrace.render import write_focus

                write_focus(consumer.rows(), lines)
        lines.flush()
    except BrokenPipeError:
        # `show | head`: the reader left; say nothing more, as head's other writers do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        sys.exit(ExitCode.OK)
    except KeyboardInterrupt:
        lines.flush()
        sys.exit(ExitCode.INTERRUPTED)
    label = "<stdin>" if trace == "-" else trace
    if scan.calls == 0:
        no_trace_lines("show", label, scan, verbose)
        sys.exit(ExitCode.FAILED)
    say_notes("show", label, scan, scan.unfinished, verbose)
    if not found:
        what = ", ".join(_filters(tags, name, min_duration, max_depth, focus))
        click.echo(f"functrace show: no call in {label} matches {what}", err=True)
        sys.exit(ExitCode.FAILED)


def _show_under_origin(trace: str, max_depth: int, width: int | None, verbose: bool) -> None:
    from functrace.reading import read_trace, read_trace_lines
    from functrace.render.origins import origin_tree

    if trace == "-":
        import io

        stdin = io.TextIOWrapper(sys.stdin.buffer, "utf-8", errors="replace")
        try:
            whole = read_trace_lines(stdin, drop_torn=True)
        finally:
            stdin.detach()
    else:
        whole = read_trace(trace)
    out = sys.stdout
    lines = _LineWriter(out, out.isatty(), width)
    found = 0
    try:
        for tag, depth, text in origin_tree(whole, max_depth):
            lines.emit(tag, depth, text)
            found += depth > 0
        lines.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        sys.exit(ExitCode.OK)
    label = "<stdin>" if trace == "-" else trace
    if not found:
        no_trace_lines("show", label, whole, verbose)
        sys.exit(ExitCode.FAILED)
    say_notes("show", label, whole, len(whole.open_calls()), verbose)


def _filters(
    tags: tuple[str, ...], name: str | None, min_duration: int, max_depth: int, focus: str | None
) -> list[str]:
    from functrace._runtime.lines import format_duration

    out = [f"--tag {t}" for t in tags]
    if focus:
        out.append(f"--focus {focus}")
    if name:
        out.append(f"--name {name}")
    if min_duration:
        out.append(f"--min-duration {format_duration(min_duration)}")
    if max_depth:
        out.append(f"--max-depth {max_depth}")
    return out or ["anything"]


def _print_summary(summary: object, lines: _LineWriter, terminal: bool, width: int | None) -> None:
    from functrace.render import Summary, summary_table, write_summary

    assert isinstance(summary, Summary)
    rows = summary.rows()
    if terminal:
        lines.console().print(summary_table(rows))
    else:
        write_summary(rows, lines)


class _LineWriter:
    """Lines to stdout: plain and unwrapped on a pipe or file (``--width`` wraps them),
    styled by rich on a terminal; written in batches, never held."""

    def __init__(self, out: TextIO, terminal: bool, width: int | None) -> None:
        self.out = out
        self.terminal = terminal
        self.width = width
        self.pending: list[str] = []
        self._console: Console | None = None
        self.emit: Callable[[str, int, str], None] = self._styled if terminal else self._plain

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.out, width=self.width, highlight=False)
        return self._console

    def write(self, text: str) -> None:
        """File-like, for the plain summary and focus tables."""
        for line in text.splitlines():
            self._add(line, "")

    def _plain(self, tag: str, depth: int, text: str) -> None:
        self._add("    " * depth + text, "    " * (depth + 1))

    def _add(self, line: str, indent: str) -> None:
        if self.width and len(line) > self.width:
            self.pending.extend(
                textwrap.wrap(line, self.width, subsequent_indent=indent, break_on_hyphens=False)
            )
        else:
            self.pending.append(line)
        if len(self.pending) >= 4096:
            self.flush()

    def _styled(self, tag: str, depth: int, text: str) -> None:
        from rich.text import Text

        if depth == 0:
            line = Text(text, style="bold magenta")
        else:
            line = Text("│   " * (depth - 1), style="dim")
            name, _, rest = text.partition(" ")
            line.append(name, style="bold red" if " !" in text else "")
            if rest:
                line.append(" " + rest, style="red" if " !" in text else "cyan")
        self.console().print(line)

    def flush(self) -> None:
        if self.pending:
            self.out.write("\n".join(self.pending) + "\n")
            self.pending.clear()
        self.out.flush()
