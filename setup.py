"""The optional compiled fast path; everything else is in pyproject.toml.

``functrace._runtime._speedups`` is built when a C compiler is available and
skipped (with a warning from setuptools) when it is not: the runtime then uses
its pure-Python fast path, which writes the same lines. So is
``functrace.reading._scan`` (the text summary loop's common lines; without it
the loop reads them in Python, to the same result).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "functrace._runtime._speedups",
            ["functrace/_runtime/_speedups.c"],
            optional=True,
        ),
        # The text summary loop's common lines (functrace/reading/_fast.py reads
        # them in Python when it is missing).
        Extension(
            "functrace.reading._scan",
            ["functrace/reading/_scan.c"],
            optional=True,
        ),
    ]
)
