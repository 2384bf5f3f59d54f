"""``functrace diff A B``: two traces of the same program compared call tree by call tree."""

from __future__ import annotations

import sys

import click

from functrace.cli._notes import no_trace_lines, say_notes
from functrace.cli.exit_codes import ExitCode

__all__ = ["command"]


@click.command("diff")
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=15,
    show_default=True,
    metavar="N",
    help="How many changed functions to list.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Say where and why each kind of unreadable line was skipped.",
)
def command(a: str, b: str, top: int, verbose: bool) -> None:
    """Compare two traces of one program: where do the calls part?

    A and B are text or jsonl traces (say, of a passing and a failing run). For
    each thread and task, the first place where the calls differ (a call made
    in one run and not the other, or ending differently: returned, raised,
    suspended), with the chain of calls leading there; then the functions whose
    call counts or total times changed most. Exits 1 when the runs differ.
    Reads each file twice at most, in bounded memory.

    Examples:

    \b
      functrace run -o good.log app.py --input ok.csv    # a passing run
      functrace run -o bad.log app.py --input bad.csv    # then a failing one
      functrace diff good.log bad.log
      functrace diff --top 5 before.jsonl after.jsonl
    """
    from functrace.render.diff import compare, write_diff

    result = compare(a, b)
    for path, scan in zip((a, b), result.scans, strict=True):
        if scan.calls == 0:
            no_trace_lines("diff", path, scan, verbose)
            sys.exit(ExitCode.USAGE)
        say_notes("diff", path, scan, scan.unfinished, verbose)
    found = write_diff(result, sys.stdout, top)
    sys.stdout.flush()
    sys.exit(ExitCode.FAILED if found else ExitCode.OK)
