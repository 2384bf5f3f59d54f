"""The compiled reading loop (``functrace.reading._scan``, optional) gives what the
Python loops give: the same summary, rows and scan state, every view and every export,
byte for byte, text and jsonl, on the generated traces of test_fast_paths (threads,
tasks, pid tags, generators, coroutines, exceptions, ``lost`` and ``running`` lines,
noise), on CR LF, lone CR and bytes that are no UTF-8, with every block size, and on
durations and lines made to sit on the edges of what it takes (rounding ties, the
range's end, whitespace that is not a space, characters past Latin-1, numbers past
2**63-1, escapes, argument lists)."""

from __future__ import annotations

import dataclasses
import io
import random
from pathlib import Path
from typing import Any

import pytest

from functrace._runtime.lines import ENTER, EXIT, INDENT, parse_duration
from functrace.export import export_file
from functrace.reading import Scan, _fast, scan_trace
from functrace.reading._stream import Frame
from functrace.reading.scan import _BLOCK, _file_blocks, _scan_blocks, _scan_file, _split
from functrace.render import Summary, write_summary
from tests.helpers import same_without

from .test_fast_paths import (
    TAGS,
    _exports,
    _views,
    counting_feed,
    program,
    reference_scan,
    scan_state,
)

_scan = pytest.importorskip("functrace.reading._scan")


def test_reads_the_grammar_of_lines_py() -> None:
    """_scan.c spells the indent and the arrows itself: a build reading another grammar
    than lines.py's is never used (and this one is)."""
    assert _scan.GRAMMAR == (INDENT, ENTER, EXIT)
    assert _fast._scan is _scan


def _result(summary: Summary, state: Scan) -> tuple[Any, ...]:
    """What a summary run leaves: its printed table, its rows and the scan's counters."""
    out = io.StringIO()
    write_summary(summary.rows(), out)
    rows = [dataclasses.astuple(row) for row in summary.rows()]
    return out.getvalue(), rows, scan_state(state)


def _summary(path: Path, block: int | None = None) -> tuple[Any, ...]:
    state = Scan()
    summary = Summary(thread_names=state.thread_names)
    with open(path, "rb") as f:
        _scan_file(f, summary, scan=state, size=block or _BLOCK)
    return _result(summary, state)


def _reference(path: Path) -> tuple[Any, ...]:
    state = Scan()
    summary = Summary(thread_names=state.thread_names)
    reference_scan(path, summary, scan=state)
    return _result(summary, state)


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, block: int | None = None) -> Any:
    """The summary (read in blocks of ``block`` bytes), every view and every export,
    with the compiled loop, without it and by the general reader alone, byte for byte."""
    compiled, exports, views = same_without(
        monkeypatch,
        lambda: (_summary(path, block), _exports(path), _views(path, scan_trace)),
        (_fast, "_scan"),
    )
    assert compiled == _reference(path)
    assert views == _views(path, reference_scan)
    with monkeypatch.context() as m:
        m.setattr("functrace.export.scan_trace", reference_scan)
        assert exports == _exports(path)
    return compiled


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("noise", [0, 0.05, 0.3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_traces(
    fmt: str, noise: float, seed: int, tmp_path: Path, monkeypatch: Any
) -> None:
    path = tmp_path / "trace.log"
    path.write_text(program(seed, fmt, noise, 3000), encoding="utf-8")
    _text, _rows, state = _both(path, monkeypatch)
    assert state[1] > 1000
    if noise:
        assert state[5]


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("block", [1, 7, 64, 4096])
def test_block_boundaries(fmt: str, block: int, tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "trace.log"
    path.write_text(program(5, fmt, 0.05, 1500), encoding="utf-8")
    assert _both(path, monkeypatch, block) == _both(path, monkeypatch)


@pytest.mark.parametrize("first", ["text", "jsonl"])
def test_mixed_crlf_and_bad_utf8(first: str, tmp_path: Path, monkeypatch: Any) -> None:
    text = program(3, "text", 0.02, 600)
    jsonl = program(3, "jsonl", 0.02, 600)
    if first == "jsonl":
        text, jsonl = jsonl, text
    mixed = [a + "\n" + b for a, b in zip(text.splitlines(), jsonl.splitlines(), strict=False)]
    data = "\r\n".join(mixed).encode("utf-8")
    data = data.replace(b"app.b.c", b"app.b\xff.c").replace(b"x 1", b"x\r1") + b"\r"
    path = tmp_path / "mixed"
    path.write_bytes(data[:-7])
    for block in (None, 5, 100):
        _both(path, monkeypatch, block)


# Pieces of UTF-8, whole and broken, for the compiled split of a block into lines.
_PIECES = [
    b"a", b"\n", b"\xc3", b"\xa9", b"\xe2\x82\xac", b"\xf0\x9d\x84\x9e", b"\xff", b"\x80",
    b"\xe2\x82", b"\xf0\x9d", b" ", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
    b"x" * 9, b"\x00", b"\x85", b"\xc2\xb5", b"\xc3\xbf", b"\xc1\xbf",
]  # fmt: skip


def test_blocks_are_split_into_the_lines_python_makes(monkeypatch: Any) -> None:
    """``_scan.split`` cuts and decodes a block (the bytes held from the read before, then
    the read's up to its last newline) as ``_split`` does in Python (each line decoded
    alone: no UTF-8 sequence holds a newline), and leaves a block with a CR to it."""
    rng = random.Random(7)
    chunks = [b"", b"\n", b"\n\n", b"a", b"a\n", b"\na", b"\xe2\x82\n\xac"]
    for _ in range(20_000):
        chunks.append(b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 40))))
    cases = []
    for chunk in chunks:
        at = rng.randrange(len(chunk) + 1)
        end = rng.randrange(at, len(chunk) + 1)
        # data, end, head (the start of a line: no newline)
        cases.append((chunk[at:], end - at, chunk[:at].replace(b"\n", b"")))
    compiled = [_scan.split(*case) for case in cases]
    assert _scan.split(b"a\r\nb\n", 5, b"") is None
    assert _scan.split(b"b\n", 2, b"a\r") is None
    assert _scan.split(b"b\n", 2, b"a\n") is None
    assert _scan.split(b"\xa9b\nc\nd", 5, b"x\xc3") == ["x\xe9b", "c"]
    with monkeypatch.context() as m:
        m.setattr(_fast, "_scan", None)
        assert compiled == [_split(*case) for case in cases]
    assert sum(line.isascii() for lines in compiled for line in lines) > 500
    assert sum(not line.isascii() for lines in compiled for line in lines) > 1000


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

NAMES = ["a", "b.c", "ünï.cødé", "ƒ.g", "x\xa0y", "x\x85y", "n\x00m", "a->b", "<-", "ß", "f(a=1)"]


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
    i, clock, _last, count = _scan.Scanner(light, rows).run(lines, 0, clock, 0, 0)
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
        "t[01]:    ->f(a=1)",  # argument values: the general reader knows their grammar
        "t[01]:    ->f(a=1, b=2)",
        "t[01]:    <-x 1.00ms => 3",
        "t[01]:    <-x 1.00ms =>3",
        "t[01]:    <-x 1.00ms !E('no')",
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


JSONL_TAGS = [*TAGS, "t[]", "t[01]a[]", "t[01]x"]
JSONL_NAMES = ["a", "b.c", "ünï.cødé", "ƒ.g", "a\\u0041", 'q\\"q', "f(a=1)", "x\\ty", ""]
NUMBERS = ["0", "7", "007", "9223372036854775807", "9223372036854775808", "99999999999999999999"]
TAILS = [" ", "\t", "\xa0", "\u2028", ',"lost":true', ',"args":{}', "x", " }", "\x00"]


def _jsonl_edge_trace(seed: int) -> str:
    """jsonl lines as the runtime writes them, one in five with one field on an edge."""
    rng = random.Random(seed)
    out: list[str] = []
    stacks: dict[str, list[str]] = {}
    now = 10**18
    fields = ["tag", "ts", "thread", "task", "pid", "name", "ev", "depth", "running", "dur"]
    fields += ["line", "exc", "suspended", "tail", "space"]
    for _ in range(4000):
        odd = rng.choice(fields) if rng.random() < 0.2 else None

        def pick(field: str, usual: str, choices: list[str]) -> str:
            return rng.choice(choices) if odd == field else usual  # noqa: B023

        tag = pick("tag", rng.choice(TAGS), JSONL_TAGS)
        stack = stacks.setdefault(tag, [])
        now += rng.choice([1, 999, 5000])
        ts, pid = pick("ts", str(now), NUMBERS), pick("pid", "7", NUMBERS)
        thread = pick("thread", "w", ["other", "é", "a\\u0041"])
        task = pick("task", "null", ["3", "03", '"x"'])
        head = (
            f'{{"v":1,"ts":{ts},"pid":{pid},"tid":8,"thread":"{thread}","task":{task},"tag":"{tag}"'
        )
        if not stack or rng.random() < 0.5:
            name = pick("name", rng.choice(NAMES[:4]), JSONL_NAMES)
            ev = pick("ev", "enter", ["resume", "bogus", "exit"])
            depth = pick("depth", str(len(stack) + 1), ["0", str(len(stack) + 2), str(len(stack))])
            running = pick("running", "", ['"running":true,', '"running":false,'])
            dur = pick("dur", "", [',"dur":5,"exc":null,"suspended":null'])
            line = pick("line", "3", NUMBERS)
            stack.append(name)
            line = (
                f'{head},"depth":{depth},"ev":"{ev}",{running}"name":"{name}","file":"f.py",'
                f'"line":{line}{dur}}}'
            )
        else:
            depth = str(len(stack))
            name = stack.pop()
            ev = pick("ev", rng.choice(["exit", "suspend"]), ["enter", "bogus"])
            dur = pick("dur", "999", ["5", str(now + 1), "0", *NUMBERS])
            exc = pick("exc", "null", ['"E"', '"ünï.Error"', '"a\\"b"', "1", '"ƒ"'])
            susp = pick("suspended", "null", ['"yield"', '"await"', '"other"', "true"])
            line = (
                f'{head},"depth":{depth},"ev":"{ev}","name":"{name}","file":"f.py","line":3,'
                f'"dur":{dur},"exc":{exc},"suspended":{susp}}}'
            )
        line += pick("tail", "", TAILS)
        if odd == "space":
            at = rng.choice([m for m in range(len(line)) if line[m] in ":,"])
            line = line[: at + 1] + " " + line[at + 1 :]
        out.append(line)
        if rng.random() < 0.02:
            out.append(rng.choice(['{"v":1,"ev":"thread","tag":"t[09]","name":"n"}', "", "#"]))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_jsonl_edges(seed: int, tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "edges.jsonl"
    path.write_text(_jsonl_edge_trace(seed), encoding="utf-8")
    _both(path, monkeypatch)


def test_frames_are_made_and_closed_as_the_stream_does() -> None:
    """The frames loop: each frame as Stream.enter makes it, closed as Stream.exit
    closes it, handed to opened and closed in order; a jsonl tag the general reader
    has not seen is handed back, and so is a frame with a slot taken away."""
    events: list[tuple[str, Frame]] = []
    stacks: dict[str, list[Frame]] = {}
    scanner = _scan.Scanner(
        stacks,
        frame=Frame,
        opened=lambda f: events.append(("opened", f)),
        closed=lambda f: events.append(("closed", f)),
    )
    lines = ["t[01]:    ->a", "t[01]:        ->b resume", "t[01]:        <-b 2.00µs !E"]
    lines += ["t[01]:    <-a 1.00µs", "t[01]:    ->a"]
    assert scanner.run(lines, 0, 7, 0, 0) == (5, 2007, 2007, 3)
    a, b = events[0][1], events[1][1]
    assert [(kind, f.name) for kind, f in events] == [
        ("opened", "a"), ("opened", "b"), ("closed", "b"), ("closed", "a"), ("opened", "a")
    ]  # fmt: skip
    assert (b.tag, b.depth, b.start_ns, b.resumed, b.parent, b.file, b.line) == (
        "t[01]",
        2,
        7,
        True,
        a,
        "",
        0,
    )
    assert (b.end_ns, b.duration_ns, b.exception, b.suspended) == (2007, 2000, "E", None)
    assert (a.end_ns, a.duration_ns, a.child_ns, a.inner_end) == (2007, 1000, 2000, 2007)
    assert stacks["t[01]"] == [events[4][1]] and events[4][1].data is None

    del stacks["t[01]"][0].child_ns
    assert scanner.run(["t[01]:    <-a 1.00µs"], 0, 0, 0, 0)[0] == 0

    head = '{"v":1,"ts":9,"pid":7,"tid":8,"thread":"w","task":null,"tag":"t[02]","depth":1,'
    enter = head + '"ev":"enter","name":"a","file":"f.py","line":3}'
    exit_ = head + '"ev":"exit","name":"a","file":"f.py","line":3,"dur":2,"exc":null,'
    exit_ += '"suspended":"yield"}'
    known: dict[str, str] = {}
    events.clear()
    jsonl = _scan.Scanner(
        stacks, frame=Frame, opened=events.append, closed=events.append, jsonl=True, known=known
    )
    assert jsonl.run([enter, exit_], 0, 0, 0, 0) == (0, 0, 0, 0)
    known["t[02]"] = "w"
    assert jsonl.run([enter, exit_], 0, 0, 0, 0) == (2, 0, 9, 1)
    assert events[0] is events[1]
    assert (events[0].file, events[0].line, events[0].suspended) == ("f.py", 3, "yield")


def _counting(taken: list[int]) -> Any:
    made = _scan.Scanner

    def counting(*args: Any, **kwargs: Any) -> Any:
        run = made(*args, **kwargs).run

        def counted(lines: list[str], i: int, *state: int) -> Any:
            result = run(lines, i, *state)
            taken[0] += result[0] - i
            return result

        return type("Counting", (), {"run": staticmethod(counted)})()

    return counting


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("consumer", ["summary", "chrome", "speedscope", "zipkin"])
def test_most_lines_are_read_in_c(fmt: str, consumer: str, tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_text(program(4, fmt, 0, 20_000), encoding="utf-8")
    taken = [0]
    with counting_feed() as fed, pytest.MonkeyPatch.context() as m:
        m.setattr(_scan, "Scanner", _counting(taken))
        if consumer == "summary":
            _scan_blocks(_file_blocks(open(path, "rb")), Summary())  # noqa: SIM115
        else:
            export_file(path, consumer, io.StringIO())
    assert fed[0] < 20_000 // 4
    assert taken[0] > 20_000 * 0.8
