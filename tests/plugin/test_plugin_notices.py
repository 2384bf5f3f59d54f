"""The plugin never fails a session with its own notices (they go to the terminal
summary), and ``--functrace PATH`` never takes the path for a package."""

from __future__ import annotations

import sys
import textwrap

import pytest

from tests.plugin.test_plugin import FAILING, section

EARLY = """
import os
import chains.graph
import chains.sourceless
os.remove(chains.sourceless.__file__)  # imported, and no source left to trace it from
"""


@pytest.fixture
def strict(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose configuration turns warnings into errors, as packaging's does."""
    files = {
        "chains/__init__.py": "",
        "chains/graph.py": """
            def D(x):
                if x < 0:
                    raise ValueError(x)
                return x
            def C2(x): return D(x)
            def B2(x): return C2(x)
            def A2(x): return B2(x)
        """,
        "chains/sourceless.py": "def f(): return 1\n",
        "pyproject.toml": """
            [tool.pytest.ini_options]
            filterwarnings = ["error"]
        """,
    }
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    pytester.syspathinsert()
    return pytester


def test_warnings_as_errors_and_modules_imported_early(strict: pytest.Pytester) -> None:
    strict.makepyfile(early_plugin=EARLY, test_it=FAILING)
    result = strict.runpytest_subprocess("-p", "early_plugin", "--functrace=chains")
    result.assert_outcomes(failed=1)  # collected and run, not an error at start-up
    lines = section(result.outlines)
    assert lines[0].endswith(":    ->chains.graph.A2") and len(lines) == 8
    summary = [
        "*- functrace -*",
        "imported before the plugin could act, and not traceable (no Python source): "
        "chains.sourceless",
    ]
    if sys.version_info < (3, 12):
        summary.append(
            "imported before the plugin could act, so traced by wrapping their functions in "
            "place: chains, chains.graph (references taken before, as in `from m import f`, "
            "stay untraced)"
        )
    result.stdout.fnmatch_lines(summary)
    assert "Warning" not in result.stdout.str() + result.stderr.str()


TWO = {
    "test_one": "from chains import graph\ndef test_one(): graph.A2(-1)\n",
    "test_two": "def test_two(): assert False\n",
}


def test_a_path_after_the_bare_flag_is_a_test_path(strict: pytest.Pytester) -> None:
    strict.makepyfile(**TWO)
    for args in (["--functrace", "test_one.py"], ["--functrace", "test_one.py::test_one"]):
        result = strict.runpytest(*args)
        result.assert_outcomes(failed=1)  # test_one only, traced as a bare --functrace
        assert section(result.outlines)[0].endswith(":    ->chains.graph.A2")
        assert "- functrace -" not in result.stdout.str()
    result = strict.runpytest("test_two.py", "--functrace", "tests/../test_one.py")
    result.assert_outcomes(failed=2)


def test_a_path_as_the_value_is_refused(strict: pytest.Pytester) -> None:
    strict.makepyfile(**TWO)
    result = strict.runpytest("--functrace=test_one.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --functrace takes a package name (or . for the packages under the rootdir), "
            "not a path: 'test_one.py'"
        ]
    )


def test_a_package_never_imported_is_told(strict: pytest.Pytester) -> None:
    strict.makepyfile(**TWO)
    result = strict.runpytest("--functrace=chain", "test_two.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*- functrace -*", "--functrace=chain: no module of that name was imported"]
    )
