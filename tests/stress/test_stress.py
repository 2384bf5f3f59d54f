"""The runtime under stress: 16 threads, generators resumed in other threads,
tracing switched off and on mid-run, a tiny switch interval; then output
switches while threads trace. Nothing lost, torn or unbalanced."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from functrace._runtime.lines import INDENT, LINE_RE, LOST
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


# Everything at once (issue 9): the generators handed between 16 threads and the
# on/off switcher above, while the main thread moves the output to a new file every
# few milliseconds. Every file is checked on its own and against the next one.
ALL_AT_ONCE = STRESS.replace(
    "for t in producers:\n    t.join()",
    "n = 0\n"
    "while any(t.is_alive() for t in producers):\n"
    "    n += 1\n"
    "    functrace.configure(output=os.path.join(BASE, f'trace{n:05d}.log'))\n"
    "    time.sleep(0.004)\n"
    "for t in producers:\n    t.join()",
)


def _events(lines: list[str], format: str) -> list[tuple[str, str, int, str, bool]]:
    """(tag, "->" or "<-", depth, name, running) per event line, in order."""
    found = []
    for line in lines:
        if format == "jsonl":
            event = json.loads(line)
            kind = event["ev"]
            if kind in ("enter", "resume", "exit", "suspend"):
                arrow = "->" if kind in ("enter", "resume") else "<-"
                running = bool(event.get("running"))
                found.append((event["tag"], arrow, event["depth"], event["name"], running))
                assert not event.get("lost"), line
        elif not line.startswith("# "):
            m = LINE_RE.match(line)
            assert m, line
            words = (m["details"] or "").split()
            assert LOST not in words, line
            depth = len(m["indent"]) // len(INDENT)
            running = m["arrow"] == "->" and words == ["running"]
            found.append((m["tag"], m["arrow"], depth, m["name"], running))
    return found


def check_outputs(files: list[Path], format: str) -> int:
    """Each file whole and balanced on its own, and nothing lost between two: the
    calls a file leaves open are exactly those the next one starts with as
    ``running``; the last leaves none open. The number of lines."""
    total = 0
    open_before: dict[str, list[str]] = {}  # per tag, the calls still running
    for path in files:
        lines = path.read_text().splitlines()
        total += len(lines)
        # Whole lines, every tag named before its first line, every depth true.
        (balanced_jsonl if format == "jsonl" else balanced)(lines)
        stacks: dict[str, list[str]] = {}
        began: dict[str, list[str]] = {}
        preamble = True
        for tag, arrow, depth, name, running in _events(lines, format):
            stack = stacks.setdefault(tag, [])
            if running:  # a call in progress when this output began: first, only
                assert preamble, (path.name, tag, name)
                began.setdefault(tag, []).append(name)
            else:
                preamble = False
            if arrow == "->":
                assert depth == len(stack) + 1, (path.name, tag, name)
                stack.append(name)
            else:
                assert stack and stack[-1] == name and depth == len(stack), (path.name, tag, name)
                stack.pop()
        assert began == open_before, path.name
        open_before = {tag: names for tag, names in stacks.items() if names}
    assert open_before == {}  # the last file: every call ended
    return total


@pytest.mark.parametrize(
    ("speedups", "format"), [("1", "text"), ("0", "text"), ("1", "jsonl"), ("0", "jsonl")]
)
def test_every_ingredient_at_once_leaves_no_lost_torn_or_unbalanced_line(
    tmp_path: Path, speedups: str, format: str
) -> None:
    program = ALL_AT_ONCE.replace("ROUNDS", "4000").replace("BASE", repr(str(tmp_path)))
    proc = run_python(
        ["-c", program],
        env={
            "FUNCTRACE_OUTPUT": str(tmp_path / "trace00000.log"),
            "FUNCTRACE_SPEEDUPS": speedups,
            "FUNCTRACE_FORMAT": format,
        },
        timeout=600,
    )
    assert proc.stdout == "done\n", proc.stderr
    assert "functrace" not in proc.stderr, proc.stderr  # no notice, no internal error
    files = sorted(tmp_path.glob("trace*.log"))
    assert len(files) > 10  # the output did move while the threads ran
    assert check_outputs(files, format) > 10_000
