"""Conditions real programs meet, under which the tracer must not harm them:
fork with threads running, FIFOs and symlinks where files are expected, warnings
as errors, output switches, SIGTERM, idle processes, pools, full disks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from functrace._runtime.lines import LINE_RE, NAME_RE, PROCESS_RE
from tests.helpers import balanced, clean_env, events, run_python

HEADER = textwrap.dedent(
    """
    import os, sys, threading, time
    import faulthandler; faulthandler.dump_traceback_later(25, exit=True)
    import functrace

    @functrace.trace
    def leaf(x=0):
        return x

    @functrace.trace
    def root(x=0):
        return leaf(x)
    """
)


def test_fork_while_another_thread_writes_never_hangs_the_child(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        sys.setswitchinterval(1e-5)
        stop = False
        def busy():
            while not stop:
                root()
                functrace.flush()
        t = threading.Thread(target=busy)
        t.start()
        for _ in range(40):
            pid = os.fork()
            if pid == 0:
                root(1)
                functrace.flush()
                os._exit(0)
            os.waitpid(pid, 0)
        stop = True
        t.join()
        print("done")
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)}, timeout=60)
    assert proc.stdout == "done\n", proc.stderr
    lines = out.read_text().splitlines()
    assert balanced(lines) == {}
    children = {m["tag"] for m in map(LINE_RE.match, lines) if m and "." in m["tag"]}
    assert len(children) == 40  # each child's lines arrived, under its own pid


@pytest.mark.parametrize("speedups", ["1", "0"])
def test_fork_while_another_thread_switches_the_output_never_hangs_the_child(
    tmp_path: Path, speedups: str
) -> None:
    # A switch of output pauses every event for a moment: a child forked during
    # one must not inherit the pause (it would wait forever at its first call).
    program = HEADER + textwrap.dedent(
        f"""
        sys.setswitchinterval(1e-5)
        stop = False
        def switcher():
            i = 0
            while not stop:
                functrace.configure(output=os.path.join({str(tmp_path)!r}, f"s{{i % 2}}.log"))
                i += 1
        t = threading.Thread(target=switcher)
        t.start()
        for n in range(40):
            pid = os.fork()
            if pid == 0:
                root(n)
                functrace.flush()
                os._exit(0)
            os.waitpid(pid, 0)
            root(n)
        stop = True
        t.join()
        print("done")
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_SPEEDUPS": speedups}, timeout=90)
    assert proc.stdout == "done\n", proc.stderr
    for path in tmp_path.glob("s*.log"):
        for line in path.read_text().splitlines():
            assert LINE_RE.match(line) or NAME_RE.match(line) or PROCESS_RE.match(line), line


def test_fork_pool_with_a_traced_background_thread_finishes(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        import multiprocessing
        stop = False
        def busy():
            while not stop:
                root()
        t = threading.Thread(target=busy)
        t.start()
        for _ in range(3):
            with multiprocessing.get_context("fork").Pool(2) as pool:
                assert pool.map(leaf, range(20)) == list(range(20))
        stop = True
        t.join()
        print("done")
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)}, timeout=90)
    assert proc.stdout == "done\n", proc.stderr


def test_a_fifo_output_never_blocks_the_program(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = run_python(
        ["-c", HEADER + "root()\nprint('done')"], env={"FUNCTRACE_OUTPUT": str(fifo)}, timeout=30
    )
    assert proc.stdout == "done\n"
    assert "cannot open FUNCTRACE_OUTPUT" in proc.stderr
    assert sum(bool(LINE_RE.match(line)) for line in proc.stderr.splitlines()) == 4


def test_a_fifo_with_a_reader_is_refused_too(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = run_python(
            ["-c", HEADER + "root()"], env={"FUNCTRACE_OUTPUT": str(fifo)}, timeout=30
        )
    finally:
        os.close(reader)
    assert "not a regular file, a terminal or /dev/null" in proc.stderr


def test_dev_null_and_dev_stderr_are_accepted(tmp_path: Path) -> None:
    proc = run_python(["-c", HEADER + "root()"], env={"FUNCTRACE_OUTPUT": os.devnull})
    assert proc.returncode == 0 and proc.stderr == ""
    proc = run_python(["-c", HEADER + "root()"], env={"FUNCTRACE_OUTPUT": "/dev/stderr"})
    assert sum(bool(LINE_RE.match(line)) for line in proc.stderr.splitlines()) == 4


def test_a_symlinked_output_is_refused_unless_asked(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    link = tmp_path / "trace.log"
    link.symlink_to(victim)
    proc = run_python(["-c", HEADER + "root()"], env={"FUNCTRACE_OUTPUT": str(link)})
    assert proc.returncode == 0
    assert victim.read_text() == "precious\n"
    assert "symbolic link; FUNCTRACE_FOLLOW_SYMLINKS=1 follows it" in proc.stderr
    proc = run_python(
        ["-c", HEADER + "root()"],
        env={"FUNCTRACE_OUTPUT": str(link), "FUNCTRACE_FOLLOW_SYMLINKS": "1"},
    )
    assert proc.stderr == ""
    lines = victim.read_text().splitlines()
    assert lines[0] == "precious" and PROCESS_RE.match(lines[1]) and NAME_RE.match(lines[2])
    assert len(lines) == 3 + 4


@pytest.mark.parametrize(
    "env",
    [
        {"FUNCTRACE_MAX_DEPTH": "abc"},
        {"FUNCTRACE_OUTPUT": "/nonexistent/dir/trace.log"},
        {"FUNCTRACE_EXPORTER": "zipkin"},
    ],
)
def test_notices_never_raise_under_warnings_as_errors(env: dict[str, str]) -> None:
    proc = run_python(["-W", "error", "-c", HEADER + "root()\nprint('done')"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done\n"
    assert "functrace: " in proc.stderr and "Traceback" not in proc.stderr


def switch_outputs(
    base: Path, threads: int, switches: int, files: int, format: str = "text"
) -> None:
    """Threads trace while the main thread switches the output ``switches`` times
    among ``files`` files and opens a file of its own after each switch: none of
    its files may receive a trace line, and every trace line must be whole."""
    program = HEADER + textwrap.dedent(
        f"""
        sys.setswitchinterval(1e-6)
        stop = False
        def busy():
            while not stop:
                root()
                functrace.flush()
        threads = [threading.Thread(target=busy) for _ in range({threads})]
        for t in threads:
            t.start()
        base = {str(base)!r}
        for i in range({switches}):
            functrace.configure(output=os.path.join(base, f"trace{{i % {files}}}.log"))
            with open(os.path.join(base, f"mine{{i}}.txt"), "w") as own:
                own.write("mine\\n")
        stop = True
        for t in threads:
            t.join()
        print("done")
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_FORMAT": format}, timeout=600)
    assert proc.stdout == "done\n", proc.stderr
    own = sorted(base.glob("mine*.txt"))
    assert len(own) == switches
    assert [p.name for p in own if p.read_text() != "mine\n"] == []
    for path in base.glob("trace*.log"):
        for line in path.read_text().splitlines():
            if format == "jsonl":
                assert isinstance(json.loads(line), dict), line
            else:
                assert LINE_RE.match(line) or NAME_RE.match(line) or PROCESS_RE.match(line), line


def test_output_switches_never_write_into_the_programs_own_files(tmp_path: Path) -> None:
    switch_outputs(tmp_path, threads=3, switches=400, files=2)


def needs_compiled_path() -> None:
    proc = run_python(["-c", "import functrace._runtime._speedups"])
    if proc.returncode or os.environ.get("FUNCTRACE_SPEEDUPS", "1") in ("0", "off", "false", "no"):
        pytest.skip("SIGTERM is caught by the compiled module's C handler")


@pytest.mark.parametrize("outer", [True, False], ids=["inside-calls", "between-calls"])
@pytest.mark.parametrize("speedups", ["1", "0"])
def test_each_output_is_well_formed_on_its_own_across_switches(
    tmp_path: Path, speedups: str, outer: bool
) -> None:
    # Threads trace while the output switches: each file must start with the
    # `running` lines of the calls they are inside, name every tag before its
    # first line, and every exit in it match an enter in it. The Python path too
    # (33 of 200 files were unbalanced before it took its snapshot in one
    # C-level step: the entries it reuses had moved on). Between calls (threads
    # mostly outside any): an event between the snapshot and the new naming
    # generation left its tag unnamed in 16-20 files of 200, either path.
    # Free-threaded builds too: there the switch stops every event for a moment
    # (before: about half of the 200 files were malformed on 3.13t).
    if speedups == "1":
        needs_compiled_path()
    program = HEADER + textwrap.dedent(
        f"""
        sys.setswitchinterval(1e-5)
        stop = False

        def outer():
            while not stop:
                root()

        if {outer}:
            outer = functrace.trace(outer)
        threads = [threading.Thread(target=outer) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(200):
            functrace.configure(output=os.path.join({str(tmp_path)!r}, f"t{{i:03d}}.log"))
            time.sleep(0.0005)
        stop = True
        for t in threads:
            t.join()
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_SPEEDUPS": speedups}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("t*.log"))
    assert len(files) == 200
    for path in files:
        balanced(path.read_text().splitlines())  # every indent the true depth, per file


def test_sigterm_writes_the_buffer_and_still_ends_by_sigterm(tmp_path: Path) -> None:
    needs_compiled_path()
    out = tmp_path / "trace.log"
    program = HEADER + "for i in range(500):\n    root(i)\nos.kill(os.getpid(), 15)\ntime.sleep(5)"
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.returncode == -signal.SIGTERM
    lines = out.read_text().splitlines()
    assert len(events(lines)) == 2000 and balanced(lines) == {}


def test_sigterm_ends_a_program_blocked_in_threads_at_once(tmp_path: Path) -> None:
    needs_compiled_path()
    # Whichever thread the kernel hands SIGTERM to, and whatever the main thread is
    # blocked in, the process still ends by SIGTERM, promptly, with its lines.
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        import signal
        ev = threading.Event()
        threads = [threading.Thread(target=ev.wait) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(100):
            root(i)
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
        threads[0].join()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", program],
        env=clean_env(FUNCTRACE_OUTPUT=str(out)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "True\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    lines = out.read_text().splitlines()
    assert len(events(lines)) == 400 and balanced(lines) == {}


def test_the_programs_own_sigterm_handler_is_left_alone(tmp_path: Path) -> None:
    program = HEADER + textwrap.dedent(
        """
        import signal
        signal.signal(signal.SIGTERM, lambda *a: print("mine"))
        root()
        os.kill(os.getpid(), signal.SIGTERM)
        print(signal.getsignal(signal.SIGTERM).__name__)
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(tmp_path / "t.log")})
    assert proc.stdout == "mine\n<lambda>\n" and proc.returncode == 0


def test_an_idle_process_writes_its_lines_within_the_interval(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = (
        HEADER + "for i in range(250):\n    root(i)\nprint('idle', flush=True)\ntime.sleep(30)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", program],
        env=clean_env(FUNCTRACE_OUTPUT=str(out)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "idle\n"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(events(out.read_text().splitlines())) < 1000:
            time.sleep(0.05)
        assert len(events(out.read_text().splitlines())) == 1000
    finally:
        proc.kill()
        proc.wait()


def test_the_flusher_thread_is_invisible_and_fork_sees_one_thread(tmp_path: Path) -> None:
    program = HEADER + textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error")
        root()
        time.sleep(0.2)
        print(threading.active_count(), len(threading.enumerate()))
        pid = os.fork()
        if pid == 0:
            root()
            functrace.flush()  # os._exit skips every exit hook
            os._exit(0)
        os.waitpid(pid, 0)
        root()
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(tmp_path / "t.log")})
    assert proc.stdout == "1 1\n"
    assert "multi-threaded" not in proc.stderr and proc.returncode == 0, proc.stderr
    lines = (tmp_path / "t.log").read_text().splitlines()
    assert len(events(lines)) == 12 and balanced(lines) == {}
    # The parent names itself first, the forked child itself again before its lines.
    assert PROCESS_RE.match(lines[0]) and sum(map(bool, map(PROCESS_RE.match, lines))) == 2


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
@pytest.mark.parametrize("pool", ["multiprocessing", "concurrent.futures"])
def test_pool_workers_write_each_tasks_lines_before_its_result(
    tmp_path: Path, method: str, pool: str
) -> None:
    out = tmp_path / "trace.log"
    script = tmp_path / "prog.py"
    make = (
        "ctx.Pool(2)"
        if pool == "multiprocessing"
        else "concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx)"
    )
    script.write_text(
        HEADER
        + textwrap.dedent(
            f"""
            import concurrent.futures, multiprocessing

            def work(i):
                for _ in range(50):
                    root(i)
                return i

            if __name__ == "__main__":
                ctx = multiprocessing.get_context({method!r})
                with {make} as pool:
                    assert list(pool.map(work, range(8))) == list(range(8))
                    # The results are back: so must every line of the tasks be.
                    with open({str(out)!r}) as f:
                        print(sum(not s.startswith("# ") for s in f.read().splitlines()))
            """
        )
    )
    proc = run_python([str(script)], env={"FUNCTRACE_OUTPUT": str(out)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{8 * 50 * 4}\n"
    lines = out.read_text().splitlines()
    assert len(events(lines)) == 8 * 50 * 4 and balanced(lines) == {}
    assert PROCESS_RE.match(lines[0])  # a worker's: the parent makes no traced call


def test_three_processes_with_threads_share_one_file_losing_nothing(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        @functrace.trace
        def gen(n):
            for i in range(n):
                yield leaf(i)

        def busy():
            for i in range(500):
                root(i)
                sum(gen(2))
        sys.setswitchinterval(1e-5)
        threads = [threading.Thread(target=busy) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        """
    )
    env = clean_env(FUNCTRACE_OUTPUT=str(out))
    procs = [subprocess.Popen([sys.executable, "-c", program], env=env) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    lines = out.read_text().splitlines()
    # per root: 4 lines; per gen(2): 3 runs of gen (2 enter/exit each) + 2 leaves (2 each)
    assert len(events(lines)) == 3 * 3 * 500 * (4 + 6 + 4)
    assert sum(map(bool, map(PROCESS_RE.match, lines))) == 3
    assert sum(map(bool, map(NAME_RE.match, lines))) == 3 * 3
    assert balanced(lines) == {}


def test_siblings_started_before_the_first_traced_call_have_their_own_tags() -> None:
    program = HEADER + textwrap.dedent(
        """
        import subprocess
        child = "import functrace\\n@functrace.trace\\ndef c(): pass\\nfor _ in range(3): c()"
        procs = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(3)]
        for p in procs:
            p.wait()
        root()
        """
    )
    proc = run_python(["-c", program])
    tags = {m["tag"] for m in map(LINE_RE.match, proc.stderr.splitlines()) if m}
    assert len(tags) == 4 and "t[01]" in tags, proc.stderr


def test_a_full_disk_leaves_whole_lines_and_says_what_was_lost(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.RLIM_INFINITY))
        for i in range(2000):
            root(i)
        print("done")
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.stdout == "done\n"
    data = out.read_bytes()
    assert data.endswith(b"\n") and 0 < len(data) <= 10_000
    written = data.decode().splitlines()
    assert PROCESS_RE.match(written[0]) and NAME_RE.match(written[1])
    assert all(LINE_RE.match(line) for line in written[2:])
    lost = 8000 - len(written[2:])
    assert f"functrace: {lost} trace lines could not be written" in proc.stderr, proc.stderr


def test_a_call_entered_while_on_ends_with_its_exit_line(trace_lines) -> None:  # type: ignore[no-untyped-def]
    import functrace

    @functrace.trace
    def inner() -> None:
        pass

    @functrace.trace
    def outer() -> None:
        functrace.disable()
        inner()  # not traced
        functrace.enable()
        inner()

    outer()
    names = [
        (m["indent"], m["arrow"], m["name"].rsplit(".", 1)[-1])
        for m in map(LINE_RE.match, trace_lines())
    ]
    assert names == [
        ("    ", "->", "outer"),
        ("        ", "->", "inner"),
        ("        ", "<-", "inner"),
        ("    ", "<-", "outer"),
    ]


def test_switching_on_and_off_under_threads_keeps_every_tag_balanced(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        stop = False
        def busy():
            while not stop:
                root()
        threads = [threading.Thread(target=busy) for _ in range(3)]
        for t in threads:
            t.start()
        for _ in range(60):
            functrace.disable()
            time.sleep(0.002)
            functrace.enable()
            time.sleep(0.002)
        stop = True
        for t in threads:
            t.join()
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert balanced(out.read_text().splitlines()) == {}


def test_registry_forgets_code_objects_that_die(tmp_path: Path) -> None:
    program = HEADER + textwrap.dedent(
        f"""
        import gc, importlib
        from functrace._runtime import engine
        sys.path.insert(0, {str(tmp_path)!r})
        with open({str(tmp_path / "mod.py")!r}, "w") as f:
            f.write("import functrace\\n" + "".join(
                f"@functrace.trace\\ndef f{{i}}(): pass\\n" for i in range(50)))
        import mod
        before = len(engine.infos)
        for _ in range(100):
            importlib.reload(mod)
        for i in range(2000):
            ns = {{}}
            exec("import functrace\\n@functrace.trace\\ndef g(): return 1", ns)
            assert ns["g"]() == 1
        gc.collect()
        print(before, len(engine.infos))
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": "none"})
    before, after = map(int, proc.stdout.split())
    assert after <= before + 1, proc.stderr


def test_general_and_compiled_lines_interleave_without_loss(tmp_path: Path) -> None:
    # Outermost calls go the general way, nested ones the compiled way; a flush in
    # another thread must never orphan a line queued between the two.
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        import signal
        sys.setswitchinterval(1e-6)
        signal.signal(signal.SIGALRM, lambda *a: root(-1))
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        def busy():
            for i in range(4000):
                root(i)
        threads = [threading.Thread(target=busy) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert sum(1 for line in lines if "leaf" in line and "->" in line and "(-" not in line) >= 12000
    assert balanced(lines) == {}


RECURSION = HEADER + textwrap.dedent(
    """
    import json
    from functrace._runtime import engine

    @functrace.trace
    def down(n):
        return down(n + 1)

    @functrace.trace
    def top():
        for _ in range(5):
            try:
                down(0)
            except RecursionError:
                pass
        return root()

    print(engine.native_module() is not None)
    top()
    """
)


@pytest.mark.parametrize("env", [{}, {"FUNCTRACE_MAX_DEPTH": "100000"}], ids=["plain", "filtered"])
def test_recursion_errors_leave_every_depth_true(env: dict[str, str]) -> None:
    proc = run_python(["-c", RECURSION], env=env)
    if proc.stdout != "True\n":
        pytest.skip("the compiled path keeps count at the recursion limit; it is not built")
    if sys.version_info < (3, 12) and env:
        pytest.skip("3.10/3.11 wrappers: a call to the compiled path itself can fail at the limit")
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        pytest.skip("free-threaded 3.13t: events at the recursion limit are still lost (known)")
    lines = proc.stderr.splitlines()
    assert balanced(lines) == {}
    assert lines[-1].startswith("t[01]:    <-__main__.top ")
    assert sum("->__main__.down" in line for line in lines) == sum(
        "<-__main__.down" in line for line in lines
    )


def test_code_run_at_shutdown_writes_whole_balanced_calls(tmp_path: Path) -> None:
    # A finalizer registered before functrace was imported runs after its last
    # atexit flush (atexit runs the last registered first): its calls must still
    # be written, whole, with every exit.
    out = tmp_path / "trace.log"
    program = (
        textwrap.dedent(
            """
        import weakref
        class Thing: pass
        early = weakref.finalize(Thing(), print)  # weakref's atexit hook comes first
        """
        )
        + HEADER
        + textwrap.dedent(
            """
        @functrace.trace
        def cleanup():
            leaf(1)
            time.sleep(0.3)  # past the flush interval: the enter line is out already
            leaf(2)

        thing = Thing()
        weakref.finalize(thing, cleanup)
        root()
        """
        )
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert balanced(lines) == {}
    assert [line.split("t[01]:")[1].strip().split(" ")[0] for line in lines[-6:]] == [
        "->__main__.cleanup",
        "->__main__.leaf",
        "<-__main__.leaf",
        "->__main__.leaf",
        "<-__main__.leaf",
        "<-__main__.cleanup",
    ]


def test_calls_a_daemon_thread_never_ends_end_as_lost_at_exit(tmp_path: Path) -> None:
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        started = threading.Event()

        @functrace.trace
        def serve_forever():
            leaf()
            started.set()
            while True:
                time.sleep(0.01)
                leaf()  # still running while the interpreter shuts down

        threading.Thread(target=serve_forever, daemon=True).start()
        started.wait()
        root()
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert balanced(lines) == {}
    daemon = [line for line in lines if line.startswith("t[01]")]  # its call came first
    assert daemon[0] == "t[01]:    ->__main__.serve_forever"
    assert daemon[-1].startswith("t[01]:    <-__main__.serve_forever ")
    assert daemon[-1].endswith(" lost")


def test_a_flush_cut_short_at_the_recursion_limit_keeps_its_lines(tmp_path: Path) -> None:
    # A flush from an event deep in a recursion can run out of frames before it
    # writes: the lines it took must wait for the next flush, not vanish.
    out = tmp_path / "trace.log"
    program = HEADER + textwrap.dedent(
        """
        from functrace._runtime import output
        root()
        real = output._write
        def short(items):
            output._write = real
            raise RecursionError
        output._write = short
        try:
            output.flush()
        except RecursionError:
            pass
        root(1)
        """
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert balanced(lines) == {}
    assert len(events(lines)) == 8  # root and leaf, twice, in and out
