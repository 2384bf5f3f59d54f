"""A file that cannot be parsed is reported with CPython's own message and position;
libcst's message (shortened to one line) only when CPython accepts the file."""

from __future__ import annotations

import libcst as cst
import pytest

from functrace.codemod import Status, _syntax, instrument_source, strip_source


@pytest.mark.parametrize(
    ("src", "where", "message"),
    [
        (b"x = (1,\n", (1, 5), "cannot parse: '(' was never closed"),
        (b"def f():\n    return [1,\n", (2, 12), "cannot parse: '[' was never closed"),
        (b"x = 1\nif x\n    pass\n", (2, 5), "cannot parse: expected ':'"),
        (b"x = 1 +\n", (1, 8), "cannot parse: invalid syntax"),
    ],
)
def test_cpython_says_what_and_where(src: bytes, where: tuple[int, int], message: str) -> None:
    result = instrument_source(src)
    assert result.status is Status.FAILED
    assert result.message == message
    assert (result.line, result.column) == where
    line, column = where
    assert result.describe("m.py") == f"m.py:{line}:{column}: {message}"


def test_strip_too() -> None:
    result = strip_source(b"import functrace  # functrace: added\nx = (1,\n")
    assert result.describe("m.py") == "m.py:2:5: cannot parse: '(' was never closed"


def test_a_bad_encoding_cookie_has_no_line_zero() -> None:
    result = instrument_source(b"# -*- coding: nonsense -*-\ndef f(): pass\n")
    assert result.status is Status.FAILED
    assert result.line is None
    assert result.describe("m.py") == "m.py: cannot parse: unknown encoding: nonsense"


def test_libcst_message_only_when_cpython_accepts_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(src: bytes) -> cst.Module:
        raise cst.ParserSyntaxError(
            "parser error: error at 1:4: some construct libcst lacks\n\nx = 1\n    ^",
            lines=["x = 1\n"],
            raw_line=1,
            raw_column=3,
        )

    monkeypatch.setattr(_syntax.cst, "parse_module", refuse)
    result = instrument_source(b"x = 1\n")
    assert result.status is Status.FAILED
    assert result.describe("m.py") == "m.py:1:4: cannot parse: some construct libcst lacks"


def test_cpython_is_not_asked_when_libcst_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(src: bytes) -> None:
        raise AssertionError("compiled a file libcst parsed")

    monkeypatch.setattr(_syntax, "python_error", never)
    assert instrument_source(b"def f():\n    return 1\n").status is Status.CHANGED
