"""Issue 10, who started what, read back: the readers (every loop), the exports' links
(chrome flow events, span parents) and ``functrace show --under-origin``."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from functrace._runtime.record import Origin
from functrace.cli.show import command as show
from functrace.export import export, export_file
from functrace.reading import Frame, Scan, read_trace, read_trace_text, scan_trace
from functrace.reading.trace import Trace
from functrace.render.summary import Summary
from tests.helpers import run_python
from tests.runtime.test_origins import PROGRAM

MAIN = Origin("t[01]", "__main__.main", "thread")
GATHER = "t[01]a[01]", "__main__.gather_them"
SUBMIT = "t[01]", "__main__.submit_jobs"
#: (tag, name, origin) of each outermost call that a start began.
STARTED = [
    ("t[02]", "__main__.in_thread", MAIN),
    ("t[01]a[01]", "__main__.gather_them", Origin("t[01]", "__main__.main", "task")),
    ("t[01]a[02]", "__main__.fetch", Origin(*GATHER, "task")),
    ("t[01]a[03]", "__main__.fetch", Origin(*GATHER, "task")),
    ("t[03]", "__main__.blocking", Origin(*GATHER, "job")),
    ("t[04]", "__main__.blocking", Origin(*SUBMIT, "job")),
    ("t[04]", "__main__.blocking", Origin(*SUBMIT, "job")),
]


@pytest.fixture(scope="module", params=["text", "jsonl"])
def trace_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("origins") / f"trace.{request.param}"
    proc = run_python(
        ["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": request.param}
    )
    assert proc.returncode == 0, proc.stderr
    return out


def started(roots: list[Any]) -> list[tuple[str, str, Origin]]:
    return [(r.tag, r.name, r.origin) for r in roots if r.origin is not None]


def test_read_trace_gives_origins(trace_path: Path) -> None:
    trace = read_trace(trace_path)
    assert started(trace.roots) == STARTED
    assert trace.origins["t[02]"] == MAIN
    assert trace.origins["t[04]"] == Origin(*SUBMIT, "thread")
    assert "t[05]" not in trace.origins and "t[01]" not in trace.origins
    assert trace.problems == []


class _Roots:
    def __init__(self) -> None:
        self.roots: list[Frame] = []

    def opened(self, frame: Frame) -> None:
        if frame.parent is None:
            self.roots.append(frame)

    def closed(self, frame: Frame) -> None:
        pass


def test_a_scan_gives_the_same_through_its_fast_loops(trace_path: Path) -> None:
    # Repeated, so that the outermost calls after an origin line are lines the fast
    # loops know already: they must still hand them to the general reader.
    text = trace_path.read_text(encoding="utf-8")
    body = [line for line in text.splitlines() if not line.startswith("# process")]
    twice = trace_path.parent / f"twice{trace_path.suffix}"
    twice.write_text(text + "\n".join(body) + "\n", encoding="utf-8")
    consumer = _Roots()
    scan = scan_trace(twice, consumer)
    # A tag named again is not started again; each job is.
    jobs = [one for one in STARTED if one[2].kind == "job"]
    assert started(consumer.roots) == STARTED + jobs
    assert scan.origins == read_trace(trace_path).origins
    assert scan.problems == []


def test_the_summary_loops_skip_origin_lines_as_comments(trace_path: Path) -> None:
    def rows(path: Path) -> dict[str, tuple[int, ...]]:
        summary = Summary()
        scan = scan_trace(path, summary)
        assert scan.problems == [] and scan.skipped_lines == 0
        return {r.name: (r.calls,) for r in summary.rows()}

    bare = trace_path.parent / f"bare{trace_path.suffix}"
    lines = trace_path.read_text(encoding="utf-8").splitlines()
    keep = [
        line
        for line in lines
        if not (line.startswith("# ") or '"ev":"job"' in line or '"origin"' in line)
    ]
    bare.write_text("\n".join(keep) + "\n", encoding="utf-8")
    assert rows(trace_path) == rows(bare)


def chrome_flows(data: dict[str, Any]) -> dict[int, dict[str, dict[str, Any]]]:
    flows: dict[int, dict[str, dict[str, Any]]] = {}
    for event in data["traceEvents"]:
        if event.get("cat") == "origin":
            assert event["ph"] not in flows.setdefault(event["id"], {}), event
            flows[event["id"]][event["ph"]] = event
    return flows


def _ns(us: float) -> int:
    return round(us * 1000)


def check_chrome(data: dict[str, Any]) -> None:
    tracks = {
        (e["pid"], e["tid"]): e["args"]["name"].split()[0]
        for e in data["traceEvents"]
        if e.get("name") == "thread_name"
    }
    # One process: a started thread's or task's track is made when its start is read,
    # before its first event says its pid (jsonl), and has its starter's.
    assert len({e["pid"] for e in data["traceEvents"]}) == 1
    slices = [e for e in data["traceEvents"] if e.get("ph") == "X"]
    flows = chrome_flows(data)
    # One per start, the pool threads' first jobs said once (thread and job line).
    assert len(flows) == len(STARTED)
    pairs = []
    for flow in flows.values():
        assert set(flow) == {"s", "f"}  # each pairs up
        s, f = flow["s"], flow["f"]
        assert f["ts"] >= s["ts"] or abs(f["ts"] - s["ts"]) < 1
        # s lies in a slice of the starting call; f before the started call's first slice.
        s_track = (s["pid"], s["tid"])
        inside = [
            x["name"]
            for x in slices
            if (x["pid"], x["tid"]) == s_track
            and _ns(x["ts"]) <= _ns(s["ts"]) < _ns(x["ts"]) + _ns(x["dur"])
        ]
        f_track = (f["pid"], f["tid"])
        after = [x for x in slices if (x["pid"], x["tid"]) == f_track and x["ts"] >= f["ts"]]
        first = min(after, key=lambda x: (x["ts"], -x["dur"]))
        pairs.append((tracks[s_track], tracks[f_track], first["name"], inside))
    for tag, name, origin in STARTED:
        match = [p for p in pairs if p[1] == tag and p[2] == name and p[0] == origin.tag]
        assert match and origin.name in match[0][3], (tag, pairs)
        pairs.remove(match[0])


def test_chrome_flow_events_pair_up(trace_path: Path) -> None:
    out = io.StringIO()
    export_file(trace_path, "chrome", out)
    check_chrome(json.loads(out.getvalue()))
    check_chrome(json.loads(export(read_trace(trace_path), "chrome")))


def span_parents(spans: list[dict[str, Any]], tag_of: Any, parent_key: str) -> list[Any]:
    by_id = {s["spanId" if "spanId" in s else "id"]: s for s in spans}
    found = []
    for span in spans:
        parent = by_id.get(span.get(parent_key, ""))
        if parent is not None and tag_of(parent) != tag_of(span):
            found.append((tag_of(span), span["name"], tag_of(parent), parent["name"]))
    return sorted(found)


EXPECTED_PARENTS = sorted((tag, name, o.tag, o.name) for tag, name, o in STARTED)


def test_otlp_and_zipkin_hang_a_start_under_its_starting_call(trace_path: Path) -> None:
    out = io.StringIO()
    export_file(trace_path, "otlp-json", out)
    spans = [
        s
        for r in json.loads(out.getvalue())["resourceSpans"]
        for ss in r["scopeSpans"]
        for s in ss["spans"]
    ]

    def otlp_tag(span: dict[str, Any]) -> str:
        return next(
            a["value"]["stringValue"] for a in span["attributes"] if a["key"] == "functrace.tag"
        )

    assert span_parents(spans, otlp_tag, "parentSpanId") == EXPECTED_PARENTS
    assert len({s["traceId"] for s in spans}) == 1
    out = io.StringIO()
    export_file(trace_path, "zipkin", out)
    spans = json.loads(out.getvalue())
    found = span_parents(spans, lambda s: s["tags"]["functrace.tag"], "parentId")
    assert found == EXPECTED_PARENTS


def test_the_sdk_spans_of_a_trace_in_memory_say_the_same(trace_path: Path) -> None:
    from functrace.export.spans import to_spans

    spans = to_spans(read_trace(trace_path))
    by_id = {s.context.span_id: s for s in spans}
    found = set()
    for span in spans:
        parent = by_id.get(span.parent.span_id) if span.parent is not None else None
        tag = span.attributes["functrace.tag"]
        if parent is not None and parent.attributes["functrace.tag"] != tag:
            found.add((tag, span.name, parent.attributes["functrace.tag"], parent.name))
    assert sorted(found) == sorted(set(EXPECTED_PARENTS))


def test_speedscope_has_no_links_and_is_unchanged(trace_path: Path) -> None:
    out = io.StringIO()
    export_file(trace_path, "speedscope", out)
    data = json.loads(out.getvalue())
    assert len(data["profiles"]) == 8  # one per tag, as ever


def _plain(text: str) -> str:
    return re.sub(r" [0-9.]+(ns|µs|ms|s)\b", " D", text)


UNDER_ORIGIN = """\
t[01] MainThread
    __main__.main D
        ⤷ t[02] thread "worker-1"
            __main__.in_thread D
                __main__.leaf D
        ⤷ t[01]a[01] task "Task-1"
            __main__.gather_them D await
                ⤷ t[01]a[02] task "Task-2"
                    __main__.fetch D await
                    __main__.fetch resume D
                        __main__.leaf D
                ⤷ t[01]a[03] task "Task-3"
                    __main__.fetch D await
                    __main__.fetch resume D
                        __main__.leaf D
            __main__.gather_them resume D await
                ⤷ t[03] job (thread "asyncio_0")
                    __main__.blocking D
                        __main__.leaf D
            __main__.gather_them resume D
        __main__.submit_jobs D
            ⤷ t[04] job (thread "pool_0")
                __main__.blocking D
                    __main__.leaf D
            ⤷ t[04] job (thread "pool_0")
                __main__.blocking D
                    __main__.leaf D
t[05] orphan
    __main__.in_thread D
        __main__.leaf D
"""


def test_show_under_origin(trace_path: Path) -> None:
    result = CliRunner().invoke(show, [str(trace_path), "--under-origin"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _plain(result.stdout) == UNDER_ORIGIN
    result = CliRunner().invoke(show, [str(trace_path), "--under-origin", "--summary"])
    assert result.exit_code == 2


def test_a_recording_exports_its_links_too() -> None:
    trace = read_trace_text(
        '# t[01] = thread "MainThread" (native id 1)\n'
        "t[01]:    ->app.main\n"
        '# t[02] = thread "w" (native id 2) started by t[01] in app.main\n'
        "t[02]:    ->app.work\n"
        "t[02]:    <-app.work 1.00µs\n"
        "t[01]:    <-app.main 3.00µs\n"
    )
    # The same calls as record() makes them: Trace.from_recording keeps the origins.
    recorded = Trace(roots=trace.roots, origins=trace.origins)
    flows = chrome_flows(json.loads(export(recorded, "chrome")))
    assert [sorted(f) for f in flows.values()] == [["f", "s"]]
    assert trace.origin_calls() == {id(trace.roots[1]): trace.roots[0]}
    assert Counter(r.origin for r in trace.roots) == {
        None: 1,
        Origin("t[01]", "app.main", "thread"): 1,
    }
    assert isinstance(Scan().origins, dict)
