"""A speedscope export opened in headless Chromium names the traced functions (nox -s browser).

speedscope draws its flame graph on a canvas, so the page is switched to the
sandwich view (key "3"), whose table of functions is in the DOM.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from functrace.export import export
from functrace.reading import read_trace
from tests.export.conftest import _SCHEMA
from tests.export.conftest import speedscope_schema as speedscope_schema  # the fixture
from tests.helpers import ROOT, run_python

pytestmark = pytest.mark.slow

_SWITCH = (
    "<script>setTimeout(function () {"
    " window.dispatchEvent(new KeyboardEvent('keypress', {key: '3'}));"
    " }, 3000);</script>"
)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium: apt-get install -y chromium")


@pytest.fixture
def site(tmp_path: Path, speedscope_schema: object) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "site"
    shutil.copytree(_SCHEMA.parent, root)
    index = root / "index.html"
    index.write_text(
        index.read_text(encoding="utf-8").replace("</body>", _SWITCH + "</body>"), encoding="utf-8"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", root
    finally:
        server.shutdown()
        server.server_close()


def test_speedscope_page_names_the_traced_functions(site: tuple[str, Path], tmp_path: Path) -> None:
    base, root = site
    trace_file = tmp_path / "trace.jsonl"
    result = run_python(
        [str(ROOT / "examples" / "tasks.py")],
        env={"FUNCTRACE_OUTPUT": str(trace_file), "FUNCTRACE_FORMAT": "jsonl"},
    )
    assert result.returncode == 0, result.stderr
    (root / "profile.json").write_text(
        export(read_trace(trace_file), "speedscope"), encoding="utf-8"
    )
    page = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{base}/index.html#profileURL={base}/profile.json&title=functrace-e2e",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = page.stdout
    assert "functrace-e2e" in dom, page.stderr[-2000:]
    for name in ("__main__.main", "__main__.handle", "__main__.fetch", "__main__.parse"):
        assert name in dom, f"{name} not on the page"
