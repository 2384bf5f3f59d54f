"""The policy decides from plain facts and never needs libcst."""

from __future__ import annotations

import subprocess
import sys

import pytest

from functrace.codemod import policy
from functrace.codemod.policy import Verdict


def test_policy_does_not_import_libcst() -> None:
    code = "import sys, functrace.codemod.policy; print('libcst' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("decorators", "comments", "verdict"),
    [
        ([], [], Verdict.TRACE),
        (["staticmethod", "functools.wraps"], [], Verdict.TRACE),
        (["typing.overload"], [], Verdict.OVERLOAD),
        (["overload"], [], Verdict.OVERLOAD),
        (["typing_extensions.overload"], [], Verdict.OVERLOAD),
        (["functrace.trace"], [], Verdict.ALREADY_TRACED),
        (["overload", "functrace.trace"], [], Verdict.ALREADY_TRACED),
        ([], ["# functrace: skip"], Verdict.PRAGMA),
        ([], ["# functrace: skip-file"], Verdict.TRACE),
        ([], ["# functrace: skipped"], Verdict.TRACE),
        ([], ["# see functrace: skip, below"], Verdict.TRACE),  # must start a comment
    ],
)
def test_judge_function(decorators: list[str], comments: list[str], verdict: Verdict) -> None:
    assert policy.judge_function(decorators, comments) is verdict


def test_qualify() -> None:
    aliases = {"t": "typing", "ov": "typing.overload", "trace": "functrace.trace"}
    assert policy.qualify("t.overload", aliases) == "typing.overload"
    assert policy.qualify("ov", aliases) == "typing.overload"
    assert policy.qualify("trace", aliases) == "functrace.trace"
    assert policy.qualify("other.thing", aliases) == "other.thing"


@pytest.mark.parametrize(
    ("source", "skipped"),
    [
        ("# functrace: skip-file\n", True),
        (
            b"#!/usr/bin/env python\r\n# -*- coding: latin-1 -*-\r\n\r\n# functrace: skip-file\r\n",
            True,
        ),
        ("\ufeff# functrace: skip-file\n", True),
        ('"""Doc."""\n# functrace: skip-file\n', False),
        ("x = 1\n# functrace: skip-file\n", False),
        ("# functrace: skip\n", False),
        ("", False),
    ],
)
def test_file_is_skipped(source: str | bytes, skipped: bool) -> None:
    assert policy.file_is_skipped(source) is skipped


def test_choose_module_name() -> None:
    assert policy.choose_module_name(lambda name: False) == "functrace"
    taken = {"functrace", "_functrace", "_functrace_1"}
    assert policy.choose_module_name(taken.__contains__) == "_functrace_2"
