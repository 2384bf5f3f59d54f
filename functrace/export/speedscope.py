"""speedscope's evented format: one profile per thread and task.

Valid against ``file-format-schema.json`` of the ``speedscope`` npm package.
The trace is read once: the frame table (one entry per distinct function) stays
in memory, each profile's events go to a :class:`~functrace.export._spool.Spool`
(memory, then a temporary file) and are written out at the end, since a profile
is one JSON array while the trace interleaves threads.
"""

from __future__ import annotations

from functrace.export._base import Writer, jstr, load_timelinecode
from functrace.export._spool import Spool
from functrace.export._tracks import track_label
from functrace.reading._stream import Frame, Output
from functrace.reading.scan import Scan

__all__ = ["SCHEMA", "SpeedscopeWriter"]

SCHEMA = "https://www.speedscope.app/file-format-schema.json"

_timelinecode = load_timelinecode()


class _Profile:
    __slots__ = ("count", "first", "last", "pending")

    def __init__(self, at: int) -> None:
        self.first = at
        self.last = at
        #: Events already in the spool.
        self.count = 0
        #: Events not yet in the spool (added in a few large pieces).
        self.pending: list[str] = []


class SpeedscopeWriter(Writer):
    def __init__(self, out: Output, scan: Scan, name: str = "functrace") -> None:
        super().__init__(out, scan)
        self.name = name
        #: (name, file, line) -> its open and close events up to their time.
        self.frames: dict[tuple[str, str, int], tuple[str, str]] = {}
        self.profiles: dict[str, _Profile] = {}
        self.spool = Spool()
        #: Events in the profiles' pending lists (the compiled writer counts its own:
        #: when the spool gets them does not change the output).
        self.pending = 0
        if _timelinecode is not None:
            # It keeps this writer's Python opened/closed for the calls it does not
            # take, so it is made before they are replaced.
            coder = _timelinecode.Speedscope(self, Frame, _Profile)
            self.opened = coder.opened  # type: ignore[method-assign]
            self.closed = coder.closed  # type: ignore[method-assign]

    def _frame(self, key: tuple[str, str, int]) -> tuple[str, str]:
        index = len(self.frames)
        events = self.frames[key] = (
            f'{{"type":"O","frame":{index},"at":',
            f'{{"type":"C","frame":{index},"at":',
        )
        return events

    def _event(self, tag: str, event: str, at: int) -> None:
        """``event`` (up to its time) at ``at``, or at the profile's last time if later:
        the viewer insists on events in time order."""
        profile = self.profiles.get(tag)
        if profile is None:
            profile = self.profiles[tag] = _Profile(at)
        if at < profile.last:
            at = profile.last
        profile.last = at
        profile.pending.append(f"{event}{at}}}")
        self.pending += 1
        if self.pending >= 4096:
            self._flush()

    def _flush(self) -> None:
        add = self.spool.add
        for tag, profile in self.profiles.items():
            pending = profile.pending
            if pending:
                add(tag, ("," if profile.count else "") + ",".join(pending))
                profile.count += len(pending)
                pending.clear()
        self.pending = 0

    def opened(self, frame: Frame) -> None:
        key = (frame.name, frame.file, frame.line)
        events = self.frames.get(key) or self._frame(key)
        frame.data = events[1]
        self._event(frame.tag, events[0], frame.start_ns)

    def closed(self, frame: Frame) -> None:
        self._event(frame.tag, frame.data, frame.end_ns)

    def finish(self, end_ns: int, epoch_offset_ns: int) -> None:
        self._flush()
        out = self.out
        out.write(f'{{"$schema":"{SCHEMA}","shared":{{"frames":[')
        for i, (name, file, line) in enumerate(self.frames):
            entry = f'{{"name":{jstr(name)}'
            if file:
                entry += f',"file":{jstr(file)},"line":{line}'
            out.write(("," if i else "") + entry + "}")
        out.write('\n]},"profiles":[')
        for i, (tag, profile) in enumerate(self.profiles.items()):
            label = jstr(track_label(self.scan, tag))
            out.write(
                f'{"," if i else ""}\n{{"type":"evented","name":{label},'
                f'"unit":"nanoseconds","startValue":{profile.first},'
                f'"endValue":{profile.last},"events":['
            )
            for text in self.spool.read(tag):
                out.write(text)
            out.write("]}")
        name = jstr(self.name)
        out.write(f'\n],"name":{name},"activeProfileIndex":0,"exporter":"functrace"}}\n')
        self.spool.close()
