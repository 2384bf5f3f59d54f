"""The runtime under stress: 16 threads, generators resumed in other threads,
tracing switched off and on mid-run, a tiny switch interval; then output
switches while threads trace. Nothing lost, torn or unbalanced."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import balanced_jsonl, run_python
from tests.runtime.test_host_safety import HEADER, balanced, switch_outputs

pytestmark = pytest.mark.slow

STRESS = HEADER + textwrap.dedent(
    """
    import queue
    sys.setswitchinterval(1e-6)

    @functrace.trace
    def gen(n):
        for i in range(n):
            yield leaf(i)

    handoff = queue.Queue()
    stop = False

    def producer():
        for i in range(ROUNDS):
            g = gen(3)
            next(g)  # started here, finished in a consumer thread
            handoff.put(g)
            root(i)

    def consumer():
        while True:
            g = handoff.get()
            if g is None:
                return
            for _ in g:
                root()

    def switcher():
        while not stop:
            functrace.disable()
            time.sleep(0.001)
            functrace.enable()
            time.sleep(0.003)

    producers = [threading.Thread(target=producer) for _ in range(8)]
    consumers = [threading.Thread(target=consumer) for _ in range(8)]
    flip = threading.Thread(target=switcher)
    for t in producers + consumers + [flip]:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        handoff.put(None)
    for t in consumers:
        t.join()
    stop = True
    flip.join()
    functrace.enable()
    print("done")
    """
)


@pytest.mark.parametrize(
    ("speedups", "format"), [("1", "text"), ("0", "text"), ("1", "jsonl"), ("0", "jsonl")]
)
def test_sixteen_threads_generators_across_threads_and_switching(
    tmp_path: Path, speedups: str, format: str
) -> None:
    out = tmp_path / "trace.log"
    proc = run_python(
        # Enough rounds to span many on/off cycles of the switcher (4 ms each): with
        # a fast path, 400 rounds could fall mostly in its first 1 ms off.
        ["-c", STRESS.replace("ROUNDS", "3000")],
        env={
            "FUNCTRACE_OUTPUT": str(out),
            "FUNCTRACE_SPEEDUPS": speedups,
            "FUNCTRACE_FORMAT": format,
        },
        timeout=600,
    )
    assert proc.stdout == "done\n", proc.stderr
    lines = out.read_text().splitlines()
    assert len(lines) > 10_000
    assert (balanced_jsonl if format == "jsonl" else balanced)(lines) == {}


@pytest.mark.parametrize("format", ["text", "jsonl"])
def test_output_switches_under_sixteen_threads(tmp_path: Path, format: str) -> None:
    switch_outputs(tmp_path, threads=16, switches=300, files=3, format=format)
