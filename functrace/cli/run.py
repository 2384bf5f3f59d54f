"""``functrace run``: run a program as python would, tracing its own modules."""

from __future__ import annotations

import os
import sys

import click

from functrace.cli.exit_codes import ExitCode

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
    import functrace
    from functrace.importhook import install_import_hook, runner

    changes = {k: v for k, v in (("output", output), ("format", fmt)) if v is not None}
    if changes:
        functrace.configure(**changes)
    includes = list(include)
    if module is not None and includes:
        includes += [module, f"{module}.__main__"]
    install_import_hook(includes, exclude, under=() if include else [os.getcwd()])
    sys.stdout.flush()
    try:
        if module is not None:
            runner.run_module(module, argv)
        else:
            runner.run_script(argv[0], argv[1:])
    except SystemExit:
        raise
    except BaseException as exc:  # the program's own: shown as python shows it
        if module is None and isinstance(exc, OSError) and _opening_script(exc):
            click.echo(
                f"{sys.executable}: can't open file {os.path.abspath(argv[0])!r}: "
                f"[Errno {exc.errno}] {exc.strerror}",
                err=True,
            )
            sys.exit(ExitCode.USAGE)
        tb = runner.user_traceback(exc.__traceback__)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        functrace.flush()
        sys.exit(ExitCode.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1)


def _opening_script(exc: OSError) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "run_script"
