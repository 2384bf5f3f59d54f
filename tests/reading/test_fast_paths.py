"""The block reader and the fast loops (text, jsonl, the summary's own loop) give what
the general reader gives, line by line, for every view and export: on traces with
threads, tasks, pid tags, generators and coroutines (suspend/resume), exceptions,
``lost`` and ``running`` lines, and malformed, cut, foreign and mixed-format lines."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functrace._runtime.lines import format_duration
from functrace.export import export_file
from functrace.reading import Scan, scan_trace
from functrace.reading._read import _Reader, is_torn
from functrace.reading._stream import Consumer
from functrace.reading.scan import _file_blocks, _finish, _start
from functrace.render import Focus, Selection, Summary, TreePrinter, write_focus, write_summary

NAMES = ["app.a", "app.b.c", "pkg.mod.Class.meth", "x", "ünï.cødé", "app.gen", "app.coro"]
TAGS = ["t[01]", "t[02]", "t[01]a[01]", "t[01]a[02]", "t[4711.01]", "t[4711.02]a[03]"]


def _jsonl(tag: str, ts: int, depth: int, ev: str, name: str, **more: Any) -> str:
    event: dict[str, Any] = {"v": 1, "ts": ts, "pid": 4711 if "." in tag else 7}
    event.update(tid=8, thread=f"w{tag[2:4]}", task=None, tag=tag, depth=depth, ev=ev)
    event.update(name=name, file="f.py", line=3, **more)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def program(seed: int, fmt: str, noise: float, lines: int = 1500) -> str:
    """A random trace written as the runtime writes it, with noise mixed in."""
    rng = random.Random(seed)
    stacks: dict[str, list[tuple[str, int, bool]]] = {t: [] for t in TAGS}
    parked: dict[tuple[str, int], str] = {}
    now = 10**18 if fmt == "jsonl" else 0
    out: list[str] = []
    for _ in range(lines):
        tag = rng.choice(TAGS)
        stack = stacks[tag]
        now += rng.choice([1, 40, 999, 1000, 12_345, 3_000_000])
        depth = len(stack) + 1
        if not stack or (len(stack) < 7 and rng.random() < 0.55):
            name = parked.pop((tag, depth), None) if rng.random() < 0.7 else None
            resumed = name is not None
            name = name or rng.choice(NAMES)
            stack.append((name, now, resumed))
            running = rng.random() < 0.02
            if fmt == "text":
                extra = " resume" if resumed else " running" if running else ""
                out.append(f"{tag}:{'    ' * depth}->{name}{extra}")
            else:
                more = {"running": True} if running and not resumed else {}
                ev = "resume" if resumed else "enter"
                out.append(_jsonl(tag, now, depth, ev, **more, name=name))
            continue
        depth = len(stack)
        name, start, _ = stack.pop()
        exc = susp = None
        lost = False
        r = rng.random()
        if name in ("app.gen", "app.coro") and r < 0.5:
            susp = "yield" if name == "app.gen" else "await"
            parked[(tag, depth)] = name
        elif r < 0.1:
            exc = rng.choice(["KeyError", "a.b.Err", "ünï.Error"])
        elif r < 0.13:
            lost = True
        dur = now - start
        if fmt == "text":
            extra = f" !{exc}" if exc else f" {susp}" if susp else " lost" if lost else ""
            out.append(f"{tag}:{'    ' * depth}<-{name} {format_duration(dur)}{extra}")
        else:
            ev = "suspend" if susp else "exit"
            more = {"lost": True} if lost else {}
            out.append(_jsonl(tag, now, depth, ev, name, dur=dur, exc=exc, suspended=susp, **more))
        if rng.random() < noise:
            out.append(rng.choice(_noise(tag, out[-1], fmt)))
    return "\n".join(out) + "\n"


def _noise(tag: str, last: str, fmt: str) -> list[str]:
    other = _jsonl(tag, 5, 1, "exit", "app.a", dur=9, exc=None, suspended=None)
    return [
        "program output",
        "",
        "   ",
        last[: len(last) // 2],  # torn
        last,  # repeated (an exit without its enter)
        f"{tag}:        <-app.a",  # no duration
        f"{tag}:     ->app.a",  # bad indent
        f"{tag}:    <-app.a 1.2.3ms",
        f"{tag}:    <-app.a 99999999999999999999s",  # out of range
        f"{tag}:    ->app.a bogus",
        f"{tag}:    <-app.a 1.00ms weird !E yield",
        f"{tag}:    <-app.a 1.00ms\t!E",
        f"{tag}:    <-x 1.00ms !E\xa0more",
        f"{tag}:    <-x 1.00ms ",
        f"{tag}:    <-x  1.00ms",
        f"{tag}:            ->app.deep",  # skips levels
        f"{tag}:    <-app.b.c 5.00µs",  # closes over open calls
        f"progress 50%{tag}:    ->app.joined",  # a trace line joined to output
        other if fmt == "text" else f"{tag}:    ->app.a",  # the other format
        '{"v":1,"ts":"x","pid":7}',
        '{"v":1,"ts":12,"pid":7,"tid":8,"thread":"w","task":null,"tag":"t[01]","depth":1,'
        '"ev":"enter","name":"a\\u0041","file":"f","line":1}',  # an escape
        '{"v":1,"ts":12,"pid":7,"tid":8,"thread":"w","task":null,"tag":"t[01]","depth":1,'
        '"ev":"exit","name":"x","file":"f","line":1,"dur":99,"exc":null,"suspended":null}',
        '{"v":1,"ts":99999999999999999999,"pid":7,"tid":8,"thread":"w","task":null,'
        '"tag":"t[01]","depth":1,"ev":"enter","name":"x","file":"f","line":1}',
        '{"ev": "enter", "ts": 5, "depth": 1, "tag": "t[09]", "name": "spaced"}',
    ]


def reference_scan(
    path: str | Path, consumer: Consumer, on_source: Any = None, scan: Scan | None = None
) -> Scan:
    """What a scan was before its fast paths: every line through the general reader."""
    scan = Scan() if scan is None else scan
    stream, reader = _start(consumer, on_source, scan)
    number = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = list(f)
    if lines and is_torn(lines[-1]):  # a write cut by a kill: not read
        scan.torn_line = len(lines)
        lines.pop()
    for number, line in enumerate(lines, 1):
        reader.feed(line, number)
    _finish(scan, stream, reader, number)
    return scan


def scan_state(state: Scan) -> tuple[Any, ...]:
    """What a scan leaves besides its consumer's result: all its counters."""
    return (
        state.source,
        state.calls,
        state.unfinished,
        state.lines,
        state.skipped_lines,
        state.problems,
        state.thread_names,
        state.thread_ids,
        state.end_ns,
        state.cut_after,
        state.torn_line,
    )


def _views(path: Path, scan: Any) -> dict[str, Any]:
    """Every view of the trace at ``path``, read with ``scan``."""
    views: dict[str, Any] = {}
    for label, selection in [
        ("all", Selection()),
        ("filtered", Selection(tags=("1",), min_duration_ns=1000, max_depth=3)),
    ]:
        state = Scan()
        summary = Summary(selection, state.thread_names)
        scan(path, summary, scan=state)
        out = io.StringIO()
        write_summary(summary.rows(), out)
        views[f"summary {label}"] = out.getvalue()
        views[f"rows {label}"] = [dataclasses.astuple(row) for row in summary.rows()]
        views[f"scan {label}"] = scan_state(state)
    lines: list[str] = []
    printer = TreePrinter(lambda tag, depth, text: lines.append("    " * depth + text))
    scan(path, printer)
    printer.finish()
    views["tree"] = lines
    focus = Focus("app.a", Selection())
    scan(path, focus)
    out = io.StringIO()
    write_focus(focus.rows(), out)
    views["focus"] = out.getvalue()
    return views


def _exports(path: Path) -> dict[str, str]:
    out = {}
    for fmt in ("chrome", "speedscope", "otlp-json", "zipkin"):
        text = io.StringIO()
        options = {"seed": 5} if fmt in ("otlp-json", "zipkin") else {}
        export_file(path, fmt, text, **options)
        out[fmt] = text.getvalue()
    return out


CASES = [(fmt, noise, seed) for fmt in ("text", "jsonl") for noise in (0, 0.05) for seed in (1, 2)]


@pytest.mark.parametrize(("fmt", "noise", "seed"), CASES)
def test_views_and_exports_read_as_the_general_reader(
    fmt: str, noise: float, seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"trace.{fmt}"
    path.write_text(program(seed, fmt, noise), encoding="utf-8")
    fast = _views(path, scan_trace)
    fast_exports = _exports(path)
    reference = _views(path, reference_scan)
    monkeypatch.setattr("functrace.export.scan_trace", reference_scan)
    assert fast == reference
    assert fast_exports == _exports(path)
    assert fast["scan all"][1] > 500  # calls
    if noise:
        assert fast["scan all"][5]  # problems were found, and agreed on


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_mixed_formats_and_raw_bytes(fmt: str, tmp_path: Path) -> None:
    """Both formats in one file, CR LF and lone CR endings, bytes that are no UTF-8, no
    newline at the end: the block reader decodes and splits as a text file is read."""
    text = program(3, "text", 0.02, 400)
    jsonl = program(3, "jsonl", 0.02, 400)
    first, second = (text, jsonl) if fmt == "text" else (jsonl, text)
    mixed = [a + "\n" + b for a, b in zip(first.splitlines(), second.splitlines(), strict=False)]
    data = "\r\n".join(mixed).encode("utf-8")
    data = data.replace(b"app.b.c", b"app.b\xff.c").replace(b"x 1", b"x\r1") + b"\r"
    path = tmp_path / "mixed"
    path.write_bytes(data[:-7])  # cut off mid-line
    views = _views(path, scan_trace)
    assert views == _views(path, reference_scan)
    assert views["scan all"][-1] == views["scan all"][3] + 1  # the torn line, not read


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 16])
def test_blocks_split_lines_as_a_text_file_does(size: int, tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_bytes(
        "a\r\nbé\rc\n\n€𝄞 x\xff\n".encode("utf-8", "surrogateescape") + b"\xff\xfe end"
    )
    with open(path, "rb") as f:
        lines = [line for block in _file_blocks(f, size) for line in block]
    with open(path, encoding="utf-8", errors="replace") as f:
        assert lines == [line.removesuffix("\n") for line in f]


@contextlib.contextmanager
def counting_feed() -> Iterator[list[int]]:
    """[the number of lines the general reader is fed], while in the block."""
    fed = [0]
    original = _Reader.feed

    def feed(self: _Reader, line: str, number: int) -> None:
        fed[0] += 1
        original(self, line, number)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(_Reader, "feed", feed)
        yield fed


def test_a_long_trace_stays_on_the_fast_path(tmp_path: Path) -> None:
    """The pieces repeat: after the first lines, the general reader sees almost none."""
    path = tmp_path / "trace.log"
    path.write_text(program(4, "text", 0, 20_000), encoding="utf-8")
    with counting_feed() as fed:
        scan_trace(path, Summary())
    assert fed[0] < 20_000 // 4
