"""functrace's start-up in the Python processes a traced program starts.

``functrace run`` (and ``pytest --functrace-children``) put this directory first
on PYTHONPATH, so every Python child imports this file at start-up as
``sitecustomize``, before its program runs. It takes its directory off
``sys.path`` again, runs the sitecustomize it hides (the next one on the path),
and only then, when FUNCTRACE_CHILDREN asks for it and FUNCTRACE does not say
off, starts the parent's functrace (the copy this file belongs to). Without that
variable nothing of functrace is imported.

Written for any Python a child may be (a python2 script started by the program
reads this file too): no syntax newer than it knows, and nothing done below 3.10.
"""

import os
import sys


def _boot():
    # type: () -> None
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        _chain()
    finally:
        if _wanted():
            _start(os.path.dirname(os.path.dirname(os.path.dirname(here))))


def _chain():
    # type: () -> None
    """Run the sitecustomize this one hides, as ``sitecustomize``."""
    if sys.version_info < (3, 5):  # noqa: UP036  # any Python may read this file
        return
    import importlib.machinery

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        return
    import importlib.util

    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module  # what `import sitecustomize` gives from now on
    spec.loader.exec_module(module)


def _wanted():
    # type: () -> bool
    if sys.version_info < (3, 10) or not os.environ.get("FUNCTRACE_CHILDREN"):
        return False
    return os.environ.get("FUNCTRACE", "").strip().lower() not in ("0", "off", "false", "no")


def _start(root):
    # type: (str) -> None
    """Start the parent's functrace: from the child's path when that is where it
    is, else (a child in another environment, or with another copy) loaded from
    the parent's directory, without touching sys.path."""
    try:
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec("functrace", sys.path)
        origin = spec is not None and spec.origin
        if not origin or os.path.realpath(origin) != os.path.realpath(
            os.path.join(root, "functrace", "__init__.py")
        ):
            import importlib.util

            spec = importlib.machinery.PathFinder.find_spec("functrace", [root])
            if spec is None or spec.loader is None:
                return
            module = importlib.util.module_from_spec(spec)
            sys.modules["functrace"] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop("functrace", None)
                raise
        from functrace.children._child import start
    except ImportError:
        return  # no functrace that follows children: the child runs untraced
    start()


_boot()
