"""``functrace run`` follows the Python processes its program starts: spawn and
forkserver pools, ``subprocess`` trees; into the same output (or ``{pid}`` files),
each child tagged with its pid and named with its parent. Nothing of it reaches
a child when tracing is off or ``--no-children`` is given."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from functrace._runtime.lines import LINE_RE, PROCESS_RE
from functrace.children import BOOT_DIR
from tests.helpers import ROOT, balanced, clean_env, events, run_python

RUN = ["-m", "functrace", "run"]

APP = """
import multiprocessing, subprocess, sys

def leaf(x):
    return x * 2

def work(x):
    return leaf(x) + 1

def main(method):
    with multiprocessing.get_context(method).Pool(2) as pool:
        print(sorted(pool.map(work, range(8))), flush=True)
    subprocess.run([sys.executable, "child.py"], check=True)

if __name__ == "__main__":
    main(sys.argv[1])
"""

CHILD = """
import subprocess, sys

def hello(n):
    return "hello" * n

def main():
    print(hello(1), flush=True)
    subprocess.run([sys.executable, "-c", "import grandchild; grandchild.deep()"], check=True)

main()
"""

GRANDCHILD = """
def inner():
    return 1

def deep():
    return inner()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in {"app.py": APP, "child.py": CHILD, "grandchild.py": GRANDCHILD}.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def processes(lines: list[str]) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) from the process naming lines."""
    found = {}
    for line in lines:
        m = PROCESS_RE.match(line)
        if m is not None:
            found[int(m["pid"])] = (int(m["ppid"]), json.loads(m["command"]))
    return found


def calls(lines: list[str]) -> dict[str, list[str]]:
    """Enter lines by tag: the names called, in order."""
    by_tag: dict[str, list[str]] = {}
    for line in events(lines):
        m = LINE_RE.match(line)
        assert m is not None, line
        if m["arrow"] == "->":
            by_tag.setdefault(m["tag"], []).append(m["name"])
    return by_tag


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_pool_and_a_subprocess_tree_arrive_whole_and_balanced(project: Path, method: str) -> None:
    out = project / "trace.log"
    proc = run_python([*RUN, "-o", str(out), "app.py", method], cwd=project, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[1, 3, 5, 7, 9, 11, 13, 15]\nhello\n"
    lines = out.read_text().splitlines()
    assert balanced(lines) == {}
    names = processes(lines)
    by_tag = calls(lines)
    root = next(pid for pid, (_, command) in names.items() if " run " in command)
    assert by_tag["t[01]"] == ["__main__.main"]  # the first process keeps plain tags
    for tag in by_tag:
        pid = int(tag[2:].split(".")[0]) if "." in tag else root
        assert pid in names, f"{tag}: no process line for {pid}"
    # The pool's workers: every task, each with its nested call, under the worker's pid.
    workers = [t for t, called in by_tag.items() if "__mp_main__.work" in called]
    assert workers and all("." in t for t in workers)
    worked = [name for t in workers for name in by_tag[t]]
    assert worked == ["__mp_main__.work", "__mp_main__.leaf"] * 8
    # The subprocess tree: child.py's own functions, then its child's module.
    (child_tag,) = (t for t, called in by_tag.items() if "__main__.hello" in called)
    (grand_tag,) = (t for t, called in by_tag.items() if "grandchild.deep" in called)
    assert by_tag[child_tag] == ["__main__.main", "__main__.hello"]
    assert by_tag[grand_tag] == ["grandchild.deep", "grandchild.inner"]
    child_pid, grand_pid = (int(t[2:].split(".")[0]) for t in (child_tag, grand_tag))
    assert names[child_pid] == (root, f"{sys.executable} child.py")
    assert names[grand_pid][0] == child_pid


def test_pid_files_hold_one_process_each_with_plain_tags(project: Path) -> None:
    proc = run_python([*RUN, "-o", "trace-{pid}.log", "app.py", "spawn"], cwd=project, timeout=60)
    assert proc.returncode == 0, proc.stderr
    files = sorted(project.glob("trace-*.log"))
    traced = {}
    for path in files:
        lines = path.read_text().splitlines()
        if not lines:
            continue  # a helper process (the resource tracker) that traced nothing
        assert balanced(lines) == {}
        ((pid, (ppid, _)),) = processes(lines).items()
        assert path.name == f"trace-{pid}.log"
        traced[pid] = (ppid, set(calls(lines)), [n for ns in calls(lines).values() for n in ns])
    assert all(tags == {"t[01]"} for _, tags, _ in traced.values())
    (root,) = (pid for pid, (_, _, names) in traced.items() if names == ["__main__.main"])
    (child,) = (pid for pid, (_, _, names) in traced.items() if "__main__.hello" in names)
    assert traced[child][0] == root
    assert sum(names.count("__mp_main__.work") for _, _, names in traced.values()) == 8


def test_children_writing_at_once_to_one_stderr_pipe_never_tear_a_line(tmp_path: Path) -> None:
    # Four processes, one inherited stderr pipe, long chunks of lines each.
    (tmp_path / "busy.py").write_text(
        textwrap.dedent(
            """
            import subprocess, sys

            def leaf(i):
                return i

            def burst(n):
                for i in range(n):
                    leaf(i)

            if sys.argv[1:] == ["child"]:
                burst(20000)
            else:
                kids = [subprocess.Popen([sys.executable, "busy.py", "child"]) for _ in range(3)]
                burst(20000)
                assert all(k.wait() == 0 for k in kids)
            """
        )
    )
    proc = run_python([*RUN, "busy.py"], cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert balanced(lines) == {}
    by_tag = calls(lines)
    assert len(by_tag) == 4
    assert all(names.count("__main__.leaf") == 20000 for names in by_tag.values())


def test_a_childs_exit_status_and_traceback_are_pythons(tmp_path: Path) -> None:
    (tmp_path / "fails.py").write_text("def f():\n    raise ValueError('boom')\n\nf()\n")
    (tmp_path / "exits.py").write_text("import sys\n\ndef f():\n    sys.exit(3)\n\nf()\n")
    (tmp_path / "parent.py").write_text(
        textwrap.dedent(
            """
            import subprocess, sys
            for name in ("fails.py", "exits.py"):
                child = subprocess.run([sys.executable, name], capture_output=True, text=True)
                print(child.returncode, repr(child.stderr))
            """
        )
    )
    plain = run_python(["parent.py"], cwd=tmp_path)
    traced = run_python([*RUN, "-o", "trace.log", "parent.py"], cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    # The same on every Python: 3.10/3.11 trace a plain function through an inline
    # probe, which adds no traceback entry.
    assert traced.stdout == plain.stdout
    assert plain.stdout.startswith("1 'Traceback") and "\n3 ''" in plain.stdout
    names = calls((tmp_path / "trace.log").read_text().splitlines())
    assert sorted(n for ns in names.values() for n in ns) == ["__main__.f", "__main__.f"]


def test_the_sitecustomize_it_hides_runs_and_the_path_is_the_childs(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['OWN_SITE'] = 'ran'\n")
    (tmp_path / "parent.py").write_text(
        textwrap.dedent(
            """
            import subprocess, sys
            probe = (
                "import os, sys, sitecustomize; "
                "print(os.environ.get('OWN_SITE'), sitecustomize.__file__, "
                "any('_boot' in p for p in sys.path), 'functrace' in sys.modules)"
            )
            subprocess.run([sys.executable, "-c", probe], check=True)
            """
        )
    )
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(own)])}
    proc = run_python([*RUN, "parent.py"], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"ran {own / 'sitecustomize.py'} False True\n"


def test_a_child_in_another_environment_is_traced_by_the_parents_functrace(
    tmp_path: Path,
) -> None:
    # The child's path has no functrace (another virtual environment, say): the
    # bootstrap loads the parent's copy, and sys.path stays the child's.
    (tmp_path / "mod.py").write_text("def f():\n    return 1\n")
    (tmp_path / "parent.py").write_text(
        textwrap.dedent(
            f"""
            import os, subprocess, sys
            env = dict(os.environ, PYTHONPATH={BOOT_DIR!r})
            probe = "import sys, mod; mod.f(); print({str(ROOT)!r} in sys.path)"
            subprocess.run([sys.executable, "-c", probe], env=env, check=True)
            """
        )
    )
    proc = run_python([*RUN, "-o", "trace.log", "parent.py"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "False\n"
    assert list(calls((tmp_path / "trace.log").read_text().splitlines()).values()) == [["mod.f"]]


PROBE = """
import json, os, subprocess, sys
child = subprocess.run(
    [sys.executable, "-c", "import json, os, sys; print(json.dumps([dict(os.environ), sys.path]))"],
    capture_output=True, text=True, check=True,
)
shell = subprocess.run(["sh", "-c", "echo $0 untouched"], capture_output=True, text=True)
print(json.dumps([child.stdout, shell.stdout, child.stderr + shell.stderr]))
"""


def _probe(tmp_path: Path, args: list[str], **env: str) -> tuple[dict[str, str], list[str], str]:
    (tmp_path / "probe.py").write_text(PROBE)
    proc = run_python([*args, "probe.py"], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    child, shell, errors = json.loads(proc.stdout)
    assert shell == "sh untouched\n" and errors == ""
    environ, path = json.loads(child)
    return environ, path, proc.stderr


def test_nothing_reaches_a_child_when_tracing_is_off_or_not_asked(tmp_path: Path) -> None:
    plain_env, plain_path, _ = _probe(tmp_path, [])
    for args, env in [
        (RUN, {"FUNCTRACE": "0"}),
        ([*RUN, "--no-children"], {}),
    ]:
        environ, path, stderr = _probe(tmp_path, args, **env)
        assert path == plain_path
        ours = {k: v for k, v in environ.items() if plain_env.get(k) != v}
        # FUNCTRACE_ROOT_PID: how a traced process's children tag their lines (runtime.md).
        allowed = {"FUNCTRACE", "FUNCTRACE_ROOT_PID"}
        assert set(ours) <= allowed, (args, env, ours)
        assert "->" not in stderr
    # Followed: the same path for the child (the bootstrap takes itself off it).
    environ, path, stderr = _probe(tmp_path, RUN)
    assert path == plain_path
    assert environ["PYTHONPATH"].split(os.pathsep)[0] == BOOT_DIR
    assert json.loads(environ["FUNCTRACE_CHILDREN"])["under"] == [str(tmp_path)]


def test_the_bootstrap_imports_nothing_without_its_variable(tmp_path: Path) -> None:
    probe = "import sys; print(sorted(m for m in sys.modules if m.startswith('functrace')))"
    env = clean_env(PYTHONPATH=os.pathsep.join([BOOT_DIR, str(ROOT)]))
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout == "[]\n" and proc.stderr == ""
    env["FUNCTRACE_CHILDREN"] = "{}"
    env["FUNCTRACE"] = "off"
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout == "[]\n"


def test_pytest_plugin_puts_a_tests_children_in_its_trace(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        calc="def double(x):\n    return 2 * x\n",
        test_kids=textwrap.dedent(
            """
            import subprocess, sys

            def test_child():
                code = "import calc; print(calc.double(21))"
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                assert out.stdout == "42\\n"
            """
        ),
    )
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess(
        "--functrace", "--functrace-children", "--functrace-output=traces"
    )
    result.assert_outcomes(passed=1)
    (trace,) = (pytester.path / "traces").glob("*.log")
    lines = trace.read_text().splitlines()
    assert balanced(lines) == {}
    (tag,) = calls(lines)
    assert re.fullmatch(r"t\[[0-9]+\.01\]", tag) and calls(lines)[tag] == ["calc.double"]
    assert "FUNCTRACE_CHILDREN" not in os.environ


POOLS = """
import concurrent.futures, multiprocessing, sys

def leaf(x):
    return x * 2

def work(x):
    return leaf(x) + 1

def main(method):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        forked = sorted(pool.map(work, range(4)))
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
        pooled = sorted(executor.map(work, range(4)))
    print(forked, pooled, flush=True)

if __name__ == "__main__":
    main(sys.argv[1])
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_fork_pool_and_a_process_pool_executor_keep_the_settings(
    tmp_path: Path, method: str
) -> None:
    (tmp_path / "pools.py").write_text(POOLS)
    out = tmp_path / "trace.log"
    proc = run_python([*RUN, "--args", "-o", str(out), "pools.py", method], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[1, 3, 5, 7] [1, 3, 5, 7]\n"
    lines = out.read_text().splitlines()
    assert balanced(lines) == {}
    names = processes(lines)
    parsed = [m for m in map(LINE_RE.match, events(lines)) if m is not None]
    work = [m for m in parsed if m["name"].endswith(".work")]
    # Every job in a worker tagged with its pid (named by a process line), with
    # the values asked for in the parent: its argument in, its result out.
    assert all("." in m["tag"] and int(m["tag"][2:].split(".")[0]) in names for m in work)
    entered = sorted(m["details"] for m in work if m["arrow"] == "->")
    assert entered == sorted([f"(x={x})" for x in range(4)] * 2)
    returned = sorted(m["details"].split(" => ")[1] for m in work if m["arrow"] == "<-")
    assert returned == sorted([str(2 * x + 1) for x in range(4)] * 2)
