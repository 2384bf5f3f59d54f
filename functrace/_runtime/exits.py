"""The ways a process ends that would otherwise lose the buffered lines.

``atexit`` covers a normal exit (output.py registers it). Here, the others:

- SIGTERM with the default action (a ``Pool`` terminating its workers, a
  service manager stopping a service): the process would die at once. A handler
  writes the buffer, restores the default action and sends the signal again,
  so the process still ends by SIGTERM, with the same status. A program that
  sets its own SIGTERM handler replaces ours, and its handling is unchanged.
- multiprocessing children that import functrace after they start (forkserver,
  spawn) leave through ``os._exit`` after multiprocessing's own finalizers:
  one of those writes the buffer.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from functrace._runtime import output

__all__ = ["install"]

_installed_pid = 0


def install() -> None:
    """Called when tracing starts; once per process."""
    global _installed_pid
    if _installed_pid == os.getpid():
        return
    _installed_pid = os.getpid()
    _flush_on_sigterm()
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, output.flush, exitpriority=-1_000_000)


def _flush_on_sigterm() -> None:
    import signal

    if threading.get_ident() != threading.main_thread().ident:
        return  # only the main thread may set handlers
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the program (or its parent) chose what SIGTERM does
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    import signal

    try:
        output.flush()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
