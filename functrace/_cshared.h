/* What the optional C extensions of the reading and export side share
 * (functrace/reading/_scan.c, functrace/export/_spancode.c, _timelinecode.c):
 * each includes this after <Python.h> and <structmember.h>. Static inline
 * functions, so each module keeps its own copy and nothing is exported.
 *
 * Prefixed ft_ so that no module's own names clash with them.
 */
#ifndef FUNCTRACE_CSHARED_H
#define FUNCTRACE_CSHARED_H

#include <string.h>

/* The small helpers below are on every line's path: inlined even where the compiler
 * would weigh a caller's size against them (it left ft_time out of line). */
#if defined(__GNUC__) || defined(__clang__)
#define FT_HOT static inline __attribute__((always_inline))
#else
#define FT_HOT static inline
#endif

/* ------------------------------------------------------------ objects */

/* fn(arg), by vectorcall. */
FT_HOT PyObject *
ft_call1(PyObject *fn, PyObject *arg)
{
    PyObject *args[1] = {arg};
    return PyObject_Vectorcall(fn, args, 1, NULL);
}

/* *slot = value, the old value released after (it may run code). Steals value. */
FT_HOT void
ft_put(PyObject **slot, PyObject *value)
{
    PyObject *old = *slot;
    *slot = value;
    if (old != NULL) {
        Py_DECREF(old); /* (not Py_XDECREF: gcc called that one out of line) */
    }
}

/* An exact str of Latin-1 characters (one byte each: what these modules copy as
 * bytes). */
FT_HOT int
ft_latin1(PyObject *o)
{
    return PyUnicode_CheckExact(o) && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND;
}

/* A time: an int from 0 to 2**63-1, or -1 (also for NULL, another type, a negative
 * or a larger int). Every time on every path of a trace is such an int. */
FT_HOT long long
ft_time(PyObject *o)
{
    if (o == NULL || !PyLong_Check(o)) {
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return overflow || v < 0 ? -1 : v;
}

/* The attributes names[0:n] of o into got[0:n] (new references): 0, or -1 with the
 * error and none of them held. */
static inline int
ft_attrs(PyObject *o, const char *const *names, int n, PyObject **got)
{
    for (int k = 0; k < n; k++) {
        got[k] = PyObject_GetAttrString(o, names[k]);
        if (got[k] == NULL) {
            while (k--) {
                Py_CLEAR(got[k]);
            }
            return -1;
        }
    }
    return 0;
}

/* Releases got[0:n] (what ft_attrs took, when the module does not keep it). */
static inline void
ft_release(PyObject **got, int n)
{
    for (int k = 0; k < n; k++) {
        Py_CLEAR(got[k]);
    }
}

/* ------------------------------------------------------------ slots */

/* Where an object's slot at byte offset off (ft_slot_offset) is held. */
FT_HOT PyObject **
ft_slot_at(PyObject *o, Py_ssize_t off)
{
    return (PyObject **)((char *)o + off);
}

/* The offset of a __slots__ member that tp itself defines (a member descriptor of
 * an object slot), or -1: a class's slots are read and written there directly. */
static inline Py_ssize_t
ft_slot_offset(PyTypeObject *tp, const char *name)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)tp, name);
    if (descr == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t off = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDescrObject *md = (PyMemberDescrObject *)descr;
        if (md->d_common.d_type == tp && md->d_member->type == T_OBJECT_EX) {
            off = md->d_member->offset;
        }
    }
    Py_DECREF(descr);
    return off;
}

/* at[k] = the offset of slot names[k] of tp, for k < n (-1 where names[k] is NULL):
 * 0, or -1 with TypeError "WHAT: no slot NAME" for the first one tp lacks. */
static inline int
ft_slot_offsets(PyTypeObject *tp, const char *what, const char *const *names, int n,
                Py_ssize_t *at)
{
    for (int k = 0; k < n; k++) {
        at[k] = names[k] == NULL ? -1 : ft_slot_offset(tp, names[k]);
        if (names[k] != NULL && at[k] < 0) {
            PyErr_Format(PyExc_TypeError, "%s: no slot %s", what, names[k]);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ decimal digits */

#define FT_DIGITS 20 /* the digits of the largest unsigned long long */

static const char ft_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const unsigned long long ft_pow10[FT_DIGITS] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};

/* How many decimal digits v has: from its bit length where the compiler counts
 * bits (log10(2) is about 1233 / 4096; v | 1 has as many digits as v, and no
 * digit less at 0), else one comparison a digit. */
FT_HOT int
ft_digit_count(unsigned long long v)
{
#if defined(__GNUC__) || defined(__clang__)
    unsigned long long w = v | 1;
    int t = ((64 - __builtin_clzll(w)) * 1233) >> 12;
    return t + (w >= ft_pow10[t]);
#else
    int n = 1;
    while (n < FT_DIGITS && v >= ft_pow10[n]) {
        n++;
    }
    return n;
#endif
}

/* v in decimal, two digits at a time from the last, which goes just before end:
 * where the first one is. */
FT_HOT char *
ft_digits_before(char *end, unsigned long long v)
{
    char *p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        *--p = ft_digit_pairs[2 * r + 1];
        *--p = ft_digit_pairs[2 * r];
    }
    if (v >= 10) {
        *--p = ft_digit_pairs[2 * v + 1];
        *--p = ft_digit_pairs[2 * v];
    }
    else {
        *--p = (char)('0' + v);
    }
    return p;
}

/* v in decimal at out (ft_digit_count(v) of them): past its last digit. */
FT_HOT char *
ft_put_digits(char *out, unsigned long long v)
{
    char *end = out + ft_digit_count(v);
    ft_digits_before(end, v);
    return end;
}

/* ------------------------------------------------------------ the module */

/* A module's last steps, the same for each: on a free-threaded build it says it needs
 * no GIL (each object here belongs to the one read or export that made it, and
 * changes only that one's objects), then API (the version its Python side checks)
 * and its types. m, or NULL with m released. */
static inline PyObject *
ft_module_ready(PyObject *m, int api, PyTypeObject *const *types, const char *const *names,
                int n)
{
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    if (PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    if (PyModule_AddIntConstant(m, "API", api) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    for (int k = 0; k < n; k++) {
        Py_INCREF(types[k]);
        if (PyModule_AddObject(m, names[k], (PyObject *)types[k]) < 0) {
            Py_DECREF(types[k]);
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}

#endif /* FUNCTRACE_CSHARED_H */
