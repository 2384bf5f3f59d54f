"""Traces with arguments and return values (FUNCTRACE_ARGS) read back: the general
reader, the streaming tree, the summary's fast loops and the compiled scanner."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_python
from tests.runtime.test_values import _run


def test_traces_with_values_read_back_on_every_path(tmp_path: Path) -> None:
    from functrace.reading import read_trace

    for fmt in ("text", "jsonl"):
        out = tmp_path / f"trace.{fmt}"
        _run(tmp_path, FUNCTRACE_ARGS="1", FUNCTRACE_FORMAT=fmt, FUNCTRACE_OUTPUT=str(out))
        trace = read_trace(out)
        assert not trace.problems
        first, failed = trace.roots[0], trace.roots[1]
        assert first.args is not None and first.args["limit"] == "3"
        assert first.args["options"] == "{'api_token': ***, 'mode': 'r'}"
        assert first.returned == "[0, 1, 2]"
        assert failed.exception == "KeyError" and failed.returned == "'users'"
        show = run_python(["-m", "functrace", "show", str(out)])
        assert show.returncode == 0, show.stderr
        assert "__main__.query(self=<__main__.Handler>, sql='SELECT" in show.stdout
        assert "!KeyError => 'users'" in show.stdout
        summary = run_python(["-m", "functrace", "show", "--summary", str(out)])
        assert summary.returncode == 0, summary.stderr
        rows = {line.split()[0]: line.split()[1] for line in summary.stdout.splitlines()[1:]}
        assert rows == {
            "__main__.query": "2",
            "__main__.numbers": "1",
            "__main__.fetch": "1",
            "__main__.nothing": "1",
        }
