"""``python -m functrace`` (and, pointed at :func:`main`, the ``functrace`` command).

``functrace run`` is the command whose start-up the user pays for on every run: with
well-formed options it is parsed here and the program starts without importing
click (~50 ms). Anything else (help, a usage error, the other commands) goes to the
click group in :mod:`functrace.cli`, which reports it as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

# `functrace run`'s options (see functrace/cli/run.py): flag -> keyword.
_OPTIONS = {
    "-m": "module",
    "-i": "include",
    "--include": "include",
    "-e": "exclude",
    "--exclude": "exclude",
    "-o": "output",
    "--output": "output",
    "--format": "fmt",
}
_REPEATED = ("include", "exclude")
_FORMATS = ("text", "jsonl")


def parse_run(args: Sequence[str]) -> dict[str, Any] | None:
    """``functrace run``'s arguments as :func:`~functrace.importhook.runner.run_program`
    takes them, parsed as click parses them (options up to the first argument or
    ``--``; ``--opt=value``, ``-ovalue``; the last of a repeated single option
    wins); None when click must answer (help, an unknown option, a missing value or
    script, a bad choice)."""
    found: dict[str, Any] = {"module": None, "include": [], "exclude": [], "output": None}
    found["fmt"] = None
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        arg = rest.pop(0)
        if arg == "--":
            break
        if arg.startswith("--"):
            flag, eq, value = arg.partition("=")
            attached: str | None = value if eq else None
        else:
            flag, value = arg[:2], arg[2:]
            attached = value or None
        key = _OPTIONS.get(flag)
        if key is None:
            return None
        if attached is None:
            if not rest:
                return None
            attached = rest.pop(0)
        if key in _REPEATED:
            found[key].append(attached)
        else:
            found[key] = attached
    if found["fmt"] is not None and found["fmt"] not in _FORMATS:
        return None
    if found["module"] is None and not rest:
        return None
    found["argv"] = rest
    return found


def main(args: Sequence[str] | None = None) -> None:
    """The ``functrace`` command."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["run"]:
        parsed = parse_run(argv[1:])
        if parsed is not None:
            from functrace.importhook.runner import run_program

            run_program(**parsed)
            return
    from functrace.cli import main as cli

    if args is None:
        cli()
    else:
        cli(args=argv)


if __name__ == "__main__":
    main()
