"""``functrace.trace`` and the switches around it."""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Any, TypeVar

from functrace._runtime import engine, exits, origins, output, probe, state
from functrace._runtime.config import Settings, checked, settings_from_env
from functrace._runtime.notices import notice

__all__ = [
    "bind_probes",
    "configure",
    "disable",
    "enable",
    "is_enabled",
    "probes_wanted",
    "settings",
    "trace",
    "trace_code",
    "uses_monitoring",
]

F = TypeVar("F")

#: Read once, at import. ``configure()`` replaces it.
settings: Settings = settings_from_env()

_backend: Any = None  # MonitoringBackend | WrapperBackend, chosen at the first trace()
_uses_monitoring = False
_enabled = settings.enabled
if _enabled:
    state.claim_root()


def _start() -> Any:
    """Pick the backend and open the output, once, at the first traced function."""
    global _backend, _uses_monitoring
    if _backend is not None:
        return _backend
    engine.configure(settings)
    backend: Any = None
    if sys.version_info >= (3, 12):
        from functrace._runtime.monitor import MonitoringBackend

        candidate = MonitoringBackend()
        if candidate.acquire():
            backend, _uses_monitoring = candidate, True
        else:
            notice(
                "functrace: no free sys.monitoring tool id (3 and 4 are taken); "
                "tracing through wrappers instead",
            )
    if backend is None:
        from functrace._runtime.wrap import WrapperBackend

        backend = WrapperBackend()
    backend.switch(_enabled)
    exits.install()
    origins.install()
    engine.on_failure(backend.stop)
    _backend = backend
    if settings.exporter:
        _install_exporter(settings.exporter)
    return backend


#: The exporters that come with functrace, for a checkout run without installing
#: it (an installed functrace finds them, and any other, as entry points).
_EXPORTERS = {"otel": "functrace.otel:install"}


def _install_exporter(name: str) -> None:
    """Start the exporter ``name``: the entry point of that name in the group
    ``functrace.exporters``, a function taking no argument that subscribes its
    listener to the engine (``add_observer``). Trouble says so and traces on."""
    target = _EXPORTERS.get(name)
    try:
        from importlib.metadata import entry_points

        found = [ep.value for ep in entry_points(group="functrace.exporters") if ep.name == name]
        target = found[0] if found else target
    except Exception:
        pass
    if target is None:
        notice(f"functrace: FUNCTRACE_EXPORTER={name!r} names no installed exporter")
        return
    module, _, attr = target.partition(":")
    try:
        import importlib

        install = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        notice(f"functrace: the {name} exporter could not be loaded: {exc}")
        return
    try:
        install()
    except Exception as exc:  # a broken exporter set-up must not stop the program
        notice(f"functrace: the {name} exporter's set-up failed: {exc!r}")


def trace(fn: F) -> F:
    """Trace every call of ``fn``: an enter line when it starts, an exit line when it ends.

    On Python 3.12+ this returns ``fn`` itself. With ``FUNCTRACE=0`` it returns
    ``fn`` untouched and costs nothing at all.
    """
    if not _enabled:
        return fn
    if isinstance(fn, (staticmethod, classmethod)):
        inner = trace(fn.__func__)
        return fn if inner is fn.__func__ else type(fn)(inner)
    if isinstance(fn, property):
        parts: list[Any] = [fn.fget, fn.fset, fn.fdel]
        traced = [None if f is None else trace(f) for f in parts]
        if all(t is f for t, f in zip(traced, parts)):
            return fn
        if type(fn) is not property:
            # A property subclass (a cached_property of the program's own) cannot
            # be rebuilt around wrappers without knowing its constructor: keep it
            # whole, untraced, and say so once per class.
            _untraced_kind(type(fn))
            return fn
        return property(traced[0], traced[1], traced[2], fn.__doc__)  # type: ignore[return-value]
    if not isinstance(fn, types.FunctionType):
        return fn  # builtins, partials, classes: nothing of ours to observe
    if getattr(fn, "__functrace_wrapped__", False):
        return fn
    own = state.own_work_begin()
    try:
        return _trace_function(fn)
    finally:
        state.own_work_end(own)


def _trace_function(fn: F) -> F:
    assert isinstance(fn, types.FunctionType)
    if (settings.include or settings.exclude) and not _selected(fn):
        return fn
    try:
        backend = _start()
    except Exception as exc:  # never let set-up trouble reach the traced program
        _give_up(exc)
        return fn
    code = fn.__code__
    if _uses_monitoring:
        if not state.registered(code):
            state.info_for(code, fn.__module__ or "", fn.__qualname__)
            backend.add(code)
        return fn
    return _probed_or_wrapped(fn, backend)


def _probed_or_wrapped(fn: F, backend: Any) -> F:
    """Without ``sys.monitoring``: the one place that chooses between an inline
    probe in the function's own code (3.10/3.11, a plain function whose source
    is what runs: no frame added) and a generated wrapper (everything else)."""
    assert isinstance(fn, types.FunctionType)
    module = fn.__module__ or ""
    if probes_wanted():
        if probe.holds_probe(fn.__code__):
            return fn  # traced already (twice decorated, or by the import hook)
        from functrace._runtime import inline

        code = inline.probed_code(fn, lambda code: bind_probes(code, module))
        if code is not None:
            fn.__code__ = code
            return fn
    state.info_for(fn.__code__, module, fn.__qualname__)
    # With values wanted, the wrapper hands its arguments over (cheaper than
    # reading them from its frame); without, it does nothing more than before.
    wrapped: F = backend.wrap(fn, given=bool(settings.args))
    return wrapped


def probes_wanted() -> bool:
    """Whether plain functions get inline probes (``probe.py``) rather than wrappers.
    A setting that needs what only a wrapper sees (a return value: ``__exit__``
    does not get it) says no here, for the decorator and the import hook: with
    FUNCTRACE_ARGS on, functions get wrappers (a function probed before the
    setting changed shows no return value)."""
    return probe.available() and not settings.args


def bind_probes(code: types.CodeType, module: str) -> types.CodeType:
    """``code`` (the import hook's rewrite, or a recompiled function) with its
    probe placeholders bound: a probe each function the settings select, an
    inert one for the others."""
    if not _enabled:
        return probe.bind(code, module, probe.inert)
    try:
        _start()
    except Exception as exc:
        _give_up(exc)
        return probe.bind(code, module, probe.inert)
    if _uses_monitoring:
        return probe.bind(code, module, probe.inert)  # not expected: probes are for 3.10/3.11
    return probe.bind(code, module, _make_probe)


def restored_probe(key: types.CodeType, name: str) -> Any:
    """The probe of an unpickled function (``probe._reduce``): traced under
    ``name`` if tracing is on in this process, else inert."""
    if not _enabled:
        return probe.inert(key, "", name)
    try:
        _start()
    except Exception as exc:
        _give_up(exc)
        return probe.inert(key, "", name)
    if _uses_monitoring:
        return probe.inert(key, "", name)
    return _make_probe(key, "", name)


def _make_probe(key: types.CodeType, module: str, qualname: str) -> Any:
    name = f"{module}.{qualname}" if module else qualname
    if (settings.include or settings.exclude) and not _name_selected(name):
        return probe.inert(key, module, qualname)
    state.info_for(key, module, qualname)
    return probe.new(key)


_told: set[type] = set()


def _untraced_kind(kind: type) -> None:
    if kind not in _told:
        _told.add(kind)
        notice(
            f"functrace: {kind.__module__}.{kind.__qualname__} objects are left untraced "
            "on this Python (a property subclass: its functions would need wrappers); "
            "decorate the function inside it instead",
        )


_selector: tuple[Settings, Any, Any] | None = None


def _selected(fn: types.FunctionType) -> bool:
    """Whether FUNCTRACE_INCLUDE / FUNCTRACE_EXCLUDE let ``fn`` be traced."""
    return _name_selected(f"{fn.__module__}.{fn.__qualname__}")


def _name_selected(name: str) -> bool:
    global _selector
    if _selector is None or _selector[0] is not settings:
        _selector = (settings, _any_glob(settings.include), _any_glob(settings.exclude))
    _, include, exclude = _selector
    return (include is None or include(name) is not None) and (
        exclude is None or exclude(name) is None
    )


def _any_glob(patterns: tuple[str, ...]) -> Any:
    if not patterns:
        return None
    import fnmatch
    import re

    return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match


def trace_code(code: types.CodeType, module: str, qualname: str | None = None) -> bool:
    """Python 3.12+: trace every function made from ``code``, touching no function.

    For tools that find code objects themselves (the import hook, tracing modules
    that are already imported). Returns False when tracing is off, the name is
    filtered out, or only wrappers are available (3.10/3.11, no free tool id):
    then the caller must decorate functions instead.
    """
    if not _enabled:
        return False
    own = state.own_work_begin()
    try:
        return _trace_code(code, module, qualname)
    finally:
        state.own_work_end(own)


def _trace_code(code: types.CodeType, module: str, qualname: str | None) -> bool:
    name = qualname if qualname is not None else getattr(code, "co_qualname", code.co_name)
    if (settings.include or settings.exclude) and not _name_selected(f"{module}.{name}"):
        return False
    try:
        backend = _start()
    except Exception as exc:
        _give_up(exc)
        return False
    if not _uses_monitoring:
        return False
    if not state.registered(code):
        state.info_for(code, module, name)
        backend.add(code)
    return True


def uses_monitoring() -> bool:
    """Whether traced functions are observed through ``sys.monitoring`` (no wrapper)."""
    if _enabled and _backend is None:
        try:
            _start()
        except Exception as exc:
            _give_up(exc)
    return _uses_monitoring


def _give_up(exc: Exception) -> None:
    global _enabled
    _enabled = False
    notice(
        f"functrace: could not start tracing, functions are left untraced: {exc!r}",
    )


def enable() -> None:
    """Switch tracing (back) on for every function traced so far and from now on."""
    global _enabled
    _enabled = True
    engine.recover()
    if _backend is not None:
        _backend.switch(True)


def disable() -> None:
    """Switch tracing off: traced functions run as if untraced until ``enable()``."""
    global _enabled
    _enabled = False
    if _backend is not None:
        _backend.switch(False)
    output.flush()


def is_enabled() -> bool:
    return _enabled


def configure(**changes: Any) -> Settings:
    """Change settings at run time, e.g. ``configure(output="trace.log", format="jsonl")``.

    Takes the fields of :class:`Settings`, checked as their ``FUNCTRACE_*``
    variables are (a string is read exactly as the variable's text); a value
    that is not valid raises ValueError and changes nothing. Returns the
    settings now in force.
    """
    global settings
    own = state.own_work_begin()  # dataclasses' code, say: never traced
    try:
        valid = {field: checked(field, value) for field, value in changes.items()}
        settings = dataclasses.replace(settings, **valid)  # type: ignore[arg-type]
    finally:
        state.own_work_end(own)
    if "enabled" in changes:
        (enable if settings.enabled else disable)()
    if _backend is not None:
        engine.configure(settings)
    return settings
