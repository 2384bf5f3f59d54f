"""Before/after assertions in the manner of LibCST's ``CodemodTest.assertCodemod``:
each case is also checked for idempotency and for ``strip(instrument(x)) == x``."""

from __future__ import annotations

from textwrap import dedent

from functrace.codemod import Result, Status, instrument_source, strip_source

__all__ = ["assert_instrument", "assert_instrument_bytes", "assert_unchanged"]


def assert_instrument(before: str, after: str, *, functions: int | None = None) -> Result:
    return assert_instrument_bytes(
        dedent(before).encode(), dedent(after).encode(), functions=functions
    )


def assert_instrument_bytes(before: bytes, after: bytes, *, functions: int | None = None) -> Result:
    result = instrument_source(before)
    assert result.status is not Status.FAILED, result.message
    actual = result.output if result.status is Status.CHANGED else before
    assert actual == after, (
        f"\n--- got ---\n{actual.decode('latin-1')}\n--- expected ---\n{after.decode('latin-1')}"
    )
    if functions is not None:
        assert result.functions == functions
    again = instrument_source(actual)
    assert again.status in (Status.UNCHANGED, Status.SKIPPED), "instrument is not idempotent"
    stripped = strip_source(actual)
    assert (stripped.output if stripped.status is Status.CHANGED else actual) == before
    if result.status is Status.CHANGED:
        assert stripped.functions == result.functions
    return result


def assert_unchanged(source: str | bytes) -> Result:
    src = dedent(source).encode() if isinstance(source, str) else source
    result = instrument_source(src)
    assert result.status in (Status.UNCHANGED, Status.SKIPPED), result
    assert result.output is None
    assert strip_source(src).status is Status.UNCHANGED
    return result
