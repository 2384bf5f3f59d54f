"""Every export format, checked against what its readers require."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from functrace.cli.export import command as export_command
from functrace.export import export
from functrace.export.chrome import to_chrome
from functrace.export.speedscope import to_speedscope
from functrace.reading import Trace, read_trace, read_trace_text
from tests.helpers import ROOT, run_python

TEXT = """\
t[01]:    ->app.main
t[01]:        ->app.load
t[01]:        <-app.load 1.00ms !KeyError
t[01]:        ->app.gen
t[01]:        <-app.gen 2.00µs yield
t[01]:        ->app.gen resume
t[01]:        <-app.gen 3.00µs
t[01]:    <-app.main 2.00ms
t[01]a[01]:    ->app.handle
t[01]a[01]:        ->app.fetch
t[01]a[01]:        <-app.fetch 5.00µs await
t[01]a[01]:    <-app.handle 9.00µs await
t[01]a[02]:    ->app.handle
t[01]a[02]:    <-app.handle 4.00µs await
t[01]a[01]:    ->app.handle resume
t[01]a[01]:        ->app.fetch resume
t[01]a[01]:        <-app.fetch 1.00µs
t[01]a[01]:    <-app.handle 2.00µs
t[01]a[02]:    ->app.handle resume
t[01]a[02]:        ->app.open
"""


@pytest.fixture
def trace() -> Trace:
    return read_trace_text(TEXT, end_epoch_ns=1_700_000_000_000_000_000)


@pytest.fixture(scope="module")
def real_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    out = tmp_path_factory.mktemp("real") / "trace.jsonl"
    result = run_python(
        [str(ROOT / "examples" / "tasks.py")],
        env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": "jsonl"},
    )
    assert result.returncode == 0, result.stderr
    return read_trace(out)


def check_nested(events: list[dict[str, Any]]) -> None:
    """Chrome X events on one track nest like a call stack."""
    tracks: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in events:
        if e["ph"] == "X":
            tracks.setdefault((e["pid"], e["tid"]), []).append(e)
    for slices in tracks.values():
        stack: list[float] = []
        for e in sorted(slices, key=lambda e: (e["ts"], -e["dur"])):
            while stack and e["ts"] >= stack[-1] - 1e-9 and stack[-1] <= e["ts"] + 1e-9:
                stack.pop()
            end = e["ts"] + e["dur"]
            assert not stack or end <= stack[-1] + 1e-6, e
            stack.append(end)


@pytest.mark.parametrize("which", ["text", "jsonl"])
def test_chrome_structure(which: str, trace: Trace, real_jsonl: Trace) -> None:
    data = json.loads(json.dumps(to_chrome(trace if which == "text" else real_jsonl)))
    events = data["traceEvents"]
    assert data["displayTimeUnit"] == "ns"
    names = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    tags = ["t[01]", "t[01]a[01]", "t[01]a[02]"]
    if which == "text":
        assert list(names) == tags  # a track per thread and per task
    else:
        assert {n.split()[0] for n in names} == {"t[01]a[01]", "t[01]a[02]", "t[01]a[03]"}
    assert len(set(names.values())) == len(names)
    for e in events:
        assert {"name", "ph", "pid", "tid", "ts"} <= e.keys()
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] >= 0 and e["cat"] == "function"
    check_nested(events)
    if which == "text":
        load = next(e for e in events if e["name"] == "app.load")
        assert load["args"]["exception"] == "KeyError" and load["dur"] == 1000.0
        assert next(e for e in events if e["name"] == "app.open")["args"]["unfinished"] is True


@pytest.mark.parametrize("which", ["text", "jsonl"])
def test_speedscope_valid_against_its_schema(
    which: str, trace: Trace, real_jsonl: Trace, speedscope_schema: dict[str, Any]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads(json.dumps(to_speedscope(trace if which == "text" else real_jsonl)))
    jsonschema.validate(data, speedscope_schema)
    for profile in data["profiles"]:  # what the viewer checks when it loads a file
        ats = [e["at"] for e in profile["events"]]
        assert ats == sorted(ats)
        stack = []
        for e in profile["events"]:
            if e["type"] == "O":
                stack.append(e["frame"])
            else:
                assert stack.pop() == e["frame"]
        assert not stack
    if which == "text":
        assert [p["name"] for p in data["profiles"]] == ["t[01]", "t[01]a[01]", "t[01]a[02]"]


def otlp_spans(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for rs in data["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


def test_otlp_json_ids_parentage_and_attributes(trace: Trace) -> None:
    data = json.loads(export(trace, "otlp-json", seed=3, service_name="shop"))
    spans = otlp_spans(data)
    by_id = {s["spanId"]: s for s in spans}
    assert len({s["traceId"] for s in spans}) == 1 and len(spans[0]["traceId"]) == 32
    assert all(len(i) == 16 for i in by_id)

    def parent_name(span: dict[str, Any]) -> str | None:
        parent = span.get("parentSpanId")
        return by_id[parent]["name"] if parent else None

    shape = [(s["name"], parent_name(s)) for s in spans]
    assert shape == [
        ("app.main", None),
        ("app.load", "app.main"),
        ("app.gen", "app.main"),  # a generator: a span per run
        ("app.gen", "app.main"),
        ("app.handle", None),  # a coroutine: one span over its runs
        ("app.fetch", "app.handle"),
        ("app.handle", None),
        ("app.open", "app.handle"),
    ]
    load = spans[1]
    attributes = {a["key"]: a["value"] for a in load["attributes"]}
    assert attributes["code.function"] == {"stringValue": "load"}
    assert attributes["code.namespace"] == {"stringValue": "app"}
    assert load["events"][0]["name"] == "exception"
    assert load["events"][0]["attributes"][0]["value"] == {"stringValue": "KeyError"}
    assert load["status"]["code"] == 2
    handle = spans[4]
    assert int(handle["endTimeUnixNano"]) - int(handle["startTimeUnixNano"]) == 15_000
    resource = {a["key"]: a["value"] for a in data["resourceSpans"][0]["resource"]["attributes"]}
    assert resource["service.name"] == {"stringValue": "shop"}


def test_otlp_through_the_real_http_exporter(trace: Trace) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    from functrace.export.spans import to_spans
    from tests.otel.receiver import otlp_receiver

    spans = to_spans(
        trace, trace_id=0x0AF7651916CD43DD8448EB211C80319C, parent_span_id=0xB7AD6B7169203331
    )
    with otlp_receiver() as (endpoint, received):
        assert OTLPSpanExporter(endpoint=endpoint).export(spans) == SpanExportResult.SUCCESS
    assert len(received) == len(spans) == 8
    by_id = {s.span_id: s for s in received}
    assert {s.trace_id.hex() for s in received} == {"0af7651916cd43dd8448eb211c80319c"}
    roots = [s for s in received if s.parent_span_id == bytes.fromhex("b7ad6b7169203331")]
    assert [s.name for s in roots] == ["app.main", "app.handle", "app.handle"]
    for span in received:
        if span not in roots:
            assert by_id[span.parent_span_id].start_time_unix_nano <= span.start_time_unix_nano


def test_zipkin_v2(trace: Trace) -> None:
    spans = json.loads(export(trace, "zipkin", seed=3, service_name="shop"))
    ids = {s["id"] for s in spans}
    assert len(spans) == 8 and all(len(s["id"]) == 16 for s in spans)
    assert all(s.get("parentId") in ids for s in spans if "parentId" in s)
    load = next(s for s in spans if s["name"] == "app.load")
    assert load["duration"] == 1000 and load["localEndpoint"] == {"serviceName": "shop"}
    assert load["tags"]["code.function"] == "load" and load["tags"]["error"] == "KeyError"
    assert any("KeyError" in a["value"] for a in load["annotations"])
    assert all(v is not None for s in spans for v in s.values())


@pytest.mark.parametrize("fmt", ["chrome", "speedscope", "otlp-json", "zipkin"])
def test_export_command(fmt: str, tmp_path: Path) -> None:
    source = tmp_path / "trace.log"
    source.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "out.json"
    result = CliRunner().invoke(export_command, [str(source), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))
    assert "times rebuilt" in result.output


def test_export_command_traceparent(tmp_path: Path) -> None:
    source = tmp_path / "trace.log"
    source.write_text(TEXT, encoding="utf-8")
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    result = CliRunner().invoke(
        export_command, [str(source), "-f", "zipkin", "--traceparent", parent]
    )
    assert result.exit_code == 0, result.output
    spans = json.loads(result.output)
    assert {s["traceId"] for s in spans} == {"0af7651916cd43dd8448eb211c80319c"}
    assert next(s for s in spans if s["name"] == "app.main")["parentId"] == "b7ad6b7169203331"
    bad = CliRunner().invoke(export_command, [str(source), "-f", "zipkin", "--traceparent", "x"])
    assert bad.exit_code == 2
