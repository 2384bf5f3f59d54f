"""``strip`` removes exactly the lines ``instrument`` added, and nothing else."""

from __future__ import annotations

from textwrap import dedent

import pytest

from functrace.codemod import Status, instrument_source, strip_source

A = "  # functrace: added"


def strip(source: str) -> str:
    src = dedent(source).encode()
    result = strip_source(src)
    assert result.status is not Status.FAILED, result.message
    return (result.output if result.output is not None else src).decode()


def test_removes_added_lines() -> None:
    assert strip(
        f"""\
        import functrace{A}
        class A:
            @staticmethod
            @functrace.trace{A}
            def s(): pass
        """
    ) == dedent(
        """\
        class A:
            @staticmethod
            def s(): pass
        """
    )


def test_removes_aliased_form() -> None:
    assert strip(
        f"import functrace as _functrace{A}\nfunctrace = 1\n@_functrace.trace{A}\ndef f(): pass\n"
    ) == ("functrace = 1\ndef f(): pass\n")


def test_keeps_hand_written_decorators_and_imports() -> None:
    source = "import functrace\n\n@functrace.trace\ndef f(): pass\n"
    assert strip(source) == source


def test_keeps_added_lines_edited_since() -> None:
    source = (
        "import functrace  # functrace: added, kept on purpose\n"
        "@functrace.trace # functrace: added\n"
        "def f(): pass\n"
        "@functrace.trace(depth=2)  # functrace: added\n"
        "def g(): pass\n"
    )
    assert strip(source) == source


def test_keeps_marker_lines_inside_strings() -> None:
    source = f'EXAMPLE = """\n@functrace.trace{A}\ndef f(): pass\n"""\n'
    assert strip(source) == source


def test_strips_wherever_the_user_moved_the_lines() -> None:
    assert (
        strip(
            f"""\
        import os
        import functrace{A}
        @functrace.trace{A}
        @other
        def f(): pass
        """
        )
        == "import os\n@other\ndef f(): pass\n"
    )


def test_a_file_without_the_marker_is_not_even_parsed() -> None:
    assert strip_source(b"def f(:\n").status is Status.UNCHANGED


def test_unparsable_instrumented_file_fails_with_a_location() -> None:
    result = strip_source(f"import functrace{A}\ndef f(:\n    pass\n".encode())
    assert result.status is Status.FAILED
    assert (result.line, result.column) == (2, 7)


def test_counts_functions() -> None:
    result = strip_source(
        f"@functrace.trace{A}\ndef f(): pass\n@functrace.trace{A}\ndef g(): pass\n".encode()
    )
    assert result.functions == 2


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_round_trip_keeps_line_endings(newline: bytes) -> None:
    src = newline.join([b"class A:", b"    def m(self):", b"        pass", b""])
    instrumented = instrument_source(src).output
    assert instrumented is not None
    assert instrumented.count(newline) == src.count(newline) + 2
    assert strip_source(instrumented).output == src
