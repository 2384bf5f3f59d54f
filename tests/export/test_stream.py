"""Exports written while the trace is read: the output file checked first, spooled
formats that spill to disk, text and jsonl alike."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from functrace.cli.export import command as export_command
from functrace.export import _spool, export_file
from functrace.export._spool import Spool
from tests.export.test_export import TEXT, check_nested, check_otlp, check_zipkin

FORMATS = ["chrome", "speedscope", "otlp-json", "zipkin"]


def test_spool_keeps_order_per_key_across_spills() -> None:
    spool = Spool(limit=10)
    expected: dict[str, str] = {"a": "", "b": ""}
    for i in range(200):
        key = "ab"[i % 3 == 0]
        piece = f"{i}µ€𝄞,"  # characters of 2, 3 and 4 bytes across the reads
        spool.add(key, piece)
        expected[key] += piece
    assert spool.file is not None  # it spilled
    old = _spool._READ
    _spool._READ = 7  # reads that split characters
    try:
        assert {k: "".join(spool.read(k)) for k in spool.parts} == expected
    finally:
        _spool._READ = old
        spool.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_spilled_and_in_memory_exports_agree(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "trace.log"
    source.write_text(TEXT * 20, encoding="utf-8")
    options: dict[str, Any] = {"seed": 5} if fmt in ("otlp-json", "zipkin") else {}
    whole = io.StringIO()
    export_file(source, fmt, whole, **options)
    monkeypatch.setattr(Spool.__init__, "__defaults__", (64,))  # spill every few events
    spilled = io.StringIO()
    export_file(source, fmt, spilled, **options)
    assert spilled.getvalue() == whole.getvalue()
    data = json.loads(whole.getvalue())
    if fmt == "chrome":
        check_nested(data["traceEvents"])
    elif fmt == "otlp-json":
        check_otlp(data)
    elif fmt == "zipkin":
        check_zipkin(data)


def test_text_trace_times_end_at_the_files_mtime(tmp_path: Path) -> None:
    import os

    source = tmp_path / "trace.log"
    source.write_text(TEXT, encoding="utf-8")
    os.utime(source, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    out = io.StringIO()
    export_file(source, "otlp-json", out)
    spans = [
        s
        for rs in json.loads(out.getvalue())["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    ]
    assert max(int(s["endTimeUnixNano"]) for s in spans) == 1_700_000_000_000_000_000


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_checked_before_any_work(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "trace.log"
    source.write_text(TEXT, encoding="utf-8")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the trace was read before the output was checked")

    monkeypatch.setattr("functrace.export.export_file", never)
    missing = tmp_path / "nowhere" / "x.json"
    result = CliRunner().invoke(export_command, [str(source), "-f", fmt, "-o", str(missing)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"functrace export: cannot write {missing}: no such directory {missing.parent}\n"
    )
    result = CliRunner().invoke(export_command, [str(source), "-f", fmt, "-o", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_a_failed_export_leaves_the_old_file_alone(tmp_path: Path) -> None:
    source = tmp_path / "empty.log"
    source.write_text("no trace here\n", encoding="utf-8")
    out = tmp_path / "out.json"
    out.write_text("old", encoding="utf-8")
    result = CliRunner().invoke(export_command, [str(source), "-f", "chrome", "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr == f"functrace export: no trace lines in {source}\n"
    assert out.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.log", "out.json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_from_stdin_to_stdout(fmt: str) -> None:
    result = CliRunner().invoke(export_command, ["-", "-f", fmt], input=TEXT)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)


def test_export_to_a_fifo_writes_through_it(tmp_path: Path) -> None:
    """-o /dev/null or a FIFO is written to as it is: never replaced by a file (a
    rename over /dev/null, as root, made it a regular file)."""
    import os
    import stat
    import threading

    source = tmp_path / "trace.log"
    source.write_text(TEXT, encoding="utf-8")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = CliRunner().invoke(export_command, [str(source), "-f", "chrome", "-o", str(fifo)])
    reader.join(10)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    check_nested(json.loads(received[0])["traceEvents"])
    assert {p.name for p in tmp_path.iterdir()} == {"trace.log", "out.fifo"}  # no temporary
