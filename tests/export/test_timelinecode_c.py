"""The compiled timeline writers (``functrace.export._timelinecode``, optional: chrome
and speedscope) write what the Python ones write, byte for byte, text and jsonl: on
generated traces (threads, tasks, pid tags, generators, coroutines, exceptions, noise),
on a real program's trace (flows from who started what, argument and return values), on
traces in memory, and on what they hand back to Python (names and exceptions past
Latin-1 or with escapes, times past a long long)."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from functrace.export import chrome, export, export_file, speedscope
from functrace.reading import read_trace, read_trace_text
from tests.export.test_spancode_c import EDGES, EDGES_JSONL, real_path  # noqa: F401
from tests.helpers import T, same_without
from tests.reading.test_fast_paths import program

_timelinecode = pytest.importorskip("functrace.export._timelinecode")


def _export(path: Path, fmt: str = "chrome") -> str:
    out = io.StringIO()
    export_file(path, fmt, out)
    json.loads(out.getvalue())
    return out.getvalue()


def _both(monkeypatch: pytest.MonkeyPatch, make: Callable[[], T]) -> T:
    """``make()`` with the compiled writers and without them: the same."""
    return same_without(monkeypatch, make, (chrome, "_timelinecode"), (speedscope, "_timelinecode"))


def test_generated_traces(generated_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _both(monkeypatch, lambda: _export(generated_path))
    assert text.count('"ph":"X"') > 1000
    assert '"exception":' in text and '"suspended":"yield"' in text and '"resumed":true' in text
    assert (
        _both(monkeypatch, lambda: _export(generated_path, "speedscope")).count('"type":"C"') > 1000
    )


def test_a_real_program(real_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    text = _both(monkeypatch, lambda: _export(real_path))
    assert '"ph":"s"' in text and '"ph":"f"' in text and "functrace.args.i" in text
    assert _both(monkeypatch, lambda: export(read_trace(real_path), "chrome"))
    assert _both(monkeypatch, lambda: _export(real_path, "speedscope"))
    assert _both(monkeypatch, lambda: export(read_trace(real_path), "speedscope"))


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_what_goes_back_to_python(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names and exceptions past Latin-1 or with escapes, times at 2**63-1."""
    path = tmp_path / f"edges.{fmt}"
    path.write_text(EDGES if fmt == "text" else EDGES_JSONL, encoding="utf-8")
    text = _both(monkeypatch, lambda: _export(path))
    assert "app.late" in _both(monkeypatch, lambda: _export(path, "speedscope")) or fmt == "text"
    if fmt == "text":
        assert "名前" in text and '"exception":"ünï.Error"' in text
    else:
        assert '"exception":"x\\"y\\\\z"' in text and "app.late" in text


@pytest.mark.parametrize("end", [1_700_000_000_000_000_000, 2**63 - 1000, 2**63 + 2**62])
def test_traces_in_memory(end: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trace in memory, also placed so near 2**63 that its times are past a long long."""
    trace = read_trace_text(EDGES, end_epoch_ns=end)
    assert json.loads(_both(monkeypatch, lambda: export(trace, "chrome")))
    assert json.loads(_both(monkeypatch, lambda: export(trace, "speedscope")))


def test_the_compiled_writer_takes_the_common_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's opened and closed see a frame of a new thread or task and the frames
    cut off at the end; the rest (generators, coroutines, exceptions) are the compiled
    writer's."""
    path = tmp_path / "trace.log"
    path.write_text(program(1, "text", 0, 3000), encoding="utf-8")
    seen: Counter[str] = Counter()
    for method in ("opened", "closed"):
        python = getattr(chrome.ChromeWriter, method)

        def counted(self: Any, *args: Any, method: str = method, python: Any = python) -> Any:
            seen[method] += 1
            return python(self, *args)

        monkeypatch.setattr(chrome.ChromeWriter, method, counted)
    text = _export(path)
    assert text.count('"ph":"X"') > 1000 and '"suspended":"await"' in text
    assert seen["opened"] <= 2 * 6 and seen["closed"] <= 2 * 6 * 8
    seen.clear()
    for method in ("opened", "closed"):
        python = getattr(speedscope.SpeedscopeWriter, method)

        def counted2(self: Any, *args: Any, method: str = method, python: Any = python) -> Any:
            seen[method] += 1
            return python(self, *args)

        monkeypatch.setattr(speedscope.SpeedscopeWriter, method, counted2)
    assert _export(path, "speedscope").count('"type":"C"') > 1000
    assert seen["opened"] <= 2 * 6 and seen["closed"] <= 2 * 6 * 8
