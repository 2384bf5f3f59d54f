"""The runtime's shape, as issue 9 asks for it: modules that reach one another
through public names only, no import cycle, and one set of rules for settings
whether they come from the environment or from ``configure()``."""

from __future__ import annotations

import ast
import os
import re
import warnings
from pathlib import Path

import pytest

from functrace._runtime.config import FORMATS, VARIABLES, Settings, checked, settings_from_env
from tests.helpers import run_python

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "functrace" / "_runtime"
MODULES = sorted(p.stem for p in RUNTIME.glob("*.py") if p.stem != "__init__")

#: Private names that tests reach on purpose, each a white-box hook with its reason.
#: Anything else (in functrace/ or tests/) must go through public functions.
ALLOWED = {
    # Counts the frame reads: proves a wrapper made with values wanted reads none.
    ("tests/runtime/test_values_shapes.py", "values._call_frame"),
    # Counts the journals the compiled path made for each recording.
    ("tests/runtime/test_record_speedups.py", "listeners._session"),
    # Counts the writes to the trace's own descriptor.
    ("tests/runtime/test_write_batching.py", "output._fd"),
    # Switches the compiled module off at run time, as bench/bench_runtime.py does.
    ("tests/runtime/test_write_batching.py", "engine._use_speedups"),
    # Fault injection: a short write, as a full disk gives.
    ("tests/runtime/test_host_safety.py", "output._write"),
    # What the engine tells each path when values are switched (a recording stub).
    ("tests/runtime/test_values.py", "engine._native"),
    ("tests/runtime/test_values.py", "engine._plain"),
}

_NAMES = "|".join(MODULES)
_REACH = re.compile(rf"\b({_NAMES})\.(_(?!_)\w+)")
_SETATTR = re.compile(rf"setattr\(\s*({_NAMES})\s*,\s*['\"](_(?!_)\w+)")
_PRIVATE_IMPORT = re.compile(r"from functrace\._runtime\.(\w+) import ([^\n#]+)")


def _reaches(path: Path) -> set[str]:
    """``module._name`` for every private name of a runtime module ``path``'s code
    reads, writes or imports (comments and ``double-quoted`` doc names aside)."""
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        line = re.sub(r"``[^`]*``", "", line)
        for m in (*_REACH.finditer(line), *_SETATTR.finditer(line)):
            found.add(f"{m[1]}.{m[2]}")
        for m in _PRIVATE_IMPORT.finditer(line):
            for part in m[2].strip("() ").split(","):
                name = part.split(" as ")[0].strip()  # the name imported, not its alias
                if name.startswith("_") and not name.startswith("__") and name != "_speedups":
                    found.add(f"{m[1]}.{name}")
    return found


def test_no_module_reaches_into_a_runtime_modules_private_names() -> None:
    reached = set()
    for path in [*(ROOT / "functrace").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tests/runtime/test_structure.py":
            continue  # names them as data
        for reach in _reaches(path):
            owner = f"functrace/_runtime/{reach.split('.')[0]}.py"
            if rel != owner and (rel, reach) not in ALLOWED:
                reached.add((rel, reach))
    assert sorted(reached) == []


def test_the_private_name_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from functrace._runtime import engine\n"
        "from functrace._runtime.state import tls, _private\n"
        "from functrace._runtime.state import tls as _tls\n"
        "x = engine._native  # a reach\n"
        "# engine._in_a_comment\n"
        'monkeypatch.setattr(engine, "_plain", 1)\n'
        "y = engine.native_module()\n"
    )
    assert _reaches(sample) == {"engine._native", "engine._plain", "state._private"}


def _module_imports(module: str) -> set[str]:
    """The runtime modules ``module`` imports when it is imported (module level)."""
    tree = ast.parse((RUNTIME / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "functrace._runtime":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("functrace._runtime."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("functrace._runtime."):
                    found.add(alias.name.split(".")[2])
    return found & set(MODULES)


def test_the_runtime_modules_import_one_another_without_a_cycle() -> None:
    graph = {module: _module_imports(module) for module in MODULES}
    # The data and the grammar stand alone: readers and exporters import them.
    assert graph["record"] == set() and graph["lines"] == set()
    assert "engine" not in graph["listeners"] | graph["record"] | graph["sink"]
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for imported in graph[module]:
            visit(imported, (*path, module))
        done.add(module)

    for module in MODULES:
        visit(module, ())


#: Each variable and the configure() field it sets (docs/configuration.md).
FIELDS = {
    "FUNCTRACE": "enabled",
    "FUNCTRACE_OUTPUT": "output",
    "FUNCTRACE_FORMAT": "format",
    "FUNCTRACE_MAX_DEPTH": "max_depth",
    "FUNCTRACE_MAX_LINES": "max_lines",
    "FUNCTRACE_MIN_DURATION": "min_duration_ns",
    "FUNCTRACE_EXPORTER": "exporter",
    "FUNCTRACE_INCLUDE": "include",
    "FUNCTRACE_EXCLUDE": "exclude",
    "FUNCTRACE_SPEEDUPS": "speedups",
    "FUNCTRACE_FOLLOW_SYMLINKS": "follow_symlinks",
    "FUNCTRACE_ARGS": "args",
    "FUNCTRACE_ARGS_LENGTH": "args_length",
    "FUNCTRACE_ARGS_LINE_LENGTH": "args_line_length",
    "FUNCTRACE_REDACT": "redact",
}

TEXTS = [
    *("", " ", "0", "1", "-1", "7", "8", "16", "1_000", "1e3", "4.5", "nan", "many"),
    *("on", "OFF", " yes ", "maybe", "safe", "repr", "REPR"),
    *FORMATS,
    *("xml", " JSONL ", "2ms", "500us", "1.5µs", "3 s", "5 parsecs", "-2ms"),
    *("stderr", "/dev/stderr", "trace-{pid}.log", "otel", "my-exporter", "bad name!"),
    *("a*, b*", "a*;b*", ",,"),
]


def test_every_variable_sets_the_field_of_its_name() -> None:
    assert {name: field for name, (field, _) in VARIABLES.items()} == FIELDS
    assert set(FIELDS.values()) == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize("variable", sorted(FIELDS))
def test_configure_accepts_and_makes_exactly_what_the_environment_does(variable: str) -> None:
    field = FIELDS[variable]
    for text in TEXTS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from_env = getattr(settings_from_env({variable: text}), field)
        env_ok = not caught
        try:
            given = checked(field, text)
        except ValueError as exc:
            # The message names the field and the variable.
            assert f"configure({field}=" in str(exc) and variable in str(exc)
            assert not env_ok, (variable, text, from_env)
            assert variable in str(caught[0].message)
        else:
            assert env_ok, (variable, text, str(caught[0].message))
            assert given == from_env, (variable, text)


#: configure() also takes Python values: each means what its text means in the
#: environment (a number, a switch, a list of globs).
TYPED = [
    *((field, n, str(n)) for field in ("max_depth", "max_lines") for n in (-1, 0, 5)),
    *(("min_duration_ns", n, f"{n}ns") for n in (-1, 0, 1500)),
    *(("args_length", n, str(n)) for n in (-1, 7, 8, 99)),
    *(("args_line_length", n, str(n)) for n in (-1, 15, 16, 99)),
    *((field, b, "1" if b else "0") for field in ("enabled", "speedups") for b in (True, False)),
    ("follow_symlinks", True, "1"),
    ("args", True, "1"),
    ("args", False, "0"),
    ("include", ["a*", " b* "], "a*, b* "),
    ("redact", ("tok*",), "tok*"),
]


@pytest.mark.parametrize(("field", "value", "text"), TYPED)
def test_configure_takes_python_values_as_their_text_in_the_environment(
    field: str, value: object, text: str
) -> None:
    variable = next(name for name, f in FIELDS.items() if f == field)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_env = getattr(settings_from_env({variable: text}), field)
    try:
        given = checked(field, value)
    except ValueError:
        assert caught, (field, value)
    else:
        assert not caught and given == from_env, (field, value)


try:
    from functrace._runtime import _speedups
except ImportError:  # no compiler at install
    _speedups = None  # type: ignore[assignment]
needs_speedups = pytest.mark.skipif(_speedups is None, reason="_speedups is not built")


@needs_speedups
def test_a_compiled_module_of_another_api_version_is_not_used() -> None:
    # A build left from another version of _speedups.c: the Python path traces.
    program = (
        "from functrace._runtime import _speedups\n"
        "_speedups.API = -1\n"
        "import functrace\n"
        "from functrace._runtime import engine\n"
        "@functrace.trace\n"
        "def f():\n"
        "    return 1\n"
        "f()\n"
        "print(engine.native_module() is None, engine.current == (engine.enter, engine.leave))\n"
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_SPEEDUPS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]
    assert "->__main__.f" in proc.stderr and "<-__main__.f" in proc.stderr


@needs_speedups
def test_the_compiled_module_refuses_state_of_another_shape() -> None:
    # Entries are made slot by slot in C: one of other slots would be half made.
    program = (
        "import types, functrace\n"
        "from functrace._runtime import engine, output, _speedups\n"
        "names = ('infos', '_tls', 'CodeInfo', 'Context', 'Entry', 'ASYNC_YIELD',\n"
        "         'NO_VALUE', 'RETURN', 'UNWIND', 'SUSPEND')\n"
        "state = types.SimpleNamespace(**{name: getattr(engine, name) for name in names})\n"
        "_speedups.init(state, output)\n"
        "class Entry:\n"
        "    __slots__ = ('info', 'start')\n"
        "state.Entry = Entry\n"
        "try:\n"
        "    _speedups.init(state, output)\n"
        "except (TypeError, AttributeError):\n"
        "    print('refused')\n"
    )
    proc = run_python(["-c", program], env={"FUNCTRACE_OUTPUT": "none"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "refused\n"


def test_an_exporter_is_an_entry_point_and_a_listener_like_any_other(tmp_path: Path) -> None:
    # Nothing in the runtime names it: an installed distribution declares it in
    # the "functrace.exporters" group, and its install() subscribes an observer.
    site = tmp_path / "site"
    (site / "myexp-1.0.dist-info").mkdir(parents=True)
    (site / "myexp-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: myexp\nVersion: 1.0\n"
    )
    (site / "myexp-1.0.dist-info" / "entry_points.txt").write_text(
        "[functrace.exporters]\nmine = myexp:install\n"
    )
    (site / "myexp.py").write_text(
        "from functrace._runtime import listeners\n"
        "class Printer:\n"
        "    def enter(self, tag, info, t_ns, resumed):\n"
        "        print('enter', tag, info.name)\n"
        "        return info.name\n"
        "    def exit(self, token, t_ns, exception, suspended):\n"
        "        print('exit', token, exception)\n"
        "def install():\n"
        "    listeners.add_observer(Printer())\n"
    )
    program = (
        "import functrace\n"
        "@functrace.trace\n"
        "def inner():\n"
        "    raise KeyError('k')\n"
        "@functrace.trace\n"
        "def outer():\n"
        "    try:\n"
        "        inner()\n"
        "    except KeyError:\n"
        "        pass\n"
        "outer()\n"
    )
    proc = run_python(
        ["-c", program],
        env={
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)]),
            "FUNCTRACE_EXPORTER": "mine",
            "FUNCTRACE_OUTPUT": "none",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "enter t[01] __main__.outer",
        "enter t[01] __main__.inner",
        "exit __main__.inner KeyError",
        "exit __main__.outer None",
    ]
