"""The engine observer that turns traced calls into OpenTelemetry spans.

A plain call is one span. A coroutine is one span over all its runs: when it
suspends (``await``) its span is parked at its thread-or-task tag and depth
(an asyncio task resumes its await chain outermost first, at the same depths)
and the next run of the same code there continues it, so span durations are
wall-clock durations, as a request handler's span should be. A generator's
runs are separate spans: each ``next()`` is a call made by its consumer,
anywhere. Exported files (:mod:`functrace.export.spans`) follow the same rule.

A span's parent is the current span, which a task inherits through
``contextvars`` (as ``asyncio.to_thread`` does); a thread or thread-pool job has
none of its own, so its first span gets the one the trace's origin names (the
latest span of that function in that tag), as exported files have it.

Every span says where it ran as exported files do: ``functrace.tag`` and
``thread.name`` (the thread's name, or the asyncio task's in a task's tag: what
the trace's naming lines call it), read when the span starts.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode, Tracer

from functrace.export.spans import code_attributes, value_attributes

__all__ = ["SpanObserver"]


class _Token:
    __slots__ = ("context_token", "depth", "info", "returned", "span", "tag")

    def __init__(self, tag: str, depth: int, info: Any, span: Span, context_token: object) -> None:
        self.tag = tag
        self.depth = depth
        self.info = info
        self.span = span
        self.context_token = context_token
        self.returned: str | None = None


class SpanObserver:
    """Pass to ``functrace._runtime.engine.add_observer``."""

    def __init__(self, tracer: Tracer, fallback_parent: Context | None = None) -> None:
        self.tracer = tracer
        #: Used as the parent when there is no current span (``TRACEPARENT``).
        self.fallback_parent = fallback_parent
        self._depths: dict[str, int] = {}
        self._parked: dict[tuple[str, int], tuple[Any, Span, int]] = {}
        self._offset = time.time_ns() - time.perf_counter_ns()
        #: Tag -> what started the call about to start there; (tag, function name)
        #: -> its latest span's context (bounded): the parent such a call gets.
        self._origins: dict[str, Any] = {}
        self._latest: dict[tuple[str, str], SpanContext] = {}

    def started(self, tag: str, origin: Any) -> None:
        self._origins[tag] = origin

    def enter(self, tag: str, info: Any, t_ns: int, resumed: bool) -> _Token:
        depth = self._depths.get(tag, 0) + 1
        self._depths[tag] = depth
        span = None
        if resumed:
            parked = self._parked.pop((tag, depth), None)
            if parked is not None and parked[0] is info:
                span = parked[1]
            elif parked is not None:
                parked[1].end(end_time=parked[2])  # never resumed here: it ends as it stopped
        if span is None:
            span = self._start(tag, info, t_ns, resumed)
        token = otel_context.attach(trace.set_span_in_context(span))
        return _Token(tag, depth, info, span, token)

    def arguments(self, token: _Token, args: dict[str, str]) -> None:
        """FUNCTRACE_ARGS: the call's arguments, as ``functrace.args.NAME``."""
        token.span.set_attributes(value_attributes(args, None))

    def returned(self, token: _Token, text: str) -> None:
        """FUNCTRACE_ARGS: what it returned (or its exception says): the last run's."""
        token.returned = text

    def exit(self, token: _Token, t_ns: int, exception: str | None, suspended: str | None) -> None:
        otel_context.detach(token.context_token)  # type: ignore[arg-type]
        self._depths[token.tag] = token.depth - 1
        span, end = token.span, t_ns + self._offset
        if suspended == "await" and token.info.is_async:
            key = (token.tag, token.depth)
            previous = self._parked.get(key)
            if previous is not None and previous[1] is not span:
                previous[1].end(end_time=previous[2])
            self._parked[key] = (token.info, span, end)
            return
        if token.returned is not None:
            span.set_attribute("functrace.return", token.returned)
        if exception is not None:
            event = {"exception.type": exception}
            if token.returned is not None:
                event["exception.message"] = token.returned
            span.add_event("exception", event, timestamp=end)
            span.set_status(Status(StatusCode.ERROR, exception))
        if suspended is not None:
            span.set_attribute("functrace.suspended", suspended)
        span.end(end_time=end)

    def _start(self, tag: str, info: Any, t_ns: int, resumed: bool) -> Span:
        parent: Context | None = None
        origin = self._origins.pop(tag, None) if self._origins else None
        if self.fallback_parent is not None or origin is not None:
            current = trace.get_current_span().get_span_context()
            if not current.is_valid:
                parent = self.fallback_parent
                starter = self._latest.get((origin.tag, origin.name)) if origin else None
                if starter is not None:
                    parent = trace.set_span_in_context(NonRecordingSpan(starter))
        attributes: dict[str, Any] = dict(code_attributes(info.name, info.file, info.line))
        attributes["functrace.tag"] = tag
        attributes["thread.name"] = _context_name(tag)
        if resumed:
            attributes["functrace.resumed"] = True
        span = self.tracer.start_span(
            info.name,
            context=parent,
            attributes=attributes,
            start_time=t_ns + self._offset,
        )
        latest = self._latest
        if len(latest) >= 10_000:
            latest.clear()
        latest[(tag, info.name)] = span.get_span_context()
        return span


def _context_name(tag: str) -> str:
    """The running thread's name, or its current asyncio task's for a task's tag."""
    if "a[" in tag:
        asyncio = sys.modules.get("asyncio")
        if asyncio is not None:
            try:
                task = asyncio.current_task()
            except RuntimeError:  # no running loop in this thread
                task = None
            if task is not None:
                return str(task.get_name())
    return threading.current_thread().name
