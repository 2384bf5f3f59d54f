"""``functrace strip PATH...``: remove what ``functrace instrument`` added."""

from __future__ import annotations

from functrace.cli._rewrite_common import rewrite_command

__all__ = ["command"]

command = rewrite_command(
    "strip",
    "untraced",
    """Remove what `functrace instrument` added, byte for byte.

    Removes the lines ending with `# functrace: added`, restoring the files as
    they were before `functrace instrument`. PATH is a file, a directory
    (searched for *.py) or - for stdin to stdout.
    Decorators and imports written by hand are kept.

    Examples:

    \b
      functrace strip src/app
      functrace strip --check src/      # exit 1 if anything is still instrumented
    """,
)
