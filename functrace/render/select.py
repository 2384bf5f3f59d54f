"""Which calls a view shows: ``--tag``, ``--name``, ``--min-duration``, ``--max-depth``.

Decided per call while the trace streams; every answer that depends only on a
tag or a name is remembered (bounded by the distinct tags and names).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re

from functrace._runtime.lines import task_tag, thread_tag
from functrace.reading._stream import Frame

__all__ = ["Selection", "normalize_tag"]

_TAG_RE = re.compile(r"^(?:t\[)?(?:([0-9]+)\.)?([0-9]+)\]?(?:a\[([0-9]+)\])?$")


def normalize_tag(text: str) -> str:
    """``2``, ``t[2]`` and ``t[02]`` all mean ``t[02]``; ``t[1]a[3]`` means ``t[01]a[03]``;
    anything else (a thread's name) is kept as it is."""
    m = _TAG_RE.match(text.strip())
    if m is None:
        return text
    pid, thread, task = m.groups()
    tag = thread_tag(int(thread), int(pid) if pid else None)
    return task_tag(tag, int(task)) if task else tag


@dataclasses.dataclass(frozen=True)
class Selection:
    """Everything shown by default; each field narrows what is shown.

    ``tags``: a tag shows when it equals one of these (``2``, ``t[2]`` and
    ``t[02]`` are the same), is a task of such a thread tag (``t[01]`` selects
    ``t[01]a[03]`` too), or its thread or task has that name: the ``thread`` field
    of jsonl events, or the name a naming line gives the tag (``names``: tag ->
    name, filled while the trace is read; a named thread selects its tasks too).
    ``name``: a glob on the qualified name, or on any of its last dotted parts
    (``fetch`` and ``Client.fetch`` match ``app.Client.fetch``). A matching call
    shows with the chain of calls it came from and everything below it.
    ``min_duration_ns``: shorter calls are hidden with everything below them,
    unless they raised or never finished. ``max_depth``: deeper calls are hidden.
    """

    tags: tuple[str, ...] = ()
    name: str | None = None
    min_duration_ns: int = 0
    max_depth: int = 0
    names: dict[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    _tag_cache: dict[tuple[str, str, str, str], bool] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    _name_cache: dict[str, bool] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(normalize_tag(t) for t in self.tags))

    @property
    def narrows(self) -> bool:
        return bool(self.tags or self.name or self.min_duration_ns or self.max_depth)

    def tag_shown(self, tag: str, thread_name: str = "") -> bool:
        if not self.tags:
            return True
        names = self.names
        own = names.get(tag, "") if names else ""
        cut = tag.find("]a[")
        thread = names.get(tag[: cut + 1], "") if names and cut > 0 else ""
        key = (tag, thread_name, own, thread)
        shown = self._tag_cache.get(key)
        if shown is None:
            shown = any(
                tag == t
                or tag.startswith(t + "a[")
                or (thread_name and thread_name == t)
                or (own and own == t)
                or (thread and thread == t)
                for t in self.tags
            )
            if len(self._tag_cache) < 100_000:
                self._tag_cache[key] = shown
        return shown

    def name_matches(self, name: str) -> bool:
        if self.name is None:
            return True
        matches = self._name_cache.get(name)
        if matches is None:
            pattern = self.name
            parts = name.split(".")
            matches = any(
                fnmatch.fnmatchcase(".".join(parts[i:]), pattern) for i in range(len(parts))
            )
            if len(self._name_cache) < 100_000:
                self._name_cache[name] = matches
        return matches

    def long_enough(self, frame: Frame) -> bool:
        duration = frame.duration_ns
        return duration is None or duration >= self.min_duration_ns or frame.exception is not None

    def counts(self, frame: Frame, thread_name: str = "") -> bool:
        """Whether a closed frame is counted in a summary: the frame itself qualifies."""
        return (
            (not self.max_depth or frame.depth <= self.max_depth)
            and (not self.min_duration_ns or self.long_enough(frame))
            and self.name_matches(frame.name)
            and self.tag_shown(frame.tag, thread_name)
        )
