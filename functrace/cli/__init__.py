"""The ``functrace`` command line: a click group whose commands load lazily.

Each command lives in its own module (``functrace.cli.<name>``) exposing a click
command called ``command``; only the command being run is imported, so
``functrace show`` never pays for libcst and ``functrace instrument`` never for rich.
"""

from __future__ import annotations

import importlib
import importlib.util
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


def _available(name: str) -> bool:
    return importlib.util.find_spec(_COMMANDS[name]) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pyfunctrace", prog_name="functrace")
def main(**_: Any) -> None:
    """Trace which call chain each Python call came from."""
