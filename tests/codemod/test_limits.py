"""Hostile sources are refused before libcst can crash or exhaust memory, and a worker
that dies anyway costs only its file (issue 13, item 18)."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from functrace.codemod import Status, instrument_source, strip_source
from functrace.codemod._nesting import LIMITS, MAX_DEPTH, depth_limit, measure, too_complex

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_nesting_that_is_not_brackets_is_refused_without_a_crash() -> None:
    # libcst's parser dies of SIGSEGV on each of these: run them in a child process.
    done = python(
        """
        from functrace.codemod import instrument_source
        HOSTILE = {
            "plus": b"x = " + b" + ".join([b"1"] * 10_000),
            "minus": b"x = " + b"-" * 10_000 + b"1",
            "not": b"x = " + b"not " * 50_000 + b"1",
            "lambda": b"x = " + b"lambda: " * 20_000 + b"1",
        }
        for name, src in HOSTILE.items():
            result = instrument_source(src + b"\\ndef f(): pass\\n")
            print(name, result.status.value, result.message)
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "plus failed cannot parse: expressions nested more than 3000 deep (too deep for libcst)",
        *(
            f"{name} failed cannot parse: unary operators, not, lambda, await, ** or "
            "if-else nested too deeply for libcst's memory"
            for name in ("minus", "not", "lambda")
        ),
    ]


def test_strip_is_guarded_as_well() -> None:
    src = b"x = " + b" + ".join([b"1"] * 10_000) + b"\nimport functrace  # functrace: added\n"
    result = strip_source(src)
    assert result.status is Status.FAILED
    assert "nested more than" in result.message


@pytest.mark.parametrize(
    ("src", "depth"),
    [
        (b"x = 1 + 1 + 1", 2),
        (b"x = a*b + c*d + e*f", 3),  # precedence: not 5
        (b"x = - - - 1", 3),
        (b"x = -1 - -1", 2),
        (b"x = not not a", 2),
        (b"x = lambda: lambda: 1", 4),  # a lambda costs two
        (b"x = a.b.c.d", 3),
        (b"x = f()()()", 4),
        (b"x = [1 + 1, 2 + 2, 3 + 3]", 2),  # commas end items
        (b"x = f(a + b + c)", 4),
        (b"x = ('a'\n     'b'\n     'c')", 3),  # implicit concatenation nests
        (b"x = 'a + b + c'  # - - - -", 0),  # strings and comments do not count
        (b"x = f'{a + b + c}'", 2),  # f-string fields do
        (b"x = a if b else c if d else e", 2),
        (b"x = 2 ** -2 ** -2", 4),
        (b"x = 1e+5 + 1.5 + .5j", 2),
        (b"return -x", 1),
        (b"x = 1 + \\\n    1 + \\\n    1", 2),  # continuation lines are one line
        (b"x = 1 + 1\ny = 1 + 1", 1),
    ],
)
def test_measured_depth(src: bytes, depth: int) -> None:
    assert measure(src).depth == depth


def test_a_keyword_or_comment_before_a_prefix_operator_hides_nothing() -> None:
    assert measure(b"async def g():\n    x = " + b"await -" * 100 + b"x").depth == 200
    assert measure(b"x = (" + b"not  # note\n -" * 100 + b"x)").depth == 201


def test_real_code_is_far_below_the_limits() -> None:
    # pydoc_data/topics.py concatenates 2,215 strings in one dict value; sympy's
    # generated polynomials run to hundreds of terms.
    topics = b"topics = {'a': " + b"\n".join([b"'line\\n'"] * 2215) + b"}\n"
    assert measure(topics).depth == 2215
    assert too_complex(topics, LIMITS) is None
    terms = " + ".join(f"{i}*p**{i % 7}*q*r**2*s" for i in range(300))
    poly = f"def f(p, q, r, s):\n    return -({terms})\n".encode()
    found = measure(poly)
    assert found.depth < 320 and found.cost == 0  # short chains cost nothing
    assert instrument_source(poly).status is Status.CHANGED


def test_right_nested_chains_are_priced_by_their_square() -> None:
    assert measure(b"x = " + b"-" * 100 + b"1").cost == 100 * 99 // 2
    assert measure(b"x = [" + b"-1, " * 100 + b"]").cost == 0  # single ones cost nothing
    assert measure(b"x = " + b"lambda: " * 100 + b"1").cost == 100 * 99
    deep = b"x = " + b"-" * 1500 + b"1\n"
    assert measure(deep).cost > LIMITS.cost
    assert "too deeply for libcst's memory" in (too_complex(deep, LIMITS) or "")


def test_brackets_nested_deeply_again_and_again_are_refused() -> None:
    # 2 MiB of lines nested 190 deep made libcst take 23 GB and 3.5 minutes;
    # nested calls take about 80 MB a line.
    line = b"x = " + b"f(" * 150 + b"1" + b")" * 150 + b"\n"
    assert measure(line).brackets == 150 * 151 // 2
    assert too_complex(line * 10, LIMITS) is None
    assert too_complex(line * 50, LIMITS) == (
        "cannot parse: brackets nested deeply too often for libcst's memory"
    )


def test_many_very_long_chains_are_refused() -> None:
    # A chain of 2,900 `+` takes libcst 4 seconds to parse, 360 of them 25 minutes.
    line = b"x = " + b" + ".join([b"1"] * 2900) + b"\n"
    assert measure(line).spread == sum(range(1, 2900 - 100))
    assert too_complex(line * 5, LIMITS) is None
    assert too_complex(line * 6, LIMITS) == (
        "cannot parse: too many very long chains of operators or strings for libcst's time"
    )


def test_measuring_garbage_never_raises() -> None:
    rng = random.Random(13)
    alphabet = b"~-+*/.<>=!%@&|^:,;()[]{} \\\n\r\t'\"#abnotlambdaifelse1fF"
    for _ in range(200):
        src = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 300)))
        assert measure(src).depth >= 0
    assert measure(bytes(range(256)) * 40).depth >= 0


def test_the_depth_limit_follows_the_stack_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (2 * 1024 * 1024, -1))
    assert depth_limit() == MAX_DEPTH // 4
    monkeypatch.setattr(resource, "getrlimit", lambda _: (resource.RLIM_INFINITY, -1))
    assert depth_limit() == MAX_DEPTH


def test_measuring_is_cheap() -> None:
    import time

    body = "".join(f"def f{i}(x, y):\n    return [x.a + y * {i}, f(x)(y)]\n" for i in range(5000))
    src = body.encode()
    start = time.perf_counter()
    measure(src)
    assert time.perf_counter() - start < 1.0  # about 0.05 s here: 2 MB/s at the very least


def test_a_dead_worker_fails_its_file_and_the_run_goes_on(tmp_path: Path) -> None:
    for name, text in [
        ("a.py", "ok\n"),
        ("b.py", "CRASH\n"),
        ("c.py", "ok\n"),
        ("d.py", "EXIT\n"),
        ("e.py", "CRASH\n"),
        ("f.py", "ok\n"),
    ]:
        (tmp_path / name).write_text(text)
    # Before: the pool waited forever for the dead worker's result.
    done = python(
        f"""
        from pathlib import Path
        from functrace.codemod import parallel
        import tests.codemod.crashing  # registers the "crashing" transform
        files = sorted(str(p) for p in Path({str(tmp_path)!r}).glob("*.py"))
        with parallel.Rewriter(files, "crashing", parallel.Mode.WRITE, 2) as rewriter:
            for report in rewriter:
                print(report.result.status.value, report.result.describe(Path(report.path).name))
        """,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "changed a.py",
        "failed b.py: cannot crashing: the worker process rewriting it died (SIGSEGV); "
        "left untouched",
        "changed c.py",
        "failed d.py: cannot crashing: the worker process rewriting it exited with status 3; "
        "left untouched",
        "failed e.py: cannot crashing: the worker process rewriting it died (SIGSEGV); "
        "left untouched",
        "changed f.py",
    ]
    assert (tmp_path / "b.py").read_text() == "CRASH\n"
    assert (tmp_path / "f.py").read_text() == "ok\n# seen\n"
