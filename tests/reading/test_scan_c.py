"""The compiled text summary loop (``functrace.reading._scan``, optional) gives what the
Python loop gives: the same summary, rows and scan state, byte for byte, on the generated
traces of test_fast_paths (threads, tasks, pid tags, generators, coroutines, exceptions,
``lost`` and ``running`` lines, noise), on CR LF, lone CR and bytes that are no UTF-8,
with every block size, and on durations and lines made to sit on the edges of what it
takes (rounding ties, the range's end, whitespace that is not a space, characters past
Latin-1)."""

from __future__ import annotations

import dataclasses
import io
import random
from pathlib import Path
from typing import Any

import pytest

from functrace._runtime.lines import parse_duration
from functrace.export import export_file
from functrace.reading import Scan, _fast
from functrace.reading._read import _Reader
from functrace.reading.scan import _file_blocks, _scan_blocks
from functrace.render import Summary, write_summary

from .test_fast_paths import TAGS, program, reference_scan

_scan = pytest.importorskip("functrace.reading._scan")


def _result(summary: Summary, state: Scan) -> tuple[Any, ...]:
    """What a summary run leaves: its printed table, its rows and the scan's counters."""
    out = io.StringIO()
    write_summary(summary.rows(), out)
    rows = [dataclasses.astuple(row) for row in summary.rows()]
    state_tuple = (
        state.source,
        state.calls,
        state.unfinished,
        state.lines,
        state.skipped_lines,
        state.problems,
        state.end_ns,
    )
    return out.getvalue(), rows, state_tuple


def _summary(path: Path, block: int | None = None) -> tuple[Any, ...]:
    state = Scan()
    summary = Summary(thread_names=state.thread_names)
    with open(path, "rb") as f:
        blocks = _file_blocks(f) if block is None else _file_blocks(f, block)
        _scan_blocks(blocks, summary, scan=state)
    return _result(summary, state)


def _reference(path: Path) -> tuple[Any, ...]:
    state = Scan()
    summary = Summary(thread_names=state.thread_names)
    reference_scan(path, summary, scan=state)
    return _result(summary, state)


def _chrome(path: Path) -> str:
    out = io.StringIO()
    export_file(path, "chrome", out)
    return out.getvalue()


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, block: int | None = None) -> Any:
    """The summary and the chrome export (the two loops the compiled scanner reads
    for), with it, without it and by the general reader alone, byte for byte."""
    compiled = _summary(path, block)
    chrome = _chrome(path)
    with monkeypatch.context() as m:
        m.setattr(_fast, "_scan", None)
        pure = _summary(path, block)
        assert chrome == _chrome(path)
    assert compiled == pure
    assert compiled == _reference(path)
    with monkeypatch.context() as m:
        m.setattr("functrace.export.scan_trace", reference_scan)
        assert chrome == _chrome(path)
    return compiled


@pytest.mark.parametrize("noise", [0, 0.05, 0.3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_traces(noise: float, seed: int, tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "trace.log"
    path.write_text(program(seed, "text", noise, 3000), encoding="utf-8")
    _text, _rows, state = _both(path, monkeypatch)
    assert state[1] > 1000
    if noise:
        assert state[5]


@pytest.mark.parametrize("block", [1, 7, 64, 4096])
def test_block_boundaries(block: int, tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "trace.log"
    path.write_text(program(5, "text", 0.05, 1500), encoding="utf-8")
    assert _both(path, monkeypatch, block) == _both(path, monkeypatch)


def test_mixed_crlf_and_bad_utf8(tmp_path: Path, monkeypatch: Any) -> None:
    text = program(3, "text", 0.02, 600)
    jsonl = program(3, "jsonl", 0.02, 600)
    mixed = [a + "\n" + b for a, b in zip(text.splitlines(), jsonl.splitlines(), strict=False)]
    data = "\r\n".join(mixed).encode("utf-8")
    data = data.replace(b"app.b.c", b"app.b\xff.c").replace(b"x 1", b"x\r1") + b"\r"
    path = tmp_path / "mixed"
    path.write_bytes(data[:-7])
    for block in (None, 5, 100):
        _both(path, monkeypatch, block)


# Durations on the edges of parse_duration: ties, units, digits, the range.
WORDS = [
    "0ns", "0.5ns", "1.5ns", "2.5ns", "1.0005µs", "1.0005us", "2.0005µs", "0.0000005ms",
    "1.15ms", "4.56ms", "12.3µs", "850ns", ".5ms", "5.ms", ".ns", "1.2.3ms", "ms", "s",
    "1s", "2.00s", "999999999s", "1000000000s", "1000000000.000000001s", "1000000001s",
    "0.1234567890123456789012345678901234567890s", "1" + "0" * 39 + "ns", "1" + "0" * 40 + "ns",
    "99999999999999999999s", "1e3ms", "1_0ms", "+1ms", "-1ms", "١ms", "1ks", "1µ", "1 ms",
    "0.49999999999999994ns", "4503599627370497.5ns", "123456789.987654321ms",
]  # fmt: skip

EXTRAS = [
    "", " yield", " await", " !E", " !ünï.Error", " lost", " weird", " !", " yield ",
    " !E\xa0x", " !E\x85x", " !E\tx", " !E\xadx", " \u20ac", " !E !F", "  !E", " running",
]  # fmt: skip

NAMES = ["a", "b.c", "ünï.cødé", "ƒ.g", "x\xa0y", "x\x85y", "n\x00m", "a->b", "<-", "ß"]


def _edge_trace(seed: int) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    stacks: dict[str, list[str]] = {}
    for _ in range(4000):
        tag = rng.choice([*TAGS, "t[.]", "t[1.2.3]", "t[01]a[]", "t[]", "t[01]a[01]x"])
        stack = stacks.setdefault(tag, [])
        indent = "    " * (len(stack) + 1)
        r = rng.random()
        if r < 0.05:
            indent = indent[: rng.randrange(len(indent) + 1)] + rng.choice(["", " ", "\t"])
        if not stack or rng.random() < 0.5:
            name = rng.choice(NAMES)
            extra = rng.choice(["", "", "", " resume", " running", " resume ", "  resume"])
            stack.append(name)
            out.append(f"{tag}:{indent}->{name}{extra}")
        else:
            name = stack.pop() if rng.random() < 0.95 else rng.choice(NAMES)
            word = rng.choice(WORDS)
            extra = rng.choice(EXTRAS)
            if rng.random() < 0.05:
                out.append(rng.choice(["# a comment", "", "running", "t[01]:    <-a"]))
            out.append(f"{tag}:{indent}<-{name} {word}{extra}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_edges(seed: int, tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "edges.log"
    path.write_text(_edge_trace(seed), encoding="utf-8")
    _both(path, monkeypatch)


def _run(lines: list[str], clock: int = 0) -> tuple[int, int, int, dict[str, Any], dict[str, Any]]:
    light: dict[str, list[list[Any]]] = {}
    rows: dict[str, list[int]] = {}
    i, clock, count = _scan.Scanner(light, rows).run(lines, 0, clock, 0)
    return i, clock, count, light, rows


@pytest.mark.parametrize("word", WORDS)
def test_a_duration_is_taken_as_parse_duration_reads_it_or_left(word: str) -> None:
    lines = ["t[01]:    ->a", f"t[01]:    <-a {word}"]
    i, clock, _count, light, rows = _run(lines)
    try:
        expected = parse_duration(word)
    except (ValueError, OverflowError):
        expected = None
    if i == 2:
        assert expected is not None
        assert rows["a"] == [1, expected, expected, expected]
        assert clock == expected
    else:
        assert i == 1
        assert light["t[01]"][0][:5] == ["a", False, 0, 0, 0]


def test_ties_round_to_even() -> None:
    for word, ns in [("0.5ns", 0), ("1.5ns", 2), ("2.5ns", 2), ("1.0005µs", round(1.0005 * 1000))]:
        assert _run(["t[01]:    ->a", f"t[01]:    <-a {word}"])[4]["a"][1] == ns


def test_the_range_end_is_left_to_the_general_reader() -> None:
    lines = ["t[01]:    ->a", "t[01]:    <-a 1.00s"]
    assert _run(lines, 10**18 - 10**9)[0] == 2
    assert _run(lines, 10**18 - 10**9 + 1)[0] == 1
    assert _run(lines, 10**18 + 1)[0] == 0


@pytest.mark.parametrize(
    "line",
    [
        "# a comment",
        "running",
        "t[01]:    ->a running",
        "t[01]:    <-a 1.00ms lost",
        "t[01]:      ->a",
        "t[01]:->a",
        "t[01]:    ->",
        "t[01]:    ->a\u0100",
        "t[01]:    ->a ",
        "t[01]:    ->a\tb",
        '{"v":1,"ts":1}',
        "t[01]:        ->deep",  # skips a level: taken (the general reader opens it the same)
    ],
)
def test_other_lines_are_handed_back(line: str) -> None:
    i, _, _, light, _ = _run(["t[01]:    ->x", line, "t[01]:    ->y"])
    if line.endswith("deep"):
        assert i == 2  # the next line closes it: handed back
        assert [call[0] for call in light["t[01]"]] == ["x", "deep"]
    else:
        assert i == 1
        assert [call[0] for call in light["t[01]"]] == ["x"]


def test_the_light_loop_calls_on_exit_as_the_python_loop() -> None:
    light: dict[str, list[list[Any]]] = {}
    exits: list[tuple[Any, ...]] = []
    datas = {"t[01]": {"a": "A", "b": None}}
    scanner = _scan.Scanner(
        light, datas=datas, on_exit=lambda *args: exits.append((args[0][:], *args[1:]))
    )
    lines = [
        "t[01]:    ->a",
        "t[01]:        ->a resume",
        "t[01]:        <-a 2.00µs yield",
        "t[01]:    <-a 5.00µs !ünï.Error",
        "t[01]:    ->a",
        "t[01]:    <-a 1.00µs",
        "t[01]:    ->b",  # its data is None: as not there
    ]
    assert scanner.run(lines, 0, 7, 0) == (6, 6007, 3)
    assert exits == [
        (["a", True, 0, 7, 7, "A"], 2007, 2000, None, "yield"),
        (["a", False, 2000, 7, 2007, "A"], 5007, 5000, "ünï.Error", None),
        (["a", False, 0, 5007, 5007, "A"], 6007, 1000, None, None),
    ]
    assert _scan.Scanner(light, datas={}, on_exit=print).run(lines, 0, 0, 0)[0] == 0
    with pytest.raises(TypeError):
        _scan.Scanner(light, {}, datas={}, on_exit=print)

    def fails(*args: Any) -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        _scan.Scanner({}, datas=datas, on_exit=fails).run(lines, 0, 0, 0)


def test_most_lines_are_read_in_c(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_text(program(4, "text", 0, 20_000), encoding="utf-8")
    fed = 0
    original = _Reader.feed

    def feed(self: _Reader, line: str, number: int) -> None:
        nonlocal fed
        fed += 1
        original(self, line, number)

    taken = 0
    made = _scan.Scanner

    def counting(light: Any, rows: Any) -> Any:
        run = made(light, rows).run

        def counted(lines: list[str], i: int, clock: int, count: int) -> Any:
            nonlocal taken
            result = run(lines, i, clock, count)
            taken += result[0] - i
            return result

        return type("Counting", (), {"run": staticmethod(counted)})()

    try:
        _Reader.feed = feed  # type: ignore[method-assign]
        with pytest.MonkeyPatch.context() as m:
            m.setattr(_scan, "Scanner", counting)
            _scan_blocks(_file_blocks(open(path, "rb")), Summary())  # noqa: SIM115
    finally:
        _Reader.feed = original  # type: ignore[method-assign]
    assert fed < 20_000 // 4
    assert taken > 20_000 * 0.8
