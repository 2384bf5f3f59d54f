"""Python 3.12+: observe traced functions through ``sys.monitoring``, adding no frame.

``trace(fn)`` returns ``fn`` itself and switches on local events for its code
object only, so untraced code runs at full speed and the traced function keeps
its exact frames: ``sys._getframe()``, ``warnings.warn(stacklevel=...)``,
logging's caller lookup and the recursion limit see what they saw before.
``PY_UNWIND`` and ``PY_THROW`` cannot be local; they are global and only
cost anything while an exception travels, filtered by ``id(code)``.
"""

from __future__ import annotations

import sys
from functools import partial
from types import CodeType

from functrace._runtime import engine
from functrace._runtime.state import WeakRefs

__all__ = ["MonitoringBackend"]

# 0 debugger, 1 coverage, 2 profiler, 5 optimizer are spoken for (PEP 669).
_CANDIDATE_IDS = (4, 3)
_NAME = "functrace"


class MonitoringBackend:
    """Owns one ``sys.monitoring`` tool id and the event set of each traced code."""

    def __init__(self) -> None:
        self.tool: int | None = None
        self.on = False
        # Weak: a traced code object that dies (a reloaded module) is forgotten,
        # running no library code (see WeakRefs).
        self.codes = WeakRefs()  # of CodeType

    def acquire(self) -> bool:
        mon = sys.monitoring
        for tool in _CANDIDATE_IDS:
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, _NAME)
                self.tool = tool
                self._register_callbacks()
                engine.on_path_change(self._register_callbacks)
                return True
        return False

    def _register_callbacks(self) -> None:
        mon = sys.monitoring
        ev = mon.events
        assert self.tool is not None
        events = (ev.PY_START, ev.PY_RESUME, ev.PY_THROW, ev.PY_RETURN, ev.PY_YIELD, ev.PY_UNWIND)
        # The compiled path's callbacks take sys.monitoring's arguments as they come;
        # the Python ones get C-level partials: no extra frame either way.
        callbacks = engine.native_callbacks()
        if callbacks is None:
            enter, leave = engine.current
            callbacks = (
                partial(enter, False),
                partial(enter, True),
                partial(enter, True),
                partial(leave, engine.RETURN),
                partial(leave, engine.SUSPEND),
                partial(leave, engine.UNWIND),
            )
        for event, callback in zip(events, callbacks):
            mon.register_callback(self.tool, event, callback)

    def _events(self) -> tuple[int, int]:
        """(local, global) events for the current state. Switched off, a call that
        started while on must still end with its exit line: the events that end
        calls stay on (they cost one callback that finds nothing to end) until
        ``stop()``."""
        ev = sys.monitoring.events
        if self.stopped:
            return 0, 0
        if self.on:
            return int(ev.PY_START | ev.PY_RESUME | ev.PY_RETURN | ev.PY_YIELD), int(
                ev.PY_UNWIND | ev.PY_THROW
            )
        if self.ever_on:
            return int(ev.PY_RETURN | ev.PY_YIELD), int(ev.PY_UNWIND)
        return 0, 0

    on = False
    ever_on = False
    stopped = False

    def add(self, code: CodeType) -> None:
        self.codes.add(code)
        local = self._events()[0]
        if local:
            assert self.tool is not None
            sys.monitoring.set_local_events(self.tool, code, local)

    def switch(self, on: bool) -> None:
        if on == self.on or self.tool is None:
            return
        self.on = on
        if on:
            self.ever_on, self.stopped = True, False
        self._apply()

    def stop(self) -> None:
        """Every event off, for good (an internal error)."""
        self.on, self.stopped = False, True
        self._apply()

    def _apply(self) -> None:
        assert self.tool is not None
        mon = sys.monitoring
        local, global_ = self._events()
        for code in list(self.codes):
            mon.set_local_events(self.tool, code, local)
        mon.set_events(self.tool, global_)
