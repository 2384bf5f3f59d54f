"""Exit codes shared by every command."""

from __future__ import annotations

import enum

__all__ = ["ExitCode"]


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # some file failed, or --check found work
    USAGE = 2
    INTERNAL = 3
    INTERRUPTED = 130
