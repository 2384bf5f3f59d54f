"""``functrace run`` as a real subprocess, next to plain python."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import jsonl_events, match_lines, run_python

RUN = ["-m", "functrace", "run"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {
        "app/__init__.py": "",
        "app/core.py": """
            def helper(x):
                return x * 2
            def fail(x):
                raise ValueError(x)
        """,
        "app/__main__.py": """
            import sys
            from app import core
            print("main", sys.argv[1:], core.helper(2))
        """,
        "skipme.py": "def noisy(): return 1\n",
        "prog.py": """
            import sys
            from app import core
            import skipme
            import json
            print(sys.argv, __name__, sys.path[0] == __file__.rsplit("/", 1)[0])
            json.dumps(skipme.noisy())
            def main():
                return core.helper(3)
            print(main())
            if sys.argv[1:] == ["fail"]:
                core.fail("boom")
            if sys.argv[1:] == ["exit"]:
                sys.exit(7)
        """,
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_same_as_python(project: Path) -> None:
    plain = run_python(["prog.py", "a", "-x"], cwd=project)
    traced = run_python([*RUN, "prog.py", "a", "-x"], cwd=project)
    assert traced.stdout == plain.stdout
    assert plain.stdout.splitlines()[0] == "['prog.py', 'a', '-x'] __main__ True"
    assert traced.returncode == plain.returncode == 0
    match_lines(
        traced.stderr.splitlines(),
        [
            "t[01]:    ->skipme.noisy",
            "t[01]:    <-skipme.noisy <dur>",
            "t[01]:    ->__main__.main",
            "t[01]:        ->app.core.helper",
            "t[01]:        <-app.core.helper <dur>",
            "t[01]:    <-__main__.main <dur>",
        ],
    )


def test_exception_traceback_and_exit_code(project: Path) -> None:
    plain = run_python(["prog.py", "fail"], cwd=project)
    traced = run_python([*RUN, "-o", "none", "prog.py", "fail"], cwd=project)
    assert traced.returncode == plain.returncode == 1
    expected = plain.stderr
    # Every version: no frame of functrace's (3.10/3.11: an inline probe in the
    # traced function's own code), so the traceback is the untraced one.
    got = traced.stderr
    assert got.strip() == expected.strip()
    assert "functrace/cli" not in traced.stderr


def test_sys_exit_code(project: Path) -> None:
    assert run_python([*RUN, "-o", "none", "prog.py", "exit"], cwd=project).returncode == 7


def test_module(project: Path) -> None:
    plain = run_python(["-m", "app", "1", "--two"], cwd=project)
    traced = run_python([*RUN, "-m", "app", "1", "--two"], cwd=project)
    assert traced.stdout == plain.stdout == "main ['1', '--two'] 4\n"
    match_lines(
        traced.stderr.splitlines(),
        ["t[01]:    ->app.core.helper", "t[01]:    <-app.core.helper <dur>"],
    )


def test_include_exclude_output_format(project: Path) -> None:
    out = project / "trace.jsonl"
    traced = run_python(
        [
            *RUN,
            "--include",
            "app.*",
            "--exclude",
            "app.core",
            "-o",
            str(out),
            "--format",
            "jsonl",
            "prog.py",
        ],
        cwd=project,
    )
    assert traced.returncode == 0, traced.stderr
    lines = out.read_text().splitlines()
    assert [json.loads(line)["ev"] for line in lines[:2]] == ["process", "thread"]
    names = [event["name"] for event in jsonl_events(lines)]
    assert names == ["__main__.main", "__main__.main"]  # the script, not app.core


def test_missing_script(project: Path) -> None:
    traced = run_python([*RUN, "nope.py"], cwd=project)
    assert traced.returncode == 2
    assert "can't open file" in traced.stderr and "nope.py" in traced.stderr


def test_never_traces_site_packages(project: Path) -> None:
    venv_like = project / "venv" / "lib" / "site-packages"
    venv_like.mkdir(parents=True)
    (venv_like / "dep.py").write_text("def f(): return 1\n")
    (project / "uses.py").write_text(
        f"import sys; sys.path.insert(0, {str(venv_like)!r})\nimport dep\ndep.f()\n"
    )
    traced = run_python([*RUN, "uses.py"], cwd=project)
    assert traced.returncode == 0 and traced.stderr == ""


def test_sources_untouched(project: Path) -> None:
    before = {p: p.read_bytes() for p in project.rglob("*.py")}
    run_python([*RUN, "-o", "none", "prog.py"], cwd=project)
    assert {p: p.read_bytes() for p in project.rglob("*.py")} == before


def test_module_main_is_named_main(project: Path) -> None:
    (project / "app" / "__main__.py").write_text(
        "from app import core\ndef go():\n    return core.helper(1)\nprint(go())\n"
    )
    traced = run_python([*RUN, "-m", "app"], cwd=project)
    assert traced.stdout == "2\n", traced.stderr
    match_lines(
        traced.stderr.splitlines(),
        [
            "t[01]:    ->__main__.go",
            "t[01]:        ->app.core.helper",
            "t[01]:        <-app.core.helper <dur>",
            "t[01]:    <-__main__.go <dur>",
        ],
    )


PROBE = """
import sys
print("click" in sys.modules, "__functrace_trace__" in globals())
def f():
    return 1
f()
"""


def test_starts_without_click_and_rewrites_nothing_on_312(project: Path) -> None:
    (project / "probe.py").write_text(PROBE)
    traced = run_python([*RUN, "probe.py"], cwd=project)
    rewrite = sys.version_info < (3, 12)
    # No click, and on either path nothing of ours in the script's namespace.
    assert traced.stdout.split() == ["False", "False"], traced.stderr
    match_lines(traced.stderr.splitlines(), ["t[01]:    ->__main__.f", "t[01]:    <-* <dur>"])
    run_python([*RUN, "-o", "none", "prog.py"], cwd=project, env={"PYTHONDONTWRITEBYTECODE": ""})
    assert bool(list(project.rglob("*.functrace-*.pyc"))) is rewrite
    normal = list(project.rglob(f"core.{sys.implementation.cache_tag}.pyc"))
    assert bool(normal) is not rewrite  # 3.12+: the normal bytecode, the normal cache
    # Help and usage errors are click's.
    help_ = run_python([*RUN, "--help"], cwd=project)
    assert help_.returncode == 0 and "Usage:" in help_.stdout and "--include" in help_.stdout
    bad = run_python([*RUN, "--format", "xml", "probe.py"], cwd=project)
    assert bad.returncode == 2 and "'xml' is not one of" in bad.stderr


def test_directory_and_zip_app_as_python_runs_them(project: Path) -> None:
    import zipfile

    main = "import sys\nprint(sys.argv[1:], __name__)\n"
    (project / "dirapp").mkdir()
    (project / "dirapp" / "__main__.py").write_text(main)
    with zipfile.ZipFile(project / "app.pyz", "w") as zf:
        zf.writestr("__main__.py", main)
    for target in ("dirapp", "app.pyz"):
        plain = run_python([target, "x"], cwd=project)
        traced = run_python([*RUN, "-o", "none", target, "x"], cwd=project)
        assert traced.stdout == plain.stdout == "['x'] __main__\n", traced.stderr
        assert traced.returncode == plain.returncode == 0


def test_functraces_own_calls_are_never_traced(tmp_path: Path) -> None:
    # The engine itself uses the standard library (json for jsonl heads, inspect and
    # functools for wrappers): asked to trace those modules, a program that never
    # calls them must show none of their calls.
    (tmp_path / "prog.py").write_text(
        "def f(x):\n    return x + 1\n\n"
        "def main():\n    return sum(f(i) for i in range(3))\n\n"
        "main()\n"
    )
    patterns = ["-i", "json*", "-i", "functools*", "-i", "inspect*", "-i", "__main__*"]
    for fmt in ("text", "jsonl"):
        out = tmp_path / f"trace.{fmt}"
        proc = run_python(
            [*RUN, *patterns, "-o", str(out), "--format", fmt, "prog.py"], cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        lines = out.read_text().splitlines()
        if fmt == "text":
            names = {line.split("->", 1)[1].split()[0] for line in lines if "->" in line}
        else:
            names = {event["name"] for event in jsonl_events(lines)}
        assert "__main__.f" in names
        assert all(name.startswith("__main__.") for name in names), names


#: The library modules functrace's own Python code calls into: at a switch of
#: output (naming lines), in configure(), in its flusher thread, when a thread or
#: context dies (weak references), at exit, and in `run`'s closing note.
_OWN_LIBRARIES = (
    *("weakref*", "_weakrefset*", "shlex*", "dataclasses*", "threading*", "signal*"),
    *("re*", "enum*", "fnmatch*", "select*", "json*", "functools*", "posixpath*"),
)


@pytest.mark.parametrize("speedups", ["1", "0"])
def test_functraces_own_work_writes_no_line_whatever_the_include_patterns(
    tmp_path: Path, speedups: str
) -> None:
    # Each of these once wrote lines of functrace's own calls; `weakref*` with
    # `_weakrefset*` crashed the compiled path at exit (a context's weak-set
    # callback traced while the context was being freed), `signal*` hung it (the
    # flusher thread imported signal through the hook while the output was busy).
    (tmp_path / "prog.py").write_text(
        "import functrace\n\n"
        "def f(x):\n    return x + 1\n\n"
        "def main():\n"
        "    f(1)\n"
        f"    functrace.configure(output={str(tmp_path / 'second.log')!r})\n"
        "    functrace.disable()\n    f(2)\n    functrace.enable()\n"
        "    return f(3)\n\n"
        "main()\n"
    )
    patterns = [arg for pattern in ("__main__*", *_OWN_LIBRARIES) for arg in ("-i", pattern)]
    proc = run_python(
        [*RUN, *patterns, "-o", str(tmp_path / "first.log"), "prog.py"],
        cwd=tmp_path,
        env={"FUNCTRACE_SPEEDUPS": speedups},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [
        line
        for name in ("first.log", "second.log")
        for line in (tmp_path / name).read_text().splitlines()
    ]
    # After the program, the interpreter's own shutdown (threading._shutdown) is
    # traced as asked: it is neither the program's code nor functrace's.
    ends = next(i for i, line in enumerate(lines) if line.endswith("->threading._shutdown"))
    names = [line.split("->", 1)[1].split()[0] for line in lines[:ends] if "->" in line]
    assert names == ["__main__.main", "__main__.f", "__main__.main", "__main__.f"]
