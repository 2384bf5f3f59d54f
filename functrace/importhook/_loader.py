"""The meta path finder and its loader.

Python 3.12+ (``sys.monitoring``): the loader is the standard source loader (the
normal bytecode, the normal ``.pyc``), and hands the code objects of the functions
the policy picks to ``trace_code`` before the module runs: the module cannot tell.
Python 3.10/3.11 (or no free tool id): the module is rewritten (an inline probe
in each plain function, an innermost decorator on the others), and the rewritten
bytecode is cached on its own.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any, Literal

from functrace._runtime.state import own_work
from functrace.importhook._select import Selector

# The rewrite path's modules (ast, hashlib, the cache) load when it is taken:
# 3.12+ start-up never pays for them.

__all__ = ["TracingFinder", "TracingLoader", "compile_traced", "mode", "trace_loaded"]

Mode = Literal["monitor", "rewrite", "off"]


def mode() -> Mode:
    """How modules are traced in this process: through their code objects
    (``monitor``, 3.12+), by a rewrite (wrappers), or not at all (tracing is off)."""
    from functrace._runtime.decorator import is_enabled, uses_monitoring

    if uses_monitoring():
        return "monitor"
    return "rewrite" if is_enabled() else "off"


#: Set by ``functrace run -m``: the next module run without being imported is
#: ``__main__`` (runpy asks the loader for its code, then runs it as ``__main__``).
main_pending = False
_warned = False


def trace_loaded(code: types.CodeType, module: str, source: bytes, path: str) -> None:
    """3.12+: trace the chosen functions of a module's code before it runs. Never
    raises: a failure leaves the module untraced, with one warning."""
    global _warned
    from functrace.importhook._codes import chooser, trace_codes

    try:
        choose = chooser(source, path)
        if choose is not None:
            trace_codes([code], module, choose)
    except Exception as exc:
        if not _warned:
            _warned = True
            from functrace._runtime.notices import notice

            notice(f"functrace: could not trace {module} ({path}): {exc!r}")


def compile_traced(
    source: bytes, path: str, use_cache: bool = True, module: str = "__main__"
) -> types.CodeType:
    """The code of module ``module`` from ``source``, with the policy's functions
    traced (inline probes, or decorated), from the cache when it holds this exact
    source. Raises ``SyntaxError`` like ``compile``.

    The cache holds the code with the probes' placeholders (strings: marshal
    takes them); they are bound to probes after every load."""
    from functrace._runtime.decorator import bind_probes, probes_wanted
    from functrace._runtime.probe import unplace
    from functrace.importhook import _cache
    from functrace.importhook._rewrite import rewrite_tree

    probes = probes_wanted()
    cached_at = _cache.cache_path(path) if use_cache else None
    code = _cache.read(cached_at, source) if cached_at is not None else None
    if code is None:
        tree, _ = rewrite_tree(source, path, probes)
        code = compile(source if tree is None else tree, path, "exec", dont_inherit=True)
        if probes:
            code = unplace(code)
        if cached_at is not None:
            _cache.write(cached_at, source, code)
    return bind_probes(code, module) if probes else code


def prepare(namespace: dict[str, Any] | None = None) -> None:
    """Bind the name the rewritten code decorates with, once, in ``builtins``.

    Not in the module's own namespace: code that walks a module's names (toolz's
    curried namespace, ``from m import *`` audits) must not find it there.
    ``namespace``: a ``__main__`` run with builtins of its own gets it directly."""
    import builtins

    from functrace import trace
    from functrace.importhook._rewrite import TRACE_NAME

    setattr(builtins, TRACE_NAME, trace)
    own = namespace.get("__builtins__") if namespace is not None else None
    if isinstance(own, dict) and own is not vars(builtins):
        own[TRACE_NAME] = trace


class TracingLoader(importlib.machinery.SourceFileLoader):
    """The standard source loader, with the chosen functions traced: through their
    code objects (``monitor``), or by running rewritten code (``rewrite``).
    Everything else (source, resources, ``is_package``) is the normal loader's.

    The tracing happens in ``get_code``, so ``exec_module``
    (and with it the import machinery's frame removal in tracebacks and warnings)
    is the standard one."""

    def __init__(self, fullname: str, path: str, how: Mode = "monitor") -> None:
        super().__init__(fullname, path)
        self.how = how

    def get_code(self, fullname: str) -> types.CodeType:
        with own_work():  # what it calls (our own imports included) writes no line
            return self._get_code(fullname)

    def _get_code(self, fullname: str) -> types.CodeType:
        global main_pending
        path = self.get_filename(fullname)
        name = fullname
        if main_pending and fullname not in sys.modules:
            name, main_pending = "__main__", False
        if self.how == "rewrite":
            prepare()
            return compile_traced(self.get_data(path), path, module=name)
        code = super().get_code(fullname)
        if code is not None and self.how == "monitor":
            trace_loaded(code, name, self.get_data(path), path)
        return code  # type: ignore[return-value,unused-ignore]

    # No exec_module of ours: a frame of ours under the module body would be what
    # warnings.warn(stacklevel=) and stack walks see instead of the importer
    # (python-dateutil checks); the rewrite's name is bound in get_code.


class TracingFinder:
    """Finds matching source modules through the path finder and gives them a
    :class:`TracingLoader`; anything else is left to the finders after it."""

    def __init__(self, selector: Selector) -> None:
        self.selector = selector
        self._busy = False
        #: The names given a TracingLoader, in order.
        self.taken: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        with own_work():
            return self._find_spec(fullname, path, target)

    def _find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None,
    ) -> importlib.machinery.ModuleSpec | None:
        by_name = self.selector.by_name(fullname)
        if by_name is False or self._busy:
            return None
        self._busy = True  # the path finder may import (zip, encodings): not ours
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        except Exception:
            return None
        finally:
            self._busy = False
        if (
            spec is None
            or spec.origin is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
            or not spec.origin.endswith(".py")
        ):
            return None
        if not self.selector.by_file(spec.origin):
            return None
        if by_name is None and not self.selector.by_path(spec.origin):
            return None
        how = mode()
        if how == "off":
            return None
        spec.loader = TracingLoader(fullname, spec.origin, how)
        self.taken.append(fullname)
        if how == "rewrite":
            from functrace.importhook import _cache

            spec.cached = _cache.cache_path(spec.origin)
        return spec

    def invalidate_caches(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x}>"


def insert(finder: TracingFinder, after: type | None = None) -> None:
    """Put ``finder`` first on ``sys.meta_path``, or right after the last finder of
    type ``after`` (pytest's assertion rewriter, which must see test modules first)."""
    at = 0
    if after is not None:
        for index, existing in enumerate(sys.meta_path):
            if isinstance(existing, after):
                at = index + 1
    sys.meta_path.insert(at, finder)
