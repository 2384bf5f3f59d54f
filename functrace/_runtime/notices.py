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
from types import FrameType

__all__ = ["notice"]


#: functrace's own directory: a notice is attributed to the first frame outside it.
_OURS = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def notice(message: str, stacklevel: int | None = None) -> None:
    """Warn with ``message`` (a RuntimeWarning); never raise. The warning points
    at the program's code that led here (the first frame outside functrace:
    the ``import functrace`` line, a decorated function's definition, the call
    of ``configure``), unless ``stacklevel`` says otherwise."""
    try:
        level = _outside() if stacklevel is None else stacklevel + 1
        warnings.warn(message, RuntimeWarning, stacklevel=level)
    except Exception:
        _to_stderr(message)


def _outside() -> int:
    """The ``stacklevel`` (for a warn() called in notice) of the first frame not
    in functrace. Import machinery frames are skipped by warnings itself, so
    they are not counted."""
    frame: FrameType | None = sys._getframe(2)  # notice's caller
    level = 2
    while frame is not None:
        if not frame.f_code.co_filename.startswith(_OURS):
            return level
        frame = frame.f_back
        while frame is not None and _internal(frame.f_code.co_filename):
            frame = frame.f_back
        level += 1
    return 2


def _internal(filename: str) -> bool:
    # What warnings skips when counting stacklevel (see its _is_internal_frame).
    return "importlib" in filename and "_bootstrap" in filename


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
