"""A speedscope export opened in headless Chromium names the traced functions (nox -s browser).

speedscope draws its flame graph on a canvas, so Playwright presses the real key
"3" to switch to the sandwich view, whose table of functions is in the DOM.
(A synthetic DOM event does not reach speedscope's key handling.)
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from functrace.export import export_file
from tests.export.conftest import _SCHEMA
from tests.export.conftest import speedscope_schema as speedscope_schema  # the fixture
from tests.helpers import ROOT, run_python

pytestmark = pytest.mark.slow

_CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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
    with (root / "profile.json").open("w", encoding="utf-8") as out:
        export_file(trace_file, "speedscope", out)  # the streaming path `functrace export` takes
    profile = json.loads((root / "profile.json").read_text(encoding="utf-8"))
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=_CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/index.html#profileURL={base}/profile.json&title=functrace-e2e")
            page.wait_for_function("document.title.includes('functrace-e2e')", timeout=30_000)
            page.keyboard.press("3")  # the sandwich view: a table of every function
            page.get_by_text("__main__.main", exact=True).first.wait_for(timeout=30_000)
            # One profile per thread and task: step through them ("n": next profile).
            seen = ""
            for _ in range(len(profile["profiles"])):
                page.wait_for_timeout(300)
                seen += page.inner_text("body")
                page.keyboard.press("n")
            page.screenshot(path=str(tmp_path / "speedscope.png"))
            for name in ("__main__.main", "__main__.handle", "__main__.fetch", "__main__.parse"):
                assert name in seen, f"{name} not on any profile's page"
        finally:
            browser.close()
