"""Traced calls as live OpenTelemetry spans, and parents from incoming headers."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

import functrace
from functrace._runtime import engine
from functrace.otel import SpanObserver, context_from_headers, context_from_traceparent
from tests.helpers import run_python
from tests.otel.receiver import otlp_receiver

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = SpanObserver(provider.get_tracer("test"))
    engine.add_observer(observer)
    yield exporter
    engine.remove_observer(observer)


@functrace.trace
def parse(body: str) -> str:
    if body == "bad":
        raise ValueError(body)
    return body.upper()


@functrace.trace
async def fetch(delay: float) -> str:
    await asyncio.sleep(delay)
    return parse("ok")


@functrace.trace
async def handle(delay: float) -> str:
    return await fetch(delay)


@functrace.trace
async def serve() -> list[str]:
    return await asyncio.gather(handle(0.02), handle(0.01))


@functrace.trace
def numbers() -> Iterator[int]:
    yield 1
    yield 2


def tree(exporter: InMemorySpanExporter) -> list[tuple[str, str | None]]:
    finished = exporter.get_finished_spans()
    names = {s.context.span_id: s.name for s in finished}
    return sorted((s.name, names.get(s.parent.span_id) if s.parent else None) for s in finished)


def test_coroutines_are_one_span_each_nested_by_context(spans: InMemorySpanExporter) -> None:
    asyncio.run(serve())
    assert tree(spans) == [
        ("tests.otel.test_live.fetch", "tests.otel.test_live.handle"),
        ("tests.otel.test_live.fetch", "tests.otel.test_live.handle"),
        ("tests.otel.test_live.handle", "tests.otel.test_live.serve"),  # tasks inherit the context
        ("tests.otel.test_live.handle", "tests.otel.test_live.serve"),
        ("tests.otel.test_live.parse", "tests.otel.test_live.fetch"),
        ("tests.otel.test_live.parse", "tests.otel.test_live.fetch"),
        ("tests.otel.test_live.serve", None),
    ]
    handle_span = next(
        s for s in spans.get_finished_spans() if s.name == "tests.otel.test_live.handle"
    )
    assert handle_span.end_time - handle_span.start_time >= 9_000_000  # wall clock, awaits included
    attributes: dict[str, Any] = dict(handle_span.attributes or {})
    assert attributes["code.function"] == "handle" and attributes["code.lineno"] > 0
    # Where each span ran, named as the trace's naming lines name it.
    where = {
        (s.name.rsplit(".", 1)[1], s.attributes["functrace.tag"], s.attributes["thread.name"])
        for s in spans.get_finished_spans()
        if s.attributes
    }
    # (Task numbers count every task this process made: compare, do not spell out.)
    tags = {tag: name for _, tag, name in where}
    assert len(where) == 7 and len(tags) == 3  # serve, and handle+fetch+parse in two tasks
    assert all(re.fullmatch(r"t\[\d+\]a\[\d+\]", tag) for tag in tags)
    assert all(re.fullmatch(r"Task-\d+", name) for name in tags.values())
    assert len(set(tags.values())) == 3


def test_spans_name_the_thread_they_ran_in(spans: InMemorySpanExporter) -> None:
    import threading

    worker = threading.Thread(target=blocking, name="resizer")
    worker.start()
    worker.join()
    names = {s.attributes["thread.name"] for s in spans.get_finished_spans() if s.attributes}
    assert names == {"resizer"}


@functrace.trace
def blocking() -> str:
    return parse("ok")


@functrace.trace
def start_both() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    thread = threading.Thread(target=blocking)
    thread.start()
    thread.join()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(blocking).result()


def test_a_thread_or_pool_job_hangs_under_the_call_that_started_it(
    spans: InMemorySpanExporter,
) -> None:
    """No context reaches a plain thread: the origin gives the parent, as in files."""
    start_both()
    assert tree(spans) == [
        ("tests.otel.test_live.blocking", "tests.otel.test_live.start_both"),
        ("tests.otel.test_live.blocking", "tests.otel.test_live.start_both"),
        ("tests.otel.test_live.parse", "tests.otel.test_live.blocking"),
        ("tests.otel.test_live.parse", "tests.otel.test_live.blocking"),
        ("tests.otel.test_live.start_both", None),
    ]
    assert len({s.context.trace_id for s in spans.get_finished_spans()}) == 1


def test_generator_runs_and_exceptions(spans: InMemorySpanExporter) -> None:
    assert list(numbers()) == [1, 2]
    with pytest.raises(ValueError):
        parse("bad")
    finished = spans.get_finished_spans()
    assert [s.name for s in finished].count("tests.otel.test_live.numbers") == 3  # a span per run
    failed = finished[-1]
    assert failed.status.status_code.name == "ERROR"
    assert [(e.name, dict(e.attributes or {})) for e in failed.events] == [
        ("exception", {"exception.type": "ValueError"})
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"TraceParent": f"00-{TRACE_ID}-{SPAN_ID}-01"},
        {"b3": f"{TRACE_ID}-{SPAN_ID}-1"},
        [("X-B3-TraceId", TRACE_ID), ("X-B3-SpanId", SPAN_ID), ("X-B3-Sampled", "1")],
    ],
    ids=["w3c", "b3-single", "b3-multi"],
)
def test_context_from_headers_parents_a_block(headers: Any, spans: InMemorySpanExporter) -> None:
    parent = context_from_headers(headers)
    assert parent.is_valid
    with parent:
        parse("x")
    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None and f"{span.parent.span_id:016x}" == SPAN_ID


def test_no_headers_leave_the_context_alone(spans: InMemorySpanExporter) -> None:
    parent = context_from_headers({"accept": "text/html"})
    assert not parent.is_valid and repr(parent) == "<RemoteParent none>"
    with parent:
        parse("x")
    assert spans.get_finished_spans()[0].parent is None


def test_traceparent_is_the_fallback_parent() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fallback = context_from_traceparent(f"00-{TRACE_ID}-{SPAN_ID}-01").context
    observer = SpanObserver(provider.get_tracer("test"), fallback)
    engine.add_observer(observer)
    try:
        parse("x")
        with context_from_headers({"b3": f"{'1' * 32}-{'2' * 16}-1"}):
            parse("y")
    finally:
        engine.remove_observer(observer)
    first, second = exporter.get_finished_spans()
    assert f"{first.context.trace_id:032x}" == TRACE_ID
    assert f"{second.context.trace_id:032x}" == "1" * 32  # a current context wins


def test_install_exports_over_otlp_http_as_otel_vars_say(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(
        textwrap.dedent(
            """
            import functrace, functrace.otel

            functrace.otel.install()

            @functrace.trace
            def inner():
                return 1

            @functrace.trace
            def outer():
                return inner()

            outer()
            """
        ),
        encoding="utf-8",
    )
    with otlp_receiver() as (endpoint, received):
        result = run_python(
            [str(program)],
            env={
                "FUNCTRACE_OUTPUT": "none",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
                "OTEL_SERVICE_NAME": "prog",
                "TRACEPARENT": f"00-{TRACE_ID}-{SPAN_ID}-01",
            },
        )
        assert result.returncode == 0, result.stderr
    by_name = {s.name: s for s in received}
    assert set(by_name) == {"prog.inner", "prog.outer"} or set(by_name) == {
        "__main__.inner",
        "__main__.outer",
    }
    inner = next(s for s in received if s.name.endswith("inner"))
    outer = next(s for s in received if s.name.endswith("outer"))
    assert inner.parent_span_id == outer.span_id
    assert outer.parent_span_id.hex() == SPAN_ID and outer.trace_id.hex() == TRACE_ID


def test_arguments_and_values_become_attributes(spans: InMemorySpanExporter) -> None:
    functrace.configure(args=True)

    @functrace.trace  # after the values were asked for: a 3.10/3.11 probe sees no return
    def parse(body: str) -> str:
        if body == "bad":
            raise ValueError(body)
        return body.upper()

    assert parse("ok") == "OK"
    with pytest.raises(ValueError):
        parse("bad")
    ok, failed = spans.get_finished_spans()
    assert ok.attributes is not None and failed.attributes is not None
    assert ok.attributes["functrace.args.body"] == "'ok'"
    assert ok.attributes["functrace.return"] == "'OK'"
    assert failed.attributes["functrace.args.body"] == "'bad'"
    assert [(e.name, dict(e.attributes or {})) for e in failed.events] == [
        ("exception", {"exception.type": "ValueError", "exception.message": "'bad'"})
    ]
