"""The pytest plugin, run through pytester on small projects."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import match_lines

PACKAGE = {
    "chains/__init__.py": "",
    "chains/graph.py": """
        def D(x):
            if x < 0:
                raise ValueError(x)
            return x

        def C1(x): return D(x)
        def C2(x): return D(x)
        def B1(x): return C1(x)
        def B2(x): return C2(x)
        def A1(x): return B1(x)
        def A2(x): return B2(x)
        def loop(n):
            for i in range(n):
                D(i)
    """,
}

TESTS = """
    from chains import graph

    def test_passes():
        assert graph.A1(1) == 1

    def test_fails():
        graph.A1(2)
        assert graph.A2(-1) == 0
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in PACKAGE.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        import textwrap

        path.write_text(textwrap.dedent(text))
    pytester.syspathinsert()
    return pytester


def section(output: list[str]) -> list[str]:
    """The lines of the functrace section of the (single) failure."""
    start = next(i for i, line in enumerate(output) if "functrace call tree" in line)
    end = next(
        i for i in range(start + 1, len(output)) if output[i].startswith(("___", "===", "---"))
    )
    return output[start + 1 : end]


def test_inert_without_the_flag(project: pytest.Pytester) -> None:
    project.makepyfile(test_it=TESTS)
    project.makepyfile(
        test_probe="""
        import sys
        def test_no_hook():
            assert not any("Tracing" in type(f).__name__ for f in sys.meta_path)
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    assert "functrace call tree" not in result.stdout.str()


def test_failing_test_shows_its_call_tree(project: pytest.Pytester) -> None:
    project.makepyfile(test_it=TESTS)
    result = project.runpytest("--functrace=chains")
    result.assert_outcomes(passed=1, failed=1)
    match_lines(
        section(result.outlines),
        [
            "t[01]:    ->chains.graph.A1",
            "t[01]:        ->chains.graph.B1",
            "t[01]:            ->chains.graph.C1",
            "t[01]:                ->chains.graph.D",
            "t[01]:                <-chains.graph.D <dur>",
            "t[01]:            <-chains.graph.C1 <dur>",
            "t[01]:        <-chains.graph.B1 <dur>",
            "t[01]:    <-chains.graph.A1 <dur>",
            "t[01]:    ->chains.graph.A2",
            "t[01]:        ->chains.graph.B2",
            "t[01]:            ->chains.graph.C2",
            "t[01]:                ->chains.graph.D",
            "t[01]:                <-chains.graph.D <dur> !ValueError",
            "t[01]:            <-chains.graph.C2 <dur> !ValueError",
            "t[01]:        <-chains.graph.B2 <dur> !ValueError",
            "t[01]:    <-chains.graph.A2 <dur> !ValueError",
        ],
    )
    assert result.stdout.str().count("functrace call tree") == 1  # not for the pass


def test_args_flag_shows_arguments_and_values(project: pytest.Pytester) -> None:
    project.makepyfile(test_it=TESTS)
    result = project.runpytest("--functrace=chains", "--functrace-args")
    result.assert_outcomes(passed=1, failed=1)
    match_lines(
        section(result.outlines)[-4:],
        [
            "t[01]:                <-chains.graph.D <dur> !ValueError => -1",
            "t[01]:            <-chains.graph.C2 <dur> !ValueError => -1",
            "t[01]:        <-chains.graph.B2 <dur> !ValueError => -1",
            "t[01]:    <-chains.graph.A2 <dur> !ValueError => -1",
        ],
    )
    assert "t[01]:                ->chains.graph.D(x=-1)" in result.outlines


def test_bare_flag_traces_packages_under_the_rootdir_not_tests(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_it="""
        from chains import graph
        def helper(): return graph.D(-1)
        def test_fails(): helper()
        """
    )
    result = project.runpytest("--functrace")
    result.assert_outcomes(failed=1)
    match_lines(
        section(result.outlines),
        ["t[01]:    ->chains.graph.D", "t[01]:    <-chains.graph.D <dur> !ValueError"],
    )


def test_test_modules_traced_when_asked(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        from chains import graph
        def helper(): return graph.D(-1)
        class TestIt:
            def test_fails(self): helper()
        """
    )
    result = project.runpytest("--functrace=chains", "--functrace-tests")
    result.assert_outcomes(failed=1)
    match_lines(
        section(result.outlines),
        [
            "t[01]:    ->test_it.TestIt.test_fails",
            "t[01]:        ->test_it.helper",
            "t[01]:            ->chains.graph.D",
            "t[01]:            <-chains.graph.D <dur> !ValueError",
            "t[01]:        <-test_it.helper <dur> !ValueError",
            "t[01]:    <-test_it.TestIt.test_fails <dur> !ValueError",
        ],
    )


def test_assertion_rewriting_still_works(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        from chains import graph
        def test_fails():
            x = graph.A1(3)
            assert x == 4
        """
    )
    result = project.runpytest("--functrace", "--functrace-tests")
    result.stdout.fnmatch_lines(["*assert 3 == 4*"])


def test_cap_on_lines_written_and_lines_shown(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        from chains import graph
        def test_fails():
            graph.loop(100)
            graph.D(-1)
        """
    )
    result = project.runpytest("--functrace=chains", "--functrace-lines=10", "--functrace-limit=50")
    lines = section(result.outlines)
    # 204 lines in all (loop, 101 calls of D) and the 2 naming the process and its
    # thread: the first 50 are written (those 2 first), then the marker; the report
    # shows the chain that ran last in them, the rest folded.
    match_lines(
        lines,
        [
            "t[01]:    ->chains.graph.loop",
            "t[01]:        ... 23 calls before (chains.graph.D ×23)",
            "t[01]:        ->chains.graph.D",
            "# functrace: trace cut after 50 lines (FUNCTRACE_MAX_LINES)",
            "[functrace] the calls that ran last, other calls folded to counts (49 lines in all)",
            "[functrace] 50 lines written, 156 more dropped (--functrace-limit)",
            "[functrace] full trace: *test_it.py..test_fails.log",
        ],
    )


def test_a_chatty_test_holds_no_trace_in_memory(project: pytest.Pytester) -> None:
    # The plugin streams each test's lines to a file: a test that measures its own
    # allocations (more-itertools has one) sees no recording growing.
    project.makepyfile(
        test_it="""
        import tracemalloc
        from chains import graph
        def test_bounded():
            tracemalloc.start()
            try:
                graph.loop(20000)
                retained = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
            assert retained < 256 * 1024, retained
        """
    )
    result = project.runpytest("--functrace=chains")
    result.assert_outcomes(passed=1)


def test_output_dir_one_file_per_test(project: pytest.Pytester) -> None:
    project.makepyfile(test_it=TESTS)
    result = project.runpytest("--functrace=chains", "--functrace-output=traces")
    result.assert_outcomes(passed=1, failed=1)
    files = sorted(p.name for p in (project.path / "traces").iterdir())
    assert files == ["test_it.py..test_fails.log", "test_it.py..test_passes.log"]
    passed = (project.path / "traces" / "test_it.py..test_passes.log").read_text()
    match_lines(
        passed.splitlines(),
        [
            "t[01]:    ->chains.graph.A1",
            "t[01]:        ->chains.graph.B1",
            "t[01]:            ->chains.graph.C1",
            "t[01]:                ->chains.graph.D",
            "t[01]:                <-chains.graph.D <dur>",
            "t[01]:            <-chains.graph.C1 <dur>",
            "t[01]:        <-chains.graph.B1 <dur>",
            "t[01]:    <-chains.graph.A1 <dur>",
        ],
    )


def test_ini_options(project: pytest.Pytester) -> None:
    project.makeini(
        """
        [pytest]
        functrace = chains
        functrace_lines = 2
        """
    )
    project.makepyfile(test_it=TESTS)
    result = project.runpytest()
    lines = section(result.outlines)  # the chain to the exception, cut to 2 lines
    assert lines[1] == "... 7 lines cut ..."
    assert lines[-2] == "[functrace] 7 of 9 lines cut (--functrace-lines)"


def test_fixture_tells_the_chain(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        from chains import graph
        def test_chain(functrace_calls):
            graph.A1(1)
            graph.A2(2)
            assert functrace_calls.chains("D") == [
                ["chains.graph.A1", "chains.graph.B1", "chains.graph.C1", "chains.graph.D"],
                ["chains.graph.A2", "chains.graph.B2", "chains.graph.C2", "chains.graph.D"],
            ]
        """
    )
    project.runpytest("--functrace=chains").assert_outcomes(passed=1)


def test_xdist_workers_record_their_own_tests(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(test_it=TESTS)
    project.makepyfile(test_more=TESTS.replace("A2(-1)", "A1(-1)"))
    result = project.runpytest_subprocess("-n", "2", "--functrace=chains", "-p", "xdist")
    result.assert_outcomes(passed=2, failed=2)
    assert result.stdout.str().count("functrace call tree") == 2
    result.stdout.fnmatch_lines(["*<-chains.graph.A2 * !ValueError"])  # each worker's
    result.stdout.fnmatch_lines(["*<-chains.graph.A1 * !ValueError"])  # own failure


def test_next_to_pytest_cov(project: pytest.Pytester) -> None:
    pytest.importorskip("pytest_cov")
    project.makepyfile(test_it=TESTS)
    result = project.runpytest_subprocess(
        "--functrace=chains", "--cov=chains", "--cov-report=term-missing"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*chains/graph.py*"])
    assert "functrace call tree" in result.stdout.str()


FAILING = """
    from chains import graph
    def test_fails():
        assert graph.A2(-1) == 0
"""


def test_package_imported_by_an_earlier_plugin(project: pytest.Pytester) -> None:
    """hypothesis's plugin imports attrs before any conftest: such modules are
    traced after the fact (3.12+: their code objects; 3.10/3.11: their functions
    wrapped in place, which the summary says)."""
    project.makepyfile(early_plugin="import chains.graph\n", test_it=FAILING)
    result = project.runpytest_subprocess("-p", "early_plugin", "--functrace=chains")
    result.assert_outcomes(failed=1)
    lines = section(result.outlines)
    assert lines[0].endswith(":    ->chains.graph.A2") and len(lines) == 8
    out = result.stdout.str() + result.stderr.str()
    assert "already imported" not in out and "Warning" not in out
    wrapped = "imported before the plugin could act, so traced by wrapping their functions "
    if sys.version_info < (3, 12):
        result.stdout.fnmatch_lines(
            ["*- functrace -*", f"{wrapped}in place: chains, chains.graph*"]
        )
    else:
        assert wrapped not in out


def test_package_imported_by_a_conftest(project: pytest.Pytester) -> None:
    """The hook is in place before conftests are imported."""
    project.makeconftest("from chains import graph\nassert graph.D(1) == 1\n")
    project.makepyfile(test_it=FAILING)
    result = project.runpytest_subprocess("--functrace=chains")
    result.assert_outcomes(failed=1)
    assert section(result.outlines)[0].endswith(":    ->chains.graph.A2")
    assert "already imported" not in result.stderr.str()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring: Python 3.12+")
def test_test_modules_traced_in_place_by_the_policy(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import sys
        from chains import graph
        def helper(): return graph.D(-1)
        def quiet():  # functrace: skip
            return 1
        def test_fails():
            assert "__functrace_trace__" not in globals()
            assert not hasattr(test_fails, "__wrapped__")
            assert sys._getframe().f_code is test_fails.__code__
            quiet()
            helper()
        """
    )
    result = project.runpytest("--functrace=chains", "--functrace-tests")
    result.assert_outcomes(failed=1)
    match_lines(
        section(result.outlines),
        [
            "t[01]:    ->test_it.test_fails",
            "t[01]:        ->test_it.helper",
            "t[01]:            ->chains.graph.D",
            "t[01]:            <-chains.graph.D <dur> !ValueError",
            "t[01]:        <-test_it.helper <dur> !ValueError",
            "t[01]:    <-test_it.test_fails <dur> !ValueError",
        ],
    )
