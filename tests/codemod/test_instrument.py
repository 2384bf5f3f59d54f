"""``instrument``: before/after pairs, each also checked for idempotency and for
``strip(instrument(x)) == x`` (see helpers)."""

from __future__ import annotations

import pytest

from functrace.codemod import Status, instrument_source

from .helpers import assert_instrument, assert_instrument_bytes, assert_unchanged

A = "  # functrace: added"


# -- where the import goes ---------------------------------------------------------


def test_plain_module() -> None:
    assert_instrument(
        """\
        def f():
            return 1
        """,
        f"""\
        import functrace{A}
        @functrace.trace{A}
        def f():
            return 1
        """,
        functions=1,
    )


def test_import_after_docstring_and_future_imports() -> None:
    assert_instrument(
        '''\
        """Module docstring."""
        from __future__ import annotations

        import os


        def f():
            pass
        ''',
        f'''\
        """Module docstring."""
        from __future__ import annotations
        import functrace{A}

        import os


        @functrace.trace{A}
        def f():
            pass
        ''',
    )


def test_import_after_multiline_docstring() -> None:
    assert_instrument(
        '''\
        """Module.

        More.
        """
        def f(): pass
        ''',
        f'''\
        """Module.

        More.
        """
        import functrace{A}
        @functrace.trace{A}
        def f(): pass
        ''',
    )


def test_import_after_shebang_cookie_and_leading_comments() -> None:
    assert_instrument(
        """\
        #!/usr/bin/env python
        # -*- coding: utf-8 -*-
        # Copyright notice

        import sys
        def f(): pass
        """,
        f"""\
        #!/usr/bin/env python
        # -*- coding: utf-8 -*-
        # Copyright notice

        import functrace{A}
        import sys
        @functrace.trace{A}
        def f(): pass
        """,
    )


def test_import_goes_above_the_decorators_of_a_first_definition() -> None:
    assert_instrument(
        """\
        # comment
        @decorator
        def f(): pass
        """,
        f"""\
        # comment
        import functrace{A}
        @decorator
        @functrace.trace{A}
        def f(): pass
        """,
    )


def test_existing_leading_import_is_reused() -> None:
    assert_instrument(
        """\
        import os
        import functrace as ft

        def f(): pass
        """,
        f"""\
        import os
        import functrace as ft

        @ft.trace{A}
        def f(): pass
        """,
    )


def test_import_after_the_definitions_is_not_enough() -> None:
    assert_instrument(
        """\
        def f(): pass
        import functrace
        """,
        f"""\
        import functrace{A}
        @functrace.trace{A}
        def f(): pass
        import functrace
        """,
    )


@pytest.mark.parametrize(
    "binding",
    [
        "functrace = None",
        "from somewhere import functrace",
        "import other as functrace",
        "def g(functrace): pass",
        "for functrace in (): pass",
    ],
)
def test_name_bound_to_something_else_gets_an_alias(binding: str) -> None:
    functions = 2 if binding.startswith("def") else 1
    extra = f"@_functrace.trace{A}\n" if binding.startswith("def") else ""
    assert_instrument(
        f"{binding}\ndef f(): pass\n",
        f"import functrace as _functrace{A}\n{extra}{binding}\n"
        f"@_functrace.trace{A}\ndef f(): pass\n",
        functions=functions,
    )


def test_alias_avoids_names_in_use() -> None:
    assert_instrument(
        """\
        functrace = _functrace = 1
        def f(): pass
        """,
        f"""\
        import functrace as _functrace_1{A}
        functrace = _functrace = 1
        @_functrace_1.trace{A}
        def f(): pass
        """,
    )


def test_attribute_use_of_the_module_is_not_a_clash() -> None:
    assert_instrument(
        """\
        import functrace
        functrace.configure(output="none")
        def f(): pass
        """,
        f"""\
        import functrace
        functrace.configure(output="none")
        @functrace.trace{A}
        def f(): pass
        """,
    )


# -- which functions, and where the decorator goes ---------------------------------


def test_every_depth_and_kind_of_function() -> None:
    assert_instrument(
        """\
        import contextlib
        import functools


        class A:
            @staticmethod
            def s(): pass

            @classmethod
            def c(cls): pass

            @property
            def p(self): return 1

            @p.setter
            def p(self, value): pass

            @contextlib.contextmanager
            def cm(self):
                yield

            @functools.lru_cache(maxsize=None)
            def cached(self): pass

            async def a(self):
                def inner():
                    @functools.wraps(inner)
                    def wrapper(): pass
                    return wrapper
                return inner

            class Nested:
                def m(self): pass


        if True:
            def in_if(): pass
        else:
            def in_else(): pass
        try:
            def in_try(): pass
        except Exception:
            def in_except(): pass
        finally:
            def in_finally(): pass
        with open(__file__):
            def in_with(): pass
        while False:
            def in_while(): pass
        for _ in ():
            def in_for(): pass
        """,
        f"""\
        import functrace{A}
        import contextlib
        import functools


        class A:
            @staticmethod
            @functrace.trace{A}
            def s(): pass

            @classmethod
            @functrace.trace{A}
            def c(cls): pass

            @property
            @functrace.trace{A}
            def p(self): return 1

            @p.setter
            @functrace.trace{A}
            def p(self, value): pass

            @contextlib.contextmanager
            @functrace.trace{A}
            def cm(self):
                yield

            @functools.lru_cache(maxsize=None)
            @functrace.trace{A}
            def cached(self): pass

            @functrace.trace{A}
            async def a(self):
                @functrace.trace{A}
                def inner():
                    @functools.wraps(inner)
                    @functrace.trace{A}
                    def wrapper(): pass
                    return wrapper
                return inner

            class Nested:
                @functrace.trace{A}
                def m(self): pass


        if True:
            @functrace.trace{A}
            def in_if(): pass
        else:
            @functrace.trace{A}
            def in_else(): pass
        try:
            @functrace.trace{A}
            def in_try(): pass
        except Exception:
            @functrace.trace{A}
            def in_except(): pass
        finally:
            @functrace.trace{A}
            def in_finally(): pass
        with open(__file__):
            @functrace.trace{A}
            def in_with(): pass
        while False:
            @functrace.trace{A}
            def in_while(): pass
        for _ in ():
            @functrace.trace{A}
            def in_for(): pass
        """,
        functions=18,
    )


def test_match_case_and_elif() -> None:
    assert_instrument(
        """\
        match x:
            case 1:
                def one(): pass
        if a:
            pass
        elif b:
            def g(): pass
        """,
        f"""\
        import functrace{A}
        match x:
            case 1:
                @functrace.trace{A}
                def one(): pass
        if a:
            pass
        elif b:
            @functrace.trace{A}
            def g(): pass
        """,
    )


def test_comments_between_decorators_and_def_stay_put() -> None:
    assert_instrument(
        """\
        @a  # about a
        # between
        @b
        # just above def
        def f(  # params
            x,
        ):  # header
            pass
        """,
        f"""\
        import functrace{A}
        @a  # about a
        # between
        @b
        # just above def
        @functrace.trace{A}
        def f(  # params
            x,
        ):  # header
            pass
        """,
    )


def test_lambdas_are_left_alone() -> None:
    assert_unchanged("square = lambda x: x * x\nitems = sorted([], key=lambda i: -i)\n")


@pytest.mark.parametrize(
    ("imports", "decorator"),
    [
        ("from typing import overload", "@overload"),
        ("import typing", "@typing.overload"),
        ("import typing as t", "@t.overload"),
        ("from typing_extensions import overload", "@overload"),
        ("import typing_extensions", "@typing_extensions.overload"),
        ("from typing import overload as ov", "@ov"),
    ],
)
def test_overload_stubs_are_left_alone(imports: str, decorator: str) -> None:
    assert_instrument(
        f"{imports}\n{decorator}\ndef f(x: int) -> int: ...\ndef f(x): return x\n",
        f"import functrace{A}\n{imports}\n{decorator}\ndef f(x: int) -> int: ...\n"
        f"@functrace.trace{A}\ndef f(x): return x\n",
        functions=1,
    )


@pytest.mark.parametrize(
    ("imports", "decorator"),
    [
        ("import functrace", "@functrace.trace"),
        ("import functrace as ft", "@ft.trace"),
        ("from functrace import trace", "@trace"),
        ("import functrace", "@functrace.trace()"),
    ],
)
def test_already_traced_functions_are_left_alone(imports: str, decorator: str) -> None:
    assert_unchanged(f"{imports}\n{decorator}\ndef f(): pass\n")


def test_hand_traced_function_beside_an_untraced_one() -> None:
    assert_instrument(
        """\
        import functrace

        @functrace.trace
        def f(): pass

        def g(): pass
        """,
        f"""\
        import functrace

        @functrace.trace
        def f(): pass

        @functrace.trace{A}
        def g(): pass
        """,
    )


# -- pragmas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "# functrace: skip\ndef f(): pass\n",
        "def f():  # functrace: skip\n    pass\n",
        "def f(): pass  # functrace: skip\n",
        "@dec  # functrace: skip\ndef f(): pass\n",
        "@dec\n# functrace: skip\ndef f(): pass\n",
        "# functrace: skip -- hot path\ndef f(): pass\n",
        "# noqa: E501  # functrace: skip\ndef f(): pass\n",
        "#functrace:skip\ndef f(): pass\n",
    ],
)
def test_function_pragma(source: str) -> None:
    assert_unchanged(source)


def test_function_pragma_covers_nested_functions() -> None:
    assert_instrument(
        """\
        def f():  # functrace: skip
            def inner(): pass

        def g(): pass
        """,
        f"""\
        import functrace{A}
        def f():  # functrace: skip
            def inner(): pass

        @functrace.trace{A}
        def g(): pass
        """,
        functions=1,
    )


def test_class_pragma() -> None:
    assert_instrument(
        """\
        class Hot:  # functrace: skip
            def m(self):
                def inner(): pass

        # functrace: skip
        class AlsoHot:
            def m(self): pass

        class Cold:
            def m(self): pass
        """,
        f"""\
        import functrace{A}
        class Hot:  # functrace: skip
            def m(self):
                def inner(): pass

        # functrace: skip
        class AlsoHot:
            def m(self): pass

        class Cold:
            @functrace.trace{A}
            def m(self): pass
        """,
        functions=1,
    )


@pytest.mark.parametrize(
    "source",
    [
        "# functrace: skip-file\ndef f(): pass\n",
        "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n\n#  functrace: skip-file\n"
        "def f(): pass\n",
    ],
)
def test_file_pragma(source: str) -> None:
    result = assert_unchanged(source)
    assert result.status is Status.SKIPPED
    assert result.message == "functrace: skip-file"


def test_file_pragma_only_counts_in_the_leading_comments() -> None:
    assert_instrument(
        '''\
        """Docstring."""
        # functrace: skip-file
        def f(): pass
        ''',
        f'''\
        """Docstring."""
        import functrace{A}
        # functrace: skip-file
        @functrace.trace{A}
        def f(): pass
        ''',
    )


def test_skip_file_is_not_a_function_pragma() -> None:
    assert_instrument(
        "x = 1\ndef f(): pass  # functrace: skip-file\n",
        f"import functrace{A}\nx = 1\n@functrace.trace{A}\ndef f(): pass  # functrace: skip-file\n",
    )


# -- files without functions --------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        b"",
        b"\n",
        b"# only a comment",
        b'"""Docstring only."""\n',
        b"import os\nx = [lambda: 1]\nclass C:\n    x = 1\n",
        b"x = 1\r\ny = 2",
    ],
)
def test_files_without_functions_stay_byte_for_byte(source: bytes) -> None:
    result = assert_unchanged(source)
    assert result.status is Status.UNCHANGED


# -- every other byte ------------------------------------------------------------------


def test_crlf_line_endings() -> None:
    assert_instrument_bytes(
        b'"""Doc."""\r\nclass A:\r\n    def m(self):\r\n        pass\r\n',
        b'"""Doc."""\r\nimport functrace  # functrace: added\r\nclass A:\r\n'
        b"    @functrace.trace  # functrace: added\r\n    def m(self):\r\n        pass\r\n",
    )


def test_mixed_line_endings_follow_each_def_line() -> None:
    assert_instrument_bytes(
        b"def f(): pass\r\ndef g(): pass\n",
        b"import functrace  # functrace: added\r\n@functrace.trace  # functrace: added\r\n"
        b"def f(): pass\r\n@functrace.trace  # functrace: added\ndef g(): pass\n",
    )


def test_tab_indentation() -> None:
    assert_instrument_bytes(
        b"class A:\n\tdef m(self):\n\t\tdef inner():\n\t\t\tpass\n",
        b"import functrace  # functrace: added\nclass A:\n"
        b"\t@functrace.trace  # functrace: added\n\tdef m(self):\n"
        b"\t\t@functrace.trace  # functrace: added\n\t\tdef inner():\n\t\t\tpass\n",
    )


def test_missing_final_newline() -> None:
    assert_instrument_bytes(
        b"x = 1\ndef f(): pass",
        b"import functrace  # functrace: added\nx = 1\n"
        b"@functrace.trace  # functrace: added\ndef f(): pass",
    )


def test_latin1_with_cookie() -> None:
    assert_instrument_bytes(
        b"# -*- coding: latin-1 -*-\ns = '\xe9t\xe9'\ndef f(): return s\n",
        b"# -*- coding: latin-1 -*-\nimport functrace  # functrace: added\ns = '\xe9t\xe9'\n"
        b"@functrace.trace  # functrace: added\ndef f(): return s\n",
    )


def test_utf8_byte_order_mark_stays_first() -> None:
    assert_instrument_bytes(
        b"\xef\xbb\xbfdef f(): pass\n",
        b"\xef\xbb\xbfimport functrace  # functrace: added\n"
        b"@functrace.trace  # functrace: added\ndef f(): pass\n",
    )


def test_formatting_and_comments_are_kept() -> None:
    assert_instrument(
        """\
        x = {  'a' :1 ,}   # odd spacing
        def   f ( a ,b = 2 ) :   # comment
            return   a+b



        async   def g(): pass
        """,
        f"""\
        import functrace{A}
        x = {{  'a' :1 ,}}   # odd spacing
        @functrace.trace{A}
        def   f ( a ,b = 2 ) :   # comment
            return   a+b



        @functrace.trace{A}
        async   def g(): pass
        """,
    )


def test_file_libcst_does_not_round_trip_is_edited_only_where_we_add() -> None:
    # LibCST issue 1457: libcst prints `except (...) :` without the space.
    before = b"try:\n    pass\nexcept (ValueError, TypeError) :\n    pass\ndef f(): pass\n"
    assert_instrument_bytes(
        before,
        b"import functrace  # functrace: added\ntry:\n    pass\nexcept (ValueError, TypeError) :\n"
        b"    pass\n@functrace.trace  # functrace: added\ndef f(): pass\n",
    )


def test_file_whose_def_line_libcst_cannot_reproduce_is_refused() -> None:
    src = b"def f(): pass\n\x0cdef g(): pass\n"
    result = instrument_source(src)
    assert result.status is Status.FAILED
    assert "libcst does not reproduce line 2" in result.message


# -- bad input --------------------------------------------------------------------------


def test_unparsable_source_fails_with_a_location() -> None:
    result = instrument_source(b"x = 1\ndef f(:\n    pass\n")
    assert result.status is Status.FAILED
    assert result.output is None
    assert result.message == "cannot parse: invalid syntax"  # CPython's, and where it is
    assert (result.line, result.column) == (2, 7)
    assert result.describe("m.py") == "m.py:2:7: cannot parse: invalid syntax"


def test_unknown_encoding_fails() -> None:
    result = instrument_source(b"# -*- coding: nonsense -*-\ndef f(): pass\n")
    assert result.status is Status.FAILED
    assert "nonsense" in result.message


def test_brackets_nested_deeper_than_python_allows_are_refused_before_libcst() -> None:
    # libcst's parser overflows its stack (a crash, not an exception) on these.
    result = instrument_source(b"x = " + b"(" * 3000 + b"1" + b")" * 3000 + b"\ndef f(): pass\n")
    assert result.status is Status.FAILED
    assert result.message == "cannot parse: brackets nested 3000 deep (Python allows 200)"


def test_brackets_inside_strings_do_not_count() -> None:
    src = b"x = '" + b"(" * 500 + b"'\ndef f(): pass\n"
    assert instrument_source(src).status is Status.CHANGED
