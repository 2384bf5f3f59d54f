"""The ways a process ends that would otherwise lose the buffered lines.

``atexit`` covers a normal exit (output.py registers it). Here, the others:

- SIGTERM with the default action (a ``Pool`` terminating its workers, a
  service manager stopping a service) would end the process at once. With the
  compiled module, a C handler wakes the flusher thread, which writes the buffer
  and sends SIGTERM again with the default action: the process still ends by
  SIGTERM, with the same status, and Python's ``signal.getsignal`` still says
  ``SIG_DFL``. A handler the program sets replaces it. Without the compiled
  module, the lines of the last flush interval are lost.
- multiprocessing children that import functrace after they start (forkserver,
  spawn) leave through ``os._exit`` after multiprocessing's own finalizers:
  one of those writes the buffer.
"""

from __future__ import annotations

import os
import sys

from functrace._runtime import engine, output

__all__ = ["install"]

_installed_pid = 0


def install() -> None:
    """Called when tracing starts; once per process."""
    global _installed_pid
    if _installed_pid == os.getpid():
        return
    _installed_pid = os.getpid()
    if engine.native_module() is not None:
        output.catch_sigterm(engine.native_module())
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, output.flush, exitpriority=-1_000_000)
