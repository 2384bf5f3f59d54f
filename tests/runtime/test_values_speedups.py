"""With argument and return values on (``FUNCTRACE_ARGS``), the compiled fast path
writes exactly what the pure-Python path writes.

The same program runs with ``FUNCTRACE_SPEEDUPS`` on and off, over a wide set of
values (each kind the compiled path formats itself, values at and around every
cutting bound, and the kinds it hands to values.py), in both modes, at the default
lengths and at small ones, and with both backends; the traces must be equal byte
for byte once durations are masked.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.helpers import run_python
from tests.runtime.test_speedups import _DURATION, _HEADER, _IDS, needs_speedups

_ADDRESS = re.compile(r"0x[0-9a-f]+")

PROGRAM = """
import os
import functrace
from functrace._runtime import engine

class Plain: pass
class Ünïcode: pass
class Weird: pass
Weird.__module__ = "my mod\\n"
Weird.__qualname__ = "W-é ird"
class NoModule:
    __module__ = 5  # not a str: the class's name alone
class L(list): pass
class D(dict): pass
class S(str): pass
class B(bytes): pass
class FS(frozenset): pass
class T(tuple): pass
class Loud:
    def __repr__(self): return "Loud\\n!"
class Broken:
    def __repr__(self): raise ValueError("no")
class Surrogate:  # repr mode: a line that cannot be UTF-8 encoded
    def __repr__(self): return "\\ud800"
class Calls:  # repr mode: the traced call its repr makes writes no lines
    def __repr__(self): return "calls " + str(none())

def bounds(n):  # lengths around n
    return range(max(0, n - 4), n + 3)

recursive = [1, 2]
recursive.append(recursive)
deep = {"a": [1, (2, {3: [4, [5]]})]}
VALUES = [
    0, 1, -1, 9999, -9999, 10000, -10000, 99999, 100000, 2**31, -2**63, 2**63 - 1, 2**63,
    -2**64, 10**18, 10**19, 10**30, 10**99, 10**100, 10**200, 2**20000,
    True, False, None, ..., 0.0, -0.0, 1.5, 1e300, -1e-300, float("nan"), float("inf"),
    1 / 3, 2j, complex(1.5, -2),
    "", "a", "héllo", "tab\\there", "new\\nline", "'quotes\\"", "\\u2028", "\\x85", "\\x7f",
    "\\ud800", "emoji 🐍", "外側" * 30,
    *("x" * n for n in bounds(20)), *("x" * n for n in bounds(100)),
    *("é\\n" * n for n in bounds(40)),
    b"", b"bytes", b"\\x00\\xff", *(b"y" * n for n in bounds(97)), bytearray(b"ba"),
    bytearray(b"z" * 200),
    (), (1,), (None,), ("s",), (1, 2), [], [1], list(range(10)), list(range(11)), list(range(50)),
    [[[[1]]]], [[[[]]]], [(), [], {}], recursive, deep, {}, {1: 2}, {"k": "v", 2: [3]},
    {i: i for i in range(12)}, {"x" * 60: "y" * 60}, {(1, 2): frozenset()},
    set(), {1}, {"a"}, frozenset(), frozenset({2}), {frozenset({1})},
    [1.5, -2, "t", b"b", None, True, 3j], tuple("abcdefghijklmnop"), ["x" * 40] * 5,
    [10**30, 2**200], [2**5000], ("é" * 30, "ü" * 30, "ö" * 30),
    Plain(), Ünïcode(), Weird(), NoModule(), L([1, 2]), D(a=1), S("str"), B(b"b"), FS(),
    T((1,)), [Plain(), L()], {"k": Plain()}, Loud(), Broken(), [Loud()], Calls(), [Calls()],
    Surrogate(), Plain, len, print,
    object(), type, range(3), 3 .__add__,
]
# Each value again after a string that leaves it less and less room, down to none.
SWEPT = [-10000, 99999, 100000, -123456, 12345678, 2**40, 1.5e100, True, None, "abc", b"ab",
         (1, 2), Plain(), L([1])]
# (a dict's value gets what its key leaves: any room, down to below zero)
VALUES += [["x" * k, v] for k in [*range(16), *range(60, 98)] for v in SWEPT]
VALUES += [["x" * k, {1: v}] for k in [*range(16), *range(60, 98)] for v in SWEPT]

@functrace.trace
def show(value):
    return value

@functrace.trace
def many(a, b=2, *rest, password="p", key=None, **kw):
    return kw

@functrace.trace
def closes_over(value):
    def inner():
        return value
    return inner()

@functrace.trace
def none(): pass

@functrace.trace
def gen(items):
    for item in items:
        yield item

@functrace.trace
def fails(value):
    raise KeyError(value)

@functrace.trace
def main():
    for v in VALUES:
        show(v)
    for v in VALUES[::7]:
        closes_over(v)
    many(1)
    many(1, "two", 3, 4.0, password="hunter2", key=5, token="t", other=[6], auth_x=1)
    many("x" * 300, "y" * 300, *range(40), api_key="k", **{f"k{i}": i for i in range(20)})
    many(*VALUES[:30], **{f"k{i}": v for i, v in enumerate(VALUES[30:60])})
    none()
    many(Calls(), b=Calls())
    list(gen(VALUES[::3]))
    try:
        fails("key")
    except KeyError:
        pass

main()
if os.environ["FUNCTRACE_SPEEDUPS"] == "1":
    assert engine.native_module() is not None
"""


def _trace(tmp_path: Path, backend: str, speedups: str, env: dict[str, str]) -> str:
    script = tmp_path / "values.py"
    script.write_text(_HEADER + textwrap.dedent(PROGRAM), encoding="utf-8")
    out = tmp_path / f"{backend}-{speedups}.log"
    proc = run_python(
        [str(script), backend],
        env={"FUNCTRACE_SPEEDUPS": speedups, "FUNCTRACE_OUTPUT": str(out), **env},
    )
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    text = out.read_bytes().decode("utf-8", "surrogateescape")
    # repr mode: object reprs name their address
    return _ADDRESS.sub("0x?", _IDS.sub("<id>", _DURATION.sub("<dur>", text)))


SETTINGS = {
    "safe": {"FUNCTRACE_ARGS": "1"},
    "repr": {"FUNCTRACE_ARGS": "repr"},
    "short": {
        "FUNCTRACE_ARGS": "1",
        "FUNCTRACE_ARGS_LENGTH": "9",
        "FUNCTRACE_ARGS_LINE_LENGTH": "40",
    },
    "middling": {
        "FUNCTRACE_ARGS": "repr",
        "FUNCTRACE_ARGS_LENGTH": "23",
        "FUNCTRACE_ARGS_LINE_LENGTH": "90",
        "FUNCTRACE_REDACT": "ke?,rest",
    },
}


@needs_speedups
@pytest.mark.parametrize("backend", ["monitoring", "wrapper"])
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_same_values_with_and_without_speedups(tmp_path: Path, setting: str, backend: str) -> None:
    compiled = _trace(tmp_path, backend, "1", SETTINGS[setting])
    pure = _trace(tmp_path, backend, "0", SETTINGS[setting])
    assert compiled == pure
    assert compiled.count("->__main__.show(value=") == compiled.count("<-__main__.show ")
    assert "hunter2" not in compiled
    assert compiled.count("->__main__.none()") == 1  # none() inside a repr: no lines
