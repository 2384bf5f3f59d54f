"""``functrace instrument PATH...``: trace every function of these files."""

from __future__ import annotations

from functrace.cli._rewrite_common import rewrite_command

__all__ = ["command"]

command = rewrite_command(
    "instrument",
    "instrumented",
    """Add @functrace.trace to every function of these files.

    Adds `import functrace` and an innermost `@functrace.trace` to every function.
    PATH is a file, a directory (searched for *.py) or - for stdin to stdout.
    Files are rewritten in place; a .pyi stub named is skipped (no bodies to
    trace). Leave a function or class alone with a
    `# functrace: skip` comment on its line or the line above, a whole file
    with a `# functrace: skip-file` comment line at its top. Every added line
    ends with `# functrace: added`, which `functrace strip` looks for.

    Examples:

    \b
      functrace instrument src/app
      functrace instrument --diff src/app/models.py     # see it, write nothing
      functrace instrument --exclude 'migrations' src/
      cat app.py | functrace instrument - > traced_app.py
    """,
)
