"""Helpers for tests that run real programs, and for the compiled-vs-Python ones."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def clean_env(**extra: str) -> dict[str, str]:
    # FUNCTRACE_SPEEDUPS passes through: a test run with it set checks the pure-Python path.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FUNCTRACE") or k == "FUNCTRACE_SPEEDUPS"
    }
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_python(
    args: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    **kw: object,
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` with functrace importable and a clean FUNCTRACE* env."""
    return subprocess.run(
        [sys.executable, *args],
        env=clean_env(**(env or {})),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,  # type: ignore[arg-type]
    )


DURATION = r"[0-9]+(?:\.[0-9]+)?(?:ns|µs|ms|s)"


def events(lines: list[str]) -> list[str]:
    """The event lines of a text trace: without the comment lines (``# ``) that
    name the process, its threads and its tasks."""
    return [line for line in lines if not line.startswith("# ")]


def named_lines(lines: list[str]) -> dict[str, str]:
    """Assert a text trace of one process names it and its tags in place: one
    ``# process`` line first, then one naming line per tag before the tag's first
    line. The names, by tag."""
    from functrace._runtime.lines import LINE_RE, NAME_RE, PROCESS_RE

    assert lines and PROCESS_RE.match(lines[0]), lines[:1]
    names: dict[str, str] = {}
    for line in lines[1:]:
        m = NAME_RE.match(line)
        if m is not None:
            assert m["tag"] not in names, f"{m['tag']} named twice: {line!r}"
            names[m["tag"]] = json.loads(m["name"])
            continue
        assert not line.startswith("# process "), f"a second process line: {line!r}"
        event = LINE_RE.match(line)
        if event is not None:
            assert event["tag"] in names, f"{event['tag']} not named before {line!r}"
    return names


def jsonl_events(lines: list[str]) -> list[dict[str, Any]]:
    """The events of a jsonl trace, without those naming the process, its threads
    and its tasks, and saying who started a job ("ev": "process", "thread", "task", "job")."""
    parsed = [json.loads(line) for line in lines]
    return [e for e in parsed if e.get("ev") not in ("process", "thread", "task", "job")]


def match_lines(actual: list[str], patterns: list[str]) -> None:
    """Assert ``actual`` matches ``patterns`` line for line: text is literal
    except ``*`` (anything) and ``<dur>`` (one human duration, e.g. 12.3µs)."""

    def to_regex(pattern: str) -> str:
        parts = [re.escape(p).replace(r"\*", ".*") for p in pattern.split("<dur>")]
        return "^" + DURATION.join(parts) + "$"

    if not any(p.startswith("# ") for p in patterns):
        actual = events(actual)  # the comment lines naming processes and tags aside
    assert len(actual) == len(patterns), "\n".join(actual)
    for line, pattern in zip(actual, patterns):
        assert re.match(to_regex(pattern), line), f"{line!r} !~ {pattern!r}"


def balanced(lines: list[str]) -> dict[str, int]:
    """Per tag: parse every line, check each indent is the true depth and that a
    comment line named the tag before its first line; the open depth left."""
    from functrace._runtime.lines import JOB_RE, LINE_RE, NAME_RE, PROCESS_RE

    depth: dict[str, int] = {}
    named: set[str] = set()
    for line in lines:
        if line.startswith("# "):
            n = NAME_RE.match(line)
            assert n or PROCESS_RE.match(line) or JOB_RE.match(line), f"malformed line {line!r}"
            if n:
                named.add(n["tag"])
            continue
        m = LINE_RE.match(line)
        assert m, f"malformed line {line!r}"
        tag, level = m["tag"], len(m["indent"]) // 4
        assert tag in named, f"{tag} not named before {line!r}"
        if m["arrow"] == "->":
            assert level == depth.get(tag, 0) + 1, line
            depth[tag] = level
        else:
            assert level == depth.get(tag, 0), line
            depth[tag] = level - 1
    return {tag: d for tag, d in depth.items() if d}


def balanced_jsonl(lines: list[str]) -> dict[str, int]:
    """:func:`balanced` for jsonl: every line one JSON object, each event's depth
    the true depth, each tag named (a thread or task event) before its first event."""
    import json

    depth: dict[str, int] = {}
    named: set[str] = set()
    for line in lines:
        event = json.loads(line)  # a torn line fails here
        kind = event["ev"]
        if kind in ("thread", "task"):
            named.add(event["tag"])
            continue
        if kind in ("process", "job"):
            continue
        tag, level = event["tag"], event["depth"]
        assert tag in named, f"{tag} not named before {line!r}"
        if kind in ("enter", "resume"):
            assert level == depth.get(tag, 0) + 1, line
            depth[tag] = level
        else:
            assert kind in ("exit", "suspend"), line
            assert level == depth.get(tag, 0), line
            depth[tag] = level - 1
    return {tag: d for tag, d in depth.items() if d}


def same_without(monkeypatch: Any, make: Callable[[], T], *compiled: tuple[object, str]) -> T:
    """``make()`` with the optional compiled modules, then again with each
    ``(owner, attribute)`` that holds one set to None (the Python way): the two the
    same, byte for byte. The first result."""
    with_them = make()
    with monkeypatch.context() as m:
        for owner, attribute in compiled:
            m.setattr(owner, attribute, None)
        assert make() == with_them
    return with_them
