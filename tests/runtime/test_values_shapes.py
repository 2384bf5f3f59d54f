"""Argument values of every kind of parameter, whichever way they are read.

A function's arguments reach the enter line three ways: handed over by its
generated wrapper (3.10/3.11 when values are wanted at decoration: the cheap way),
read from the frame of a wrapper made before values were switched on, or read
from the call's own frame (``sys.monitoring`` on 3.12+, an inline probe on
3.10/3.11). Each must write the same text, the one values.py has always written:
defaults, ``*args``, ``**kwargs``, keyword-only, positional-only, redacted names
(also inside ``**kwargs``), ``self`` and ``cls``, a parameter a closure keeps
(a cell), parameters reassigned or deleted by the body, names like the
wrappers' own, cut argument lists; with the compiled path and without.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import run_python
from tests.runtime.test_speedups import _DURATION

SHAPES = """
@trace
def defaults(a, b=2, c=None):
    return a

@trace
def star(*args):
    return len(args)

@trace
def double_star(**kwargs):
    return sorted(kwargs)

@trace
def keyword_only(a, *, b, c=3):
    return c

@trace
def positional_only(a, b=2, /, c=3):
    return b

@trace
def every(a, /, b, c=3, *rest, d, e=5, **more):
    return rest

@trace
def login(user, password, api_key=None, *, session_id, **extra):
    return user

@trace
def closes(value, other):
    def inner():
        return value
    return inner()

@trace
def reassigns(a, b):
    a = b = "changed"
    del b
    return a

@trace
def _ft_named(_ft_a, _ft1_b=1):
    return _ft_a

@trace
def many(*values, **named):
    return None

class Thing:
    @trace
    def method(self, x, *more, y=1):
        return x

    @trace
    @classmethod
    def klass(cls, n):
        return n

    @trace
    @staticmethod
    def static(n, m=0):
        return n

@trace
def gen(a, *rest, k=1):
    yield a
    yield k

@trace
async def coro(a, b=2):
    return a

@trace
def main():
    defaults(1)
    defaults(1, "two", c=[3])
    star()
    star(1, (2,), "3")
    double_star()
    double_star(x=1, password="hunter2", my_token="t", other={"a": None})
    keyword_only(1, b=2)
    keyword_only(a=1, b=2, c=None)
    positional_only(1)
    positional_only(1, 2, c=3)
    every(1, 2, d=4)
    every(1, 2, 3, 4, 5, d=6, e=7, f=8, secret=9)
    login("ann", "pw", session_id="s")
    login("bob", password="pw", api_key="k", session_id=1, cookie="c", plain=2)
    closes([1, 2], {"k": b"v"})
    reassigns(1, 2)
    _ft_named(0)
    _ft_named(_ft_a=1, _ft1_b=2)
    many(*range(30), **{f"name{i}": "x" * i for i in range(30)})
    many("y" * 300)
    t = Thing()
    t.method(1)
    t.method(1, 2, 3, y=4)
    Thing.klass(5)
    t.static(6)
    list(gen(1, 2, 3, k=4))
    asyncio.run(coro(1))

"""

PROGRAM = """
import sys
if sys.argv[1] == "wrapper" and sys.version_info >= (3, 12):
    for tool in (3, 4):  # no free sys.monitoring id: the wrapper backend
        sys.monitoring.use_tool_id(tool, "other")
import asyncio
import functrace
from functrace import trace

if sys.argv[2] == "probes":
    from shapes import *  # a real file: 3.10/3.11 plain functions get inline probes
else:
    # No source to recompile: every function gets a wrapper on 3.10/3.11.
    exec(compile(SHAPES, "<shapes>", "exec"))
if sys.argv[2] != "decorated":
    functrace.configure(args=True)  # after the functions were decorated
main()
"""

#: What values.py wrote before wrappers handed their arguments over (the
#: arguments were then read from the wrapper's frame), on every version.
EXPECTED = [
    "t[01]:    ->__main__.main()",
    "t[01]:        ->__main__.defaults(a=1, b=2, c=None)",
    "t[01]:        <-__main__.defaults <dur> => 1",
    "t[01]:        ->__main__.defaults(a=1, b='two', c=[3])",
    "t[01]:        <-__main__.defaults <dur> => 1",
    "t[01]:        ->__main__.star(args=())",
    "t[01]:        <-__main__.star <dur> => 0",
    "t[01]:        ->__main__.star(args=(1, (2,), '3'))",
    "t[01]:        <-__main__.star <dur> => 3",
    "t[01]:        ->__main__.double_star(kwargs={})",
    "t[01]:        <-__main__.double_star <dur> => []",
    "t[01]:        ->__main__.double_star(kwargs={'x': 1, 'password': ***, 'my_token': ***, "
    "'other': {'a': None}})",
    "t[01]:        <-__main__.double_star <dur> => ['my_token', 'other', 'password', 'x']",
    "t[01]:        ->__main__.keyword_only(a=1, b=2, c=3)",
    "t[01]:        <-__main__.keyword_only <dur> => 3",
    "t[01]:        ->__main__.keyword_only(a=1, b=2, c=None)",
    "t[01]:        <-__main__.keyword_only <dur> => None",
    "t[01]:        ->__main__.positional_only(a=1, b=2, c=3)",
    "t[01]:        <-__main__.positional_only <dur> => 2",
    "t[01]:        ->__main__.positional_only(a=1, b=2, c=3)",
    "t[01]:        <-__main__.positional_only <dur> => 2",
    "t[01]:        ->__main__.every(a=1, b=2, c=3, rest=(), d=4, e=5, more={})",
    "t[01]:        <-__main__.every <dur> => ()",
    "t[01]:        ->__main__.every(a=1, b=2, c=3, rest=(4, 5), d=6, e=7, more={'f': 8, "
    "'secret': ***})",
    "t[01]:        <-__main__.every <dur> => (4, 5)",
    "t[01]:        ->__main__.login(user='ann', password=***, api_key=***, session_id=***, "
    "extra={})",
    "t[01]:        <-__main__.login <dur> => 'ann'",
    "t[01]:        ->__main__.login(user='bob', password=***, api_key=***, session_id=***, "
    "extra={'cookie': ***, 'plain': 2})",
    "t[01]:        <-__main__.login <dur> => 'bob'",
    "t[01]:        ->__main__.closes(value=[1, 2], other={'k': b'v'})",
    "t[01]:        <-__main__.closes <dur> => [1, 2]",
    "t[01]:        ->__main__.reassigns(a=1, b=2)",
    "t[01]:        <-__main__.reassigns <dur> => 'changed'",
    "t[01]:        ->__main__._ft_named(_ft_a=0, _ft1_b=1)",
    "t[01]:        <-__main__._ft_named <dur> => 0",
    "t[01]:        ->__main__._ft_named(_ft_a=1, _ft1_b=2)",
    "t[01]:        <-__main__._ft_named <dur> => 1",
    "t[01]:        ->__main__.many(values=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …), "
    "named={'name0': '', 'name1': 'x', 'name2': 'xx', 'name3': 'xxx', 'name4': 'xxxx', "
    "'name5': 'xxxxx', …})",
    "t[01]:        <-__main__.many <dur> => None",
    "t[01]:        ->__main__.many(values=('yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy…',), "
    "named={})",
    "t[01]:        <-__main__.many <dur> => None",
    "t[01]:        ->__main__.Thing.method(self=<__main__.Thing>, x=1, more=(), y=1)",
    "t[01]:        <-__main__.Thing.method <dur> => 1",
    "t[01]:        ->__main__.Thing.method(self=<__main__.Thing>, x=1, more=(2, 3), y=4)",
    "t[01]:        <-__main__.Thing.method <dur> => 1",
    "t[01]:        ->__main__.Thing.klass(cls=<type>, n=5)",
    "t[01]:        <-__main__.Thing.klass <dur> => 5",
    "t[01]:        ->__main__.Thing.static(n=6, m=0)",
    "t[01]:        <-__main__.Thing.static <dur> => 6",
    "t[01]:        ->__main__.gen(a=1, rest=(2, 3), k=4)",
    "t[01]:        <-__main__.gen <dur> yield => 1",
    "t[01]:        ->__main__.gen resume",
    "t[01]:        <-__main__.gen <dur> yield => 4",
    "t[01]:        ->__main__.gen resume",
    "t[01]:        <-__main__.gen <dur> => None",
    "t[01]a[01]:    ->__main__.coro(a=1, b=2)",
    "t[01]a[01]:    <-__main__.coro <dur> => 1",
    "t[01]:    <-__main__.main <dur> => None",
]


def _trace(tmp_path: Path, backend: str, when: str, speedups: str, **env: str) -> list[str]:
    (tmp_path / "shapes.py").write_text(
        "import asyncio\nfrom functrace import trace\n" + SHAPES, encoding="utf-8"
    )
    script = tmp_path / "prog.py"
    script.write_text(f"SHAPES = {SHAPES!r}\n" + textwrap.dedent(PROGRAM), encoding="utf-8")
    out = tmp_path / f"{backend}-{when}-{speedups}.log"
    if when == "decorated":
        env["FUNCTRACE_ARGS"] = "1"  # values wanted before the functions are decorated
    proc = run_python(
        [str(script), backend, when],
        env={"FUNCTRACE_SPEEDUPS": speedups, "FUNCTRACE_OUTPUT": str(out), **env},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    text = _DURATION.sub("<dur>", out.read_text(encoding="utf-8"))
    return [line for line in text.splitlines() if not line.startswith("# ")]


@pytest.mark.parametrize("speedups", ["1", "0"])
@pytest.mark.parametrize("when", ["decorated", "later", "probes"])
@pytest.mark.parametrize("backend", ["monitoring", "wrapper"])
def test_every_parameter_kind_is_written_the_same_whichever_way_it_is_read(
    tmp_path: Path, backend: str, when: str, speedups: str
) -> None:
    lines = _trace(tmp_path, backend, when, speedups)
    if when == "probes":
        # 3.10/3.11: an inline probe sees no return value; the enter lines are the same
        assert [line.replace("shapes.", "__main__.") for line in lines if "->" in line] == [
            line for line in EXPECTED if "->" in line
        ]
    else:
        assert lines == EXPECTED
    assert "hunter2" not in "\n".join(lines)


@pytest.mark.parametrize("backend", ["monitoring", "wrapper"])
def test_cut_and_redacted_the_same_whichever_way_it_is_read(tmp_path: Path, backend: str) -> None:
    settings = {
        "FUNCTRACE_ARGS_LENGTH": "12",
        "FUNCTRACE_ARGS_LINE_LENGTH": "60",
        "FUNCTRACE_REDACT": "re?t,oth*",
    }
    traces = {
        (when, speedups): _trace(tmp_path, backend, when, speedups, **settings)
        for when in ("decorated", "later")
        for speedups in ("1", "0")
    }
    first = traces["decorated", "1"]
    assert all(lines == first for lines in traces.values())
    every = "t[01]:        ->__main__.every(a=1, b=2, c=3, rest=***, d=6, e=7, more={'f': 8, …})"
    assert every in first
    assert "t[01]:        ->__main__.closes(value=[1, …], other=***)" in first


READS = """
import sys
if sys.version_info >= (3, 12):
    for tool in (3, 4):  # no free sys.monitoring id: the wrapper backend
        sys.monitoring.use_tool_id(tool, "other")
import functrace
from functrace._runtime import values

reads = []
def counted(fn):
    def counting(*args):
        reads.append(fn.__name__)
        return fn(*args)
    return counting
# Every way to an argument through a frame (the compiled path asks these too).
values.arguments = counted(values.arguments)
values._call_frame = counted(values._call_frame)

exec(compile('''
@functrace.trace
def add(a, b=2, *more, c, **named):
    return a + b
''', "<no source>", "exec"))
if sys.argv[1] == "later":
    functrace.configure(args=True)
for i in range(3):
    add(i, c=3)
print(len(reads))
"""


@pytest.mark.parametrize("speedups", ["1", "0"])
@pytest.mark.parametrize("when", ["decorated", "later"])
def test_a_wrapper_made_with_values_wanted_reads_no_frame(
    tmp_path: Path, when: str, speedups: str
) -> None:
    script = tmp_path / "reads.py"
    script.write_text(READS, encoding="utf-8")
    proc = run_python(
        [str(script), when],
        env={
            "FUNCTRACE_SPEEDUPS": speedups,
            "FUNCTRACE_OUTPUT": str(tmp_path / "t.log"),
            **({"FUNCTRACE_ARGS": "1"} if when == "decorated" else {}),
        },
    )
    assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "t.log").read_text(encoding="utf-8")
    assert log.count("->__main__.add(a=") == 3
    assert "->__main__.add(a=2, b=2, more=(), c=3, named={})" in log
    reads = int(proc.stdout)
    # Handed over by the wrapper; read from its frame when values came later.
    assert reads == 0 if when == "decorated" else reads > 0
