"""The import hook: what it decorates (the policy's choices), line numbers, and on
the rewrite path (3.10/3.11, or 3.12+ with no free ``sys.monitoring`` tool id) the
cache. The 3.12+ path without a rewrite: ``test_monitor.py``."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

import functrace
from functrace.importhook import _cache
from functrace.importhook._rewrite import TRACE_NAME, rewrite_tree
from tests.helpers import run_python


def decorated(source: str) -> list[str]:
    """Names of the functions the rewrite decorates."""
    tree, _ = rewrite_tree(textwrap.dedent(source).encode(), "m.py")
    assert tree is not None
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(isinstance(d, ast.Name) and d.id == TRACE_NAME for d in node.decorator_list)
    ]


def test_policy_choices() -> None:
    assert decorated(
        """
        import typing as t
        from functrace import trace
        def a(): pass
        async def b(): pass
        # functrace: skip
        def c():
            def c_inner(): pass
        @t.overload
        def d(x: int) -> int: ...
        def d(x): return x
        @trace
        def e(): pass
        class K:  # functrace: skip
            def f(self): pass
        class L:
            @staticmethod
            def g(): pass
            def h(  # not a pragma place for libcst either
                self,
            ):  # functrace: skip
                pass
        if True:
            def i(): pass
        """
    ) == ["a", "b", "d", "g", "i"]


def test_skip_file_and_innermost() -> None:
    assert rewrite_tree(b"# functrace: skip-file\ndef f(): pass\n", "m.py") == (None, 0)
    tree, count = rewrite_tree(b"import functools\n@functools.cache\ndef f(): pass\n", "m.py")
    assert tree is not None and count == 1
    fn = tree.body[1]
    assert isinstance(fn, ast.FunctionDef)
    assert [ast.unparse(d) for d in fn.decorator_list] == ["functools.cache", TRACE_NAME]


def write_package(root: Path) -> None:
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(
        textwrap.dedent(
            """\
            import functools


            @functools.lru_cache
            def square(x):
                return x * x


            def fail():
                raise ValueError("line 10")
            """
        )
    )


def test_traces_matching_modules_and_keeps_lines(tmp_path: Path, trace_lines) -> None:  # type: ignore[no-untyped-def]
    write_package(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        with functrace.install_import_hook(["pkg", "pkg.*"]) as hook:
            from pkg import mod  # type: ignore[import-not-found]

            assert hook.installed
        assert not hook.installed
        assert mod.square(3) == 9
        with pytest.raises(ValueError) as info:
            mod.fail()
        assert info.traceback[-1].lineno + 1 == 10
        # Not in the module's namespace, on either path: code that walks a
        # module's names (toolz.curried) must not find it.
        assert TRACE_NAME not in vars(mod)
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("pkg", "pkg.mod"):
            sys.modules.pop(name, None)
    assert [line.split()[0] for line in trace_lines()] == [
        "t[01]:",
        "t[01]:",
        "t[01]:",
        "t[01]:",
    ]
    assert "->pkg.mod.square" in trace_lines()[0]


# On 3.12+, taking both tool ids functrace could use forces the rewrite (wrapper) path.
PROBE = """
import sys, warnings, functrace
if sys.version_info >= (3, 12):
    sys.monitoring.use_tool_id(3, "other"); sys.monitoring.use_tool_id(4, "other")
warnings.simplefilter("ignore")  # "no free sys.monitoring tool id"
functrace.install_import_hook(["pkg", "pkg.*"])
import pkg.mod
print(pkg.mod.square(4))
print(type(pkg.mod.__loader__).__name__)
"""


def cache_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "pkg" / "__pycache__").glob("mod.*functrace*"))


def test_cache_written_then_hit_then_invalidated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    write_package(tmp_path)
    env = {"PYTHONDONTWRITEBYTECODE": "", "FUNCTRACE_OUTPUT": "none"}
    first = run_python(["-c", PROBE], env=env, cwd=tmp_path)
    assert first.stdout.split() == ["16", "TracingLoader"], first.stderr
    (cached,) = cache_files(tmp_path)
    tag = sys.implementation.cache_tag
    assert cached.startswith(f"mod.{tag}.functrace-{functrace.__version__}-")
    path = tmp_path / "pkg" / "__pycache__" / cached
    assert str(path) == _cache.cache_path(str(tmp_path / "pkg" / "mod.py"))
    # A hit: the cached code is what runs (swap in other code for the same source).
    source = (tmp_path / "pkg" / "mod.py").read_bytes()
    _cache.write(str(path), source, compile("def square(x): return 'hit'", "mod.py", "exec"))
    original = path.read_bytes()
    second = run_python(["-c", PROBE], env=env, cwd=tmp_path)
    assert second.stdout.split() == ["hit", "TracingLoader"]
    assert path.read_bytes() == original
    # The source changes: the hash no longer matches, the file is rewritten.
    mod = tmp_path / "pkg" / "mod.py"
    mod.write_text(mod.read_text().replace("x * x", "x * x + 1"))
    third = run_python(["-c", PROBE], env=env, cwd=tmp_path)
    assert third.stdout.split() == ["17", "TracingLoader"]
    assert path.read_bytes() != original
    # Other options (another key): a cache file of its own.
    other = "import functrace.importhook._cache as c; c._key = 'otherkey'\n" + PROBE
    fourth = run_python(["-c", other], env=env, cwd=tmp_path)
    assert fourth.stdout.split() == ["17", "TracingLoader"]
    assert len(cache_files(tmp_path)) == 2
    assert any("-otherkey.pyc" in name for name in cache_files(tmp_path))


def test_unwritable_cache_dir_runs_without_cache(tmp_path: Path) -> None:
    write_package(tmp_path)
    (tmp_path / "pkg" / "__pycache__").write_text("a file, so no directory can go here")
    env = {"PYTHONDONTWRITEBYTECODE": "", "FUNCTRACE_OUTPUT": "none"}
    result = run_python(["-c", PROBE], env=env, cwd=tmp_path)
    assert result.stdout.split() == ["16", "TracingLoader"], result.stderr
    assert result.stderr == ""


def test_stale_cache_content_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = b"x = 1\n"
    path = str(tmp_path / "c.pyc")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert not _cache.write(path, src, compile(src, "m.py", "exec"))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert _cache.write(path, src, compile(src, "m.py", "exec"))
    assert _cache.read(path, src) is not None
    assert _cache.read(path, b"x = 2\n") is None
    Path(path).write_bytes(b"junk")
    assert _cache.read(path, src) is None


def test_no_frame_of_ours_under_a_module_body(tmp_path: Path) -> None:
    # python-dateutil warns at import with a stacklevel meant for the importer.
    (tmp_path / "warns_on_import.py").write_text(
        "import warnings\nwarnings.warn('old', DeprecationWarning, stacklevel=2)\n"
    )
    program = (
        "import sys, warnings\n"
        "import functrace\n"
        "hook = functrace.install_import_hook(include=['warns_on_import'])\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import warns_on_import\n"
        "print(caught[0].filename)\n"
    )
    proc = run_python(["-c", program], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "<string>"
