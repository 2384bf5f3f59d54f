"""Following the Python processes a traced program starts.

The parent puts two things in its environment, so every Python child it starts
(``subprocess``, ``os.exec*``, ``multiprocessing`` with spawn or forkserver, a
shell script that runs python) inherits them:

- ``FUNCTRACE_CHILDREN``: which modules to trace (the import hook's policy), as JSON;
- the bootstrap directory ``_boot`` at the front of ``PYTHONPATH``: its
  ``sitecustomize`` runs in the child before the program, runs the sitecustomize
  it hides, and starts functrace (:mod:`functrace.children._child`) when the
  variable asks for it.

The settings (``FUNCTRACE_OUTPUT`` and the rest) are inherited as they are.
Forked children need none of this: they carry on the parent's tracing. A child
that is not Python ignores both variables (and hands them to its own children).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, MutableMapping

__all__ = ["BOOT_DIR", "VARIABLE", "Policy", "environment", "follow", "unfollow"]

VARIABLE = "FUNCTRACE_CHILDREN"
#: The directory whose ``sitecustomize.py`` starts functrace in a child.
BOOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")


@dataclasses.dataclass(frozen=True)
class Policy:
    """What a child traces: the import hook's arguments, and the scripts whose
    ``__main__`` is always traced (``functrace run SCRIPT`` traces SCRIPT whatever
    ``--include`` says; its spawn workers run it again as ``__mp_main__``)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    under: tuple[str, ...] = ()  # absolute: a child may start in another directory
    skip_files: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        under: Iterable[str | os.PathLike[str]] = (),
        skip_files: Iterable[str] = (),
        scripts: Iterable[str] = (),
    ) -> Policy:
        return cls(
            tuple(include),
            tuple(exclude),
            tuple(os.path.abspath(os.fspath(d)) for d in under),
            tuple(skip_files),
            tuple(os.path.realpath(s) for s in scripts),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Policy | None:
        """None for anything but what :meth:`to_json` writes."""
        try:
            data = json.loads(text)
            fields = {f.name for f in dataclasses.fields(cls)}
            if not isinstance(data, dict) or not set(data) <= fields:
                return None
            values = {k: tuple(v) for k, v in data.items()}
            if not all(isinstance(s, str) for v in values.values() for s in v):
                return None
            return cls(**values)
        except (ValueError, TypeError):
            return None


def environment(policy: Policy, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that make the Python children of a process with ``environ``
    (default ``os.environ``) trace as ``policy`` says."""
    env = os.environ if environ is None else environ
    path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != BOOT_DIR]
    return {VARIABLE: policy.to_json(), "PYTHONPATH": os.pathsep.join([BOOT_DIR, *path])}


def follow(
    policy: Policy,
    settings: Mapping[str, str] | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Make the Python processes started from now on trace as ``policy`` says,
    with ``settings`` (``FUNCTRACE_*`` variables) besides those they inherit;
    returns what :func:`unfollow` needs to put the environment back."""
    env = os.environ if environ is None else environ
    changes = {**environment(policy, env), **(settings or {})}
    before = {name: env.get(name) for name in changes}
    env.update(changes)
    return before


def unfollow(
    before: Mapping[str, str | None], environ: MutableMapping[str, str] | None = None
) -> None:
    """Put back the variables :func:`follow` changed."""
    env = os.environ if environ is None else environ
    for name, value in before.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
