"""Eight threads tracing at once write every line, whole and balanced (the
free-threaded build's per-thread line buffers; the same check with the GIL)."""

from __future__ import annotations

import os
import re
import sys
import textwrap
from pathlib import Path

from tests.helpers import events, named_lines, run_python

# The pure-Python path on a free-threaded build (FUNCTRACE_SPEEDUPS=0 there) is
# some twenty times slower: a tenth of the rounds.
_PURE_NO_GIL = (
    os.environ.get("FUNCTRACE_SPEEDUPS") == "0"
    and not getattr(sys, "_is_gil_enabled", lambda: True)()
)
ROUNDS = 20 if _PURE_NO_GIL else 200

PROGRAM = textwrap.dedent(
    """
    import sys, threading
    import functrace

    @functrace.trace
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def work():
        for _ in range(ROUNDS):
            fib(12)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(getattr(sys, "_is_gil_enabled", lambda: True)())
    """
)

_LINE = re.compile(
    r"^(?P<tag>t\[\d+\]):(?P<indent>(?:    )*)(?P<arrow>->|<-)__main__\.fib"
    r"(?: [0-9.]+(?:ns|µs|ms|s))?$"
)


def test_eight_threads_write_every_line_whole_and_balanced(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = PROGRAM.replace("ROUNDS", str(ROUNDS))
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("True", "False")
    all_lines = out.read_text(encoding="utf-8").splitlines()
    assert len(named_lines(all_lines)) == 8  # the process, then each thread, named once
    lines = events(all_lines)
    assert len(lines) == 8 * ROUNDS * 930  # fib(12) makes 465 calls: 1,488,000 lines
    depth: dict[str, int] = {}
    enters: dict[str, int] = {}
    for line in lines:
        m = _LINE.match(line)
        assert m, f"malformed line {line!r}"
        tag, level = m["tag"], len(m["indent"]) // 4
        if m["arrow"] == "->":
            assert level == depth.get(tag, 0) + 1, line
            depth[tag] = level
            enters[tag] = enters.get(tag, 0) + 1
        else:
            assert level == depth.get(tag, 0), line
            depth[tag] = level - 1
    assert len(enters) == 8
    assert set(enters.values()) == {ROUNDS * 465}
    assert set(depth.values()) == {0}
