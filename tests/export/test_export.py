"""Every export format, checked against what its readers require."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from functrace.cli.export import command as export_command
from functrace.export import export, export_file
from functrace.reading import Trace, read_trace, read_trace_text
from tests.helpers import ROOT, run_python


def to_chrome(trace: Trace) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(export(trace, "chrome"))
    return data


def to_speedscope(trace: Trace) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(export(trace, "speedscope"))
    return data


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
def real_jsonl_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real") / "trace.jsonl"
    result = run_python(
        [str(ROOT / "examples" / "tasks.py")],
        env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": "jsonl"},
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def real_jsonl(real_jsonl_path: Path) -> Trace:
    return read_trace(real_jsonl_path)


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


NAMED = """\
# t[01] = thread "MainThread" (native id 1)
t[01]:    ->app.main
# t[02] = thread "worker-1" (native id 2) started by t[01] in app.main
t[02]:    ->app.poll
t[02]:    <-app.poll 1.00µs
# t[01]a[01] = task "fetch-users" started by t[01] in app.main
t[01]a[01]:    ->app.fetch
t[01]a[01]:    <-app.fetch 1.00µs
t[01]:    <-app.main 5.00µs
"""


@pytest.mark.parametrize("fmt", ["chrome", "speedscope"])
def test_tracks_take_the_names_of_the_naming_lines(fmt: str, tmp_path: Path) -> None:
    """A track or profile is labelled with its thread's or task's own name, from a
    text trace too (jsonl events name only the thread a task ran on)."""
    path = tmp_path / "named.log"
    path.write_text(NAMED, encoding="utf-8")
    streamed = io.StringIO()
    export_file(path, fmt, streamed)
    expected = ["t[01] MainThread", "t[01]a[01] fetch-users", "t[02] worker-1"]
    for text in (streamed.getvalue(), export(read_trace(path), fmt)):
        data = json.loads(text)
        if fmt == "chrome":
            labels = [e["args"]["name"] for e in data["traceEvents"] if e["name"] == "thread_name"]
        else:
            labels = [p["name"] for p in data["profiles"]]
        assert sorted(labels) == expected


def otlp_spans(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for rs in data["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


def check_otlp(data: dict[str, Any]) -> None:
    """Valid as an ``ExportTraceServiceRequest`` (protobuf's JSON mapping, ids in hex as
    OTLP/JSON has them), one trace per process, every parent inside the file."""
    import base64
    import copy

    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    def to_base64(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId"):
                    assert re.fullmatch("[0-9a-f]+", value) and int(value, 16), value
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                else:
                    to_base64(value)
        elif isinstance(node, list):
            for item in node:
                to_base64(item)

    proto = copy.deepcopy(data)
    to_base64(proto)
    request = ParseDict(proto, ExportTraceServiceRequest())  # raises on any unknown field
    assert len(request.resource_spans) == len(data["resourceSpans"])
    for rs in data["resourceSpans"]:
        spans = [s for ss in rs["scopeSpans"] for s in ss["spans"]]
        assert len({s["traceId"] for s in spans}) == 1  # one trace per process run
        ids = {s["spanId"] for s in spans}
        assert len(ids) == len(spans)
        for span in spans:
            assert span.get("parentSpanId", ids.copy().pop()) in ids
            assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"]) > 0


#: The Span of zipkin2-api.yaml (openzipkin/zipkin-api), as a JSON schema.
_HEX16 = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
ZIPKIN_SPAN = {
    "type": "object",
    "required": ["traceId", "id"],
    "additionalProperties": False,
    "properties": {
        "traceId": {"type": "string", "pattern": "^([0-9a-f]{16}|[0-9a-f]{32})$"},
        "id": _HEX16,
        "parentId": _HEX16,
        "name": {"type": "string"},
        "kind": {"enum": ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"]},
        "timestamp": {"type": "integer", "minimum": 1},
        "duration": {"type": "integer", "minimum": 1},
        "debug": {"type": "boolean"},
        "shared": {"type": "boolean"},
        "localEndpoint": {"type": "object", "properties": {"serviceName": {"type": "string"}}},
        "annotations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["timestamp", "value"],
                "properties": {"timestamp": {"type": "integer"}, "value": {"type": "string"}},
            },
        },
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def check_zipkin(spans: list[dict[str, Any]], parent: str | None = None) -> None:
    import jsonschema

    jsonschema.validate(spans, {"type": "array", "items": ZIPKIN_SPAN})
    ids = {s["id"] for s in spans}
    assert len(ids) == len(spans)
    for span in spans:
        assert "debug" not in span
        assert span.get("parentId", parent) in ids | {parent}


def test_otlp_json_ids_parentage_and_attributes(trace: Trace) -> None:
    data = json.loads(export(trace, "otlp-json", seed=3, service_name="shop"))
    check_otlp(data)
    spans = otlp_spans(data)
    by_id = {s["spanId"]: s for s in spans}
    assert len({s["traceId"] for s in spans}) == 1 and len(spans[0]["traceId"]) == 32
    assert all(len(i) == 16 for i in by_id)

    def parent_name(span: dict[str, Any]) -> str | None:
        parent = span.get("parentSpanId")
        return by_id[parent]["name"] if parent else None

    shape = [(s["name"], parent_name(s)) for s in spans]
    assert sorted(shape, key=str) == sorted(
        [
            ("app.main", None),
            ("app.load", "app.main"),
            ("app.gen", "app.main"),  # a generator: a span per run
            ("app.gen", "app.main"),
            ("app.handle", None),  # a coroutine: one span over its runs
            ("app.fetch", "app.handle"),
            ("app.handle", None),
            ("app.open", "app.handle"),
        ],
        key=str,
    )
    load = next(s for s in spans if s["name"] == "app.load")
    attributes = {a["key"]: a["value"] for a in load["attributes"]}
    assert attributes["code.function"] == {"stringValue": "load"}
    assert attributes["code.namespace"] == {"stringValue": "app"}
    assert load["events"][0]["name"] == "exception"
    assert load["events"][0]["attributes"][0]["value"] == {"stringValue": "KeyError"}
    assert load["status"]["code"] == 2
    handle = min(
        (s for s in spans if s["name"] == "app.handle"), key=lambda s: s["startTimeUnixNano"]
    )
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
    check_zipkin(spans)
    assert len(spans) == 8 and len({s["traceId"] for s in spans}) == 1
    load = next(s for s in spans if s["name"] == "app.load")
    assert load["duration"] == 1000 and load["localEndpoint"] == {"serviceName": "shop"}
    assert load["tags"]["code.function"] == "load" and load["tags"]["error"] == "KeyError"
    assert any("KeyError" in a["value"] for a in load["annotations"])


def test_zipkin_sub_microsecond_spans_last_one_and_debug_only_when_asked(tmp_path: Path) -> None:
    source = tmp_path / "trace.log"
    source.write_text(
        "t[01]:    ->app.a\nt[01]:        ->app.b\nt[01]:        <-app.b 40ns\n"
        "t[01]:    <-app.a 1.50µs\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    export_file(source, "zipkin", out)
    spans = json.loads(out.getvalue())
    check_zipkin(spans)
    assert sorted(s["duration"] for s in spans) == [1, 2]  # rounded up, never 0
    out = io.StringIO()
    export_file(source, "zipkin", out, debug=True)
    assert all(s["debug"] is True for s in json.loads(out.getvalue()))


def jsonl_event(
    ts: int, pid: int, tag: str, depth: int, ev: str, name: str, dur: int | None = None
) -> str:
    fields = {"v": 1, "ts": ts, "pid": pid, "tid": pid, "thread": "main", "task": None}
    fields |= {"tag": tag, "depth": depth, "ev": ev, "name": name, "file": "a.py", "line": 1}
    if dur is not None:
        fields |= {"dur": dur, "exc": None, "suspended": None}
    return json.dumps(fields, separators=(",", ":")) + "\n"


MULTI = "".join(
    [
        jsonl_event(1_000, 10, "t[01]", 1, "enter", "app.main"),
        jsonl_event(1_100, 10, "t[01]", 2, "enter", "app.work"),
        jsonl_event(1_300, 10, "t[01]", 2, "exit", "app.work", 200),
        jsonl_event(1_400, 11, "t[11.01]", 1, "enter", "app.child"),
        jsonl_event(1_450, 11, "t[11.01]", 1, "exit", "app.child", 50),
        jsonl_event(2_000, 10, "t[01]", 1, "exit", "app.main", 1_000),
    ]
)


@pytest.mark.parametrize("fmt", ["zipkin", "otlp-json"])
def test_one_trace_per_process_run(fmt: str, tmp_path: Path) -> None:
    source = tmp_path / "trace.jsonl"
    source.write_text(MULTI, encoding="utf-8")
    out = io.StringIO()
    export_file(source, fmt, out)
    data = json.loads(out.getvalue())
    if fmt == "zipkin":
        check_zipkin(data)
        by_trace: dict[str, set[str]] = {}
        for s in data:
            by_trace.setdefault(s["traceId"], set()).add(s["name"])
        assert sorted(by_trace.values(), key=len) == [{"app.child"}, {"app.main", "app.work"}]
        main = next(s for s in data if s["name"] == "app.main")
        assert (main["timestamp"], main["duration"]) == (1, 1)
    else:
        check_otlp(data)
        pids = [
            {a["key"]: a["value"] for a in rs["resource"]["attributes"]}["process.pid"]
            for rs in data["resourceSpans"]
        ]
        assert pids == [{"intValue": "10"}, {"intValue": "11"}]


@pytest.mark.parametrize("fmt", ["zipkin", "otlp-json"])
def test_span_formats_of_a_real_program_are_valid(fmt: str, real_jsonl_path: Path) -> None:
    out = io.StringIO()
    export_file(real_jsonl_path, fmt, out)
    data = json.loads(out.getvalue())
    if fmt == "zipkin":
        check_zipkin(data)
    else:
        check_otlp(data)


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
    spans = json.loads(result.stdout)  # stderr says a call never finished (app.open)
    assert {s["traceId"] for s in spans} == {"0af7651916cd43dd8448eb211c80319c"}
    assert next(s for s in spans if s["name"] == "app.main")["parentId"] == "b7ad6b7169203331"
    bad = CliRunner().invoke(export_command, [str(source), "-f", "zipkin", "--traceparent", "x"])
    assert bad.exit_code == 2


def test_span_formats_carry_arguments_and_values() -> None:
    from functrace.export.spans import to_spans
    from functrace.reading import read_trace_text

    text = "\n".join(
        [
            "t[01]:    ->app.load(key='user:7', retries=3)",
            "t[01]:    <-app.load 2.10ms !KeyError => 'user:7'",
            "t[01]:    ->app.add(a=1)",
            "t[01]:    <-app.add 1.00µs => 2",
        ]
    )
    trace = read_trace_text(text)
    spans = otlp_spans(json.loads(export(trace, "otlp-json", seed=3)))
    load = next(s for s in spans if s["name"] == "app.load")
    attributes = {a["key"]: a["value"] for a in load["attributes"]}
    assert attributes["functrace.args.key"] == {"stringValue": "'user:7'"}
    assert attributes["functrace.args.retries"] == {"stringValue": "3"}
    assert attributes["functrace.return"] == {"stringValue": "'user:7'"}
    zipkin = json.loads(export(trace, "zipkin", seed=3))
    add = next(s for s in zipkin if s["name"] == "app.add")
    assert add["tags"]["functrace.args.a"] == "1" and add["tags"]["functrace.return"] == "2"
    chrome = json.loads(export(trace, "chrome"))
    events = chrome["traceEvents"] if isinstance(chrome, dict) else chrome
    load_event = next(e for e in events if e.get("name") == "app.load" and e.get("ph") == "X")
    assert load_event["args"]["functrace.args.key"] == "'user:7'"
    assert load_event["args"]["functrace.return"] == "'user:7'"
    sdk = {s.name: s for s in to_spans(trace)}
    assert sdk["app.add"].attributes == {**sdk["app.add"].attributes, "functrace.return": "2"}
    assert dict(sdk["app.load"].events[0].attributes or {}) == {
        "exception.type": "KeyError",
        "exception.message": "'user:7'",
    }


def test_otlp_json_exception_events_say_the_message(tmp_path: Path) -> None:
    """OpenTelemetry's exception conventions: the streamed OTLP JSON's exception event has
    ``exception.type`` and, when the trace says it (FUNCTRACE_ARGS), ``exception.message``,
    as the SDK path has them; valid as OTLP's proto messages."""
    text = "\n".join(
        [
            "t[01]:    ->app.load(key='user:7')",
            "t[01]:    <-app.load 2.10ms !KeyError => 'user:7'",
            "t[01]:    ->app.other",
            "t[01]:    <-app.other 1.00µs !ValueError",
        ]
    )
    path = tmp_path / "trace.log"
    path.write_text(text + "\n", encoding="utf-8")
    out = io.StringIO()
    export_file(path, "otlp-json", out, seed=3)
    for data in (json.loads(out.getvalue()), json.loads(export(read_trace(path), "otlp-json"))):
        check_otlp(data)
        events = {s["name"]: s["events"] for s in otlp_spans(data)}
        load = {a["key"]: a["value"] for a in events["app.load"][0]["attributes"]}
        assert load == {
            "exception.type": {"stringValue": "KeyError"},
            "exception.message": {"stringValue": "'user:7'"},
        }
        other = events["app.other"][0]["attributes"]
        assert other == [{"key": "exception.type", "value": {"stringValue": "ValueError"}}]
