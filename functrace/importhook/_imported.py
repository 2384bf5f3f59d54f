"""Trace a module that was imported before the hook (by a pytest plugin, a
conftest, ``sitecustomize``...), after the fact.

Python 3.12+ (:func:`trace_imported`):
Its code objects are reached from its namespace: the functions it defines, the
classes it defines with their methods, static and class methods, properties
(nested classes too), following ``__wrapped__`` through decorators and function
objects held in closures; then everything nested in their constants. Only code
compiled from the module's own file counts (attrs-generated ``__init__`` methods,
or a decorator's wrapper from another module, carry the module's name but not its
file). The policy decides from the file's source, as at import.

Not reached: functions the module only keeps elsewhere (in a registry dict, a
list) and never binds to a name or a class. Nothing of the module is changed.

Python 3.10/3.11 (:func:`wrap_imported`): no code object can be observed, so the
functions the policy picks that the module binds to a name, or its classes
(nested ones too) to an attribute, go through ``functrace.trace``: a plain
function gets its inline probe in place (the same function object, so references
taken before are traced too); any other is replaced there by its wrapper (a
static or class method, a property's parts, as well), and references taken
before (``from m import f``, a registry) keep the untraced function.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Iterator
from typing import Any

from functrace.importhook._codes import Chooser, chooser, trace_codes

__all__ = ["trace_imported", "wrap_imported"]


def _policy(module: types.ModuleType) -> tuple[str, Chooser | None] | None:
    """The module's file and the policy's choice of its code objects; None when
    its source cannot be had (no ``.py`` file, unreadable, not parseable)."""
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str) or not filename.endswith(".py"):
        return None
    try:
        with open(filename, "rb") as f:
            source = f.read()
        return filename, chooser(source, filename)
    except (OSError, SyntaxError, ValueError):
        return None


def trace_imported(module: types.ModuleType) -> bool:
    """Trace ``module``'s functions the policy picks; False when its source cannot
    be had (no ``.py`` file, unreadable, not parseable)."""
    found = _policy(module)
    if found is None:
        return False
    filename, choose = found
    if choose is None:
        return True
    same_file = _same_file(filename)
    roots = [code for code in _codes(module) if same_file(code.co_filename)]
    trace_codes(roots, module.__name__, choose)
    return True


def wrap_imported(module: types.ModuleType) -> bool:
    """3.10/3.11: wrap ``module``'s functions and methods the policy picks, in
    place; False when its source cannot be had. Never raises: an attribute that
    cannot be set (a read-only class) stays as it was."""
    found = _policy(module)
    if found is None:
        return False
    filename, choose = found
    if choose is None:
        return True
    from functrace import trace

    name = module.__name__
    same_file = _same_file(filename)
    done: dict[int, Any] = {}  # one wrapper per function, however many names it has

    def traced(fn: object) -> Any:
        if not (
            isinstance(fn, types.FunctionType)
            and fn.__module__ == name
            and same_file(fn.__code__.co_filename)
            and choose(fn.__code__)
        ):
            return fn
        if id(fn) not in done:
            done[id(fn)] = trace(fn)
        return done[id(fn)]

    def replaced(value: object) -> object:
        if isinstance(value, (staticmethod, classmethod)):
            inner = traced(value.__func__)
            return value if inner is value.__func__ else type(value)(inner)
        if type(value) is property:
            parts = (value.fget, value.fset, value.fdel)
            new = tuple(traced(p) for p in parts)
            return value if new == parts else property(new[0], new[1], new[2], value.__doc__)
        return traced(value)

    classes: set[int] = set()
    owners: list[Any] = [module]
    while owners:
        owner = owners.pop()
        for attr, value in list(vars(owner).items()):
            try:  # a class whose metaclass refuses, a __module__ that raises: left as is
                if isinstance(value, type):
                    if value.__module__ == name and id(value) not in classes:
                        classes.add(id(value))
                        owners.append(value)
                    continue
                new = replaced(value)
                if new is not value:
                    setattr(owner, attr, new)
            except Exception:
                pass
    return True


def _same_file(filename: str) -> Callable[[str], bool]:
    wanted = os.path.normcase(os.path.abspath(filename))
    known: dict[str, bool] = {filename: True}

    def same(other: str) -> bool:
        found = known.get(other)
        if found is None:
            found = known[other] = os.path.normcase(os.path.abspath(other)) == wanted
        return found

    return same


def _codes(module: types.ModuleType) -> Iterator[types.CodeType]:
    name = module.__name__
    seen: set[int] = set()
    stack: list[Any] = list(vars(module).values())
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, (staticmethod, classmethod)):
            stack.append(value.__func__)
        elif isinstance(value, property):
            stack.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
        elif isinstance(value, types.FunctionType):
            if getattr(value, "__module__", None) != name:
                continue
            yield value.__code__
            stack.extend(
                cell.cell_contents
                for cell in value.__closure__ or ()
                if isinstance(_contents(cell), (types.FunctionType, type))
            )
            wrapped = _wrapped(value)
            if wrapped is not None:
                stack.append(wrapped)
        elif isinstance(value, type):
            if getattr(value, "__module__", None) == name:
                stack.extend(vars(value).values())
        else:
            wrapped = _wrapped(value)  # functools.lru_cache and the like
            if wrapped is not None:
                stack.append(wrapped)


def _contents(cell: types.CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _wrapped(value: object) -> types.FunctionType | None:
    """The function ``functools.wraps`` stored on ``value``, read from its
    ``__dict__`` without running any of the host's code (proxies, lazy objects and
    mocks answer any attribute)."""
    try:
        found = object.__getattribute__(value, "__dict__").get("__wrapped__")
    except Exception:
        return None
    return found if isinstance(found, types.FunctionType) else None
