"""Lines reach the output in few, large writes, on the compiled path as on the pure one.

Each program runs as a subprocess writing to a file, with ``os.write`` counted on
the trace file's descriptor. A generator's resume and suspend lines may come from
different implementations (3.12+: the compiled callback writes the resume, the
Python engine the suspend; 3.10/3.11: the Python engine both), and the lines of
both must share the same batched writes as plain calls' lines do.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.helpers import run_python

_COUNTER = """
    import json, os, sys
    from functrace._runtime import engine, output
    from functrace import trace
    import functrace

    writes = [0]
    most_held = [0, 0]  # buffer items, bytes allocated to them, seen at a flush
    _write, _flush = os.write, output.flush

    def counting_write(fd, data):
        if fd == output._fd:
            writes[0] += 1
        return _write(fd, data)

    def measuring_flush():
        held = sum(item.__sizeof__() for item in output.buffer)
        most_held[0] = max(most_held[0], len(output.buffer))
        most_held[1] = max(most_held[1], held)
        _flush()

    os.write = counting_write
    output.flush = measuring_flush
"""

_REPORT = """
    functrace.flush()
    with open(os.environ["FUNCTRACE_OUTPUT"], "rb") as f:
        data = f.read()
    names = sum(1 for line in data.splitlines() if line.startswith(b"# "))
    print(json.dumps({"writes": writes[0], "lines": data.count(b"\\n") - names, "names": names,
                      "items": most_held[0], "held": most_held[1],
                      "native": engine.native_module() is not None}))
"""

N = 100_000

WORKLOADS = {
    # A traced generator consumed by a traced function: 2 lines per resume.
    "generator": f"""
        @trace
        def numbers(n):
            for i in range(n):
                yield i
        @trace
        def consume():
            total = 0
            for x in numbers({N}):
                total += x
            return total
        consume()
    """,
    # The same, with a traced call inside each run of the generator.
    "generator_calls": f"""
        @trace
        def leaf(i):
            return i
        @trace
        def numbers(n):
            for i in range(n):
                yield leaf(i)
        @trace
        def consume():
            return sum(numbers({N // 2}))
        consume()
    """,
    # Plain nested calls: the reference.
    "calls": f"""
        @trace
        def leaf(i):
            return i
        @trace
        def loop():
            for i in range({N}):
                leaf(i)
        loop()
    """,
}

EXPECTED_LINES = {"generator": 2 * N + 4, "generator_calls": 4 * (N // 2) + 4, "calls": 2 * N + 2}


def _run(tmp_path: Path, body: str, speedups: str) -> dict[str, int]:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(_COUNTER) + textwrap.dedent(body) + textwrap.dedent(_REPORT))
    out = tmp_path / "trace.log"
    proc = run_python(
        [str(script)], env={"FUNCTRACE_SPEEDUPS": speedups, "FUNCTRACE_OUTPUT": str(out)}
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, int] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
@pytest.mark.parametrize("speedups", ["1", "0"])
def test_lines_are_written_in_batches(tmp_path: Path, workload: str, speedups: str) -> None:
    got = _run(tmp_path, WORKLOADS[workload], speedups)
    assert got["lines"] == EXPECTED_LINES[workload]
    assert got["names"] == 2  # the process, and its one thread
    # The pure path writes once per 1,000 queued lines, the compiled one once
    # per 64 KiB chunk (about 2,000 lines here), or every 50 ms, whichever first.
    assert got["writes"] * 500 < got["lines"], got


# The compiled module stays loaded while the Python fast path runs (the benchmark
# switches at run time): the Python path's str lines and the compiled put's lines
# (a generator's suspensions, through the Python engine) alternate in the buffer.
_SWITCHED_OFF = textwrap.dedent(WORKLOADS["generator_calls"]).replace(
    "\nconsume()", "\nengine._use_speedups(False)\nassert engine.native_module() is None\nconsume()"
)


def test_alternating_str_and_chunk_lines_stay_small(tmp_path: Path) -> None:
    got = _run(tmp_path, _SWITCHED_OFF, "1")
    assert got["lines"] == EXPECTED_LINES["generator_calls"]
    assert got["names"] == 2  # the process, and its one thread
    assert got["writes"] * 500 < got["lines"], got
    # About 1,000 queued items at most; each line's chunk must not cost 64 KiB
    # (that held some 32 MB between two flushes).
    assert got["held"] < 2_000_000, got
