"""The ``functrace`` command line: a click group whose commands load lazily.

Each command lives in its own module (``functrace.cli.<name>``) exposing a click
command called ``command``; only the command being run is imported, so
``functrace show`` never pays for libcst and ``functrace instrument`` never for rich.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

__all__ = ["main"]

# name -> module holding `command`; adding a command means adding a line here.
_COMMANDS: dict[str, str] = {
    "instrument": "functrace.cli.instrument",
    "strip": "functrace.cli.strip",
    "run": "functrace.cli.run",
    "show": "functrace.cli.show",
    "export": "functrace.cli.export",
    "diff": "functrace.cli.diff",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in _COMMANDS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS or not _available(cmd_name):
            return None
        module = importlib.import_module(_COMMANDS[cmd_name])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click cuts a command's description to fit the terminal ("Compare traces
        # A and B..."): each command's first sentence is written whole instead.
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(name: str) -> bool:
    return importlib.util.find_spec(_COMMANDS[name]) is not None


_EPILOG = """\
Environment, read by the traced program whichever way it starts (the table:
docs/configuration.md; under systemd, Nomad, Kubernetes: docs/deploying.md):

\b
  FUNCTRACE=0                  every @functrace.trace off, at no cost
  FUNCTRACE_OUTPUT=PATH        stderr (default), stdout, none or a file: {pid}
  FUNCTRACE_FORMAT=jsonl       text (default) or jsonl
  FUNCTRACE_MAX_DEPTH, FUNCTRACE_MIN_DURATION, FUNCTRACE_MAX_LINES
                               fewer lines: by depth, by duration, in all
  FUNCTRACE_INCLUDE, FUNCTRACE_EXCLUDE
                               globs over module.qualname, comma-separated
  FUNCTRACE_FOLLOW_SYMLINKS=1  write through a symbolic link (else refused)
  FUNCTRACE_SPEEDUPS=0         the pure-Python path, not the compiled one
  FUNCTRACE_EXPORTER=otel      every traced call an OpenTelemetry span too
  FUNCTRACE_ARGS=1             arguments and return values (repr: repr())
  FUNCTRACE_ARGS_LENGTH, FUNCTRACE_ARGS_LINE_LENGTH
                               cut a value at 100, a line's arguments at 1000
  FUNCTRACE_REDACT=GLOBS       more parameter names written as ***
  FUNCTRACE_OTEL_EXIT_TIMEOUT  seconds to wait at exit for unsent spans (2)

The pytest plugin (docs/pytest.md):

\b
  pytest --functrace=PKG       each failing test's call tree in its report

Examples:

\b
  functrace run app.py --port 8000       trace a program, lines on stderr
  functrace run -o trace.log -m app      the same, lines in a file
  functrace show trace.log               read it as call trees
  functrace instrument src/              decorate every function in place
  functrace COMMAND --help               a command's options and examples
"""


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_EPILOG,
)
@click.version_option(package_name="pyfunctrace", prog_name="functrace")
def main(**_: Any) -> None:
    """Trace which call chain each Python call came from.

    Tracing is on wherever functions carry @functrace.trace (added by hand or by
    `functrace instrument`), or for a whole program under `functrace run`.
    """
