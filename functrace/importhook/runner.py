"""Run a script or a module as ``python SCRIPT`` / ``python -m MODULE`` would, with
the import hook installed: the same ``sys.argv``, ``sys.path[0]``, ``__main__``
and, for an unhandled exception, the same traceback (functrace's frames cut off).

:func:`run_program` is ``functrace run`` without its command line, so that both the
click command and the fast path of ``python -m functrace run`` (which never imports
click) share it.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import os
import re
import runpy
import sys
import types
from collections.abc import Mapping, Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader

from functrace._runtime.state import own_work
from functrace.importhook import ImportHook, _loader, install_import_hook
from functrace.importhook._loader import compile_traced, mode, prepare, trace_loaded

__all__ = [
    "SETTING_OF",
    "run_module",
    "run_program",
    "run_script",
    "untraced_notes",
    "user_traceback",
]

# As functrace.cli.exit_codes.ExitCode, which imports click with its package.
_USAGE = 2
_INTERRUPTED = 130


def run_program(
    module: str | None,
    argv: Sequence[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    children: bool = True,
) -> None:
    """``functrace run``: trace and run ``argv[0]`` with ``argv[1:]``, or ``-m
    module`` with ``argv``; exits as python would (``SystemExit``).

    ``env``: ``FUNCTRACE_*`` settings (checked already), for this process and, in
    the environment, for the programs it starts. A bare name in ``include`` or
    ``exclude`` (``black``) takes its submodules too. ``children``: the Python
    processes the program starts are traced the same way (:mod:`functrace.children`).
    At exit, one note on stderr says why asked-for modules were not traced (none
    imported, compiled)."""
    import functrace

    if env:
        _apply(env)
    includes = [p for name in include for p in _expand(name)]
    if module is not None and includes:
        includes += [module, f"{module}.__main__"]
    excludes = [p for name in exclude for p in _expand(name)]
    under = () if include else [os.getcwd()]
    if children and functrace.is_enabled():
        # Before the hook: what this imports (json) must not be what it traces.
        from functrace.children import Policy, follow

        scripts = [argv[0]] if module is None and argv and os.path.isfile(argv[0]) else []
        follow(Policy.of(includes, excludes, under, scripts=scripts))
    hook = install_import_hook(includes, excludes, under=under)
    sys.stdout.flush()
    try:
        if module is not None:
            run_module(module, argv)
        else:
            run_script(argv[0], argv[1:])
    except SystemExit:
        raise
    except BaseException as exc:  # the program's own: shown as python shows it
        if module is None and isinstance(exc, OSError) and _opening_script(exc):
            sys.stderr.write(
                f"{sys.executable}: can't open file {os.path.abspath(argv[0])!r}: "
                f"[Errno {exc.errno}] {exc.strerror}\n"
            )
            sys.exit(_USAGE)
        tb = user_traceback(exc.__traceback__)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        functrace.flush()
        sys.exit(_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1)
    finally:
        _say_untraced(hook, module, include)


#: The variables ``functrace run``'s options set -> the setting each one is.
SETTING_OF = {
    "FUNCTRACE_OUTPUT": "output",
    "FUNCTRACE_FORMAT": "format",
    "FUNCTRACE_MAX_DEPTH": "max_depth",
    "FUNCTRACE_MIN_DURATION": "min_duration_ns",
    "FUNCTRACE_MAX_LINES": "max_lines",
    "FUNCTRACE_ARGS": "args",
}


def _apply(env: Mapping[str, str]) -> None:
    """The settings in ``env`` for this process (read at import, so configured
    now) and in ``os.environ`` for its children."""
    import functrace
    from functrace._runtime.config import settings_from_env

    os.environ.update(env)
    parsed = settings_from_env(env)
    functrace.configure(**{SETTING_OF[name]: getattr(parsed, SETTING_OF[name]) for name in env})


def _expand(pattern: str) -> list[str]:
    """A bare name is a package with its submodules: ``black`` -> ``black``,
    ``black.*``; a glob is taken as written."""
    if any(c in pattern for c in "*?["):
        return [pattern]
    return [pattern, f"{pattern}.*"]


def _say_untraced(hook: ImportHook, module: str | None, include: Sequence[str]) -> None:
    """One note on stderr when what was asked for could not be traced. Never raises."""
    try:
        with own_work():  # fnmatch and re: functrace's work, never traced
            notes = untraced_notes(hook, module, include)
    except Exception:
        return
    if notes:
        import functrace

        functrace.flush()  # after the trace's own lines
        sys.stderr.flush()
        sys.stderr.write("".join(f"functrace: {note}\n" for note in notes))
        sys.stderr.flush()


def untraced_notes(hook: ImportHook, module: str | None, include: Sequence[str]) -> list[str]:
    """Why modules asked for were not traced: ``--include`` patterns that matched
    no imported module, matching modules that are compiled (mypyc, Cython), and,
    when nothing at all was traced, a ``-m`` module installed outside the
    current directory."""
    selector = hook.finder.selector
    imported = [name for name in list(sys.modules) if selector.matches_name(name)]
    notes = []
    unmatched = [p for p in include if not any(_glob(_expand(p)).match(n) for n in imported)]
    if unmatched:
        notes.append(f"no imported module matched --include {', '.join(unmatched)}")
    compiled = sorted(n for n in imported if _compiled(sys.modules.get(n)))
    if compiled:
        notes.append(f"compiled, no Python code to trace (mypyc, Cython): {_names(compiled)}")
    if module is not None and not include and not hook.taken and _found(module):
        notes.append(
            f"nothing traced: {module} is not under the current directory "
            f"(installed packages are traced when named: --include {module.split('.')[0]})"
        )
    return notes


def _found(module: str) -> bool:
    """Whether ``module`` exists (else python's own error says all there is)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except Exception:
        return False


def _glob(patterns: Sequence[str]) -> re.Pattern[str]:
    import fnmatch

    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


def _compiled(module: object) -> bool:
    if isinstance(getattr(getattr(module, "__spec__", None), "loader", None), ExtensionFileLoader):
        return True
    path = getattr(module, "__file__", None)
    return isinstance(path, str) and path.endswith(tuple(EXTENSION_SUFFIXES))


def _names(names: Sequence[str], shown: int = 10) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _opening_script(exc: OSError) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "run_script"


def _fresh_main() -> types.ModuleType:
    """A clean ``__main__`` (the console script's globals are not the program's)."""
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    return main


def run_script(path: str, args: Sequence[str]) -> None:
    """``python path args...``: a file, a directory or a zip file with ``__main__.py``."""
    sys.argv = [path, *args]
    how = mode()
    if os.path.isdir(path) or (os.path.isfile(path) and _is_zip(path)):
        sys.path[0] = path
        main = _fresh_main()
        if how == "rewrite":
            prepare(main.__dict__)
        runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]
        return
    with own_work():  # posixpath and the rest: functrace's work, never traced
        full = os.path.abspath(path)
        sys.path[0] = os.path.dirname(os.path.realpath(path))
        with open(full, "rb") as f:
            source = f.read()
        if how == "rewrite":
            code = compile_traced(source, full, use_cache=False)
        else:
            code = compile(source, full, "exec", dont_inherit=True)
            if how == "monitor":
                trace_loaded(code, "__main__", source, full)
        main = _fresh_main()
        main.__dict__.update(
            __file__=full,
            __cached__=None,
            __loader__=importlib.machinery.SourceFileLoader("__main__", full),
            __spec__=None,
            __package__=None,
        )
        if how == "rewrite":
            prepare(main.__dict__)
    exec(code, main.__dict__)


def run_module(name: str, args: Sequence[str]) -> None:
    """``python -m name args...`` (``sys.argv[0]`` becomes the module's file)."""
    sys.argv = ["-m", *args]
    sys.path[0] = os.getcwd()
    main = _fresh_main()
    how = mode()
    if how == "rewrite":
        prepare(main.__dict__)
    _loader.main_pending = how != "off"  # the probes of a rewrite are named at load too
    try:
        runpy._run_module_as_main(name, alter_argv=True)  # type: ignore[attr-defined]
    finally:
        _loader.main_pending = False


def _is_zip(path: str) -> bool:
    """As python decides it: zipimport takes the file (already loaded at start-up,
    unlike zipfile)."""
    import zipimport

    try:
        zipimport.zipimporter(path)
    except (zipimport.ZipImportError, OSError):
        return False
    return True


_OURS = {run_script.__code__, run_module.__code__}


def user_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` without the frames above the program's own (functrace's and click's),
    as python would print it: for ``-m``, runpy's frames stay, as with ``python -m``."""
    node = tb
    while node is not None:
        if node.tb_frame.f_code in _OURS:
            return node.tb_next
        node = node.tb_next
    return tb
