"""``functrace run``: run a program as python would, tracing its own modules.

The work is :func:`functrace.importhook.runner.run_program`'s; ``functrace run``
with well-formed options reaches it without click (see ``functrace/__main__.py``),
this command is for help and usage errors, and for ``main`` used as a click group.
"""

from __future__ import annotations

import click

__all__ = ["command"]


@click.command(
    "run",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": False},
)
@click.option(
    "-m",
    "module",
    metavar="MODULE",
    help="Run a library module as a script, like python -m (the rest are its arguments).",
)
@click.option(
    "--include",
    "-i",
    multiple=True,
    metavar="GLOB",
    help="Trace modules whose names match (app, app.*); repeatable. "
    "Default: modules whose files lie under the current directory.",
)
@click.option(
    "--exclude",
    "-e",
    multiple=True,
    metavar="GLOB",
    help="Never trace modules whose names match; repeatable.",
)
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    help="Where lines go: stderr, stdout, none or a path ({pid} allowed); as FUNCTRACE_OUTPUT.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "jsonl"]),
    help="Line format, as FUNCTRACE_FORMAT.",
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def command(
    module: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    output: str | None,
    fmt: str | None,
    argv: tuple[str, ...],
) -> None:
    """Run SCRIPT (or -m MODULE) with its ARGS exactly as python would, tracing the
    program's own functions; no file on disk is changed.

    \b
      functrace run app.py --port 8000
      functrace run -o trace.log -m app.cli serve
    """
    if module is None and not argv:
        raise click.UsageError("give a SCRIPT to run, or -m MODULE")
    from functrace.importhook.runner import run_program

    run_program(module, argv, include, exclude, output, fmt)
