"""The comment lines (text) and events (jsonl) that name processes, threads and
tasks: read without a problem, and their names kept by tag."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from functrace.reading import read_trace, scan_lines
from functrace.reading._stream import Frame
from tests.helpers import run_python

PROGRAM = textwrap.dedent(
    """
    import asyncio, threading, functrace

    @functrace.trace
    def leaf(i):
        return i

    @functrace.trace
    async def fetch(i):
        await asyncio.sleep(0)
        return leaf(i)

    async def main():
        a = asyncio.create_task(fetch(1), name="fetch-a")
        b = asyncio.create_task(fetch(2), name='say "b"\\nnow')
        return await asyncio.gather(a, b)

    t = threading.Thread(target=leaf, args=(1,), name="worker-1")
    t.start(); t.join()
    asyncio.run(main())
    """
)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_naming_lines_are_read_and_kept(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"trace.{fmt}"
    proc = run_python(["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_FORMAT": fmt})
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert sum('"process"' in line or line.startswith("# process ") for line in lines) == 1
    trace = read_trace(out)
    assert trace.problems == [] and trace.skipped_lines == 0
    assert len(list(trace.walk())) == 1 + 2 * 3  # leaf; per task: 2 runs of fetch, leaf
    assert trace.names == {
        "t[01]": "worker-1",
        "t[02]": "MainThread",
        "t[02]a[01]": "fetch-a",
        "t[02]a[02]": 'say "b"\nnow',
    }

    class Consumer:
        def opened(self, frame: Frame) -> None:
            pass

        def closed(self, frame: Frame) -> None:
            pass

    scan = scan_lines(lines, Consumer())
    assert scan.problems == [] and scan.skipped_lines == 0
    assert scan.names == trace.names and scan.calls == 7


def test_a_name_that_looks_like_a_trace_line_is_no_event() -> None:
    from functrace.reading import read_trace_lines

    lines = [
        '# process 7 = "python x.py" (parent 1)',
        '# t[01] = thread "t[01]:    ->evil.call" (native id 7)',
        "t[01]:    ->m.f",
        "t[01]:    <-m.f 1.00µs",
    ]
    trace = read_trace_lines(lines)
    assert [c.name for c in trace.walk()] == ["m.f"]
    assert trace.problems == [] and trace.skipped_lines == 0
    assert trace.names == {"t[01]": "t[01]:    ->evil.call"}
