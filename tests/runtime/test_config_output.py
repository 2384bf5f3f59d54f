"""The environment variables, the off switch, and where lines go."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from functrace._runtime.config import Settings, parse_duration_ns, settings_from_env
from functrace._runtime.lines import LINE_RE
from tests.helpers import (
    ROOT,
    clean_env,
    events,
    jsonl_events,
    match_lines,
    named_lines,
    run_python,
)

PROGRAM = textwrap.dedent(
    """
    import functrace

    @functrace.trace
    def leaf():
        return 1

    @functrace.trace
    def root():
        return leaf()

    root()
    """
)


def test_import_loads_the_standard_library_only() -> None:
    proc = run_python(
        [
            "-c",
            "import sys, functrace; print(sorted(m for m in ('libcst', 'click', 'rich', "
            "'pytest', 'opentelemetry', 'asyncio', 'inspect') if m in sys.modules))",
        ]
    )
    heavy = eval(proc.stdout)
    assert not {"libcst", "click", "rich", "pytest", "opentelemetry"} & set(heavy), heavy


@pytest.mark.parametrize("value", ["0", "off", "false", "no", "OFF", " No "])
def test_off_values_return_the_function_itself(value: str) -> None:
    code = "import functrace\ndef f(): pass\nprint(functrace.trace(f) is f)\nf()"
    proc = run_python(["-c", code], env={"FUNCTRACE": value})
    assert proc.stdout == "True\n" and proc.stderr == ""


@pytest.mark.parametrize("value", ["1", "on", "true", "yes", ""])
def test_on_values_trace(value: str) -> None:
    proc = run_python(["-c", PROGRAM], env={"FUNCTRACE": value})
    assert named_lines(proc.stderr.splitlines()) == {"t[01]": "MainThread"}
    assert len(events(proc.stderr.splitlines())) == 4


def test_bad_values_warn_once_and_fall_back() -> None:
    with pytest.warns(RuntimeWarning, match="FUNCTRACE='maybe'"):
        assert settings_from_env({"FUNCTRACE": "maybe"}).enabled
    with pytest.warns(RuntimeWarning, match="FUNCTRACE_FORMAT='xml'"):
        assert settings_from_env({"FUNCTRACE_FORMAT": "xml"}).format == "text"
    with pytest.warns(RuntimeWarning, match="FUNCTRACE_MAX_DEPTH='-1'"):
        assert settings_from_env({"FUNCTRACE_MAX_DEPTH": "-1"}).max_depth == 0
    with pytest.warns(RuntimeWarning, match="FUNCTRACE_MIN_DURATION='5 parsecs'"):
        assert settings_from_env({"FUNCTRACE_MIN_DURATION": "5 parsecs"}).min_duration_ns == 0
    assert settings_from_env({}) == Settings()
    assert parse_duration_ns("1.5ms") == 1_500_000 and parse_duration_ns("0") == 0


def test_bad_value_in_a_real_program_keeps_it_running() -> None:
    proc = run_python(["-c", PROGRAM], env={"FUNCTRACE": "perhaps"})
    assert proc.returncode == 0
    assert proc.stderr.count("functrace: ignoring FUNCTRACE='perhaps'") == 1
    assert sum(bool(LINE_RE.match(line)) for line in proc.stderr.splitlines()) == 4


def test_output_file_appends_and_runs_keep_distinct_tags(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    for _ in range(2):
        proc = run_python(["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": str(path)})
        assert proc.returncode == 0 and proc.stderr == ""
    all_lines = path.read_text().splitlines()
    # Each run names its process (first) and its thread before its lines.
    assert [i for i, line in enumerate(all_lines) if line.startswith("# process ")] == [0, 6]
    assert [line.startswith("# ") for line in all_lines] == ([True] * 2 + [False] * 4) * 2
    lines = events(all_lines)
    assert len(lines) == 8
    tags = [LINE_RE.match(line)["tag"] for line in lines]  # type: ignore[index]
    # The first run had the file to itself; the second found lines there already.
    assert set(tags[:4]) == {"t[01]"} and len(set(tags[4:])) == 1 and "." in tags[4]


def test_concurrent_independent_processes_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    program = PROGRAM + "import time\nfor _ in range(49):\n    root()\n    time.sleep(0.002)\n"
    env = clean_env(FUNCTRACE_OUTPUT=str(path))
    procs = [subprocess.Popen([sys.executable, "-c", program], env=env) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    all_lines = path.read_text().splitlines()
    assert all_lines[0].startswith("# process ")
    assert sum(line.startswith("# process ") for line in all_lines) == 3
    lines = events(all_lines)
    tags = {LINE_RE.match(line)["tag"] for line in lines}  # type: ignore[index]
    assert len(lines) == 3 * 50 * 4 and len(tags) == 3


def test_output_pid_file_and_stdout(tmp_path: Path) -> None:
    proc = run_python(["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": str(tmp_path / "t-{pid}.log")})
    (written,) = tmp_path.glob("t-*.log")
    assert written.name == f"t-{written.name[2:-4]}.log" and written.name[2:-4].isdigit()
    assert named_lines(written.read_text().splitlines()) == {"t[01]": "MainThread"}
    assert len(events(written.read_text().splitlines())) == 4
    proc = run_python(["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": "stdout"})
    assert named_lines(proc.stdout.splitlines()) == {"t[01]": "MainThread"}
    assert len(events(proc.stdout.splitlines())) == 4 and proc.stderr == ""


def test_a_process_holding_its_file_alone_writes_plain_tags(tmp_path: Path) -> None:
    # A child of a traced process (FUNCTRACE_ROOT_PID is another pid) that writes a
    # file of its own: nobody shares its tags, so no pid in them. Its stderr lines,
    # where the parent writes too, keep the pid; a per-test file again goes plain.
    program = textwrap.dedent(
        """
        import sys, functrace

        @functrace.trace
        def f():
            return 1

        f()
        functrace.configure(output=sys.argv[1])
        f()
        functrace.configure(output="stderr")
        f()
        """
    )
    own = tmp_path / "own.log"
    proc = run_python(["-c", program, str(own)], env={"FUNCTRACE_ROOT_PID": "1"})
    assert proc.returncode == 0, proc.stderr
    pid_tags = {LINE_RE.match(line)["tag"] for line in events(proc.stderr.splitlines())}  # type: ignore[index]
    assert len(pid_tags) == 1 and pid_tags.pop().startswith("t[") and "." in proc.stderr
    own_lines = own.read_text().splitlines()
    assert named_lines(own_lines) == {"t[01]": "MainThread"}
    assert [LINE_RE.match(line)["tag"] for line in events(own_lines)] == ["t[01]"] * 2  # type: ignore[index]
    pid_file = str(tmp_path / "t-{pid}.log")
    proc = run_python(
        ["-c", PROGRAM], env={"FUNCTRACE_ROOT_PID": "1", "FUNCTRACE_OUTPUT": pid_file}
    )
    (written,) = tmp_path.glob("t-*.log")
    assert named_lines(written.read_text().splitlines()) == {"t[01]": "MainThread"}
    assert {line[:6] for line in events(written.read_text().splitlines())} == {"t[01]:"}


@pytest.mark.parametrize("speedups", ["1", "0"])
def test_a_switch_to_a_shared_file_retags_the_very_next_lines(
    tmp_path: Path, speedups: str
) -> None:
    # The new output holds another run's lines: from the switch on this process
    # puts its pid in its tags, also in calls at depths whose lines it wrote
    # before (the pure path keeps each depth's last lines).
    shared = tmp_path / "shared.log"
    shared.write_text("t[01]:    ->other.run\n")
    program = textwrap.dedent(
        f"""
        import os, functrace

        @functrace.trace
        def leaf():
            return 1

        @functrace.trace
        def root(switch):
            leaf()
            if switch:
                functrace.configure(output={str(shared)!r})
            leaf()

        functrace.configure(output={str(tmp_path / "own.log")!r})
        root(False)
        root(True)
        root(False)
        print(os.getpid())
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_SPEEDUPS": speedups})
    assert proc.returncode == 0, proc.stderr
    tag = f"t[{proc.stdout.strip()}.01]"
    match_lines(
        shared.read_text().splitlines()[1:],
        [
            f"{tag}:    ->__main__.root running",
            f"{tag}:        ->__main__.leaf",
            f"{tag}:        <-__main__.leaf <dur>",
            f"{tag}:    <-__main__.root <dur>",
            f"{tag}:    ->__main__.root",
            f"{tag}:        ->__main__.leaf",
            f"{tag}:        <-__main__.leaf <dur>",
            f"{tag}:        ->__main__.leaf",
            f"{tag}:        <-__main__.leaf <dur>",
            f"{tag}:    <-__main__.root <dur>",
        ],
    )


def test_unopenable_output_warns_and_uses_stderr(tmp_path: Path) -> None:
    proc = run_python(["-c", PROGRAM], env={"FUNCTRACE_OUTPUT": str(tmp_path / "no" / "x.log")})
    assert proc.returncode == 0
    assert "cannot open FUNCTRACE_OUTPUT" in proc.stderr
    assert sum(bool(LINE_RE.match(line)) for line in proc.stderr.splitlines()) == 4


def test_jsonl_format() -> None:
    import json

    proc = run_python(["-c", PROGRAM], env={"FUNCTRACE_FORMAT": "jsonl"})
    lines = proc.stderr.splitlines()
    process, thread = (json.loads(line) for line in lines[:2])
    assert process["ev"] == "process" and process["argv"][-2:] == ["-c", PROGRAM]
    assert thread["ev"] == "thread" and thread["name"] == "MainThread"
    assert thread["tag"] == "t[01]" and thread["pid"] == process["pid"]
    events = jsonl_events(lines)
    assert len(events) == len(lines) - 2
    assert [(e["ev"], e["name"], e["depth"]) for e in events] == [
        ("enter", "__main__.root", 1),
        ("enter", "__main__.leaf", 1 + 1),
        ("exit", "__main__.leaf", 2),
        ("exit", "__main__.root", 1),
    ]
    assert {e["tag"] for e in events} == {"t[01]"} and events[0]["task"] is None
    assert events[2]["dur"] >= 0 and events[2]["exc"] is None and events[0]["line"] > 0
    assert events[0]["ts"] <= events[3]["ts"] and events[0]["pid"] > 0


@pytest.mark.parametrize(
    "ending",
    ["sys.exit(3)", "raise SystemExit(3)", "raise KeyError('unhandled')", "pass"],
)
def test_nothing_is_lost_at_exit(ending: str, tmp_path: Path) -> None:
    program = PROGRAM + textwrap.dedent(
        f"""
        import sys
        @functrace.trace
        def last():
            {ending}
        for _ in range(500):
            root()
        last()
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(tmp_path / "t.log")})
    lines = events((tmp_path / "t.log").read_text().splitlines())
    assert len(lines) == 4 * 501 + 2
    assert proc.returncode == (0 if ending == "pass" else 1 if "KeyError" in ending else 3)
    if "KeyError" in ending:
        assert "KeyError: 'unhandled'" in proc.stderr
        assert lines[-1].endswith("!KeyError")


def test_closed_pipe_does_not_crash_the_program(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM + "\nfor _ in range(20000):\n    root()\nprint('done', flush=True)\n")
    cmd = f"{sys.executable} {script} 2>&1 >/dev/null | head -3"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], env=clean_env(), capture_output=True, text=True
    )
    first = proc.stdout.splitlines()
    assert first[0].startswith("# process ") and first[1].startswith("# t[01] = thread ")
    assert first[2] == "t[01]:    ->__main__.root"
    # bash's pipefail reports python's status: 0 means the program finished unharmed
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_closed_stdout_pipe_with_trace_on_stdout(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM + "\nfor _ in range(20000):\n    root()\n")
    cmd = f"{sys.executable} {script} | head -2"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd],
        env=clean_env(FUNCTRACE_OUTPUT="stdout"),
        capture_output=True,
        text=True,
    )
    assert len(proc.stdout.splitlines()) == 2
    assert proc.returncode == 0 and proc.stderr == ""


def test_processes_sharing_a_file_get_distinct_tags(tmp_path: Path) -> None:
    path = tmp_path / "shared.log"
    program = PROGRAM + textwrap.dedent(
        """
        import multiprocessing, os, subprocess, sys
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("fork")
            p = ctx.Process(target=root)
            p.start(); p.join()
            subprocess.run([sys.executable, "-c", "import functrace\\n"
                            "@functrace.trace\\ndef child(): pass\\nchild()"], check=True)
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(path)})
    assert proc.returncode == 0, proc.stderr
    all_lines = path.read_text().splitlines()
    assert all_lines[0].startswith("# process ")
    assert sum(line.startswith("# process ") for line in all_lines) == 3
    lines = events(all_lines)
    tags = sorted({LINE_RE.match(line)["tag"] for line in lines})
    assert len(lines) == 4 + 4 + 2
    assert tags[0] == "t[01]" and len(tags) == 3
    assert all(t.startswith("t[") and "." in t for t in tags[1:]), tags


def test_max_depth_and_min_duration(tmp_path: Path) -> None:
    program = textwrap.dedent(
        """
        import time
        import functrace

        @functrace.trace
        def fast():
            pass

        @functrace.trace
        def slow():
            fast()
            time.sleep(0.02)

        @functrace.trace
        def top():
            fast()
            slow()

        top()
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_MAX_DEPTH": "1"})
    match_lines(
        proc.stderr.splitlines(), ["t[01]:    ->__main__.top", "t[01]:    <-__main__.top <dur>"]
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_MIN_DURATION": "10ms"})
    match_lines(
        proc.stderr.splitlines(),
        [
            "t[01]:    ->__main__.top",
            "t[01]:        ->__main__.slow",
            "t[01]:        <-__main__.slow <dur>",
            "t[01]:    <-__main__.top <dur>",
        ],
    )


def test_internal_error_turns_tracing_off_with_one_warning() -> None:
    program = textwrap.dedent(
        """
        import warnings
        import functrace
        from functrace._runtime import engine

        @functrace.trace
        def f(x):
            return x * 2

        class Broken:  # an exporter's listener with a bug: ours to contain
            def enter(self, *args):
                raise ZeroDivisionError("a bug of ours")
            def exit(self, *args):
                pass
        engine.add_observer(Broken())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = [f(i) for i in range(5)]
        print(results, len(caught), functrace.is_enabled())
        print(repr(str(caught[0].message)))
        """
    )
    proc = run_python(["-c", program])
    out = proc.stdout.splitlines()
    assert out[0] == "[0, 2, 4, 6, 8] 1 True"
    message = eval(out[1])
    assert "internal error" in message and "a bug of ours" in message
    # The place comes with it: the traceback down to the failing line.
    assert "Traceback (most recent call last)" in message
    assert "engine.py" in message and ", in enter" in message
    assert proc.returncode == 0


def test_configure_checks_values_as_the_environment_does() -> None:
    import functrace

    before = functrace.configure()
    for bad in ({"format": "xml"}, {"max_depth": -1}, {"output": ""}, {"max_lines": "many"}):
        with pytest.raises(ValueError, match=rf"configure\({next(iter(bad))}="):
            functrace.configure(**bad)
        assert functrace.configure() == before  # nothing changed
    with pytest.raises(TypeError, match="unknown setting 'colour'"):
        functrace.configure(colour=True)
    done = functrace.configure(min_duration_ns="2ms", include="a*, b*", enabled="on")
    assert (done.min_duration_ns, done.include, done.enabled) == (2_000_000, ("a*", "b*"), True)
    assert functrace.configure(output=Path("/dev/stderr")).output == "stderr"
    functrace.configure(min_duration_ns=0, include=())


def test_notices_point_at_the_programs_own_line(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(
        "import functrace\n"
        "functrace.configure(output='/nonexistent/dir/x.log')\n"
        "@functrace.trace\n"
        "def f():\n"
        "    pass\n"
    )
    proc = run_python([str(program)], env={"FUNCTRACE_MAX_DEPTH": "deep"})
    warned = [line for line in proc.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warned) == 2, proc.stderr
    assert warned[0].startswith(
        f"{program}:1: RuntimeWarning: functrace: ignoring FUNCTRACE_MAX_DEPTH"
    )
    # The decorator's line (3.10 reports a decorator's call at the ``def`` line).
    assert warned[1].startswith(
        (f"{program}:3: RuntimeWarning: functrace: cannot open", f"{program}:4: RuntimeWarning")
    )


def test_runtime_enable_after_env_off_traces_later_functions() -> None:
    code = textwrap.dedent(
        """
        import functrace
        functrace.enable()
        @functrace.trace
        def f(): pass
        f()
        """
    )
    proc = run_python(["-c", code], env={"FUNCTRACE": "0"})
    assert named_lines(proc.stderr.splitlines()) == {"t[01]": "MainThread"}
    assert len(events(proc.stderr.splitlines())) == 2


def test_examples_run_from_a_checkout_on_every_backend() -> None:
    for name in ("chains.py", "generators.py", "tasks.py"):
        proc = run_python([str(ROOT / "examples" / name)], env={"FUNCTRACE": "0"})
        assert proc.returncode == 0 and proc.stderr == ""
    assert os.path.exists(ROOT / "examples" / "chains.py")


def test_include_and_exclude_by_name() -> None:
    program = textwrap.dedent(
        """
        import functrace

        @functrace.trace
        def keep_me():
            return drop_me()

        @functrace.trace
        def drop_me():
            return 1

        print(functrace.trace(drop_me) is drop_me)
        keep_me()
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_EXCLUDE": "*.drop_*"})
    assert proc.stdout == "True\n"
    match_lines(
        proc.stderr.splitlines(),
        ["t[01]:    ->__main__.keep_me", "t[01]:    <-__main__.keep_me <dur>"],
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_INCLUDE": "__main__.drop_me, other.*"})
    match_lines(
        proc.stderr.splitlines(),
        ["t[01]:    ->__main__.drop_me", "t[01]:    <-__main__.drop_me <dur>"],
    )


def test_a_failing_start_warns_and_leaves_functions_untouched() -> None:
    program = textwrap.dedent(
        """
        import warnings
        import functrace
        from functrace._runtime import engine

        def broken(settings):
            raise OSError("no trace for you")
        engine.configure = broken
        def f():
            return 7
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = functrace.trace(f)
            h = functrace.trace(lambda: 1)
        print(g is f, g(), len(caught), "could not start tracing" in str(caught[0].message))
        """
    )
    proc = run_python(["-c", program])
    assert proc.stdout == "True 7 1 True\n", proc.stderr


def test_a_new_output_starts_with_the_calls_already_running(tmp_path: Path) -> None:
    first, second = tmp_path / "one.log", tmp_path / "two.log"
    program = textwrap.dedent(
        f"""
        import functrace

        @functrace.trace
        def inner():
            functrace.configure(output={str(second)!r})
            leaf()

        @functrace.trace
        def leaf():
            pass

        @functrace.trace
        def outer():
            inner()

        functrace.configure(output={str(first)!r})
        outer()
        """
    )
    proc = run_python(["-c", program])
    assert proc.returncode == 0, proc.stderr
    match_lines(
        first.read_text().splitlines(),
        ["t[01]:    ->__main__.outer", "t[01]:        ->__main__.inner"],
    )
    match_lines(
        second.read_text().splitlines(),
        [
            "t[01]:    ->__main__.outer running",
            "t[01]:        ->__main__.inner running",
            "t[01]:            ->__main__.leaf",
            "t[01]:            <-__main__.leaf <dur>",
            "t[01]:        <-__main__.inner <dur>",
            "t[01]:    <-__main__.outer <dur>",
        ],
    )


@pytest.mark.parametrize("speedups", ["1", "0"])
def test_max_lines_keeps_the_first_lines_then_one_marker(tmp_path: Path, speedups: str) -> None:
    path = tmp_path / "t.log"
    program = PROGRAM + textwrap.dedent(
        """
        for _ in range(5000):
            root()
        from functrace._runtime import output
        functrace.flush()
        print(output.lines_written, output.lines_dropped)
        """
    )
    proc = run_python(
        ["-c", program],
        env={
            "FUNCTRACE_OUTPUT": str(path),
            "FUNCTRACE_MAX_LINES": "1_001",
            "FUNCTRACE_SPEEDUPS": speedups,
        },
    )
    lines = path.read_text().splitlines()
    assert len(lines) == 1002
    # The two lines naming the process and its thread count among the 1001.
    assert named_lines(lines[:1001]) == {"t[01]": "MainThread"}
    assert all(LINE_RE.match(line) for line in lines[2:1001])
    assert lines[1001] == "# functrace: trace cut after 1001 lines (FUNCTRACE_MAX_LINES)"
    assert proc.stdout.split() == ["1002", str(4 * 5001 - 999)]


@pytest.mark.parametrize("speedups", ["1", "0"])
def test_many_outermost_calls_keep_little_memory(tmp_path: Path, speedups: str) -> None:
    # more-itertools measures what a loop of calls retains with tracemalloc: the
    # trace must not be what grows (lines wait in bounded chunks, durations are
    # formatted from a table filled before).
    program = PROGRAM + textwrap.dedent(
        """
        import tracemalloc
        tracemalloc.start()
        for _ in range(20000):
            root()
        retained = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(retained)
        """
    )
    proc = run_python(
        ["-c", program],
        env={"FUNCTRACE_OUTPUT": str(tmp_path / "t.log"), "FUNCTRACE_SPEEDUPS": speedups},
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) < 256 * 1024
    assert len(events((tmp_path / "t.log").read_text().splitlines())) == 4 * 20001


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_the_null_device_is_never_a_shared_file() -> None:
    # Another process holds /dev/null locked (another traced program writing to
    # it, say): this one's tags stay plain (before: its pid went into them, so a
    # recording's tags depended on what else ran on the machine).
    import fcntl

    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        program = textwrap.dedent(
            """
            import functrace

            @functrace.trace
            def f():
                pass

            with functrace.record() as rec:
                functrace.configure(output="/dev/null")
                f()
            print(rec.roots[-1].tag)
            """
        )
        proc = run_python(["-c", program])
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "t[01]\n"
