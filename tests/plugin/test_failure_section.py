"""A failing test's section: whole when it fits, else the chain that explains the
failure with the calls around it folded to counts, and the whole file's path."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from functrace._runtime.lines import NAME_RE, PROCESS_RE
from tests.helpers import events, match_lines
from tests.plugin.test_plugin import section

WORK = """
    def leaf(x):
        if x < 0:
            raise ValueError(x)
        return x

    def setup(n):
        for i in range(n):
            leaf(i)

    def helper():
        return leaf(1)

    def work(n, fail):
        for i in range(n):
            leaf(i)
        return leaf(-1 if fail else 0)

    def top(n, fail=True):
        setup(n)
        helper()
        return work(n, fail)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "pkg").mkdir()
    (pytester.path / "pkg" / "__init__.py").write_text("")
    (pytester.path / "pkg" / "m.py").write_text(textwrap.dedent(WORK))
    pytester.syspathinsert()
    return pytester


def full_trace(lines: list[str]) -> list[str]:
    match = re.fullmatch(r"\[functrace\] full trace: (.*)", lines[-1])
    assert match, lines[-1]
    return Path(match[1]).read_text().splitlines()


def test_the_chain_to_the_exception(project: pytest.Pytester) -> None:
    project.makepyfile(test_it="from pkg import m\ndef test_fails(): m.top(120)\n")
    result = project.runpytest("--functrace=pkg")
    result.assert_outcomes(failed=1)
    lines = section(result.outlines)
    match_lines(
        lines,
        [
            "t[01]:    ->pkg.m.top",
            "t[01]:        ... 2 calls before (pkg.m.setup, pkg.m.helper)",
            "t[01]:        ->pkg.m.work",
            "t[01]:            ... 120 calls before (pkg.m.leaf ×120)",
            "t[01]:            ->pkg.m.leaf",
            "t[01]:            <-pkg.m.leaf <dur> !ValueError",
            "t[01]:        <-pkg.m.work <dur> !ValueError",
            "t[01]:    <-pkg.m.top <dur> !ValueError",
            "[functrace] the chain to the exception, other calls folded to counts "
            "(492 lines in all)",
            "[functrace] full trace: *test_it.py..test_fails.log",
        ],
    )
    full = full_trace(lines)
    assert PROCESS_RE.match(full[0]) and NAME_RE.match(full[1])  # the file names them first
    assert len(events(full)) == 492  # kept for the rest


def test_an_assertion_shows_what_ran_last(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        from pkg import m
        def test_fails():
            m.setup(5)
            assert m.top(120, fail=False) == 1
        """
    )
    result = project.runpytest("--functrace=pkg")
    result.assert_outcomes(failed=1)
    match_lines(
        section(result.outlines)[:-1],
        [
            "t[01]:    ... 1 call before (pkg.m.setup)",
            "t[01]:    ->pkg.m.top",
            "t[01]:        ... 2 calls before (pkg.m.setup, pkg.m.helper)",
            "t[01]:        ->pkg.m.work",
            "t[01]:            ... 120 calls before (pkg.m.leaf ×120)",
            "t[01]:            ->pkg.m.leaf",
            "t[01]:            <-pkg.m.leaf <dur>",
            "t[01]:        <-pkg.m.work <dur>",
            "t[01]:    <-pkg.m.top <dur>",
            "[functrace] the calls that ran last, other calls folded to counts (504 lines in all)",
        ],
    )


def test_a_short_trace_is_shown_whole(project: pytest.Pytester) -> None:
    project.makepyfile(test_it="from pkg import m\ndef test_fails(): m.top(2)\n")
    result = project.runpytest("--functrace=pkg")
    lines = section(result.outlines)
    assert len(lines) == 20 and not lines[-1].startswith("[functrace]")


def test_xdist_workers_write_plain_tags_after_the_controller_traced(
    project: pytest.Pytester,
) -> None:
    # The controller makes a traced call (its conftest calls the package): each
    # worker's per-test file is still its own, so its tags carry no pid.
    project.makeconftest("from pkg import m\nm.helper()\n")
    project.makepyfile(test_it="from pkg import m\ndef test_fails(): m.top(2)\n")
    result = project.runpytest_subprocess("--functrace=pkg", "-n", "2", "-p", "xdist")
    lines = section(result.outlines)
    assert lines and all(line.startswith("t[01]:") for line in lines), lines
