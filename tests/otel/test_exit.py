"""A dead or slow collector: traced calls never wait, the exit wait is bounded,
and the spans not delivered are counted once on stderr."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from functrace.otel._export import (
    DEFAULT_EXIT_TIMEOUT,
    EXIT_TIMEOUT_VAR,
    BoundedBatchSpanProcessor,
    ExitBudget,
    exit_timeout_from_env,
)
from tests.helpers import clean_env
from tests.otel.receiver import otlp_receiver

NOTICE = "functrace: OpenTelemetry: "
#: Startup, imports and a loaded machine (2 shared cores) on top of the exit wait.
SLACK = 3.0

PROGRAM = """
import sys, functrace

@functrace.trace
def work(i):
    return i

for i in range(int(sys.argv[1])):
    work(i)
"""


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/traces"  # closed: connections are refused


@contextmanager
def slow_collector() -> Iterator[str]:
    """Accepts each request and does not answer until the test is over."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(60)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/traces"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def run_traced(
    tmp_path: Path, calls: int, endpoint: str, **env: str
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run PROGRAM with spans exported to ``endpoint``: (seconds to exit, result)."""
    program = tmp_path / "prog.py"
    program.write_text(textwrap.dedent(PROGRAM), encoding="utf-8")
    settings = {
        "FUNCTRACE_EXPORTER": "otel",
        "FUNCTRACE_OUTPUT": "none",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
    }
    full_env = clean_env(**{**settings, **env})
    for name in ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"):
        full_env.pop(name, None)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-W", "error", str(program), str(calls)],  # notices must not raise
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return time.monotonic() - start, result


def test_dead_collector_exit_waits_the_default_at_most_and_says_so_once(
    tmp_path: Path,
) -> None:
    elapsed, result = run_traced(tmp_path, 10, dead_endpoint())
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no retry warnings: one line, at exit
    assert lines[0].startswith(f"{NOTICE}10 of 10 spans not delivered to http://127.0.0.1:")
    # Whether the exporter gave up on its own within the wait (its retries end
    # early when the machine is slow) or the wait ran out first depends on timing:
    # either way every span is counted, with its reason.
    assert (
        f"the {DEFAULT_EXIT_TIMEOUT:g} s exit wait ({EXIT_TIMEOUT_VAR}) ran out" in lines[0]
        or "(10 failed to export)" in lines[0]
    ), lines[0]
    assert "ConnectionRefusedError" in lines[0]
    assert elapsed < DEFAULT_EXIT_TIMEOUT + SLACK, (elapsed, result.stderr)


def test_slow_collector_exit_follows_the_setting_and_counts_drops(tmp_path: Path) -> None:
    with slow_collector() as endpoint:
        elapsed, result = run_traced(
            tmp_path,
            1000,
            endpoint,
            FUNCTRACE_OTEL_EXIT_TIMEOUT="0.5",
            OTEL_BSP_MAX_QUEUE_SIZE="100",  # the user's OTEL_BSP_* settings hold
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE="10",
        )
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{NOTICE}1000 of 1000 spans not delivered"), line
    assert "dropped, export queue full" in line  # 100 queued and 10 sent at most
    assert "the 0.5 s exit wait (FUNCTRACE_OTEL_EXIT_TIMEOUT) ran out" in line
    assert elapsed < 0.5 + SLACK, (elapsed, line)


def test_a_live_collector_gets_every_span_and_nothing_is_said(tmp_path: Path) -> None:
    with otlp_receiver() as (endpoint, received):
        elapsed, result = run_traced(tmp_path, 300, endpoint, FUNCTRACE_OTEL_EXIT_TIMEOUT="10")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(received) == 300
    assert elapsed < SLACK + 2  # the exit does not wait out the 10 s: the flush is done


def test_an_unknown_exporter_name_is_said_not_raised(tmp_path: Path) -> None:
    _, result = run_traced(tmp_path, 1, dead_endpoint(), OTEL_TRACES_EXPORTER="nosuch")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("functrace: OTEL_TRACES_EXPORTER names 'nosuch', which no ")


class StuckExporter(SpanExporter):
    """Its first export hangs until released (a collector that never answers)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def test_a_traced_call_never_waits_for_the_export(capsys: pytest.CaptureFixture[str]) -> None:
    exporter = StuckExporter()
    processor = BoundedBatchSpanProcessor(
        exporter, exit_timeout=0.2, max_queue_size=100, max_export_batch_size=10
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    try:
        start = time.monotonic()
        for _ in range(1000):
            tracer.start_span("call").end()
        assert time.monotonic() - start < 1.0  # ~3 µs a span; nothing waits on the exporter
        assert processor.dropped >= 1000 - 100 - 10
        assert not processor.force_flush(timeout_millis=50)  # bounded, and says it failed

        start = time.monotonic()
        provider.shutdown()
        provider.shutdown()
        assert time.monotonic() - start < 0.2 + 1.0
    finally:
        exporter.release.set()
    (line,) = capsys.readouterr().err.splitlines()  # said once
    assert line.startswith(f"{NOTICE}1000 of 1000 spans not delivered to StuckExporter ("), line
    assert f"{processor.dropped} dropped, export queue full" in line


def test_processors_share_one_exit_wait() -> None:
    budget = ExitBudget(0.3)
    exporters = [StuckExporter(), StuckExporter()]
    provider = TracerProvider(shutdown_on_exit=False)
    for exporter in exporters:
        provider.add_span_processor(
            BoundedBatchSpanProcessor(exporter, budget=budget, schedule_delay_millis=1)
        )
    provider.get_tracer("test").start_span("call").end()
    time.sleep(0.05)  # both exports are in flight
    try:
        start = time.monotonic()
        provider.shutdown()
        assert time.monotonic() - start < 0.3 + 0.5
    finally:
        for exporter in exporters:
            exporter.release.set()


@pytest.mark.parametrize(
    ("value", "expected", "said"),
    [(None, DEFAULT_EXIT_TIMEOUT, False), ("0", 0.0, False), ("7.5", 7.5, False)]
    + [(bad, DEFAULT_EXIT_TIMEOUT, True) for bad in ("soon", "-1", "nan", "inf")],
)
def test_exit_timeout_setting(
    value: str | None,
    expected: float,
    said: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if value is None:
        monkeypatch.delenv(EXIT_TIMEOUT_VAR, raising=False)
    else:
        monkeypatch.setenv(EXIT_TIMEOUT_VAR, value)
    assert exit_timeout_from_env() == expected
    assert (EXIT_TIMEOUT_VAR in capsys.readouterr().err) is said
