"""functrace's own notices to the user: a bad setting, an output that failed.

They go through :mod:`warnings` (so ``pytest.warns`` and ``-W ignore`` work as
usual), but a notice must never raise into the traced program: under ``-W error``
or pytest's ``filterwarnings = error`` the warning would be an exception thrown
from ``import functrace`` or from a decorator. Then the text goes to the real
stderr instead.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["notice"]


def notice(message: str, stacklevel: int = 2) -> None:
    """Warn with ``message`` (a RuntimeWarning); never raise."""
    try:
        warnings.warn(message, RuntimeWarning, stacklevel=stacklevel + 1)
    except Exception:
        _to_stderr(message)


def _to_stderr(message: str) -> None:
    line = f"{message}\n".encode("utf-8", "backslashreplace")
    stream = sys.__stderr__
    try:
        fd = stream.fileno() if stream is not None else 2
    except (AttributeError, ValueError, OSError):
        fd = 2
    try:
        if stream is not None:
            stream.flush()
        os.write(fd, line)
    except Exception:
        pass  # no stderr at all: nothing more we can do without harming the program
