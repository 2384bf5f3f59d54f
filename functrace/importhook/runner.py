"""Run a script or a module as ``python SCRIPT`` / ``python -m MODULE`` would, with
the import hook installed: the same ``sys.argv``, ``sys.path[0]``, ``__main__``
and, for an unhandled exception, the same traceback (functrace's frames cut off).
"""

from __future__ import annotations

import builtins
import importlib.machinery
import os
import runpy
import sys
import types
from collections.abc import Sequence

from functrace.importhook._loader import compile_traced, prepare

__all__ = ["run_module", "run_script", "user_traceback"]


def _fresh_main() -> types.ModuleType:
    """A clean ``__main__`` (the console script's globals are not the program's)."""
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    return main


def run_script(path: str, args: Sequence[str]) -> None:
    """``python path args...``: a file, a directory or a zip file with ``__main__.py``."""
    sys.argv = [path, *args]
    if os.path.isdir(path) or (os.path.isfile(path) and _is_zip(path)):
        sys.path[0] = path
        prepare(_fresh_main().__dict__)
        runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]
        return
    full = os.path.abspath(path)
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    with open(full, "rb") as f:
        source = f.read()
    code = compile_traced(source, full, use_cache=False)
    main = _fresh_main()
    main.__dict__.update(
        __file__=full,
        __cached__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__", full),
        __spec__=None,
        __package__=None,
    )
    prepare(main.__dict__)
    exec(code, main.__dict__)


def run_module(name: str, args: Sequence[str]) -> None:
    """``python -m name args...`` (``sys.argv[0]`` becomes the module's file)."""
    sys.argv = ["-m", *args]
    sys.path[0] = os.getcwd()
    prepare(_fresh_main().__dict__)
    runpy._run_module_as_main(name, alter_argv=True)  # type: ignore[attr-defined]


def _is_zip(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


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
