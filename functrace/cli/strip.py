"""``functrace strip PATH...``: remove what ``functrace instrument`` added."""

from __future__ import annotations

from functrace.cli._rewrite_common import rewrite_command

__all__ = ["command"]

command = rewrite_command(
    "strip",
    "untraced",
    """Remove the lines `functrace instrument` added (those ending with
    `# functrace: added`), restoring the files byte for byte.

    PATH is a file, a directory (searched for *.py) or - for stdin to stdout.
    Decorators and imports written by hand are kept.
    """,
)
