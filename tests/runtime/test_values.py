"""Arguments and return values (FUNCTRACE_ARGS): the text of one value, checked
directly, and whole programs on both event paths."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest

from functrace._runtime import values
from functrace._runtime.lines import LINE_RE, split_args, split_value
from tests.helpers import jsonl_events, match_lines, run_python

DUR = "<dur>"


@pytest.fixture
def safe() -> Any:
    values.configure("safe", 100, 1000, ())
    yield values.value_text
    values.configure("", 100, 1000, ())


@pytest.fixture
def use_repr() -> Any:
    values.configure("repr", 100, 1000, ())
    yield values.value_text
    values.configure("", 100, 1000, ())


class Spy:
    """Every hook a formatter could call on the program's behalf, counted."""

    calls: ClassVar[list[str]] = []

    def __repr__(self) -> str:
        Spy.calls.append("repr")
        return "Spy()"

    def __str__(self) -> str:
        Spy.calls.append("str")
        return "Spy"

    def __len__(self) -> int:
        Spy.calls.append("len")
        return 1

    def __getattr__(self, name: str) -> Any:
        Spy.calls.append(name)
        raise AttributeError(name)


class SpyList(list):  # type: ignore[type-arg]
    def __repr__(self) -> str:
        Spy.calls.append("repr")
        return "SpyList"

    def __len__(self) -> int:
        Spy.calls.append("len")
        return 99

    def __iter__(self) -> Any:
        Spy.calls.append("iter")
        return iter(())


def test_builtins_are_written_as_python_writes_them(safe: Any) -> None:
    assert safe(10) == "10"
    assert safe(-1.5) == "-1.5"
    assert safe(True) == "True"
    assert safe(None) == "None"
    assert safe(1j) == "1j"
    assert safe("it's") == '"it\'s"'
    assert safe(b"\x00a") == "b'\\x00a'"
    assert safe(bytearray(b"ab")) == "bytearray(b'ab')"
    assert safe([1, (2,), {"k": {3}}]) == "[1, (2,), {'k': {3}}]"
    assert safe(frozenset()) == "frozenset()"
    assert safe(set()) == "set()"
    assert safe(()) == "()"


def test_strings_and_bytes_are_cut_with_their_quotes_closed(safe: Any) -> None:
    text = safe("x" * 10_000_000)
    assert len(text) == 100
    assert text == "'" + "x" * 97 + "…'"
    data = safe(b"\xff" * 10_000_000)
    assert len(data) <= 100 and data.startswith("b'\\xff") and data.endswith("…'")
    array = safe(bytearray(5000))
    assert len(array) <= 100 and array.endswith("…')")


def test_a_value_is_one_line_whatever_it_holds(safe: Any, use_repr: Any) -> None:
    for mode in ("safe", "repr"):
        values.configure(mode, 100, 1000, ())
        for v in ("a\nb", "a\u2028b", "a\x85b", "a\rb", b"a\nb", ["x\ny"]):
            text = values.value_text(v)
            assert len(text.splitlines()) == 1, (mode, v, text)


def test_huge_ints_are_not_turned_into_digits(safe: Any) -> None:
    assert safe(2**64) == str(2**64)
    assert safe(10**200).startswith("1000") and safe(10**200).endswith("…")
    assert safe(10**200)[:-1].isdigit()
    assert safe(1 << 100_000) == "<int 100001 bits>"  # beyond 3.11+'s str() limit too


def test_containers_are_bounded_in_items_depth_and_length(safe: Any) -> None:
    assert safe(list(range(100))) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …]"
    assert safe([[[[[1]]]]]) == "[[[[…]]]]"
    many = safe(["y" * 50] * 10)
    assert len(many) <= 100 and many.endswith("…]")
    assert split_args(f"(a={many})") == {"a": many}


def test_recursive_containers(safe: Any) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert safe(loop) == "[1, […]]"
    d: dict[str, Any] = {}
    d["self"] = d
    assert safe(d) == "{'self': {…}}"


def test_safe_mode_runs_none_of_the_programs_code(safe: Any) -> None:
    Spy.calls.clear()
    assert safe(Spy()) == "<tests.runtime.test_values.Spy>"
    assert safe(SpyList([1, 2])) == "<tests.runtime.test_values.SpyList len=2>"
    assert safe([Spy(), {1: SpyList()}]) == (
        "[<tests.runtime.test_values.Spy>, {1: <tests.runtime.test_values.SpyList len=0>}]"
    )
    assert Spy.calls == []


class Raises:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")


class Recurses:
    def __repr__(self) -> str:
        return repr(self)


class Long:
    def __repr__(self) -> str:
        return "L\n" * 10_000


def test_repr_mode_survives_a_repr_that_raises_or_recurses(use_repr: Any) -> None:
    assert use_repr(Raises()) == "<tests.runtime.test_values.Raises !ValueError>"
    assert use_repr(Recurses()) == "<tests.runtime.test_values.Recurses !RecursionError>"
    text = use_repr(Long())
    assert len(text) == 100 and text.startswith("L\\nL\\n") and text.endswith("…")
    assert use_repr([Spy()]) == "[Spy()]"


def test_exception_text_is_its_arguments(safe: Any) -> None:
    assert values.exception_text(KeyError("user")) == "'user'"
    assert values.exception_text(OSError(2, "gone")) == "(2, 'gone')"
    assert values.exception_text(StopIteration()) is None

    class Sneaky(Exception):
        @property
        def args(self) -> Any:  # type: ignore[override]
            raise AssertionError("the program's property ran")

    assert values.exception_text(Sneaky("quiet")) == "'quiet'"


def test_split_args_and_value_read_back_what_is_written() -> None:
    written = "(sql='a, b=1)', x=[1, (2, 3)], o=<m.C<locals>.D len=3>, s=\"it's\", …)"
    assert split_args(written) == {
        "sql": "'a, b=1)'",
        "x": "[1, (2, 3)]",
        "o": "<m.C<locals>.D len=3>",
        "s": '"it\'s"',
    }
    assert split_args("()") == {}
    assert split_args("resume") is None
    assert split_value("1.2ms !KeyError => 'a => b'") == ("1.2ms !KeyError", "'a => b'")
    assert split_value("1.2ms yield") == ("1.2ms yield", None)
    m = LINE_RE.match("t[01]:    ->app.f(a=1, b='x y')")
    assert m is not None and (m["name"], m["details"]) == ("app.f", "(a=1, b='x y')")


# ---------------------------------------------------------------- whole programs

PROGRAM = textwrap.dedent(
    """
    import asyncio
    import functrace

    class Handler:
        def __repr__(self):
            raise RuntimeError("never called in safe mode")

    @functrace.trace
    def query(self, sql, limit=10, *more, password=None, **options):
        if limit == 0:
            raise KeyError(sql)
        return [n for n in range(3)]

    @functrace.trace
    def numbers(n):
        yield from range(n)

    @functrace.trace
    async def fetch(key):
        await asyncio.sleep(0)
        return {key: (1,)}

    @functrace.trace
    def nothing():
        pass

    h = Handler()
    query(h, "SELECT " + "x" * 500, 3, "more", password="hunter2", api_token="t", mode="r")
    try:
        query(h, "users", 0)
    except KeyError:
        pass
    print(list(numbers(2)))
    asyncio.run(fetch("k"))
    nothing()
    """
)


def _run(tmp_path: Path, **env: str) -> list[str]:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM, encoding="utf-8")
    proc = run_python([str(script)], env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[0, 1]\n"
    return proc.stderr.splitlines()


@pytest.mark.parametrize("speedups", ["1", "0"])
def test_text_lines_carry_arguments_and_values(tmp_path: Path, speedups: str) -> None:
    lines = _run(tmp_path, FUNCTRACE_ARGS="1", FUNCTRACE_SPEEDUPS=speedups)
    sql = "'SELECT " + "x" * 90 + "…'"  # 100 characters in all
    match_lines(
        lines,
        [
            f"t[01]:    ->__main__.query(self=<__main__.Handler>, sql={sql}, limit=3, "
            "more=('more',), password=***, options={'api_token': ***, 'mode': 'r'})",
            f"t[01]:    <-__main__.query {DUR} => [0, 1, 2]",
            "t[01]:    ->__main__.query(self=<__main__.Handler>, sql='users', limit=0, "
            "more=(), password=***, options={})",
            f"t[01]:    <-__main__.query {DUR} !KeyError => 'users'",
            "t[01]:    ->__main__.numbers(n=2)",
            f"t[01]:    <-__main__.numbers {DUR} yield => 0",
            "t[01]:    ->__main__.numbers resume",
            f"t[01]:    <-__main__.numbers {DUR} yield => 1",
            "t[01]:    ->__main__.numbers resume",
            f"t[01]:    <-__main__.numbers {DUR} => None",
            "t[01]a[01]:    ->__main__.fetch(key='k')",
            f"t[01]a[01]:    <-__main__.fetch {DUR} await => None",
            "t[01]a[01]:    ->__main__.fetch resume",
            f"t[01]a[01]:    <-__main__.fetch {DUR} => {{'k': (1,)}}",
            "t[01]:    ->__main__.nothing()",
            f"t[01]:    <-__main__.nothing {DUR} => None",
        ],
    )
    assert "hunter2" not in "\n".join(lines)


def test_redact_adds_globs_and_lengths_are_settings(tmp_path: Path) -> None:
    lines = _run(
        tmp_path,
        FUNCTRACE_ARGS="1",
        FUNCTRACE_REDACT="sq?,mo*",
        FUNCTRACE_ARGS_LENGTH="12",
        FUNCTRACE_ARGS_LINE_LENGTH="60",
    )
    first = next(line for line in lines if "->__main__.query" in line)
    assert first == ("t[01]:    ->__main__.query(self=<__main__.…>, sql=***, limit=3, more=***, …)")


def test_repr_mode_calls_repr_and_survives_it_raising(tmp_path: Path) -> None:
    lines = _run(tmp_path, FUNCTRACE_ARGS="repr")
    assert "->__main__.query(self=<__main__.Handler !RuntimeError>, sql=" in lines[2]


def test_off_by_default_lines_are_unchanged(tmp_path: Path) -> None:
    lines = _run(tmp_path)
    assert "t[01]:    ->__main__.query" in lines
    assert not any("=>" in line or "(" in line for line in lines if line.startswith("t["))


def test_jsonl_carries_args_and_return(tmp_path: Path) -> None:
    lines = _run(tmp_path, FUNCTRACE_ARGS="1", FUNCTRACE_FORMAT="jsonl")
    evs = jsonl_events(lines)
    first = evs[0]
    assert first["args"]["password"] == "***"
    assert first["args"]["limit"] == "3"
    assert first["args"]["sql"].endswith("…'")
    assert evs[1]["return"] == "[0, 1, 2]"
    assert evs[3]["exc"] == "KeyError" and evs[3]["return"] == "'users'"
    assert "args" not in evs[6]  # a resumption carries none
    assert all(json.dumps(e) for e in evs)


def test_record_exposes_args_and_returned() -> None:
    import functrace

    # Values first: on 3.10/3.11 a function traced before they were asked for runs
    # an inline probe, which never sees a return value (see the next test).
    functrace.configure(args=True)

    @functrace.trace
    def add(a: int, b: int = 2, *, token: str = "") -> int:
        return a + b

    with functrace.record() as rec:
        add(1, token="secret")
    functrace.configure(args=False)
    with functrace.record() as off:
        add(1)
    call = rec.calls("add")[0]
    assert call.args == {"a": "1", "b": "2", "token": "***"}
    assert call.returned == "3"
    assert off.calls("add")[0].args is None and off.calls("add")[0].returned is None


def test_arguments_the_function_lets_go_are_not_kept_alive() -> None:
    import gc
    import weakref

    import functrace

    class Big:
        pass

    seen: list[bool] = []

    @functrace.trace
    def consume(item: Any) -> None:
        ref = weakref.ref(item)
        del item
        gc.collect()
        seen.append(ref() is None)

    consume(Big())
    functrace.configure(args=True)
    consume(Big())
    # As without values (on 3.12+ freed; a wrapper's frame holds its arguments anyway).
    assert seen[0] == seen[1]
    if sys.version_info >= (3, 12):
        assert seen == [True, True]


def test_configure_checks_the_settings() -> None:
    import functrace

    assert functrace.configure(args="repr").args == "repr"
    assert functrace.configure(args=True).args == "safe"
    assert functrace.configure(args="0").args == ""
    with pytest.raises(ValueError, match="args"):
        functrace.configure(args="loud")
    with pytest.raises(ValueError, match="args_length"):
        functrace.configure(args_length=3)
    assert functrace.configure(redact=["x*"]).redact == ("x*",)


def test_free_when_off_the_fast_path_stays_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import functrace
    from functrace._runtime import engine

    functrace.trace(lambda: None)  # the engine is configured once something is traced
    # What the compiled path is told: (the fast way?, values on it?); the Python
    # fast path has no values: it gives way to the general one.
    told: list[tuple[bool, bool]] = []
    native = engine.native_module()
    if native is not None:
        monkeypatch.setattr(engine, "_native", _Recording(native, told))

    def state() -> tuple[bool, bool]:
        return told[-1] if native is not None else (engine._plain, False)

    functrace.configure(output=str(tmp_path / "t.log"), args=False)
    off = state()
    functrace.configure(args=True)
    on = state()
    functrace.configure(args=False)
    again = state()
    if native is not None:
        assert (off, on, again) == ((True, False), (True, True), (True, False))
    else:
        assert (off, on, again) == ((True, False), (False, False), (True, False))


class _Recording:
    """The compiled module, its set_args() and set_plain() calls noted (set_args first)."""

    def __init__(self, native: Any, told: list[tuple[bool, bool]]) -> None:
        self._native, self._told = native, told
        self._args = False

    def set_args(self, on: bool, *rest: Any) -> None:
        self._args = on
        self._native.set_args(on, *rest)

    def set_plain(self, flag: bool) -> None:
        self._told.append((flag, self._args))
        self._native.set_plain(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._native, name)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="async generators' own yields")
def test_async_generator_yields_carry_no_value(tmp_path: Path) -> None:
    script = tmp_path / "agen.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, functrace

            @functrace.trace
            async def items(n):
                yield n

            async def main():
                async for _ in items(5):
                    pass

            asyncio.run(main())
            """
        ),
        encoding="utf-8",
    )
    proc = run_python([str(script)], env={"FUNCTRACE_ARGS": "1"})
    assert proc.returncode == 0, proc.stderr
    match_lines(
        proc.stderr.splitlines(),
        [
            "t[01]a[01]:    ->__main__.items(n=5)",
            f"t[01]a[01]:    <-__main__.items {DUR} yield",
            "t[01]a[01]:    ->__main__.items resume",
            f"t[01]a[01]:    <-__main__.items {DUR} => None",
        ],
    )


def test_an_enter_line_held_back_keeps_its_arguments(trace_lines: Any) -> None:
    import time

    import functrace

    functrace.configure(args=True, min_duration_ns="1ms")

    @functrace.trace
    def slow(n: int) -> int:
        time.sleep(0.002)
        return quick(n)

    @functrace.trace
    def quick(n: int) -> int:
        return n

    slow(5)
    match_lines(
        trace_lines(),
        [
            "t[*]:    ->tests.runtime.test_values.test_an_enter_line_held_back_keeps_its_"
            "arguments.<locals>.slow(n=5)",
            "t[*]:    <-tests.runtime.test_values.test_an_enter_line_held_back_keeps_its_"
            f"arguments.<locals>.slow {DUR} => 5",
        ],
    )


def test_values_asked_for_later_never_make_up_a_return_value() -> None:
    import functrace

    @functrace.trace
    def add(a: int, b: int) -> int:
        return a + b

    functrace.configure(args=True)
    with functrace.record() as rec:
        add(1, 2)
    call = rec.calls("add")[0]
    assert call.args == {"a": "1", "b": "2"}
    # 3.12+ sees it; a 3.10/3.11 inline probe (the function was traced before values
    # were asked for) does not, and says nothing rather than "None".
    assert call.returned == ("3" if sys.version_info >= (3, 12) else None)


def test_values_that_look_like_secrets_are_not_guessed_at() -> None:
    import functrace

    functrace.configure(args=True)

    @functrace.trace
    def send(text: str, api_key: str) -> int:
        return len(text)

    with functrace.record() as rec:
        send("password=hunter2", "k")
    # Redaction goes by the parameter's name only: a secret in a value is written.
    assert rec.calls("send")[0].args == {"text": "'password=hunter2'", "api_key": "***"}


def test_the_readme_says_traces_with_values_may_hold_personal_data() -> None:
    from tests.helpers import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "**A trace with values may hold personal data**" in readme
