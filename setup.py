"""The optional compiled fast path; everything else is in pyproject.toml.

``functrace._runtime._speedups`` is built when a C compiler is available and
skipped (with a warning from setuptools) when it is not: the runtime then uses
its pure-Python fast path, which writes the same lines.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "functrace._runtime._speedups",
            ["functrace/_runtime/_speedups.c"],
            optional=True,
        )
    ]
)
