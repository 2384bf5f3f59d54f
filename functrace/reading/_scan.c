/* The optional compiled half of the text summary loop (functrace/reading/_fast.py).
 *
 * Scanner(light, rows).run(lines, i, clock, count) reads lines[i:] (a block of
 * text lines without their newline) as long as each is one of the common shapes
 * functrace writes:
 *
 *     t[NN]:<4n spaces>->NAME               t[NN]a[NN]:...   t[PID.NN]:...
 *     t[NN]:<4n spaces>->NAME resume
 *     t[NN]:<4n spaces><-NAME DURATION[ yield| await| !EXC]
 *
 * (not those with arguments or a value, FUNCTRACE_ARGS: "->NAME(...)", "... => V")
 *
 * and does for it what run_text_summary's loop does, on the same objects: the
 * open calls are lists in ``light`` (tag -> [[name, resumed, children's time,
 * start, inner end, row], ...]) and the counts are ``rows`` (name -> [calls,
 * total, own, max]). It stops at the first line it does not take (any other
 * shape, a line that skips or closes other calls, a duration it does not parse
 * the way parse_duration does, a character outside Latin-1) and returns its
 * index with the clock and the count: the Python loop reads that line as
 * before, so every judgement on an unusual line stays the general reader's.
 * Nothing is changed for a line that is handed back.
 *
 * Scanner(light, datas=..., on_exit=...) does the same for run_text_light (the
 * chrome export): an open call holds datas[tag][name] instead of a row (an
 * enter without one is handed back), and each exit taken calls
 * on_exit(call, end, duration, exception, suspended).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define API_VERSION 2 /* _SCAN_API in _fast.py */
#define SPAN_MAX 1000000000000000000LL /* _TEXT_SPAN_MAX */
#define TAG_MAX 64
#define NUMBER_MAX 40

/* A function name (its Latin-1 characters) -> the name as a str and its row. */
typedef struct {
    uint64_t hash;
    Py_ssize_t len;
    char *key; /* NULL: a free slot */
    PyObject *name;
    PyObject *row;
} Entry;

typedef struct {
    PyObject_HEAD
    PyObject *light;
    PyObject *rows;    /* the summary's rows; NULL for a light loop */
    PyObject *datas;   /* a light loop: tag -> name -> data(tag, name) */
    PyObject *on_exit; /* a light loop: on_exit(call, end, duration, exception, suspended) */
    Entry *table;
    Py_ssize_t cap; /* a power of two */
    Py_ssize_t used;
} Scanner;

static uint64_t
hash_bytes(const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void
table_clear(Entry *table, Py_ssize_t cap)
{
    for (Py_ssize_t i = 0; i < cap; i++) {
        if (table[i].key != NULL) {
            PyMem_Free(table[i].key);
            Py_DECREF(table[i].name);
            Py_DECREF(table[i].row);
            table[i].key = NULL;
        }
    }
}

static int
table_grow(Scanner *self)
{
    Py_ssize_t cap = self->cap ? self->cap * 2 : 256;
    Entry *table = PyMem_Calloc((size_t)cap, sizeof(Entry));
    if (table == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < self->cap; i++) {
        Entry *e = &self->table[i];
        if (e->key != NULL) {
            Py_ssize_t j = (Py_ssize_t)(e->hash & (uint64_t)(cap - 1));
            while (table[j].key != NULL) {
                j = (j + 1) & (cap - 1);
            }
            table[j] = *e;
        }
    }
    PyMem_Free(self->table);
    self->table = table;
    self->cap = cap;
    return 0;
}

/* The name's entry, made (with its row in rows, as _row makes it) when new. */
static Entry *
lookup_name(Scanner *self, const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = hash_bytes(s, n);
    if (self->cap) {
        Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(self->cap - 1));
        for (;;) {
            Entry *e = &self->table[j];
            if (e->key == NULL) {
                break;
            }
            if (e->hash == h && e->len == n && memcmp(e->key, s, (size_t)n) == 0) {
                return e;
            }
            j = (j + 1) & (self->cap - 1);
        }
    }
    if ((self->used + 1) * 2 > self->cap && table_grow(self) < 0) {
        return NULL;
    }
    PyObject *name = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s, n);
    if (name == NULL) {
        return NULL;
    }
    PyObject *row = self->rows == NULL ? Py_None : PyDict_GetItemWithError(self->rows, name);
    if (row == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(name);
            return NULL;
        }
        row = Py_BuildValue("[iiii]", 0, 0, 0, 0);
        if (row == NULL || PyDict_SetItem(self->rows, name, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(name);
            return NULL;
        }
    }
    else {
        Py_INCREF(row);
    }
    char *key = PyMem_Malloc((size_t)(n ? n : 1));
    if (key == NULL) {
        Py_DECREF(row);
        Py_DECREF(name);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(key, s, (size_t)n);
    Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(self->cap - 1));
    while (self->table[j].key != NULL) {
        j = (j + 1) & (self->cap - 1);
    }
    Entry *e = &self->table[j];
    e->hash = h;
    e->len = n;
    e->key = key;
    e->name = name;
    e->row = row;
    self->used++;
    return e;
}

/* str.isspace() for a Latin-1 character: what \S and str.split() stop at. */
static inline int
is_space(unsigned char c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0;
}

/* A word after the duration taken as is: printable, no space of any kind. */
static inline int
is_plain(unsigned char c)
{
    return (c > 0x20 && c < 0x7F) || (c >= 0xA1 && c != 0xAD);
}

/* The duration as parse_duration reads it (round(float(number) * scale), ties to
 * even), or -1 when this loop leaves the word to the general reader. */
static long long
parse_duration(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t unit;
    double scale;
    if (n >= 2 && s[n - 1] == 's') {
        unsigned char c = s[n - 2];
        if (c == 'n') {
            unit = 2, scale = 1.0;
        }
        else if (c == 'u' || c == 0xB5) {
            unit = 2, scale = 1e3;
        }
        else if (c == 'm') {
            unit = 2, scale = 1e6;
        }
        else {
            unit = 1, scale = 1e9;
        }
    }
    else {
        return -1;
    }
    Py_ssize_t len = n - unit;
    if (len < 1 || len > NUMBER_MAX) {
        return -1;
    }
    char buf[NUMBER_MAX + 1];
    int digits = 0, dots = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c >= '0' && c <= '9') {
            digits++;
        }
        else if (c == '.') {
            dots++;
        }
        else {
            return -1;
        }
        buf[i] = (char)c;
    }
    if (!digits || dots > 1) {
        return -1; /* "." or "1.2.3": the general reader says why not */
    }
    buf[len] = '\0';
    double v = PyOS_string_to_double(buf, NULL, NULL);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    double x = v * scale;
    /* float.__round__() without ndigits */
    double r = round(x);
    if (fabs(x - r) == 0.5) {
        r = 2.0 * round(x / 2.0);
    }
    if (!(r >= 0.0 && r <= (double)SPAN_MAX)) {
        return -1;
    }
    return (long long)r;
}

/* item += delta, for a list item that is an int. */
static int
add_item(PyObject *list, Py_ssize_t i, long long delta)
{
    PyObject *old = PyList_GET_ITEM(list, i);
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(old, &overflow);
    PyObject *sum;
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (!overflow && !(delta > 0 && v > LLONG_MAX - delta) && !(delta < 0 && v < LLONG_MIN - delta)) {
        sum = PyLong_FromLongLong(v + delta);
    }
    else {
        PyObject *d = PyLong_FromLongLong(delta);
        if (d == NULL) {
            return -1;
        }
        sum = PyNumber_Add(old, d);
        Py_DECREF(d);
    }
    if (sum == NULL) {
        return -1;
    }
    return PyList_SetItem(list, i, sum);
}

static int
set_item(PyObject *list, Py_ssize_t i, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL) {
        return -1;
    }
    return PyList_SetItem(list, i, v);
}

/* An int that holds a time (within 0..SPAN_MAX on every path): -1 if not. */
static long long
get_time(PyObject *list, Py_ssize_t i)
{
    PyObject *o = PyList_GET_ITEM(list, i);
    if (!PyLong_Check(o)) {
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (overflow || v < 0 || v > SPAN_MAX) {
        return -1;
    }
    return v;
}

static PyObject *
Scanner_run(Scanner *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "run(lines: list, index, clock, count)");
        return NULL;
    }
    PyObject *lines = args[0];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long long clock = PyLong_AsLongLong(args[2]);
    if (clock == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long long count = PyLong_AsLongLong(args[3]);
    if (count == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0) {
        i = 0;
    }
    if (clock < 0 || clock > SPAN_MAX) {
        goto done; /* not a clock this loop keeps: the Python loop reads on */
    }

    unsigned char tag[TAG_MAX];
    Py_ssize_t tag_len = -1;
    PyObject *stack = NULL; /* the current tag's open calls (a reference) */
    PyObject *known = NULL; /* a light loop: the tag's name -> data (a reference) */
    Py_ssize_t n = PyList_GET_SIZE(lines);
    for (; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyUnicode_CheckExact(line) || PyUnicode_KIND(line) != PyUnicode_1BYTE_KIND) {
            break;
        }
        const unsigned char *s = PyUnicode_1BYTE_DATA(line);
        Py_ssize_t len = PyUnicode_GET_LENGTH(line);
        /* The tag: t\[[0-9.]+\](?:a\[[0-9]+\])?: */
        if (len < 8 || s[0] != 't' || s[1] != '[') {
            break;
        }
        Py_ssize_t p = 2, q;
        while (p < len && ((s[p] >= '0' && s[p] <= '9') || s[p] == '.')) {
            p++;
        }
        if (p == 2 || p >= len || s[p] != ']') {
            break;
        }
        p++;
        if (p < len && s[p] == 'a') {
            p++;
            if (p >= len || s[p] != '[') {
                break;
            }
            p++;
            q = p;
            while (p < len && s[p] >= '0' && s[p] <= '9') {
                p++;
            }
            if (p == q || p >= len || s[p] != ']') {
                break;
            }
            p++;
        }
        if (p >= len || s[p] != ':' || p > TAG_MAX) {
            break;
        }
        Py_ssize_t t_len = p;
        p++;
        /* (?:    )+ then the arrow */
        q = p;
        while (p < len && s[p] == ' ') {
            p++;
        }
        Py_ssize_t spaces = p - q;
        if (spaces == 0 || spaces % 4 != 0 || p + 2 > len) {
            break;
        }
        Py_ssize_t depth = spaces / 4;
        int enter;
        if (s[p] == '-' && s[p + 1] == '>') {
            enter = 1;
        }
        else if (s[p] == '<' && s[p + 1] == '-') {
            enter = 0;
        }
        else {
            break;
        }
        p += 2;
        /* The name: [^\s(]+ (an enter's "(" starts its arguments: handed back) */
        const unsigned char *name = s + p;
        while (p < len && !is_space(s[p]) && s[p] != '(') {
            p++;
        }
        Py_ssize_t name_len = (s + p) - name;
        if (name_len == 0) {
            break;
        }
        int resumed = 0;
        long long d = 0;
        const unsigned char *extra = NULL; /* yield, await or !EXCEPTION */
        Py_ssize_t extra_len = 0;
        if (enter) {
            if (p == len) {
                resumed = 0;
            }
            else if (len - p == 7 && memcmp(s + p, " resume", 7) == 0) {
                resumed = 1;
            }
            else {
                break; /* "running", or anything else */
            }
        }
        else {
            if (p >= len || s[p] != ' ') {
                break;
            }
            p++;
            q = p;
            while (p < len && s[p] != ' ') {
                p++;
            }
            d = parse_duration(s + q, p - q);
            if (d < 0 || clock + d > SPAN_MAX) {
                break;
            }
            if (p < len) {
                /* One more word: yield, await or !EXCEPTION (lost and the rest:
                 * the Python loop). */
                p++;
                const unsigned char *w = s + p;
                Py_ssize_t w_len = len - p;
                if (w_len < 2) {
                    break;
                }
                for (Py_ssize_t k = 0; k < w_len; k++) {
                    if (!is_plain(w[k])) {
                        w_len = -1;
                        break;
                    }
                }
                if (w_len < 0) {
                    break;
                }
                if (!(w[0] == '!' || (w_len == 5 && (memcmp(w, "yield", 5) == 0 ||
                                                     memcmp(w, "await", 5) == 0)))) {
                    break;
                }
                extra = w;
                extra_len = w_len;
            }
        }
        /* The tag's open calls. */
        if (t_len != tag_len || memcmp(tag, s, (size_t)t_len) != 0) {
            PyObject *key = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s, t_len);
            if (key == NULL) {
                goto error;
            }
            PyObject *found = PyDict_GetItemWithError(self->light, key);
            if (found == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(key);
                    goto error;
                }
                found = PyList_New(0);
                if (found == NULL || PyDict_SetItem(self->light, key, found) < 0) {
                    Py_XDECREF(found);
                    Py_DECREF(key);
                    goto error;
                }
                Py_DECREF(found); /* the dict holds it */
            }
            else if (!PyList_CheckExact(found)) {
                Py_DECREF(key);
                break;
            }
            if (self->datas != NULL) {
                PyObject *values = PyDict_GetItemWithError(self->datas, key);
                if (values == NULL && PyErr_Occurred()) {
                    Py_DECREF(key);
                    goto error;
                }
                /* None: no data for the tag yet (its enters go to Python) */
                Py_XSETREF(known, values != NULL && PyDict_CheckExact(values) ? Py_NewRef(values)
                                                                              : NULL);
            }
            Py_DECREF(key);
            Py_INCREF(found);
            Py_XSETREF(stack, found);
            memcpy(tag, s, (size_t)t_len);
            tag_len = t_len;
        }
        Py_ssize_t size = PyList_GET_SIZE(stack);
        if (enter) {
            if (size >= depth) {
                break; /* closes open calls: the general reader */
            }
            Entry *e = lookup_name(self, name, name_len);
            if (e == NULL) {
                goto error;
            }
            PyObject *value = e->row; /* the summary: the function's row */
            if (self->datas != NULL) {
                if (known == NULL) {
                    break;
                }
                value = PyDict_GetItemWithError(known, e->name);
                if (value == NULL) {
                    if (PyErr_Occurred()) {
                        goto error;
                    }
                    break; /* no data for it yet: Python makes it */
                }
                if (value == Py_None) {
                    break; /* read as none there */
                }
            }
            PyObject *start = PyLong_FromLongLong(clock);
            if (start == NULL) {
                goto error;
            }
            PyObject *call = PyList_New(6);
            if (call == NULL) {
                Py_DECREF(start);
                goto error;
            }
            Py_INCREF(e->name);
            PyList_SET_ITEM(call, 0, e->name);
            PyObject *flag = resumed ? Py_True : Py_False;
            Py_INCREF(flag);
            PyList_SET_ITEM(call, 1, flag);
            PyList_SET_ITEM(call, 2, PyLong_FromLong(0));
            Py_INCREF(start);
            PyList_SET_ITEM(call, 3, start);
            PyList_SET_ITEM(call, 4, start);
            Py_INCREF(value);
            PyList_SET_ITEM(call, 5, value);
            if (PyList_GET_ITEM(call, 2) == NULL) {
                Py_DECREF(call);
                goto error;
            }
            int failed = PyList_Append(stack, call);
            Py_DECREF(call);
            if (failed) {
                goto error;
            }
            count++;
            continue;
        }
        /* An exit: of the innermost open call, by its name. */
        if (size != depth) {
            break;
        }
        PyObject *top = PyList_GET_ITEM(stack, size - 1);
        if (!PyList_CheckExact(top) || PyList_GET_SIZE(top) != 6) {
            break;
        }
        PyObject *top_name = PyList_GET_ITEM(top, 0);
        if (!PyUnicode_CheckExact(top_name) || PyUnicode_KIND(top_name) != PyUnicode_1BYTE_KIND ||
            PyUnicode_GET_LENGTH(top_name) != name_len ||
            memcmp(PyUnicode_1BYTE_DATA(top_name), name, (size_t)name_len) != 0) {
            break;
        }
        PyObject *row = PyList_GET_ITEM(top, 5);
        long long longest = 0;
        if (self->rows != NULL) {
            if (!PyList_CheckExact(row) || PyList_GET_SIZE(row) != 4) {
                break;
            }
            longest = get_time(row, 3);
        }
        long long start = get_time(top, 3), inner = get_time(top, 4);
        if (start < 0 || inner < 0 || longest < 0 || !PyLong_Check(PyList_GET_ITEM(top, 2))) {
            break;
        }
        PyObject *parent = NULL;
        long long parent_inner = 0;
        if (size > 1) {
            parent = PyList_GET_ITEM(stack, size - 2);
            if (!PyList_CheckExact(parent) || PyList_GET_SIZE(parent) != 6) {
                break;
            }
            parent_inner = get_time(parent, 4);
            if (parent_inner < 0 || !PyLong_Check(PyList_GET_ITEM(parent, 2))) {
                break;
            }
        }
        int overflow = 0;
        long long child = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(top, 2), &overflow);
        if (child == -1 && PyErr_Occurred()) {
            goto error;
        }
        int was_resumed = PyObject_IsTrue(PyList_GET_ITEM(top, 1));
        if (was_resumed < 0) {
            goto error;
        }
        if (overflow < 0 || (overflow == 0 && child < 0)) {
            break; /* a negative children's time is never kept: left to Python */
        }
        /* own = d - children's time, counted when positive (never when that time
         * is past a long long: d is at most SPAN_MAX). */
        long long own = overflow > 0 ? 0 : d - child;
        Py_INCREF(top);
        if (PyList_SetSlice(stack, size - 1, size, NULL) < 0) {
            Py_DECREF(top);
            goto error;
        }
        long long end = start + d;
        if (end < inner) {
            end = inner;
        }
        if (parent != NULL) {
            if (add_item(parent, 2, d) < 0 || (end > parent_inner && set_item(parent, 4, end) < 0)) {
                Py_DECREF(top);
                goto error;
            }
        }
        if (end > clock) {
            clock = end;
        }
        if (self->rows == NULL) {
            /* on_exit(call, end, duration, exception, suspended) */
            PyObject *exception = Py_None, *suspended = Py_None;
            if (extra != NULL && extra[0] == '!') {
                exception = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, extra + 1,
                                                      extra_len - 1);
            }
            else if (extra != NULL) {
                suspended = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, extra, extra_len);
            }
            PyObject *end_obj = PyLong_FromLongLong(end);
            PyObject *d_obj = PyLong_FromLongLong(d);
            PyObject *result = NULL;
            if (exception != NULL && suspended != NULL && end_obj != NULL && d_obj != NULL) {
                PyObject *call_args[5] = {top, end_obj, d_obj, exception, suspended};
                result = PyObject_Vectorcall(self->on_exit, call_args, 5, NULL);
            }
            if (exception != Py_None) {
                Py_XDECREF(exception);
            }
            if (suspended != Py_None) {
                Py_XDECREF(suspended);
            }
            Py_XDECREF(end_obj);
            Py_XDECREF(d_obj);
            Py_DECREF(top);
            if (result == NULL) {
                goto error;
            }
            Py_DECREF(result);
            continue;
        }
        Py_INCREF(row);
        Py_DECREF(top);
        int failed = (!was_resumed && add_item(row, 0, 1) < 0) || add_item(row, 1, d) < 0 ||
                     (own > 0 && add_item(row, 2, own) < 0) ||
                     (d > longest && set_item(row, 3, d) < 0);
        Py_DECREF(row);
        if (failed) {
            goto error;
        }
    }
    Py_XDECREF(stack);
    Py_XDECREF(known);
done:
    return Py_BuildValue("nLL", i, clock, count);
error:
    Py_XDECREF(stack);
    Py_XDECREF(known);
    return NULL;
}

static int
Scanner_init(Scanner *self, PyObject *args, PyObject *kwds)
{
    PyObject *light, *rows = Py_None, *datas = Py_None, *on_exit = Py_None;
    static char *kwlist[] = {"light", "rows", "datas", "on_exit", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!|OOO", kwlist, &PyDict_Type, &light, &rows,
                                     &datas, &on_exit)) {
        return -1;
    }
    int summary = PyDict_CheckExact(rows) && datas == Py_None && on_exit == Py_None;
    int light_loop = rows == Py_None && PyDict_CheckExact(datas) && PyCallable_Check(on_exit);
    if (!summary && !light_loop) {
        PyErr_SetString(PyExc_TypeError,
                        "Scanner(light, rows) or Scanner(light, datas=..., on_exit=...)");
        return -1;
    }
    Py_INCREF(light);
    Py_XSETREF(self->light, light);
    Py_XSETREF(self->rows, summary ? Py_NewRef(rows) : NULL);
    Py_XSETREF(self->datas, summary ? NULL : Py_NewRef(datas));
    Py_XSETREF(self->on_exit, summary ? NULL : Py_NewRef(on_exit));
    if (self->table != NULL) {
        table_clear(self->table, self->cap);
        self->used = 0;
    }
    return 0;
}

static int
Scanner_traverse(Scanner *self, visitproc visit, void *arg)
{
    Py_VISIT(self->light);
    Py_VISIT(self->rows);
    Py_VISIT(self->datas);
    Py_VISIT(self->on_exit);
    for (Py_ssize_t i = 0; i < self->cap; i++) {
        if (self->table[i].key != NULL) {
            Py_VISIT(self->table[i].name);
            Py_VISIT(self->table[i].row);
        }
    }
    return 0;
}

static int
Scanner_clear(Scanner *self)
{
    Py_CLEAR(self->light);
    Py_CLEAR(self->rows);
    Py_CLEAR(self->datas);
    Py_CLEAR(self->on_exit);
    if (self->table != NULL) {
        table_clear(self->table, self->cap);
        PyMem_Free(self->table);
        self->table = NULL;
        self->cap = 0;
        self->used = 0;
    }
    return 0;
}

static void
Scanner_dealloc(Scanner *self)
{
    PyObject_GC_UnTrack(self);
    Scanner_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Scanner_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Scanner_run, METH_FASTCALL,
     "run(lines, index, clock, count) -> (index, clock, count): the common lines of "
     "lines[index:], up to the first other one."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace.reading._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Scanner(light, rows): the text summary loop for the common lines.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "functrace.reading._scan",
    "The common lines of a text trace for the summary loop (optional, compiled).", -1, NULL,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    if (PyType_Ready(&ScannerType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    /* A scanner and the lists it changes belong to the one scan that made them. */
    if (PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    if (PyModule_AddIntConstant(m, "API", API_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
