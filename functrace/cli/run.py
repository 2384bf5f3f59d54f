"""``functrace run``: run a program as python would, tracing its own modules.

The work is :func:`functrace.importhook.runner.run_program`'s; ``functrace run``
with well-formed options reaches it without click (see ``functrace/__main__.py``),
this command is for help and usage errors, and for ``main`` used as a click group.
Its options are built from the same table as that fast parser's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from functrace.__main__ import RUN_OPTIONS, RunOption, split_run, start_run

__all__ = ["command"]


def _type(option: RunOption) -> Any:
    if option.choices:
        return click.Choice(option.choices)
    return option.check  # click reports its ValueError's message as the reason


def _click_option(option: RunOption) -> Callable[[Any], Any]:
    if option.flag:
        return click.option(*option.flags, option.key, is_flag=True, help=option.help)
    if option.flag_value is not None:
        return click.option(
            *option.flags,
            option.key,
            is_flag=True,
            flag_value=option.flag_value,
            default=None,
            help=option.help,
        )
    return click.option(
        *option.flags,
        option.key,
        multiple=option.repeated,
        metavar=None if option.choices else option.metavar,
        type=_type(option),
        help=option.help,
    )


class _RunCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # As python -m: what follows MODULE is the program's, options or not.
        split = split_run(args)
        if split is not None:
            args = [*split[0], "--", *split[1]]
        return super().parse_args(ctx, args)


def _command(fn: Callable[..., None]) -> click.Command:
    fn = click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="[SCRIPT] [ARGS]...")(fn)
    for option in reversed(RUN_OPTIONS):
        fn = _click_option(option)(fn)
    return click.command(
        "run",
        cls=_RunCommand,
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": False},
    )(fn)


@_command
def command(**params: Any) -> None:
    """Run a Python program as python would, tracing its own functions.

    Runs SCRIPT (or -m MODULE) with its ARGS exactly as python would, tracing the
    functions of the modules under the current directory (or those --include
    names); no file on disk is changed. Everything after SCRIPT or MODULE is the
    program's. The options set the FUNCTRACE_* variables of the same names, for
    the program and the programs it starts (docs/configuration.md).

    Examples:

    \b
      functrace run app.py --port 8000
      functrace run -o trace.log -m app.cli serve
      functrace run -o 'trace-{pid}.log' --format jsonl -m app.worker
      functrace run --include black --max-depth 3 -m black src/
    """
    if params["module"] is None and not params["argv"]:
        raise click.UsageError("give a SCRIPT to run, or -m MODULE")
    start_run(params)
