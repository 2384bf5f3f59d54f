"""What ``functrace instrument`` and ``functrace strip`` share: options, the run over
files, and rendering of results (data on stdout; progress, problems and the one-line
summary on stderr)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

import click

from functrace.cli.exit_codes import ExitCode

__all__ = ["rewrite_command"]


def rewrite_command(transform: str, past: str, help: str) -> click.Command:
    """A click command applying ``transform`` (a name from
    :data:`functrace.codemod.parallel.TRANSFORMS`); ``past`` is its verb in the
    summary ("instrumented")."""

    @click.command(name=transform, help=help, no_args_is_help=True)
    @click.argument("paths", nargs=-1, required=True, metavar="PATH...")
    @click.option("-w", "--write", is_flag=True, help="Rewrite files in place (the default).")
    @click.option("--diff", is_flag=True, help="Print a unified diff; write nothing.")
    @click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file would change.")
    @click.option(
        "--exclude",
        multiple=True,
        metavar="GLOB",
        help="Skip files and folders inside the directories given whose path ends with "
        "a match (whole names; * crosses /; repeatable): items.py, tomlkit/items.py and "
        "'*/items.py' all skip src/tomlkit/items.py. A GLOB starting with ./ is anchored "
        "at the working directory or at each PATH, one starting with / is absolute. "
        "Files named as PATH are always taken.",
    )
    @click.option(
        "--no-default-excludes",
        "no_default_excludes",
        is_flag=True,
        help="Also search the folders skipped by default: .git, .hg, .svn, virtual "
        "environments, site-packages, __pycache__, .tox, .nox, .eggs, *.egg-info, and "
        "build and dist unless they are Python packages (with an __init__.py, as "
        "pip/_internal/operations/build is; without one they are build outputs). The "
        "summary says which were skipped.",
    )
    @click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        default=os.cpu_count() or 1,
        show_default="number of CPUs",
        help="Files rewritten in parallel.",
    )
    @click.option(
        "--force",
        is_flag=True,
        help="Rewrite read-only files, and hard-linked files (the name given then gets "
        "its own copy).",
    )
    @click.option(
        "--follow-symlinks",
        is_flag=True,
        help="Rewrite the targets of symbolic links named, and follow links inside "
        "directories (refused and passed over otherwise).",
    )
    @click.option(
        "--max-size",
        default="2M",
        callback=_size,
        show_default=True,
        metavar="SIZE",
        help="Refuse larger files (bytes, or with a K, M or G suffix; 0: no limit). "
        "libcst needs 100 to 700 times a file's size in memory.",
    )
    def command(
        paths: tuple[str, ...],
        write: bool,
        diff: bool,
        check: bool,
        exclude: tuple[str, ...],
        no_default_excludes: bool,
        jobs: int,
        force: bool,
        follow_symlinks: bool,
        max_size: int,
    ) -> None:
        if write and (diff or check):
            raise click.UsageError("-w/--write cannot be combined with --diff or --check.")
        from functrace.codemod.parallel import Mode, Safety

        mode = Mode.DIFF if diff else Mode.CHECK if check else Mode.WRITE
        safety = Safety(force=force, max_size=max_size or None)
        run = _Run(transform, past, mode, check, safety)
        code = run.run(paths, exclude, jobs, follow_symlinks, not no_default_excludes)
        raise SystemExit(int(code))

    return command


_SCALES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """A number of bytes: ``2000000``, ``500K``, ``2M``, ``1G`` (powers of 1024)."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = text, ""
    if text and text[-1] in _SCALES:
        number, unit = text[:-1], text[-1]
    try:
        size = int(float(number) * _SCALES[unit])
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size (try 500K, 2M, 1G or 0)") from None
    if size < 0:
        raise click.BadParameter(f"{value!r} is negative")
    return size


@dataclass
class _Tally:
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    functions: int = 0


class _Run:
    def __init__(self, transform: str, past: str, mode: Any, check: bool, safety: Any) -> None:
        from rich.console import Console

        self.safety = safety
        self.transform = transform
        self.past = past
        self.mode = mode
        self.check = check
        self.tally = _Tally()
        self.skipped_by_default: list[str] = []
        # Escape codes only for a real terminal: rich also believes FORCE_COLOR, which
        # CI systems set, and would then draw the progress bar into a log file.
        self.tty = _isatty(sys.stderr)
        self.console = Console(stderr=True, highlight=False, force_terminal=self.tty)
        self.stdout: IO[bytes] = sys.stdout.buffer

    def run(
        self,
        paths: Sequence[str],
        exclude: Sequence[str],
        jobs: int,
        follow_symlinks: bool,
        default_excludes: bool = True,
    ) -> ExitCode:
        from functrace.codemod.files import discover

        interrupted = False
        try:
            if "-" in paths:
                self._stdin()
            discovery = discover(
                [p for p in paths if p != "-"],
                exclude,
                follow_symlinks=follow_symlinks,
                verb=self.transform,
                default_excludes=default_excludes,
                refuse_stubs=self.transform == "instrument",
            )
            for problem in discovery.problems:
                self._say(problem)
                self.tally.failed += 1
            for warning in discovery.warnings:
                self._say(warning)
            for note in discovery.notes:
                self._say(note)
                self.tally.skipped += 1
            self.skipped_by_default = [str(p) for p in discovery.skipped_by_default]
            if discovery.files:
                interrupted = self._files([str(f) for f in discovery.files], jobs)
        except KeyboardInterrupt:
            interrupted = True
        self._summary(interrupted)
        if interrupted:
            return ExitCode.INTERRUPTED
        if self.tally.failed or (self.check and self.tally.changed):
            return ExitCode.FAILED
        return ExitCode.OK

    def _files(self, files: list[str], jobs: int) -> bool:
        """Rewrite ``files``; True if interrupted."""
        from functrace.codemod.parallel import Rewriter

        with Rewriter(files, self.transform, self.mode, jobs, self.safety) as rewriter:
            advance = self._progress(len(files))
            try:
                for report in rewriter:
                    self._report(report.path, report.result, report.diff)
                    advance()
            except KeyboardInterrupt:
                rewriter.interrupt()
                for report in rewriter.drain():  # a second Ctrl-C ends this too
                    self._report(report.path, report.result, report.diff)
                return True
            finally:
                advance(stop=True)
        return False

    def _progress(self, total: int) -> Callable[..., None]:
        if not self.tty:
            return lambda stop=False: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        task = progress.add_task(self.transform, total=total)
        progress.start()

        def advance(stop: bool = False) -> None:
            if stop:
                progress.stop()
            else:
                progress.advance(task)

        return advance

    def _stdin(self) -> None:
        from functrace.codemod.diff import unified_diff
        from functrace.codemod.parallel import Mode, get_transform
        from functrace.codemod.result import Status

        limit = self.safety.max_size
        src = sys.stdin.buffer.read() if limit is None else sys.stdin.buffer.read(limit + 1)
        if limit is not None and len(src) > limit:
            from functrace.codemod.files import too_large
            from functrace.codemod.result import Result

            failed = Result.failed(f"cannot {self.transform}: {too_large(len(src), limit)}")
            self._report("<stdin>", failed, None)
            return
        result = get_transform(self.transform)(src)
        output = result.output if result.output is not None else src
        diff = None
        if self.mode is Mode.WRITE and result.status is not Status.FAILED:
            self.stdout.write(output)
            self.stdout.flush()
        elif self.mode is Mode.DIFF and result.status is Status.CHANGED:
            diff = unified_diff("<stdin>", src, output)
        self._report("<stdin>", result.without_output(), diff)

    def _report(self, path: str, result: Any, diff: str | None) -> None:
        from functrace.codemod.result import Status

        status = result.status
        if status is Status.CHANGED:
            self.tally.changed += 1
            self.tally.functions += result.functions
        elif status is Status.UNCHANGED:
            self.tally.unchanged += 1
        elif status is Status.SKIPPED:
            self.tally.skipped += 1
        else:
            self.tally.failed += 1
            self._say(result.describe(path))
        if diff:
            self.stdout.write(diff.encode("utf-8", "surrogateescape"))
            self.stdout.flush()

    def _say(self, line: str) -> None:
        if not self.tty:  # plain text, whatever rich makes of the environment
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
            return
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _summary(self, interrupted: bool) -> None:
        t = self.tally
        dry = self.mode.value != "write"
        changed = "would change" if dry else "changed"
        parts = [f"{_files(t.changed)} {changed}", f"{t.unchanged} unchanged"]
        if t.skipped:
            parts.append(f"{t.skipped} skipped")
        parts.append(f"{t.failed} failed")
        verb = f"would be {self.past}" if dry else self.past
        functions = f"{t.functions} function{'s' if t.functions != 1 else ''} {verb}"
        line = f"{', '.join(parts)}; {functions}"
        if interrupted:
            line = f"interrupted: {line}"
        if self.skipped_by_default:
            self._say(_skipped_line(self.skipped_by_default))
        self._say(line)


def _isatty(stream: IO[str]) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):  # e.g. click's CliRunner, a closed stream
        return False


def _skipped_line(names: Sequence[str], shown: int = 5) -> str:
    """``skipped by default: 3 directories (.git, .venv, build); ...``: the paths of
    the first few, in the order met."""
    distinct = list(dict.fromkeys(names))
    listed = ", ".join(distinct[:shown]) + ("..." if len(distinct) > shown else "")
    n = len(names)
    return (
        f"skipped by default: {n} director{'ies' if n != 1 else 'y'} ({listed}); "
        "--no-default-excludes to include them"
    )


def _files(n: int) -> str:
    return f"{n} file{'s' if n != 1 else ''}"
