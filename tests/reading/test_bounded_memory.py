"""Every reader streams (issue 11): the summary, the tree, ``--focus``, a filter, every
export and ``diff`` keep memory bounded by the deepest stack and the distinct functions,
not by the trace's length. Each runs on a trace and on one four times as long (the same
functions, tags and depths), output discarded, its peak allocation measured by
tracemalloc (the compiled scanner and writers allocate through Python's allocators
too): the longer trace needs no more."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from functrace.export import export_file
from functrace.export._spool import Spool
from functrace.reading import Scan, scan_trace
from functrace.render import Focus, Selection, Summary, TreePrinter, tree
from functrace.render.diff import compare

from .test_fast_paths import program


class _Discard:
    def write(self, text: str) -> int:
        return len(text)


def _summary(path: Path) -> None:
    state = Scan()
    summary = Summary(Selection(), state.thread_names)
    scan_trace(path, summary, scan=state)
    summary.rows()


def _filtered_summary(path: Path) -> None:
    state = Scan()
    selection = Selection(tags=("1",), min_duration_ns=1000, max_depth=3)
    scan_trace(path, Summary(selection, state.thread_names), scan=state)


def _tree(path: Path) -> None:
    state = Scan()
    printer = TreePrinter(lambda tag, depth, line: None, thread_names=state.thread_names)
    scan_trace(path, printer, scan=state)
    printer.finish()


def _focus(path: Path) -> None:
    state = Scan()
    # Its two nearest callers: the chains a random trace makes are then bounded too.
    scan_trace(path, Focus("app.b.c", Selection(max_depth=2), state.thread_names), scan=state)


def _export(fmt: str) -> Callable[[Path], None]:
    return lambda path: export_file(path, fmt, _Discard())  # type: ignore[arg-type]


def _diff(path: Path) -> None:
    compare(path, path)


VIEWS: dict[str, Callable[[Path], None]] = {
    "summary": _summary,
    "summary, filtered": _filtered_summary,
    "tree": _tree,
    "focus": _focus,
    **{fmt: _export(fmt) for fmt in ("chrome", "speedscope", "otlp-json", "zipkin")},
    "diff": _diff,
}


def _peak(view: Callable[[Path], None], path: Path) -> int:
    tracemalloc.start()
    try:
        view(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("view", VIEWS)
def test_memory_does_not_grow_with_the_trace(
    fmt: str, view: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spooled text (speedscope's profiles, a text trace's spans) goes to its file past
    # 256 KB, as it does past 8 MB by default.
    monkeypatch.setattr(Spool.__init__, "__defaults__", (256 << 10,))
    # The tree's remembered duration texts: full after 2000 (as after 100k by default).
    monkeypatch.setattr(tree, "_DURATIONS_MAX", 2000)
    short, long = tmp_path / f"short.{fmt}", tmp_path / f"long.{fmt}"
    short.write_text(program(1, fmt, 0, 10_000), encoding="utf-8")
    long.write_text(program(1, fmt, 0, 40_000), encoding="utf-8")
    _peak(VIEWS[view], short)  # caches filled (names, parts): the same for both
    small, large = _peak(VIEWS[view], short), _peak(VIEWS[view], long)
    print(f"{view} {fmt}: {small / 1e6:.2f} MB -> {large / 1e6:.2f} MB")
    assert large <= small * 1.15 + (128 << 10), (small, large)
