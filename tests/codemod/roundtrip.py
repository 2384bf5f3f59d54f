"""The round-trip check shared by the sample unit test and the long stdlib session:
instrument, then check strip restores every byte, a second instrument changes nothing,
and (checked with the stdlib ``ast``, independently of libcst) every function but
``@overload`` stubs got ``@functrace.trace`` innermost."""

from __future__ import annotations

import ast
import warnings

from functrace.codemod import Status, instrument_source, strip_source

__all__ = ["check_round_trip"]

#: Refusals that are fine: libcst cannot parse the file, or cannot be trusted on it.
ALLOWED_FAILURES = ("cannot parse:", "left untouched:")


def check_round_trip(src: bytes, name: str) -> Status:
    result = instrument_source(src)
    if result.status is Status.FAILED:
        assert result.message.startswith(ALLOWED_FAILURES), result.describe(name)
        return result.status
    if result.status is not Status.CHANGED:
        return result.status
    out = result.output
    assert out is not None
    stripped = strip_source(out)
    assert stripped.output == src, f"{name}: strip(instrument(x)) != x"
    assert stripped.functions == result.functions
    again = instrument_source(out)
    assert again.status is Status.UNCHANGED, f"{name}: not idempotent: {again}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(src, name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return result.status  # not valid for this Python: nothing more to compare
        tree = ast.parse(out, name)
    _check_every_function_traced(tree, name)
    return result.status


def _check_every_function_traced(tree: ast.AST, name: str) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if any(d.rpartition(".")[2] == "overload" for d in decorators):
                continue
            assert decorators and decorators[-1].endswith("functrace.trace"), (
                f"{name}:{node.lineno}: {node.name} not traced innermost: {decorators}"
            )
