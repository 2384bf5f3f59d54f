"""The optional compiled fast path; everything else is in pyproject.toml.

``functrace._runtime._speedups`` is built when a C compiler is available and
skipped (with a warning from setuptools) when it is not: the runtime then uses
its pure-Python fast path, which writes the same lines. So is
``functrace.reading._scan`` (the common lines of the reading loops, text and
jsonl), ``functrace.export._spancode`` (the span exports' common calls) and
``functrace.export._timelinecode`` (the chrome export's); without them Python does
the same, to the same result.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "functrace._runtime._speedups",
            ["functrace/_runtime/_speedups.c"],
            depends=["functrace/_runtime/_journal.h"],  # included by _speedups.c
            optional=True,
        ),
        # The reading loops' common lines (functrace/reading/_fast.py reads them
        # in Python when it is missing).
        Extension(
            "functrace.reading._scan",
            ["functrace/reading/_scan.c"],
            depends=["functrace/_cshared.h"],  # shared with the two below
            optional=True,
        ),
        # The span exports' common calls (functrace/export/_spans.py writes them in
        # Python when it is missing).
        Extension(
            "functrace.export._spancode",
            ["functrace/export/_spancode.c"],
            depends=["functrace/_cshared.h"],
            optional=True,
        ),
        # The chrome export's common calls (functrace/export/chrome.py writes them in
        # Python when it is missing).
        Extension(
            "functrace.export._timelinecode",
            ["functrace/export/_timelinecode.c"],
            depends=["functrace/_cshared.h"],
            optional=True,
        ),
    ]
)
