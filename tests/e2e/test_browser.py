"""Exports opened in the real speedscope page, in headless Chromium (nox -s browser).

speedscope (the npm package's own build, served from 127.0.0.1) reads our
speedscope export and, through its importer for Chrome's trace event format, our
chrome export. Each thread and task is one profile there, named in the profile
list; its flame graph is drawn on a canvas, so Playwright presses the real key "3"
for the sandwich view, whose table of the profile's functions is in the DOM, and
"n" for the next profile. (A synthetic DOM event does not reach speedscope's key
handling.) speedscope draws no flow events: the chrome export's links are not
seen here, and Perfetto's UI, which draws them, is not served offline.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functrace.export import export_file
from tests.export.conftest import _SCHEMA
from tests.export.conftest import speedscope_schema as speedscope_schema  # the fixture
from tests.helpers import run_python

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

# Named threads, each with functions of its own, and named tasks; each thread is
# joined before the next starts, so the tags are numbered in this order.
PROGRAM = textwrap.dedent("""\
    import asyncio, threading, functrace

    @functrace.trace
    def resize():
        return 1

    @functrace.trace
    def compress():
        return 2

    @functrace.trace
    def upload():
        return compress()

    @functrace.trace
    def start_workers():
        for name, work in (("resizer", resize), ("uploader", upload)):
            worker = threading.Thread(target=work, name=name)
            worker.start()
            worker.join()

    @functrace.trace
    def parse(text):
        return text.upper()

    @functrace.trace
    async def fetch_users():
        await asyncio.sleep(0.01)
        return parse("users")

    @functrace.trace
    async def fetch_orders():
        await asyncio.sleep(0.01)
        return "orders"

    @functrace.trace
    async def gather_all():
        return await asyncio.gather(
            asyncio.create_task(fetch_users(), name="fetch-users"),
            asyncio.create_task(fetch_orders(), name="fetch-orders"),
        )

    @functrace.trace
    def main():
        start_workers()
        return asyncio.run(gather_all())

    main()
""")

#: Each profile's name as speedscope lists it, and the functions its sandwich view shows.
PROFILES = {
    "t[01] MainThread": {"main", "start_workers"},
    "t[02] resizer": {"resize"},
    "t[03] uploader": {"upload", "compress"},
    "t[01]a[01] Task-1": {"gather_all"},
    "t[01]a[02] fetch-users": {"fetch_users", "parse"},
    "t[01]a[03] fetch-orders": {"fetch_orders"},
}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium: apt-get install -y chromium")


@pytest.fixture
def site(tmp_path: Path, speedscope_schema: object) -> Iterator[tuple[str, Path]]:
    """speedscope's release folder served on 127.0.0.1, and that folder."""
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


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=_CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


_AT = re.compile(r"^(.*) \(([0-9]+)/([0-9]+)\)$", re.MULTILINE)  # the toolbar: "NAME (i/N)"


def _profiles_seen(page: Any, url: str) -> dict[str, set[str]]:
    """Open ``url`` in speedscope; each profile's name -> the functions its sandwich
    view lists (``__main__.`` left out)."""
    page.goto(url)
    page.wait_for_function("document.title.endsWith(' - speedscope')", timeout=30_000)
    page.keyboard.press("3")  # the sandwich view: a table of the profile's functions
    seen: dict[str, set[str]] = {}
    count = None
    while count is None or len(seen) < count:
        index = len(seen) + 1
        # The toolbar says which profile is shown; its table comes in the same render.
        page.wait_for_function(
            f"/\\({index}\\/[0-9]+\\)\\n/.test(document.body.innerText)"
            " && document.body.innerText.includes('__main__.')",
            timeout=30_000,
        )
        body = page.inner_text("body")
        at = _AT.search(body)
        assert at is not None and int(at[2]) == index, body
        count = int(at[3])
        seen[at[1]] = set(re.findall(r"__main__\.(\w+)", body))
        page.keyboard.press("n")  # the next profile
    return seen


@pytest.mark.parametrize("source", ["text", "jsonl"])
def test_speedscope_lists_each_thread_and_task_with_its_functions(
    source: str, site: tuple[str, Path], browser: Any, tmp_path: Path
) -> None:
    """The speedscope export: one profile per thread and task, named by the
    trace's naming lines, each with its own functions and no others."""
    base, root = site
    program = tmp_path / "named.py"
    program.write_text(PROGRAM, encoding="utf-8")
    trace_file = tmp_path / f"trace.{source}"
    result = run_python(
        [str(program)], env={"FUNCTRACE_OUTPUT": str(trace_file), "FUNCTRACE_FORMAT": source}
    )
    assert result.returncode == 0, result.stderr
    for fmt in ("speedscope", "chrome"):
        with (root / f"{fmt}.json").open("w", encoding="utf-8") as out:
            export_file(trace_file, fmt, out)  # the streaming path `functrace export` takes
    page = browser.new_page()
    seen = _profiles_seen(page, f"{base}/index.html#profileURL={base}/speedscope.json")
    page.screenshot(path=str(tmp_path / "speedscope.png"))
    assert seen == PROFILES

    # The chrome export through speedscope's Chrome importer: a profile per track,
    # named "LABEL (pid P, tid T)", all in the traced process.
    page = browser.new_page()  # speedscope reads the URL's hash once, as it loads
    seen = _profiles_seen(page, f"{base}/index.html#profileURL={base}/chrome.json")
    pids = {re.sub(r".* \(pid ([0-9]+), tid [0-9]+\)$", r"\1", name) for name in seen}
    assert len(pids) == 1, seen
    assert {re.sub(r" \(pid .*\)$", "", name): f for name, f in seen.items()} == PROFILES
