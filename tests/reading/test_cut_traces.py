"""A trace that ends early reads to its last complete event (issue 11): cut by
``FUNCTRACE_MAX_LINES``, or torn mid-line as a process killed while writing leaves it.
``show`` and ``export`` exit 0 with what they could read, the unfinished calls marked,
and say so on stderr: the torn line once (where, why) and the calls that never finished
once, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import run_python

PROGRAM = """
import functrace

@functrace.trace
def leaf(i):
    return i * 2

@functrace.trace
def work(n):
    return sum(leaf(i) for i in range(n))

@functrace.trace
def main():
    for _ in range(200):
        work(5)

main()
"""


def _trace(tmp_path: Path, fmt: str, **env: str) -> Path:
    out = tmp_path / f"trace.{fmt}"
    proc = run_python(
        ["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": fmt, **env}
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _read(path: Path) -> tuple[str, list[str], dict[str, list[str]]]:
    """``show --summary``'s table; ``show``'s stderr; each export's stderr (to stdout)."""
    show = run_python(["-m", "functrace", "show", "--summary", str(path)])
    assert show.returncode == 0, show.stderr
    exports = {}
    for fmt in ("chrome", "speedscope", "otlp-json", "zipkin"):
        done = run_python(["-m", "functrace", "export", "-f", fmt, "-o", "-", str(path)])
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout)
        exports[fmt] = done.stderr.splitlines()
    return show.stdout, show.stderr.splitlines(), exports


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_a_trace_cut_by_max_lines(fmt: str, tmp_path: Path) -> None:
    path = _trace(tmp_path, fmt, FUNCTRACE_MAX_LINES="101")
    assert path.read_text(encoding="utf-8").endswith("(FUNCTRACE_MAX_LINES)\n")
    table, show, exports = _read(path)
    # 101 lines: main, then 8 whole work calls (1 + 5 leaves: 12 lines each), a 9th
    # work and 4 leaves (one of them open).
    assert re.search(r"work +9 \(1 unfinished\)", table) and re.search(r"leaf +41 \(1", table)
    unfinished = "3 call(s) never finished: the trace was cut off"
    assert show == [f"functrace show: {unfinished}"]
    for lines in exports.values():
        assert lines == [f"functrace export: {unfinished}"]


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_a_trace_torn_mid_line(fmt: str, tmp_path: Path) -> None:
    """Bytes cut in the middle of a line, as a kill during a write leaves them."""
    whole = _trace(tmp_path, fmt).read_bytes()
    lines = whole.splitlines(keepends=True)
    path = tmp_path / f"torn.{fmt}"
    path.write_bytes(b"".join(lines[:60]) + lines[60][: len(lines[60]) // 2])
    table, show, exports = _read(path)
    assert re.search(r"work +[0-9]+ \(1 unfinished\)", table)
    torn = rf"{re.escape(str(path))}:61: .*"
    for cmd, said in [("show", show), *(("export", lines) for lines in exports.values())]:
        assert len(said) == 3, said
        assert re.fullmatch(rf"functrace {cmd}: {torn}", said[0])
        assert said[1] == f"functrace {cmd}: {path}: 1 line skipped"
        assert re.fullmatch(rf"functrace {cmd}: [0-9]+ call\(s\) never finished: .*", said[2])
