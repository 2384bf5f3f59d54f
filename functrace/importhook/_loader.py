"""The meta path finder and the loader that runs rewritten code."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

from functrace.importhook import _cache
from functrace.importhook._rewrite import TRACE_NAME, rewrite_tree
from functrace.importhook._select import Selector

__all__ = ["TracingFinder", "TracingLoader", "compile_traced"]


def compile_traced(source: bytes, path: str, use_cache: bool = True) -> types.CodeType:
    """The code of ``source`` with the policy's functions decorated, from the cache
    when it holds this exact source. Raises ``SyntaxError`` like ``compile``."""
    cached_at = _cache.cache_path(path) if use_cache else None
    if cached_at is not None:
        code = _cache.read(cached_at, source)
        if code is not None:
            return code
    tree, _ = rewrite_tree(source, path)
    code = compile(source if tree is None else tree, path, "exec", dont_inherit=True)
    if cached_at is not None:
        _cache.write(cached_at, source, code)
    return code


def prepare(namespace: dict[str, Any]) -> None:
    """Bind the name the rewritten code decorates with."""
    from functrace import trace

    namespace[TRACE_NAME] = trace


class TracingLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code is the rewritten code; everything else (source,
    resources, ``is_package``) is the normal loader's."""

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        return compile_traced(self.get_data(path), path)

    def exec_module(self, module: types.ModuleType) -> None:
        prepare(module.__dict__)
        super().exec_module(module)


class TracingFinder:
    """Finds matching source modules through the path finder and gives them a
    :class:`TracingLoader`; anything else is left to the finders after it."""

    def __init__(self, selector: Selector) -> None:
        self.selector = selector
        self._busy = False

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
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
        spec.loader = TracingLoader(fullname, spec.origin)
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
