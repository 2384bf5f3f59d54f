"""Spans from a traced program reach a real Arize Phoenix and are read back (nox -s otel-e2e)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_python

pytestmark = pytest.mark.slow

PORT = 6006
BASE = f"http://127.0.0.1:{PORT}"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def _get(path: str) -> bytes:
    with urllib.request.urlopen(BASE + path, timeout=10) as reply:
        data: bytes = reply.read()
        return data


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("phoenix")
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_PORT": str(PORT),
        "PHOENIX_HOST": "127.0.0.1",
    }
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "phoenix.server.main", "serve"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get("/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("phoenix did not start: " + (work / "server.log").read_text())
                time.sleep(1)
        yield BASE
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_spans_reach_phoenix(phoenix: str, tmp_path: Path) -> None:
    program = tmp_path / "shop.py"
    program.write_text(
        textwrap.dedent("""
        import asyncio, functrace, functrace.otel
        functrace.otel.install()

        @functrace.trace
        def price(item):
            return len(item)

        @functrace.trace
        async def checkout(items):
            await asyncio.sleep(0.01)
            return sum(price(i) for i in items)

        print(asyncio.run(checkout(["apple", "pear"])))
    """),
        encoding="utf-8",
    )
    result = run_python(
        [str(program)],
        env={
            "FUNCTRACE_OUTPUT": "none",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{phoenix}/v1/traces",
            "OTEL_SERVICE_NAME": "shop",
            "TRACEPARENT": f"00-{TRACE_ID}-{SPAN_ID}-01",
        },
    )
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 60
    spans: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        data = json.loads(_get("/v1/projects/default/spans?limit=100"))
        spans = [s for s in data.get("data", []) if TRACE_ID in json.dumps(s)]
        if len(spans) >= 3:
            break
        time.sleep(1)
    names = sorted(str(s["name"]) for s in spans)
    assert names == ["__main__.checkout", "__main__.price", "__main__.price"], spans
    by_id = {s["context"]["span_id"]: s for s in spans}  # type: ignore[index]
    checkout = next(s for s in spans if s["name"] == "__main__.checkout")
    assert checkout["parent_id"] == SPAN_ID
    for span in spans:
        if span is not checkout:
            assert by_id[span["parent_id"]] is checkout
