"""``functrace show TRACE``: a trace file (text or jsonl) as rich trees, or a summary."""

from __future__ import annotations

import io
import sys

import click

from functrace.cli.exit_codes import ExitCode

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
    help="Only this thread or task (t[01] includes its tasks); repeatable.",
)
@click.option(
    "--name", metavar="GLOB", help="Only calls whose name matches, with the chain they came from."
)
@click.option(
    "--min-duration",
    callback=_duration,
    metavar="DURATION",
    help="Hide calls shorter than this (e.g. 1ms), unless they raised.",
)
@click.option(
    "--max-depth",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Hide calls deeper than N (0: no limit).",
)
@click.option(
    "--summary", is_flag=True, help="A table per function instead: calls, total, own time, max."
)
def command(
    trace: str,
    tags: tuple[str, ...],
    name: str | None,
    min_duration: int,
    max_depth: int,
    summary: bool,
) -> None:
    """Render TRACE (a text or jsonl trace file, - for stdin) as one tree per thread and task."""
    from rich.console import Console

    from functrace.reading import read_trace, read_trace_lines
    from functrace.render import Selection, render_trees, summary_table

    err = Console(stderr=True)
    if trace == "-":
        # Bytes decoded leniently, line by line: a 10 GB trace piped in is never held whole.
        stdin = io.TextIOWrapper(sys.stdin.buffer, "utf-8", errors="replace")
        try:
            loaded = read_trace_lines(stdin)
        finally:
            stdin.detach()  # sys.stdin stays open
    else:
        loaded = read_trace(trace)
    for line in loaded.problem_report("<stdin>" if trace == "-" else trace):
        click.echo(f"functrace show: {line}", err=True)
    if not loaded.roots:
        click.echo(f"functrace show: no trace lines in {trace}", err=True)
        sys.exit(ExitCode.FAILED)
    selection = Selection(tags, name, min_duration, max_depth)
    out = Console()
    out.print(summary_table(loaded, selection) if summary else render_trees(loaded, selection))
    unfinished = len(loaded.open_calls())
    if unfinished:
        why = "cut off, or exit lines were skipped" if loaded.problems else "cut off"
        err.print(
            f"functrace show: {unfinished} call(s) never finished: the trace was {why}",
            style="yellow",
            soft_wrap=True,  # one line, for grep
        )
