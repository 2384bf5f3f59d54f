"""Python 3.12+: the hook runs a module's own bytecode and traces its functions
through their code objects; modules imported before the hook are traced after
the fact. The policy's choices are the rewrite's, in both paths."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import textwrap
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import functrace
from functrace.importhook import _codes
from functrace.importhook._codes import chooser, function_codes
from functrace.importhook._rewrite import TRACE_NAME, chosen_defs, first_line
from tests.helpers import match_lines

needs_monitoring = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="sys.monitoring: Python 3.12+"
)

POLICY = """\
import functools
import typing as t
from functrace import trace


@functools.lru_cache
def square(x):
    return x * x


@t.overload
def over(x: int) -> int: ...
@t.overload
def over(x: str) -> str: ...
def over(x):
    return x


def skipped():  # functrace: skip
    def inner():
        return 1
    return inner()


@trace
def already():
    return 0


class K:
    @property
    def p(self):
        return 1

    @p.setter
    def p(self, value):
        pass

    @staticmethod
    def s():
        return [i for i in range(2)]

    @classmethod
    def c(cls):
        return (lambda: 3)()

    class N:
        def n(self):
            def deep():
                return 4
            return deep()


# functrace: skip
class Quiet:
    def q(self):
        return 5


def fail():
    raise ValueError("boom")
"""

RAISE_LINE = POLICY.splitlines().index('    raise ValueError("boom")') + 1

# What exercise() calls and the trace shows, in order: not skipped(), inner(),
# Quiet.q() (pragmas), the overload stubs, the lambda or the comprehension.
TRACED = ["square", "over", "already", "K.p", "K.p", "K.s", "K.c", "K.N.n",
          "K.N.n.<locals>.deep", "fail"]  # fmt: skip


def chosen_by_codes(source: str) -> list[tuple[int, str]]:
    """(first line, name) of the code objects the 3.12+ path traces."""
    choose = chooser(source.encode(), "m.py")
    if choose is None:
        return []
    code = compile(source, "m.py", "exec", dont_inherit=True)
    return sorted((c.co_firstlineno, c.co_name) for c in function_codes([code]) if choose(c))


def chosen_by_rewrite(source: str) -> list[tuple[int, str]]:
    """(first line, name) of the defs the rewrite decorates."""
    chosen = chosen_defs(source.encode(), "m.py")
    return [] if chosen is None else sorted((first_line(fn), fn.name) for fn in chosen[1])


def test_same_policy_as_the_rewrite() -> None:
    by_rewrite = chosen_by_rewrite(POLICY)
    assert [name for _, name in by_rewrite] == [
        "square", "over", "p", "p", "s", "c", "n", "deep", "fail"
    ]  # fmt: skip
    assert chosen_by_codes(POLICY) == by_rewrite
    assert chosen_by_codes("# functrace: skip-file\ndef f(): pass\n") == []


@pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695 syntax")
def test_pep695_scopes_are_not_functions() -> None:
    source = textwrap.dedent(
        """\
        type Alias = list[int]
        def f[T: int](x: T) -> T:
            return x
        class C[T]:
            def m[U: str](self, u: U) -> U:
                return u
        """
    )
    code = compile(source, "m.py", "exec")
    assert {c.co_name for c in function_codes([code])} >= {"Alias", "T", "U", "f", "m"}
    assert _codes._needs_parse(source.encode())  # no shortcut for these
    assert chosen_by_codes(source) == [(2, "f"), (5, "m")]


def stdlib_sources() -> Iterator[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    names = ["ast", "argparse", "asyncio/tasks", "collections/__init__", "dataclasses",
             "functools", "inspect", "json/decoder", "typing", "unittest/mock"]  # fmt: skip
    for name in names:
        path = root / f"{name}.py"
        if path.exists():
            yield path


@pytest.mark.parametrize("path", list(stdlib_sources()), ids=lambda p: p.stem)
def test_shortcut_agrees_with_the_parse(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pragmas, overloads or PEP 695, "every function's code" is exactly
    the policy's choice, so most modules need no parse at import."""
    source = path.read_text(encoding="utf-8")
    quick = chosen_by_codes(source)
    monkeypatch.setattr(_codes, "_needs_parse", lambda source: True)
    assert quick == chosen_by_codes(source) == chosen_by_rewrite(source)
    assert len(quick) > 5


# ---------------------------------------------------------------- in a process


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(POLICY)
    (tmp_path / "pkg" / "other.py").write_text(
        "def elsewhere(fn=None):\n    return 6 if fn is None else fn\n"
    )
    # @trace is pkg.other's here, so the policy picks `already` as any other def.
    (tmp_path / "pkg" / "pre.py").write_text(
        POLICY.replace("from functrace import trace", "from pkg.other import elsewhere as trace")
    )
    sys.path.insert(0, str(tmp_path))
    yield tmp_path / "pkg"
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n == "pkg" or n.startswith("pkg.")]:
        del sys.modules[name]


def exercise(mod: types.ModuleType) -> None:
    mod.square(3)
    mod.over(1)
    mod.skipped()
    mod.already()
    k = mod.K()
    k.p = k.p
    mod.K.s()
    mod.K.c()
    mod.K.N().n()
    mod.Quiet().q()
    with pytest.raises(ValueError):
        mod.fail()


def traced_names(lines: list[str]) -> list[str]:
    return [line.split("->", 1)[1] for line in lines if "->" in line]


def shape(code: types.CodeType) -> tuple[object, ...]:
    """What a code object is made of (bytecode, line table, names, constants)."""
    consts = tuple(shape(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return (code.co_code, code.co_linetable, code.co_firstlineno, code.co_flags,
            code.co_names, code.co_varnames, code.co_filename, consts)  # fmt: skip


def plain_codes(path: Path) -> dict[str, tuple[object, ...]]:
    """Each function's code as python compiles it, by qualified name."""
    code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    return {
        c.co_qualname: shape(c)  # type: ignore[attr-defined,unused-ignore]
        for c in function_codes([code])
    }


def function_code(mod: types.ModuleType, qualname: str) -> types.CodeType:
    obj: object = mod
    for part in qualname.split("."):
        obj = inspect_static(obj, part)
    obj = getattr(obj, "__func__", obj)
    obj = getattr(obj, "fget", obj)
    code = getattr(obj, "__wrapped__", obj).__code__  # type: ignore[attr-defined]
    assert isinstance(code, types.CodeType)
    return code


def inspect_static(obj: object, name: str) -> object:
    import inspect

    return inspect.getattr_static(obj, name)


@needs_monitoring
def test_no_rewrite_module_untouched(package: Path, trace_lines: Callable[[], list[str]]) -> None:
    with functrace.install_import_hook(["pkg", "pkg.*"]):
        from pkg import mod  # type: ignore[import-not-found]
    assert type(mod.__loader__).__name__ == "TracingLoader"
    assert TRACE_NAME not in vars(mod)
    assert mod.__spec__.cached == importlib.util.cache_from_source(str(package / "mod.py"))
    assert not list((package / "__pycache__").glob("*functrace*"))
    assert not hasattr(mod.fail, "__wrapped__") and not hasattr(mod.K.N.n, "__wrapped__")
    plain = plain_codes(package / "mod.py")
    exercise(mod)  # (the bytecode is specialised and instrumented as it runs)
    for name in ("fail", "skipped", "K.N.n", "K.s", "K.c", "square", "Quiet.q"):
        assert shape(function_code(mod, name)) == plain[name], name
    assert traced_names(trace_lines()) == [f"pkg.mod.{n}" for n in TRACED]
    try:
        mod.fail()
    except ValueError as exc:
        assert exc.__traceback__ is not None
        last = exc.__traceback__
        while last.tb_next is not None:
            last = last.tb_next
        assert last.tb_lineno == RAISE_LINE and last.tb_frame.f_code.co_name == "fail"


@needs_monitoring
def test_modules_imported_before_are_traced_after(
    package: Path, trace_lines: Callable[[], list[str]]
) -> None:
    from pkg import pre  # type: ignore[import-not-found]

    functions = {name: value for name, value in vars(pre).items() if callable(value)}
    codes = {name: getattr(value, "__code__", None) for name, value in functions.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with functrace.install_import_hook(["pkg", "pkg.*"]):
            pass
    assert {name: value for name, value in vars(pre).items() if callable(value)} == functions
    assert {name: getattr(value, "__code__", None) for name, value in functions.items()} == codes
    assert TRACE_NAME not in vars(pre)
    exercise(pre)
    pre.trace()  # pkg.other's function imported into pre: traced as pkg.other's
    assert traced_names(trace_lines()) == [
        *[f"pkg.pre.{n}" for n in TRACED],
        "pkg.other.elsewhere",
    ]


@needs_monitoring
def test_modules_imported_by_another_finder_traced_on_request(
    package: Path, trace_lines: Callable[[], list[str]]
) -> None:
    with functrace.install_import_hook(["pkg.other"]) as hook:
        hook.uninstall()  # as if another finder ahead of it took the module
        from pkg import other  # type: ignore[import-not-found]

        other.elsewhere()
        assert trace_lines() == []
        assert hook.trace_imported() == ["pkg.other"]
        assert hook.trace_imported() == []
    other.elsewhere()
    match_lines(trace_lines(), ["t[01]:    ->pkg.other.elsewhere", "t[01]:    <-* <dur>"])


@needs_monitoring
def test_source_gone_warns(package: Path) -> None:
    from pkg import other

    (package / "other.py").unlink()
    with pytest.warns(RuntimeWarning, match=r"already imported, so not traced: pkg.other$"):
        functrace.install_import_hook(["pkg.other"]).uninstall()
    assert other.elsewhere() == 6


def test_functrace_never_traces_itself() -> None:
    from functrace.importhook._select import Selector

    selector = Selector(["*"], under=["/"])
    assert not selector.takes("functrace.cli.run", functrace.__file__)
    assert not selector.takes("__main__", str(Path(functrace.__file__).parent / "__main__.py"))
    assert selector.takes("app", "/somewhere/app.py")
