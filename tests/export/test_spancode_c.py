"""The compiled span writer (``functrace.export._spancode``, optional) writes what the
Python one writes, byte for byte: otlp-json and zipkin, text and jsonl, on generated
traces (threads, tasks, pid tags, generators, coroutines, exceptions, noise), on a real
program's trace (origins, argument and return values), on traces in memory, and on
what it hands back to Python (names past Latin-1, escapes, times past a long long, ids
that are 0); also with the spool spilled and the spool's table full."""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from functrace.export import _spans, export, export_file
from functrace.export._spool import Spool
from functrace.reading import read_trace, read_trace_text
from functrace.reading.trace import Trace
from tests.helpers import T, run_python, same_without
from tests.reading.test_fast_paths import program
from tests.runtime.test_origins import PROGRAM

_spancode = pytest.importorskip("functrace.export._spancode")

SPANS = ["otlp-json", "zipkin"]


def _exports(path: Path, **options: Any) -> dict[str, str]:
    out = {}
    for fmt in SPANS:
        text = io.StringIO()
        export_file(path, fmt, text, seed=5, **options)
        out[fmt] = text.getvalue()
        json.loads(out[fmt])
    return out


def _both(monkeypatch: pytest.MonkeyPatch, make: Callable[[], T]) -> T:
    """``make()`` with the compiled writer and without it: the same."""
    return same_without(monkeypatch, make, (_spans, "_spancode"))


def test_generated_traces(generated_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exports = _both(monkeypatch, lambda: _exports(generated_path))
    assert exports["zipkin"].count('"traceId"') > 1000


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_spilled_spool_and_a_full_table(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spans spilled to the spool's file, and a text trace's table full after a few
    functions (the rest spooled whole): the same output as with neither."""
    path = tmp_path / f"trace.{fmt}"
    path.write_text(program(4, fmt, 0.02, 3000), encoding="utf-8")
    plain = _exports(path)
    monkeypatch.setattr(Spool.__init__, "__defaults__", (5000,))
    monkeypatch.setattr(_spans, "_TABLE_MAX", 300)
    assert _both(monkeypatch, lambda: _exports(path)) == plain


def test_the_same_spooled_text_when_parts_are_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text trace's spooled text is the same piece for piece (its references into the
    table too), also when the writer's parts are forgotten every few functions: the
    compiled writer forgets the ones it kept with them, and makes them again as Python
    does."""
    path = tmp_path / "trace.log"
    path.write_text(program(6, "text", 0.02, 3000), encoding="utf-8")
    monkeypatch.setattr(_spans, "_PARTS_MAX", 5)
    spooled: list[tuple[str, str]] = []
    add = Spool.add

    def recorded(spool: Spool, key: str, text: str) -> None:
        spooled.append((key, text))
        add(spool, key, text)

    monkeypatch.setattr(Spool, "add", recorded)

    def spool() -> list[tuple[str, str]]:
        spooled.clear()
        _exports(path)
        return list(spooled)

    pieces = _both(monkeypatch, spool)
    assert max(int(n) for _, text in pieces for n in text.split("\x02")[1::2]) > 500


@pytest.fixture(scope="module", params=["text", "jsonl"])
def real_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A program with threads, tasks and pool jobs (origins), argument and return values."""
    out = tmp_path_factory.mktemp("real") / f"trace.{request.param}"
    env = {"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": request.param, "FUNCTRACE_ARGS": "1"}
    proc = run_python(["-c", PROGRAM], env=env)
    assert proc.returncode == 0, proc.stderr
    return out


def test_a_real_program(real_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exports = _both(monkeypatch, lambda: _exports(real_path))
    assert "functrace.args.i" in exports["zipkin"]
    options = {"trace_id": 0xABC, "parent_span_id": 0xDEF, "service_name": "ünï"}
    exports = _both(monkeypatch, lambda: _exports(real_path, **options))
    assert '"parentId":"0000000000000def"' in exports["zipkin"]
    assert _both(monkeypatch, lambda: export(read_trace(real_path), "otlp-json", seed=1))


EDGES = """\
t[01]:    ->app.main
t[01]:        ->ƒ.g
t[01]:        <-ƒ.g 1.00µs
t[01]:        ->app.名前
t[01]:        <-app.名前 2.00µs !名前.Error
t[01]:        ->app.b
t[01]:        <-app.b 3.00µs !ünï.Error
t[01]:        ->app.gen
t[01]:        <-app.gen 2.00µs yield
t[01]:        ->app.gen resume
t[01]:        <-app.gen 3.00µs
t[01]:    <-app.main 2.00ms
t[01]a[01]:    ->app.handle
t[01]a[01]:        ->app.fetch
t[01]a[01]:        <-app.fetch 5.00µs await
t[01]a[01]:        ->app.other resume
t[01]a[01]:        <-app.other 5.00µs await
t[01]a[01]:    <-app.handle 9.00µs await
t[01]a[01]:    ->app.handle resume
t[01]a[01]:        ->app.fetch resume
t[01]a[01]:            ->app.leaf
t[01]a[01]:            <-app.leaf 1.00µs !E
t[01]a[01]:        <-app.fetch 1.00µs !E
t[01]a[01]:    <-app.handle 2.00µs
t[01]a[02]:    ->app.handle
t[01]a[02]:        ->app.open
"""


def _jsonl(ts: int, depth: int, ev: str, name: str, **more: Any) -> str:
    event = {"v": 1, "ts": ts, "pid": 7, "tid": 8, "thread": 'w"1', "task": None, "tag": "t[01]"}
    event |= {"depth": depth, "ev": ev, "name": name, "file": "f\\.py", "line": 3, **more}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


EDGES_JSONL = "\n".join(
    [
        _jsonl(10**18, 1, "enter", "app.main"),
        _jsonl(10**18 + 5, 2, "enter", 'a"b'),
        _jsonl(10**18 + 9, 2, "exit", 'a"b', dur=4, exc='x"y\\z', suspended=None),
        _jsonl(10**18 + 10, 2, "enter", "ƒ"),
        _jsonl(10**18 + 12, 2, "exit", "ƒ", dur=2, exc="\u2028", suspended=None),
        _jsonl(2**63 - 5, 2, "enter", "app.late"),
        _jsonl(2**63 - 1, 2, "exit", "app.late", dur=4, exc=None, suspended=None),
        _jsonl(2**63 - 1, 1, "exit", "app.main", dur=2**63 - 10**18, exc=None, suspended=None),
    ]
)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_what_goes_back_to_python(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names and exceptions past Latin-1 or with escapes, times at 2**63-1."""
    path = tmp_path / f"edges.{fmt}"
    path.write_text(EDGES if fmt == "text" else EDGES_JSONL, encoding="utf-8")
    exports = _both(monkeypatch, lambda: _exports(path))
    if fmt == "text":
        assert "名前" in exports["otlp-json"] and "ƒ" in exports["zipkin"]
    else:
        assert 'x\\"y\\\\z' in exports["zipkin"] and "ƒ" in exports["otlp-json"]
        assert "app.late" in exports["zipkin"]


@pytest.mark.parametrize("end", [1_700_000_000_000_000_000, 2**63 - 1000, 2**63 + 2**62])
def test_traces_in_memory(end: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trace in memory (its epoch offset known from the start), also placed so near
    2**63 that some or all of its epoch times are past a long long."""
    trace: Trace = read_trace_text(EDGES, end_epoch_ns=end)
    options: dict[str, dict[str, Any]] = {"otlp-json": {}, "zipkin": {"debug": True}}
    for fmt in SPANS:
        text = _both(monkeypatch, lambda fmt=fmt: export(trace, fmt, seed=2, **options[fmt]))
        assert json.loads(text)


def test_ids_are_single_draws_and_never_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids drawn 4096 at a time are the values drawn one at a time, in order: the span
    ids, trace ids and ``or 1`` the exports had when each id was one draw."""
    trace = read_trace_text(EDGES, end_epoch_ns=1_700_000_000_000_000_000)
    spans = json.loads(export(trace, "zipkin", seed=9))
    rng = random.Random(9)
    trace_id = f"{rng.getrandbits(128) or 1:032x}"
    assert {s["traceId"] for s in spans} == {trace_id}
    ids = [f"{rng.getrandbits(64) or 1:016x}" for _ in range(20)]
    assert {s["id"] for s in spans} <= set(ids)
    # A source that gives 0: span id 1 and trace id 1 on both ways.
    monkeypatch.setattr(random.Random, "getrandbits", lambda self, k: 0)
    spans = json.loads(_both(monkeypatch, lambda: export(trace, "zipkin")))
    assert {s["traceId"] for s in spans} == {"0" * 31 + "1"}
    assert {s["id"] for s in spans} == {"0" * 15 + "1"}


def test_the_compiled_writer_takes_the_common_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's opened and closed see a frame of a new thread or task, or with an
    origin; the rest (generators, coroutines, exceptions) are the compiled writer's."""
    path = tmp_path / "trace.log"
    path.write_text(program(1, "text", 0, 3000), encoding="utf-8")
    seen: Counter[str] = Counter()
    for method in ("opened", "closed", "_text"):
        python = getattr(_spans.SpanWriter, method)

        def counted(self: Any, *args: Any, method: str = method, python: Any = python) -> Any:
            seen[method] += 1
            return python(self, *args)

        monkeypatch.setattr(_spans.SpanWriter, method, counted)
    exports = _exports(path)
    spans = exports["zipkin"].count('"traceId"')
    assert spans > 1000 and '"functrace.suspended":"await"' in exports["zipkin"]
    # New tags, and frames cut off at the end (unfinished): a few per tag.
    assert seen["opened"] <= 2 * 6 and seen["closed"] <= 2 * 6 * 8 and seen["_text"] == 0


#: Texts as the writers spool them (the compiled place() takes them all), and others
#: (None: the Python function reads them).
TAKEN = ["", "no markers", 'a"\x0012\x00",b:\x01999\x01}', "\x021\x02\x0018\x00\x020\x02"]
TAKEN += ["ünï\x007\x00\x021\x02"]
LEFT = [
    "\x00" + "9" * 19 + "\x00",  # past 2**64 with a large offset
    "\x00" + "9" * 20 + "\x00",
    "\x001\x01\x010\x00",  # a marker closed by the other kind
    "ƒ\x007\x00",  # past Latin-1
    "\x022\x02",  # a table entry past Latin-1
]


@pytest.mark.parametrize("text", TAKEN + LEFT)
@pytest.mark.parametrize("offset", [0, 10**18, 2**63 - 1])
def test_place_writes_what_the_python_function_writes(
    text: str, offset: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = ["<a>", "<ünï>", "<ƒ>"]
    placed = _spancode.place(text, offset, table)
    monkeypatch.setattr(_spans, "_spancode", None)
    assert placed is None or placed == _spans._place(text, offset, table)
    if text in TAKEN:
        assert placed is not None and not any(c in placed for c in "\x00\x01\x02")
