"""Python 3.10/3.11: a traced plain function carries its enter and exit inside its
own code (an inline probe), so it is the very function it was and no frame is
added: what the program sees of its frames, tracebacks, warnings and recursion
is the untraced program's. Each check runs a traced function next to an
untraced twin of the same source."""

from __future__ import annotations

import ast
import re
import sys
import textwrap
import threading
import traceback
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import functrace
from functrace._runtime import engine, probe

from ..helpers import DURATION, match_lines, run_python

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="3.12+ traces through sys.monitoring, not probes"
)

# The functions under test, defined in a module file of their own (their source
# is what the decorator recompiles), once traced and once not.
SOURCE = '''
from __future__ import annotations

import sys
import warnings


def trace(fn):  # TRACE: set in the module before it runs
    return TRACE(fn) if TRACE is not None else fn


@trace
def caller_name():
    """Docstring kept."""
    return sys._getframe(1).f_code.co_name


@trace
def frame_code():
    return sys._getframe().f_code


@trace
def warn():
    warnings.warn("careful", UserWarning, stacklevel=2)


@trace
def recurse(n):
    n[0] += 1
    recurse(n)


@trace
def fail(kind):
    try:
        if kind == "value":
            raise ValueError("inner")
        return {}["missing"]
    finally:
        pass


@trace
def reraise(tp, value, tb):
    raise value.with_traceback(tb)


def make_adder(k):
    @trace
    def add(n):
        return n + k

    return add


class Base:
    def hello(self):
        return "base"


class Child(Base):
    @trace
    def hello(self):
        self.__secret = 1
        return "child+" + super().hello()

    @staticmethod
    @trace
    def static(x: int) -> int:
        return x * 2


@trace
def annotated(x: SomeName) -> OtherName:
    return x


@trace
def only_doc():
    """Nothing else."""


@trace
def shapes(n):
    global SEEN
    total = 0
    for i in range(n):
        if i % 2:
            continue
        total += i
    if n > 3:
        return total
    try:
        return -total
    finally:
        SEEN = n


@trace
def one_liner(x): return x + 1
'''


def _load(tmp_path: Path, name: str, decorate: Callable[[Any], Any] | None) -> types.ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.TRACE = decorate  # type: ignore[attr-defined]
    sys.modules[name] = module
    try:
        exec(compile(SOURCE, str(path), "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture
def pair(tmp_path: Path) -> tuple[types.ModuleType, types.ModuleType]:
    """(untraced, traced) modules of SOURCE."""
    return _load(tmp_path, "plain_mod", None), _load(tmp_path, "traced_mod", functrace.trace)


def test_the_function_is_the_very_function(pair: tuple[types.ModuleType, ...]) -> None:
    plain, traced = pair
    fn = traced.caller_name
    assert functrace.trace(fn) is fn  # already traced: nothing more
    assert not hasattr(fn, "__wrapped__")
    assert fn.__doc__ == plain.caller_name.__doc__ == "Docstring kept."
    assert fn.__code__.co_varnames == plain.caller_name.__code__.co_varnames
    assert fn.__code__.co_flags == plain.caller_name.__code__.co_flags
    assert fn.__globals__ is traced.__dict__
    assert any(type(c).__name__ == "Probe" for c in fn.__code__.co_consts)
    # A frame runs the function's own code object (internalcode-style sets work).
    assert traced.frame_code() is traced.frame_code.__code__
    assert traced.only_doc() is None and traced.only_doc.__doc__ == "Nothing else."
    assert traced.annotated.__annotations__ == {"x": "SomeName", "return": "OtherName"}


def test_the_caller_frame_is_the_caller(pair: tuple[types.ModuleType, ...]) -> None:
    _, traced = pair
    assert traced.caller_name() == "test_the_caller_frame_is_the_caller"


def test_warnings_stacklevel_points_at_the_caller(pair: tuple[types.ModuleType, ...]) -> None:
    _, traced = pair
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced.warn()
    assert caught[0].filename == __file__


def test_recursion_limit_is_reached_at_the_same_depth(pair: tuple[types.ModuleType, ...]) -> None:
    plain, traced = pair
    reached = []
    for fn in (plain.recurse, traced.recurse):
        n = [0]
        try:
            fn(n)
        except RecursionError:
            pass
        reached.append(n[0])
    if engine.native_module() is not None:
        assert reached[0] == reached[1], reached  # the compiled probe makes no frame
    else:
        # The pure-Python probe's __enter__ runs the engine's enter: two frames,
        # for as long as they run (FUNCTRACE_SPEEDUPS=0, or no compiler).
        assert 0 <= reached[0] - reached[1] <= 2, reached


def _tb_summary(exc: BaseException) -> list[tuple[str, int | None, str]]:
    return [(f.name, f.lineno, f.line or "") for f in traceback.extract_tb(exc.__traceback__)]


def test_tracebacks_are_the_untraced_ones(pair: tuple[types.ModuleType, ...]) -> None:
    plain, traced = pair
    for kind in ("value", "key"):
        got = []
        for module in (plain, traced):
            try:
                module.fail(kind)
            except Exception as exc:
                got.append((type(exc), _tb_summary(exc)[1:]))
        assert got[0] == got[1]


def test_a_reraised_traceback_chain_keeps_its_shape(pair: tuple[types.ModuleType, ...]) -> None:
    # six's test_reraise: the chain runs test -> reraise -> the original traceback.
    _, traced = pair
    try:
        raise ValueError("first")
    except ValueError:
        tp, value, tb = sys.exc_info()
    try:
        traced.reraise(tp, value, tb)
    except ValueError:
        tb2 = sys.exc_info()[2]
        assert tb2 is not None and tb2.tb_next is not None
        assert tb is tb2.tb_next.tb_next


def test_closures_methods_super_and_mangling(
    pair: tuple[types.ModuleType, ...], trace_lines: Any
) -> None:
    plain, traced = pair
    assert traced.make_adder(1)(2) == 3 and traced.make_adder(5)(2) == 7
    # Each call of the parent makes a new function of the same code: one probed code.
    assert traced.make_adder(1).__code__ is traced.make_adder(2).__code__
    child = traced.Child()
    assert child.hello() == "child+base"
    assert vars(child) == {"_Child__secret": 1}
    assert traced.Child.static(4) == 8
    match_lines(
        trace_lines(),
        [
            "t[01]:    ->traced_mod.make_adder.<locals>.add",
            "t[01]:    <-traced_mod.make_adder.<locals>.add <dur>",
            "t[01]:    ->traced_mod.make_adder.<locals>.add",
            "t[01]:    <-traced_mod.make_adder.<locals>.add <dur>",
            "t[01]:    ->traced_mod.Child.hello",
            "t[01]:    <-traced_mod.Child.hello <dur>",
            "t[01]:    ->traced_mod.Child.static",
            "t[01]:    <-traced_mod.Child.static <dur>",
        ],
    )
    assert plain.Child().hello() == "child+base"


def test_an_exception_names_itself_in_the_exit_line(
    pair: tuple[types.ModuleType, ...], trace_lines: Any
) -> None:
    _, traced = pair
    with pytest.raises(KeyError):
        traced.fail("key")
    match_lines(
        trace_lines(),
        ["t[01]:    ->traced_mod.fail", "t[01]:    <-traced_mod.fail <dur> !KeyError"],
    )


def test_disable_and_enable_mid_call(tmp_path: Path, trace_lines: Any) -> None:
    mod = _load(tmp_path, "switching", functrace.trace)
    source = textwrap.dedent(
        """
        import functrace

        @functrace.trace
        def outer(inner):
            functrace.disable()
            inner()  # started while off: no lines
            functrace.enable()
            inner()
            return 1
        """
    )
    path = tmp_path / "switch_mod.py"
    path.write_text(source)
    ns: dict[str, Any] = {"__name__": "switch_mod"}
    exec(compile(source, str(path), "exec"), ns)
    assert ns["outer"](mod.only_doc) == 1
    match_lines(
        trace_lines(),
        [
            "t[01]:    ->switch_mod.outer",
            "t[01]:        ->switching.only_doc",
            "t[01]:        <-switching.only_doc <dur>",
            "t[01]:    <-switch_mod.outer <dur>",
        ],
    )


def test_threads_each_get_their_own_lines(
    pair: tuple[types.ModuleType, ...], trace_lines: Any
) -> None:
    _, traced = pair
    threads = [threading.Thread(target=traced.make_adder(i), args=(1,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = trace_lines()
    assert len(lines) == 6
    assert len({line.split(":")[0] for line in lines}) == 3  # a tag per thread


def test_what_cannot_be_proved_keeps_the_wrapper() -> None:
    namespace: dict[str, Any] = {"functrace": functrace}
    exec("@functrace.trace\ndef f(x):\n    return x\n", namespace)  # no source
    assert namespace["f"].__wrapped__ is not None
    assert namespace["f"](3) == 3


def test_generators_and_coroutines_keep_their_wrappers() -> None:
    @functrace.trace
    def gen() -> Any:
        yield 1

    @functrace.trace
    async def coro() -> int:
        return 1

    assert hasattr(gen, "__wrapped__") and hasattr(coro, "__wrapped__")
    assert list(gen()) == [1]


def test_line_events_are_the_untraced_ones(pair: tuple[types.ModuleType, ...]) -> None:
    # Debuggers and coverage (sys.settrace) see the same lines: the `with` has none.
    plain, traced = pair

    def events(fn: Callable[..., Any], *args: Any) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []

        def tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
            if frame.f_code.co_name == fn.__name__:
                seen.append((event, frame.f_lineno))
            return tracer

        sys.settrace(tracer)
        try:
            fn(*args)
        except Exception:
            pass
        finally:
            sys.settrace(None)
        return seen

    functrace.disable()  # the engine's own calls would show up as call events
    try:
        cases = [
            ("fail", ("value",)),
            ("fail", ("key",)),
            ("caller_name", ()),
            ("only_doc", ()),
            ("shapes", (5,)),
            ("shapes", (2,)),
            ("one_liner", (1,)),
        ]
        for name, args in cases:
            assert not hasattr(getattr(traced, name), "__wrapped__"), name  # probed
            assert events(getattr(plain, name), *args) == events(getattr(traced, name), *args)
    finally:
        functrace.enable()


PROGRAM = """
import sys
import functrace

@functrace.trace
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

@functrace.trace
def boom():
    raise ValueError

@functrace.trace
def main():
    fib(4)
    try:
        boom()
    except ValueError:
        pass
    functrace.disable()
    fib(2)  # started while off: no lines
    functrace.enable()

main()
print(type(fib.__code__.co_consts[1]).__module__, file=sys.stderr)
"""


def test_compiled_and_pure_probes_write_the_same_lines(tmp_path: Path) -> None:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    runs = {}
    for speedups in ("1", "0"):
        out = tmp_path / f"trace-{speedups}.log"
        env = {"FUNCTRACE_SPEEDUPS": speedups, "FUNCTRACE_OUTPUT": str(out)}
        proc = run_python([str(path)], env=env)
        assert proc.returncode == 0, proc.stderr
        lines = [line for line in out.read_text().splitlines() if not line.startswith("# ")]
        runs[speedups] = ([re.sub(DURATION, "<dur>", line) for line in lines], proc.stderr)
    assert runs["1"][0] == runs["0"][0]
    assert runs["0"][1].strip() == "functrace._runtime.probe"
    if engine.native_module() is not None:
        assert runs["1"][1].strip() == "functrace._runtime._speedups"
    assert runs["1"][0][:2] == ["t[01]:    ->__main__.main", "t[01]:        ->__main__.fib"]
    assert runs["1"][0][-3:] == [
        "t[01]:        ->__main__.boom",
        "t[01]:        <-__main__.boom <dur> !ValueError",
        "t[01]:    <-__main__.main <dur>",
    ]
    assert len(runs["1"][0]) == 2 + 2 * 9 + 2


def test_a_probe_binds_to_a_key_code_without_constants(pair: Any) -> None:
    code = pair[1].caller_name.__code__
    found = [c for c in code.co_consts if type(c).__name__ in ("Probe",)]
    assert len(found) == 1
    key = found[0].code
    assert key.co_consts == () and key.co_name == code.co_name  # no cycle through the code
    assert isinstance(probe.Probe(key), probe.Probe)


# ---------------------------------------------------------------- the import hook

HOOKED = """\
import sys
import warnings


def caller_name():
    return sys._getframe(1).f_code.co_name


def own_code():
    return sys._getframe().f_code


def warn():
    warnings.warn("careful", UserWarning, stacklevel=2)


def fail():
    raise ValueError("line 18")


class K:
    def m(self):
        def inner():
            return __class__
        return inner()


def numbers():
    yield 1
"""


def test_the_import_hook_puts_probes_in_plain_functions(tmp_path: Path, trace_lines: Any) -> None:
    (tmp_path / "hooked_pkg").mkdir()
    (tmp_path / "hooked_pkg" / "__init__.py").write_text("")
    (tmp_path / "hooked_pkg" / "mod.py").write_text(HOOKED)
    sys.path.insert(0, str(tmp_path))
    try:
        with functrace.install_import_hook(["hooked_pkg", "hooked_pkg.*"]):
            from hooked_pkg import mod  # type: ignore[import-not-found]
        assert mod.caller_name() == "test_the_import_hook_puts_probes_in_plain_functions"
        assert mod.own_code() is mod.own_code.__code__
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mod.warn()
        assert caught[0].filename == __file__
        with pytest.raises(ValueError) as info:
            mod.fail()
        assert [(e.name, e.lineno + 1) for e in info.traceback[1:]] == [("fail", 18)]
        assert mod.K().m() is mod.K
        assert list(mod.numbers()) == [1]
        assert not hasattr(mod.fail, "__wrapped__") and hasattr(mod.numbers, "__wrapped__")
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("hooked_pkg", "hooked_pkg.mod"):
            sys.modules.pop(name, None)
    match_lines(
        trace_lines(),
        [
            "t[01]:    ->hooked_pkg.mod.caller_name",
            "t[01]:    <-hooked_pkg.mod.caller_name <dur>",
            "t[01]:    ->hooked_pkg.mod.own_code",
            "t[01]:    <-hooked_pkg.mod.own_code <dur>",
            "t[01]:    ->hooked_pkg.mod.warn",
            "t[01]:    <-hooked_pkg.mod.warn <dur>",
            "t[01]:    ->hooked_pkg.mod.fail",
            "t[01]:    <-hooked_pkg.mod.fail <dur> !ValueError",
            "t[01]:    ->hooked_pkg.mod.K.m",
            "t[01]:        ->hooked_pkg.mod.K.m.<locals>.inner",
            "t[01]:        <-hooked_pkg.mod.K.m.<locals>.inner <dur>",
            "t[01]:    <-hooked_pkg.mod.K.m <dur>",
            "t[01]:    ->hooked_pkg.mod.numbers",
            "t[01]:    <-hooked_pkg.mod.numbers <dur> yield",
            "t[01]:    ->hooked_pkg.mod.numbers resume",
            "t[01]:    <-hooked_pkg.mod.numbers <dur>",
        ],
    )


def test_the_rewrite_wraps_plain_bodies_and_decorates_the_rest() -> None:
    from functrace.importhook._rewrite import TRACE_NAME, rewrite_tree

    source = textwrap.dedent(
        '''
        def plain():
            """Doc."""
            return 1

        def gen():
            def inner():
                yield 2
            return inner

        def real_gen():
            yield 3

        async def coro():
            pass

        class C:
            def m(self):
                lambda: (yield)
        '''
    ).encode()
    tree, count = rewrite_tree(source, "m.py", probes=True)
    assert tree is not None and count == 6
    kinds = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorated = any(getattr(d, "id", None) == TRACE_NAME for d in node.decorator_list)
            body = node.body[-1]
            probed = isinstance(body, ast.With) and isinstance(
                body.items[0].context_expr, ast.Constant
            )
            kinds[node.name] = "decorator" if decorated else "probe" if probed else "?"
            if probed:
                assert body.items[0].context_expr.value == probe.PREFIX + (  # type: ignore[attr-defined]
                    {"inner": "gen.<locals>.inner", "m": "C.m"}.get(node.name, node.name)
                )
    assert kinds == {
        "plain": "probe",
        "gen": "probe",
        "inner": "decorator",
        "real_gen": "decorator",
        "coro": "decorator",
        "m": "probe",
    }
    assert isinstance(tree.body[0].body[0], ast.Expr)  # type: ignore[attr-defined]  # the docstring stays first


def test_excluded_functions_get_an_inert_probe(tmp_path: Path) -> None:
    (tmp_path / "filt.py").write_text(
        "def kept():\n    return 1\n\ndef left():\n    return kept()\n"
    )
    (tmp_path / "main.py").write_text("import filt\nfilt.left()\n")
    out = tmp_path / "trace.log"
    proc = run_python(
        ["-m", "functrace", "run", "main.py"],
        cwd=tmp_path,
        env={"FUNCTRACE_OUTPUT": str(out), "FUNCTRACE_EXCLUDE": "filt.left"},
    )
    assert proc.returncode == 0, proc.stderr
    match_lines(
        out.read_text().splitlines(), ["t[01]:    ->filt.kept", "t[01]:    <-filt.kept <dur>"]
    )


def test_a_probe_copies_and_pickles_as_its_function_traced_again(
    pair: tuple[types.ModuleType, ...], trace_lines: Any
) -> None:
    # cloudpickle and dill pickle a nested function by value, its code's constants
    # with it: the probe goes as its function's name and key code.
    import copy

    code = pair[1].caller_name.__code__
    found = next(c for c in code.co_consts if type(c).__name__ == "Probe")
    again = copy.copy(found)
    assert type(again) is type(found) and again is not found
    clone = types.FunctionType(
        code.replace(co_consts=tuple(again if c is found else c for c in code.co_consts)),
        pair[1].__dict__,
    )
    assert clone() == "test_a_probe_copies_and_pickles_as_its_function_traced_again"
    match_lines(
        trace_lines(),
        ["t[01]:    ->traced_mod.caller_name", "t[01]:    <-traced_mod.caller_name <dur>"],
    )
    inert = probe.inert(code, "", "")
    assert copy.copy(inert) is inert


def test_recompiling_warns_nothing_again(tmp_path: Path) -> None:
    path = tmp_path / "escapes.py"
    path.write_text(
        'import functrace\n\n@functrace.trace\ndef f():\n    return "\\d" if 1 is 1 else 0\n'
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = compile(path.read_text(), str(path), "exec")
    assert caught  # compiling the module warns...
    ns: dict[str, Any] = {"__name__": "escapes"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(code, ns)  # ...tracing f, which compiles it again, does not
    assert caught == []
    assert not hasattr(ns["f"], "__wrapped__") and ns["f"]() == "\\d"
