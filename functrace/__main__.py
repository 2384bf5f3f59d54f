"""``python -m functrace`` (and, pointed at :func:`main`, the ``functrace`` command).

``functrace run`` is the command whose start-up the user pays for on every run: with
well-formed options it is parsed here and the program starts without importing
click (~50 ms). Anything else (help, a usage error, the other commands) goes to the
click group in :mod:`functrace.cli`, which reports it as usual.

Both parsers are built from :data:`RUN_OPTIONS`, and both stop where ``python``
stops: at the script path, or right after ``-m MODULE``; the rest is the program's.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from functrace._runtime.config import FORMATS

__all__ = ["RUN_OPTIONS", "RunOption", "main", "parse_run", "split_run", "start_run"]


def _whole(text: str) -> str:
    try:
        ok = int(text.replace("_", "")) >= 0
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{text!r} is not a whole number >= 0")
    return text


def _duration(text: str) -> str:
    from functrace._runtime.config import parse_duration_ns

    try:
        parse_duration_ns(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a duration: a number and a unit, ns, us (or µs), ms or s "
            "(500us, 2ms, 1.5s), or 0"
        ) from None
    return text


def _output(text: str) -> str:
    if not text.strip():
        raise ValueError("give stderr, stdout, none or a file path")
    return text


@dataclasses.dataclass(frozen=True)
class RunOption:
    """One option of ``functrace run``, as both parsers read it."""

    flags: tuple[str, ...]  # long first: click names the option after it
    key: str  # the keyword it is passed under
    metavar: str
    help: str
    repeated: bool = False
    choices: tuple[str, ...] = ()
    #: Checks a value: returns it, or raises ValueError with the user's message.
    check: Callable[[str], str] | None = None
    #: The runtime's variable it sets, for the program and the programs it starts.
    env: str | None = None
    #: Everything after this option's value is the program's (``-m MODULE``).
    last: bool = False
    #: Takes no value: present or not (``--no-children``).
    flag: bool = False
    #: A flag, taking no value: given, it stands for this value.
    flag_value: str | None = None


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption(
        ("-m",),
        "module",
        "MODULE",
        "Run library module MODULE as a script, as python -m does; "
        "everything after MODULE is the program's.",
        last=True,
    ),
    RunOption(
        ("--include", "-i"),
        "include",
        "GLOB",
        "Trace modules whose names match; a bare name (app) takes its submodules too; "
        "repeatable. Default: modules whose files lie under the current directory.",
        repeated=True,
    ),
    RunOption(
        ("--exclude", "-e"),
        "exclude",
        "GLOB",
        "Never trace modules whose names match (a bare name: its submodules too); repeatable.",
        repeated=True,
    ),
    RunOption(
        ("--output", "-o"),
        "output",
        "FILE",
        "Where lines go: stderr (default), stdout, none or a file path "
        "({pid}: the process id). Sets FUNCTRACE_OUTPUT.",
        check=_output,
        env="FUNCTRACE_OUTPUT",
    ),
    RunOption(
        ("--format",),
        "fmt",
        "[" + "|".join(FORMATS) + "]",
        "Line format: text (default) or jsonl. Sets FUNCTRACE_FORMAT.",
        choices=FORMATS,
        env="FUNCTRACE_FORMAT",
    ),
    RunOption(
        ("--max-depth",),
        "max_depth",
        "N",
        "Write no lines for calls nested deeper than N (0, the default: no limit). "
        "Sets FUNCTRACE_MAX_DEPTH.",
        check=_whole,
        env="FUNCTRACE_MAX_DEPTH",
    ),
    RunOption(
        ("--min-duration",),
        "min_duration",
        "TIME",
        "Leave out calls shorter than TIME, such as 500us, 2ms or 1.5s "
        "(0, the default: keep all). Sets FUNCTRACE_MIN_DURATION.",
        check=_duration,
        env="FUNCTRACE_MIN_DURATION",
    ),
    RunOption(
        ("--max-lines",),
        "max_lines",
        "N",
        "Write at most N lines per output, then one line counting the rest "
        "(0, the default: no limit). Sets FUNCTRACE_MAX_LINES.",
        check=_whole,
        env="FUNCTRACE_MAX_LINES",
    ),
    RunOption(
        ("--no-children",),
        "no_children",
        "",
        "Trace this process only, not the Python processes it starts "
        "(subprocess, multiprocessing spawn and forkserver children).",
        flag=True,
    ),
    RunOption(
        ("--args",),
        "args",
        "",
        "Show arguments on enter lines and return values on exit lines, without "
        "running the program's code (builtins as Python writes them, other objects "
        "as <module.Class>); secret-looking parameters are ***. Sets FUNCTRACE_ARGS=1.",
        env="FUNCTRACE_ARGS",
        flag_value="1",
    ),
    RunOption(
        ("--args-repr",),
        "args_repr",
        "",
        "As --args, with repr() for objects other than builtins (runs their __repr__). "
        "Sets FUNCTRACE_ARGS=repr.",
        env="FUNCTRACE_ARGS",
        flag_value="repr",
    ),
)
_BY_FLAG = {flag: option for option in RUN_OPTIONS for flag in option.flags}


def _scan(args: Sequence[str]) -> tuple[list[tuple[RunOption, str]], int, bool]:
    """Read functrace's options as click reads them (``--opt value``,
    ``--opt=value``, ``-ovalue``), up to the first argument, ``--``, or the value
    of a ``last`` option. Returns the options read, where the program's arguments
    start, and whether the scan ended cleanly (False: an unknown option or a
    missing value at that index, for click to report)."""
    found: list[tuple[RunOption, str]] = []
    at = 0
    while at < len(args):
        arg = args[at]
        if arg == "--":
            return found, at + 1, True
        if not arg.startswith("-") or arg == "-":
            return found, at, True
        if arg.startswith("--"):
            flag, eq, value = arg.partition("=")
            attached: str | None = value if eq else None
        else:
            flag, attached = arg[:2], (arg[2:] or None)
        option = _BY_FLAG.get(flag)
        if option is None:
            return found, at, False
        if option.flag:
            if attached is not None:
                return found, at, False  # --no-children=x: click says what is wrong
            found.append((option, ""))
            at += 1
            continue
        if option.flag_value is not None:
            if attached is not None:
                return found, at, False  # --args=x: click says a flag takes no value
            found.append((option, option.flag_value))
            at += 1
            continue
        if attached is None:
            if at + 1 >= len(args):
                return found, at, False
            at += 1
            attached = args[at]
        found.append((option, attached))
        at += 1
        if option.last:
            return found, at, True
    return found, at, True


def split_run(args: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """``args`` cut after ``-m MODULE``: (functrace's, the program's); None when
    there is no ``-m`` among well-formed options (click then reads them all)."""
    found, at, _ = _scan(args)
    if not found or not found[-1][0].last:
        return None
    return list(args[:at]), list(args[at:])


def parse_run(args: Sequence[str]) -> dict[str, Any] | None:
    """``functrace run``'s arguments as :func:`start_run` takes them, parsed as
    click parses them (the last of a repeated single option wins); None when click
    must answer (help, an unknown option, a missing value or script, a bad value)."""
    found, at, clean = _scan(args)
    if not clean:
        return None
    params: dict[str, Any] = {
        o.key: [] if o.repeated else False if o.flag else None for o in RUN_OPTIONS
    }
    for option, value in found:
        if option.flag:
            params[option.key] = True
            continue
        if option.choices and value not in option.choices:
            return None
        if option.check is not None:
            try:
                option.check(value)
            except ValueError:
                return None
        if option.repeated:
            params[option.key].append(value)
        else:
            params[option.key] = value
    params["argv"] = list(args[at:])
    if params["module"] is None and not params["argv"]:
        return None
    return params


def start_run(params: Mapping[str, Any]) -> None:
    """Run the program as ``params`` (:func:`parse_run`'s, or click's) ask."""
    from functrace.importhook.runner import run_program

    env = {o.env: params[o.key] for o in RUN_OPTIONS if o.env and params[o.key] is not None}
    run_program(
        params["module"],
        params["argv"],
        params["include"],
        params["exclude"],
        env,
        children=not params.get("no_children"),
    )


def main(args: Sequence[str] | None = None) -> None:
    """The ``functrace`` command."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["run"]:
        parsed = parse_run(argv[1:])
        if parsed is not None:
            start_run(parsed)
            return
    from functrace.cli import main as cli

    if args is None:
        cli()
    else:
        cli(args=argv)


if __name__ == "__main__":
    main()
