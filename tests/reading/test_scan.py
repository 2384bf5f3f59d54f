"""The streaming scan (its fast paths) reads every line as the general reader does."""

from __future__ import annotations

import io
import json
import random

import pytest

from functrace._runtime.lines import format_duration
from functrace.reading import Frame, read_trace_lines, scan_lines
from functrace.reading._read import _Reader
from functrace.reading._stream import Stream

Row = tuple[str, str, int | None, str | None, str | None, bool, str, int, int, int]


def program(seed: int, fmt: str, noise: bool) -> str:
    """A random but well-formed trace, with bad and foreign lines mixed in when ``noise``."""
    rng = random.Random(seed)
    names = ["app.a", "app.b.c", "pkg.mod.Class.meth", "x", "ünï.cødé"]
    stacks: dict[str, list[tuple[str, int]]] = {"t[01]": [], "t[02]a[01]": [], "t[4711.03]": []}
    now = 10**18
    out = []
    for _ in range(600):
        tag = rng.choice(list(stacks))
        stack = stacks[tag]
        now += rng.randrange(1, 3_000_000)
        if not stack or (len(stack) < 6 and rng.random() < 0.55):
            name = rng.choice(names)
            resumed = rng.random() < 0.1
            stack.append((name, now))
            depth = len(stack)
            if fmt == "text":
                out.append(f"{tag}:{'    ' * depth}->{name}{' resume' if resumed else ''}")
            else:
                out.append(json.dumps({"v": 1, "ts": now, "pid": 7, "tid": 8, "thread": "w",
                    "task": None, "tag": tag, "depth": depth,
                    "ev": "resume" if resumed else "enter", "name": name, "file": "f.py",
                    "line": 3}, separators=(",", ":"), ensure_ascii=False))  # fmt: skip
        else:
            depth = len(stack)
            name, start = stack.pop()
            exc = rng.choice([None, None, None, "KeyError", "a.b.Err"])
            susp = None if exc else rng.choice([None, None, "yield", "await"])
            dur = now - start
            if fmt == "text":
                extra = f" !{exc}" if exc else f" {susp}" if susp else ""
                out.append(f"{tag}:{'    ' * depth}<-{name} {format_duration(dur)}{extra}")
            else:
                out.append(json.dumps({"v": 1, "ts": now, "pid": 7, "tid": 8, "thread": "w",
                    "task": None, "tag": tag, "depth": depth,
                    "ev": "suspend" if susp else "exit", "name": name, "file": "f.py",
                    "line": 3, "dur": dur, "exc": exc, "suspended": susp},
                    separators=(",", ":"), ensure_ascii=False))  # fmt: skip
        if noise and rng.random() < 0.08:
            out.append(
                rng.choice(
                    [
                        "program output",
                        f"{tag}:        <-app.a",
                        f"{tag}:     ->app.a",
                        f"{tag}:    <-app.a 1.2.3ms",
                        f"{tag}:    ->app.a bogus",
                        f"{tag}:    <-app.a 1.00ms weird",
                        '{"v":1,"ts":"x","pid":7}',
                        '{"v":1,"ts":5,"pid":7,"tid":8,"thread":"w","task":null,"tag":"t[01]",'
                        '"depth":1,"ev":"exit","name":"app.a","file":"f","line":1,"dur":9,'
                        '"exc":null,"suspended":null}',
                        out[-1][: len(out[-1]) // 2],  # torn
                    ]
                )
            )
    return "\n".join(out) + "\n"


class Rows:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def opened(self, frame: Frame) -> None:
        pass

    def closed(self, frame: Frame) -> None:
        self.rows.append(
            (
                frame.tag,
                frame.name,
                frame.duration_ns,
                frame.exception,
                frame.suspended,
                frame.resumed,
                frame.file,
                frame.line,
                frame.start_ns,
                frame.end_ns,
            )
        )


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_scan_reads_as_the_general_reader(fmt: str, noise: bool, seed: int) -> None:
    text = program(seed, fmt, noise)
    general = Rows()
    stream = Stream(general, exact=False)
    reader = _Reader(stream)
    for number, line in enumerate(io.StringIO(text), 1):
        reader.feed(line, number)  # every line through the general reader
    stream.finish()
    fast = Rows()
    scan = scan_lines(io.StringIO(text), fast)
    assert fast.rows == general.rows and len(fast.rows) > 100
    assert scan.source == fmt and scan.skipped_lines == reader.skipped
    assert scan.problems == list(reader.problems.values())
    assert scan.lines == text.count("\n") and scan.calls == len(fast.rows)
    # The tree reader agrees on what was called, and how it ended.
    trace = read_trace_lines(io.StringIO(text))
    tree = [(c.tag, c.name, c.exception, c.suspended) for c in trace.walk()]
    assert sorted(tree, key=repr) == sorted((row[:2] + row[3:5] for row in fast.rows), key=repr)
