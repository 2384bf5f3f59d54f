"""A trace as OpenTelemetry SDK spans (``ReadableSpan``), for the span formats.

One span per call, with ``code.*`` attributes, the exception as a span event
(and an error status), ids from one random source, all in one trace.

Generators and coroutines: a coroutine's runs (``... await`` then ``... resume``
at the same depth of the same thread or task) are one span from its first
run's start to its last run's end, as request spans are in distributed
tracing; a generator's runs stay separate spans, since each ``next()`` is a
call made by whoever consumes it. The live exporter (:mod:`functrace.otel`)
makes the same choice.

Needs the ``otel`` extra.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from functrace._runtime.record import Call
from functrace.export._code import code_attributes, value_attributes
from functrace.reading.trace import Trace

__all__ = ["code_attributes", "group_runs", "to_spans", "value_attributes"]

_SCOPE = InstrumentationScope("functrace")


def group_runs(trace: Trace) -> list[list[Call]]:
    """Calls grouped into spans: each group is one call's runs, in start order."""
    groups: list[list[Call]] = []
    for roots in trace.tags().values():
        parked: dict[int, tuple[str, list[Call]]] = {}  # depth -> coroutine awaiting there
        for call, depth in _preorder(roots):
            waiting = parked.pop(depth, None) if call.resumed else None
            if waiting is not None and waiting[0] == call.name:
                group = waiting[1]
                group.append(call)
            else:
                group = [call]
                groups.append(group)
            if call.suspended == "await":
                parked[depth] = (call.name, group)
    return groups


def to_spans(
    trace: Trace,
    service_name: str = "functrace",
    trace_id: int | None = None,
    parent_span_id: int | None = None,
    seed: int | None = None,
) -> list[ReadableSpan]:
    """``trace_id``/``parent_span_id`` put the calls under a span of another trace."""
    rng = random.Random(seed)
    trace_id = trace_id or rng.getrandbits(128) or 1
    parent_root = (
        SpanContext(trace_id, parent_span_id, is_remote=True, trace_flags=TraceFlags(1))
        if parent_span_id
        else None
    )
    resource = Resource.create({SERVICE_NAME: service_name})
    offset = trace.epoch_offset_ns
    trace_end = trace.end_ns
    groups = group_runs(trace)
    context_of: dict[int, SpanContext] = {}
    for group in groups:
        context = SpanContext(
            trace_id, rng.getrandbits(64) or 1, is_remote=False, trace_flags=TraceFlags(1)
        )
        for run in group:
            context_of[id(run)] = context
    starters = trace.origin_calls()  # a thread's, task's or job's span hangs under its starter's
    spans = []
    for group in groups:
        first, last = group[0], group[-1]
        if first.parent is not None:
            parent = context_of.get(id(first.parent))
        else:
            starter = starters.get(id(first))
            parent = context_of.get(id(starter)) if starter is not None else parent_root
        attributes: dict[str, str | int | bool] = {
            **code_attributes(first.name, first.file, first.line),
            "functrace.tag": first.tag,
        }
        thread = trace.thread_names.get(first.tag)
        if thread:
            attributes["thread.name"] = thread
        if len(group) > 1:
            attributes["functrace.runs"] = len(group)
        if last.suspended is not None:
            attributes["functrace.suspended"] = last.suspended
        if first.resumed:
            attributes["functrace.resumed"] = True
        attributes.update(value_attributes(first.args, last.returned))
        end = last.end_ns
        if end is None:
            attributes["functrace.unfinished"] = True
            end = max(trace_end, last.start_ns)
        events = []
        status = Status(StatusCode.UNSET)
        if last.exception is not None:
            exc_attributes = {"exception.type": last.exception}
            if last.returned is not None:  # FUNCTRACE_ARGS: what the exception says
                exc_attributes["exception.message"] = last.returned
            events.append(Event("exception", exc_attributes, timestamp=end + offset))
            status = Status(StatusCode.ERROR, last.exception)
        spans.append(
            ReadableSpan(
                first.name,
                context=context_of[id(first)],
                parent=parent,
                resource=resource,
                attributes=attributes,
                events=events,
                kind=SpanKind.INTERNAL,
                status=status,
                start_time=first.start_ns + offset,
                end_time=end + offset,
                instrumentation_scope=_SCOPE,
            )
        )
    return spans


def _preorder(roots: list[Call]) -> Iterator[tuple[Call, int]]:
    stack = [(r, 1) for r in reversed(roots)]
    while stack:
        call, depth = stack.pop()
        yield call, depth
        stack.extend((c, depth + 1) for c in reversed(call.children))
