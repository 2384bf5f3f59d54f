"""Hook the span observer into the engine, with a tracer provider from ``OTEL_*``."""

from __future__ import annotations

import os
import threading
from importlib.metadata import entry_points

from opentelemetry import trace
from opentelemetry.context import Context

from functrace.otel._observer import SpanObserver
from functrace.otel.propagation import context_from_traceparent

__all__ = ["install", "uninstall"]

_lock = threading.Lock()
_installed: SpanObserver | None = None


def install(tracer_provider: trace.TracerProvider | None = None) -> SpanObserver:
    """Make every traced call a span; idempotent. Returns the observer.

    ``tracer_provider`` defaults to the global one when the program set one,
    else to a new SDK provider whose exporters ``OTEL_TRACES_EXPORTER`` names
    (default ``otlp``: OTLP over HTTP/protobuf unless
    ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``), made global. Its span processor never
    makes a traced call wait, and the program's exit waits at most
    ``FUNCTRACE_OTEL_EXIT_TIMEOUT`` seconds (default 2) for spans still to be
    sent; spans not delivered are counted in one line on stderr.
    """
    global _installed
    from functrace._runtime import engine

    with _lock:
        if _installed is not None:
            return _installed
        provider = tracer_provider or _global_or_sdk_provider()
        tracer = provider.get_tracer("functrace")
        observer = SpanObserver(tracer, _traceparent_from_env())
        engine.add_observer(observer)
        _installed = observer
        return observer


def uninstall() -> None:
    global _installed
    from functrace._runtime import engine

    with _lock:
        if _installed is not None:
            engine.remove_observer(_installed)
            _installed = None


def _traceparent_from_env() -> Context | None:
    value = os.environ.get("TRACEPARENT")
    if not value:
        return None
    parent = context_from_traceparent(value, os.environ.get("TRACESTATE"))
    return parent.context if parent.is_valid else None


def _global_or_sdk_provider() -> trace.TracerProvider:
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from functrace.otel._export import BoundedBatchSpanProcessor, ExitBudget, exit_timeout_from_env

    provider = TracerProvider(resource=Resource.create())  # shut down (flushed) at exit
    budget = ExitBudget(exit_timeout_from_env())  # one exit wait for all the exporters
    for exporter_class in _exporter_classes():
        provider.add_span_processor(BoundedBatchSpanProcessor(exporter_class(), budget=budget))
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def _exporter_classes() -> list[type]:
    from functrace.otel._export import notice

    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    ).strip()
    available = {ep.name: ep for ep in entry_points(group="opentelemetry_traces_exporter")}
    classes = []
    for name in (n.strip() for n in names.split(",")):
        if name in ("", "none"):
            continue
        if name == "otlp":
            name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
        if name not in available:
            notice(  # on stderr, not warnings.warn: it must not raise under -W error
                f"OTEL_TRACES_EXPORTER names {name!r}, which no installed "
                f"package provides (have: {', '.join(sorted(available)) or 'none'})"
            )
            continue
        classes.append(available[name].load())
    return classes
