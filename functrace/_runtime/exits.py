"""The ways a process ends that would otherwise lose the buffered lines.

``atexit`` covers a normal exit (output.py registers it). Here, the others:

- SIGTERM with the default action (a ``Pool`` terminating its workers, a
  service manager stopping a service) would end the process at once. With the
  compiled module, a C handler wakes the flusher thread, which writes the buffer
  and sends SIGTERM again with the default action: the process still ends by
  SIGTERM, with the same status, and Python's ``signal.getsignal`` still says
  ``SIG_DFL``. A handler the program sets replaces it. Without the compiled
  module, the lines of the last flush interval are lost.
- multiprocessing children (fork, forkserver, spawn) leave through ``os._exit``
  after multiprocessing's own finalizers: one of those writes the buffer. And
  the lines of a task are written when its outermost traced call ends, before
  the result goes back to the parent (which may end the pool at once).
"""

from __future__ import annotations

import os
import sys
from typing import Any

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
        mp_process = sys.modules["multiprocessing.process"]
        # A worker already started, or a spawn/forkserver child still starting
        # (its __main__ being imported, "_inheriting"): a worker either way.
        if mp_process.parent_process() is not None or getattr(
            mp_process.current_process(), "_inheriting", False
        ):
            _in_worker(None)
        # A forkserver child's start-up clears finalizers made before it, then runs
        # the after-fork registry (a spawn child's runs neither).
        _register(mp_util)


class _ForkToken:
    """A weak-referenceable key for multiprocessing's after-fork registry."""


_fork_token = _ForkToken()


def _register(mp_util: Any) -> None:
    if not getattr(_fork_token, "registered", False):
        mp_util.register_after_fork(_fork_token, _in_worker)
        _fork_token.registered = True  # type: ignore[attr-defined]


def _before_fork() -> None:
    # Forked children start with the parent's after-fork registry (cleared of
    # finalizers by their start-up, which is why those are made in _in_worker).
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        _register(mp_util)


def _in_worker(_: object) -> None:
    """In a multiprocessing child: workers leave through os._exit, past atexit,
    after multiprocessing's own finalizers, so one of those writes the buffer,
    last of all; and each task's lines are written when its outermost traced
    call ends, before the worker hands the result back."""
    mp_util = sys.modules["multiprocessing.util"]
    mp_util.Finalize(None, output.flush, exitpriority=-1_000_000)
    engine.flush_outermost = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)
