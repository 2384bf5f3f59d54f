"""In a child process: trace as the parent asked (``FUNCTRACE_CHILDREN``).

:func:`start` runs from the bootstrap ``sitecustomize``, before the child's
program: it installs the import hook with the parent's policy. The settings
(``FUNCTRACE_OUTPUT``...) were read from the inherited environment when
functrace was imported.

The program's own script is not imported, so the hook never sees it. An audit
hook does (PEP 578: ``exec`` is raised with the code object just before it runs):

- the main script of ``python SCRIPT``: the interpreter runs it with no Python
  frame below. 3.12+: its functions' code objects are registered before it runs,
  as the import hook does, and the script runs untouched. 3.10/3.11: code cannot
  be observed, so the script is run rewritten (as ``functrace run`` runs it), in
  the ``__main__`` the interpreter prepared, and the interpreter is then told the
  program ended (``SystemExit``, with the program's exit status);
- a multiprocessing spawn or forkserver child runs the parent's script again as
  ``__mp_main__`` through ``runpy``: 3.12+ registers it the same way; 3.10/3.11
  wrap its functions in place (``wrap_imported``) when the child first unpickles
  something, which is before it looks up a target or a task's function.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

from functrace.children import VARIABLE, Policy

__all__ = ["start"]


def start() -> None:
    """Trace this process as ``FUNCTRACE_CHILDREN`` says. Never raises."""
    try:
        _start()
    except Exception as exc:  # a child must run, traced or not
        try:
            sys.stderr.write(f"functrace: could not trace this child process: {exc!r}\n")
        except Exception:
            pass


def _start() -> None:
    policy = Policy.from_json(os.environ.get(VARIABLE, ""))
    if policy is None:
        return
    import functrace
    from functrace.importhook import install_import_hook

    if not functrace.is_enabled():
        return
    hook = install_import_hook(
        policy.include,
        policy.exclude,
        under=policy.under,
        skip_files=policy.skip_files,
        warn=False,
    )
    sys.addaudithook(_MainWatcher(hook.finder.selector, policy.scripts))


class _MainWatcher:
    """The audit hook that traces the code the import hook cannot see (see above).
    Called for every audited event of the process for as long as it lives, so it
    returns at once for all but two events; it never raises, but to end the
    program it ran itself (3.10/3.11)."""

    def __init__(self, selector: Any, scripts: tuple[str, ...]) -> None:
        self.selector = selector
        self.scripts = frozenset(scripts)
        self.main_done = False
        #: 3.10/3.11: the namespace runpy ran __mp_main__ in, to wrap (its
        #: functions' globals: the module multiprocessing makes gets a copy).
        self.wrap_pending: dict[str, Any] | None = None

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "exec":
            code = args[0]
            if getattr(code, "co_name", None) == "<module>":
                try:
                    self._exec(code)
                except SystemExit:
                    raise  # the program, run rewritten, has ended
                except Exception:
                    pass
        elif event == "pickle.find_class" and self.wrap_pending is not None:
            try:
                self._wrap()
            except Exception:
                pass

    def _exec(self, code: types.CodeType) -> None:
        try:
            caller: types.FrameType | None = sys._getframe(2)
        except ValueError:
            caller = None
        if caller is None:  # the interpreter's own run: python SCRIPT
            if self.main_done:
                return
            self.main_done = True
            self._main(code, "__main__")
            return
        runpy = sys.modules.get("runpy")
        if (
            runpy is not None
            and caller.f_code is runpy._run_code.__code__
            and caller.f_locals.get("mod_name") == "__mp_main__"
        ):
            self._main(code, "__mp_main__", caller.f_locals.get("run_globals"))

    def _main(self, code: types.CodeType, name: str, namespace: Any = None) -> None:
        path = code.co_filename
        if not os.path.isfile(path) or not self._takes(path):
            return
        from functrace._runtime.state import own_work
        from functrace.importhook._loader import mode

        with own_work():
            how = mode()
            with open(path, "rb") as f:
                source = f.read()
            if how == "monitor":
                from functrace.importhook._loader import trace_loaded

                trace_loaded(code, name, source, path)
                return
            if how != "rewrite":
                return
            if name == "__mp_main__":
                if isinstance(namespace, dict):
                    self.wrap_pending = namespace
                return
            if sys.flags.inspect:
                return  # python -i: the interpreter must run it, then the prompt
            from functrace.importhook._loader import compile_traced, prepare

            main = sys.modules["__main__"]
            traced = compile_traced(source, path, use_cache=False)
            prepare(main.__dict__)
        _run_rewritten(traced, main.__dict__)

    def _takes(self, path: str) -> bool:
        if os.path.realpath(path) in self.scripts:
            return True
        return bool(self.selector.takes("__main__", path))

    def _wrap(self) -> None:
        namespace, self.wrap_pending = self.wrap_pending, None
        from functrace._runtime.state import own_work
        from functrace.importhook._imported import wrap_imported

        with own_work():
            view = _Namespace()
            view.__dict__ = namespace  # type: ignore[assignment]
            wrap_imported(view)  # type: ignore[arg-type]
            module = sys.modules.get("__mp_main__")
            if module is not None and vars(module) is not namespace:
                wrap_imported(module)


class _Namespace:
    """A namespace dict seen as a module (its ``__name__``, ``__file__``, names)."""


_KEYBOARD_INTERRUPT = 130  # as functrace run exits


def _run_rewritten(code: types.CodeType, namespace: dict[str, Any]) -> None:
    """Run the main script's rewritten ``code`` in ``namespace``, then end the
    process as the interpreter would have ended it (from the audit hook, by
    ``SystemExit``: the interpreter then finalizes as after a normal end)."""
    try:
        exec(code, namespace)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code is not code:
            tb = tb.tb_next
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        raise SystemExit(_KEYBOARD_INTERRUPT if isinstance(exc, KeyboardInterrupt) else 1) from None
    raise SystemExit(None)
