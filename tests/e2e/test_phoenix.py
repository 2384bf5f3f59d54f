"""Spans from a traced program reach a real Arize Phoenix and are read back (nox -s otel-e2e).

Phoenix stores what the OTLP exporter sent, and its REST API
(``/v1/projects/default/spans?trace_id=...``) gives each span's name, ids,
parent id, status, events and attributes: the tests compare those with what
the live exporter (:mod:`functrace.otel`) promises.

The traced programs run on this Python, and also on each interpreter that
``FUNCTRACE_E2E_PYTHONS`` lists (paths, ``os.pathsep``-separated; each needs
the ``otel`` extra installed): 3.10 and 3.11 trace through generated wrappers
and inline probes, 3.12+ through ``sys.monitoring``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import clean_env

pytestmark = pytest.mark.slow

PORT = 6006
BASE = f"http://127.0.0.1:{PORT}"
PARENT_SPAN_ID = "eee19b7ec3c1b174"  # TRACEPARENT's span: the program's outermost calls' parent

Span = dict[str, Any]

_PYTHONS = [
    sys.executable,
    *filter(None, os.environ.get("FUNCTRACE_E2E_PYTHONS", "").split(os.pathsep)),
]


def _get(path: str) -> bytes:
    with urllib.request.urlopen(BASE + path, timeout=10) as reply:
        data: bytes = reply.read()
        return data


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("phoenix")
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_PORT": str(PORT),
        "PHOENIX_HOST": "127.0.0.1",
    }
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "phoenix.server.main", "serve"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get("/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("phoenix did not start: " + (work / "server.log").read_text())
                time.sleep(1)
        yield BASE
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(params=_PYTHONS, ids=lambda exe: Path(exe).parent.parent.name or exe)
def python(request: pytest.FixtureRequest) -> str:
    exe: str = request.param
    return exe


def _run_traced(python: str, program: Path, trace_id: str, **env: str) -> None:
    """Run ``program`` with live spans to Phoenix, under ``TRACEPARENT``'s trace."""
    result = subprocess.run(
        [python, str(program)],
        env=clean_env(
            FUNCTRACE_OUTPUT="none",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{BASE}/v1/traces",
            OTEL_SERVICE_NAME="shop",
            TRACEPARENT=f"00-{trace_id}-{PARENT_SPAN_ID}-01",
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "not delivered" not in result.stderr, result.stderr


def _spans(trace_id: str, count: int) -> list[Span]:
    """The trace's spans as Phoenix returns them, once ``count`` have arrived
    (and a moment more, so that one span too many would be seen)."""
    deadline = time.monotonic() + 60
    spans: list[Span] = []
    while time.monotonic() < deadline:
        data = json.loads(_get(f"/v1/projects/default/spans?trace_id={trace_id}&limit=1000"))
        spans = data["data"]
        if len(spans) >= count:
            time.sleep(1)
            return list(
                json.loads(_get(f"/v1/projects/default/spans?trace_id={trace_id}&limit=1000"))[
                    "data"
                ]
            )
        time.sleep(0.5)
    return spans


def _outline(spans: list[Span]) -> str:
    """The spans as an indented tree from their parent ids, each as
    ``name(args) => return``, siblings sorted; a span whose parent is none of
    them starts a tree (``<- PARENT`` says under what)."""
    ids = {span["context"]["span_id"] for span in spans}
    children: dict[str, list[Span]] = {}
    for span in spans:
        children.setdefault(span["parent_id"] if span["parent_id"] in ids else "", []).append(span)

    def label(span: Span) -> str:
        attributes = span["attributes"]
        args = sorted(
            (key.removeprefix("functrace.args."), value)
            for key, value in attributes.items()
            if key.startswith("functrace.args.")
        )
        text = span["name"] + "(" + ", ".join(f"{k}={v}" for k, v in args) + ")"
        if "functrace.return" in attributes:
            text += " => " + attributes["functrace.return"]
        return text

    def render(parent: str, depth: int) -> Iterator[str]:
        for span in sorted(children.get(parent, []), key=label):
            yield "    " * depth + label(span)
            yield from render(span["context"]["span_id"], depth + 1)

    lines = []
    for span in sorted(children.get("", []), key=label):
        lines.append(f"{label(span)} <- {span['parent_id']}")
        lines.extend(render(span["context"]["span_id"], 1))
    return "\n".join(lines)


def test_spans_reach_phoenix(phoenix: str, tmp_path: Path, python: str) -> None:
    """A coroutine is one span over its runs, its calls under it, under TRACEPARENT."""
    program = tmp_path / "shop.py"
    program.write_text(
        textwrap.dedent("""
        import asyncio, functrace, functrace.otel
        functrace.otel.install()

        @functrace.trace
        def price(item):
            return len(item)

        @functrace.trace
        async def checkout(items):
            await asyncio.sleep(0.01)
            return sum(price(i) for i in items)

        print(asyncio.run(checkout(["apple", "pear"])))
    """),
        encoding="utf-8",
    )
    trace_id = secrets.token_hex(16)
    _run_traced(python, program, trace_id)
    assert _outline(_spans(trace_id, 3)) == textwrap.dedent(f"""\
        __main__.checkout() <- {PARENT_SPAN_ID}
            __main__.price()
            __main__.price()""")


# Who started what, values and code attributes: every thread, task and job the
# program starts runs inside one traced call of the main thread.
_STARTS = """\
import asyncio, concurrent.futures, threading, functrace, functrace.otel
functrace.otel.install()

@functrace.trace
def login(user, password):
    return f"welcome {user}"

@functrace.trace
def charge(amount):
    raise ValueError("card declined", amount)

@functrace.trace
def poll(n):
    return n * 2

@functrace.trace
def start_worker():
    worker = threading.Thread(target=poll, args=(3,), name="worker-1")
    worker.start()
    worker.join()

@functrace.trace
def run_jobs():
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
        return [pool.submit(poll, n).result() for n in (5, 7)]

@functrace.trace
def parse(text):
    return text.upper()

@functrace.trace
async def fetch(name):
    await asyncio.sleep(0.01)
    return parse(name)

@functrace.trace
def blocking(x):
    return x + 1

@functrace.trace
async def gather_all():
    users = asyncio.create_task(fetch("users"), name="fetch-users")
    orders = asyncio.create_task(fetch("orders"), name="fetch-orders")
    fetched = await asyncio.gather(users, orders)
    return fetched, await asyncio.to_thread(blocking, 41)

@functrace.trace
def main():
    login("ada", password="hunter2")
    try:
        charge(12)
    except ValueError:
        pass
    start_worker()
    run_jobs()
    return asyncio.run(gather_all())

print(main())
"""


def test_started_threads_tasks_and_jobs_hang_under_their_starters(
    phoenix: str, tmp_path: Path, python: str
) -> None:
    """Each started thread's, pool job's, task's and ``to_thread`` job's first span
    has the starting call's span as its parent (a thread or pool job through
    functrace's origins, a task or ``to_thread`` through the context it copies);
    calls within a thread nest; values and the exception arrive as attributes
    and an event, the ``password`` redacted."""
    program = tmp_path / "starts.py"
    program.write_text(_STARTS, encoding="utf-8")
    trace_id = secrets.token_hex(16)
    _run_traced(python, program, trace_id, FUNCTRACE_ARGS="1")
    spans = _spans(trace_id, 14)
    assert _outline(spans) == textwrap.dedent(f"""\
        __main__.main() => (['USERS', 'ORDERS'], 42) <- {PARENT_SPAN_ID}
            __main__.charge(amount=12) => ('card declined', 12)
            __main__.gather_all() => (['USERS', 'ORDERS'], 42)
                __main__.blocking(x=41) => 42
                __main__.fetch(name='orders') => 'ORDERS'
                    __main__.parse(text='orders') => 'ORDERS'
                __main__.fetch(name='users') => 'USERS'
                    __main__.parse(text='users') => 'USERS'
            __main__.login(password=***, user='ada') => 'welcome ada'
            __main__.run_jobs() => [10, 14]
                __main__.poll(n=5) => 10
                __main__.poll(n=7) => 14
            __main__.start_worker() => None
                __main__.poll(n=3) => 6""")
    assert "hunter2" not in json.dumps(spans)

    (charge,) = (s for s in spans if s["name"] == "__main__.charge")
    assert (charge["status_code"], charge["status_message"]) == ("ERROR", "ValueError")
    assert [(e["name"], e["attributes"]) for e in charge["events"]] == [
        (
            "exception",
            {"exception.type": "ValueError", "exception.message": "('card declined', 12)"},
        )
    ]
    assert all(s["status_code"] == "UNSET" and not s["events"] for s in spans if s is not charge)

    # Where each span ran: the thread's name, or the asyncio task's (live spans carry
    # them as exported files do).
    ran_in = {(s["name"].rpartition(".")[2], s["attributes"]["thread.name"]) for s in spans}
    assert ("poll", "worker-1") in ran_in
    assert {"fetch-users", "fetch-orders"} <= {n for f, n in ran_in if f == "fetch"}
    assert ("main", "MainThread") in ran_in

    # code.*: the function, its module, its file and its first line (co_firstlineno:
    # the decorator's line); nothing else outside functrace.*.
    source = _STARTS.splitlines()
    for span in spans:
        module, _, function = span["name"].rpartition(".")
        (def_line,) = (
            n for n, line in enumerate(source, 1) if line.split("(")[0].endswith(f"def {function}")
        )
        code = {
            k: v
            for k, v in span["attributes"].items()
            if not k.startswith("functrace.") and k != "thread.name"
        }
        assert code == {
            "code.function": function,
            "code.namespace": module,
            "code.filepath": str(program),
            "code.lineno": def_line - 1,
        }, span
