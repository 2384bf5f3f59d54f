/* The optional compiled half of the span exports (functrace/export/_spans.py).
 *
 * Coder(writer, Frame, zipkin, jstr) does what the writer's opened, closed and _write
 * do (SpanWriter in _spans.py), on the writer's own objects (processes, latest,
 * _parts, _ids: the same dicts and lists), for the calls that are most of a trace:
 *
 * - opened: a frame of a process already seen, not resumed, not an outermost call
 *   with an origin; it takes the next id from _ids (as _span_id does: _draw when
 *   it is empty) and notes it in latest.
 * - closed: a frame whose data is its span id, finished and not awaiting, under a
 *   frame whose data is its span id, or outermost.
 * - write (any span, also called by the Python methods): the text of encode()
 *   (OtlpJsonWriter's or ZipkinWriter's) from the cached parts, appended to its
 *   process's pending spans, _flush called every 4096 spans as _write does.
 *
 * Anything else goes to the writer's Python method, which does the whole of it
 * (opened and closed), or gives the text (_text: arguments and return values,
 * characters past Latin-1, a number past what a long long holds). So the
 * Python methods stay the definition: both ways write the same bytes
 * (tests/export/test_spancode_c.py).
 *
 * place(text, offset, table) is _place in _spans.py, in one pass.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "../_cshared.h"

#define API_VERSION 1 /* _SPANCODE_API in _spans.py */
#define LATEST_MAX 50000 /* SpanWriter.opened clears latest there */
#define PENDING_MAX 4096 /* SpanWriter._write flushes there */

/* A Frame's slots read or written here (Frame in functrace/reading/_stream.py). */
enum {
    F_NAME,
    F_TAG,
    F_RESUMED,
    F_ARGS,
    F_RETURNED,
    F_EXCEPTION,
    F_START,
    F_END,
    F_FILE,
    F_LINE,
    F_SUSPENDED,
    F_PARENT,
    F_ORIGIN,
    F_DATA,
    F_DURATION,
    F_DEPTH,
    N_FRAME
};
/* A Span's slots (Span in _spans.py), all of them: a Span is made here. The first
 * ten are a Frame's as well (what a span's text is made of, with F_SUSPENDED). */
enum {
    P_NAME,
    P_TAG,
    P_RESUMED,
    P_ARGS,
    P_RETURNED,
    P_EXCEPTION,
    P_START,
    P_END,
    P_FILE,
    P_LINE,
    P_SUSPENDED,
    P_SPAN_ID,
    P_PARENT_ID,
    P_RUNS,
    P_UNFINISHED,
    N_SPAN
};
#define N_TEXT 11 /* the fields a span's text is made of: F_NAME to F_SUSPENDED */
static const char *const frame_slots[N_FRAME] = {
    "name", "tag",       "resumed", "args", "returned", "exception", "start_ns",    "end_ns",
    "file", "line",      "suspended", "parent", "origin", "data",    "duration_ns", "depth",
};
static const char *const span_slots[N_SPAN] = {
    "name", "tag",  "resumed",   "args",    "returned",  "exception", "start_ns",   "end_ns",
    "file", "line", "suspended", "span_id", "parent_id", "runs",      "unfinished",
};
static PyObject *text_names[N_TEXT]; /* interned: any other object's fields, by name */
static PyObject *s_await, *s_one_id, *one;

/* A key of latest, (tag, name), made once for a tag's canonical object and a name. */
typedef struct {
    PyObject *tag, *name, *key;
} Pair;

/* What _parts has for (name, file, line, tag) or, with own attributes, for (name, file,
 * line, tag, (1, suspended, resumed, False)): found by the objects themselves. */
typedef struct {
    PyObject *name, *file, *line, *tag, *suspended, *resumed, *parts;
} Cached;

#define PAIRS 4096  /* a power of two */
#define CACHED 4096 /* a power of two */

typedef struct {
    PyObject_HEAD
    PyTypeObject *frame, *span; /* the Frame and Span classes */
    Py_ssize_t frame_at[N_FRAME], span_at[N_SPAN];
    int zipkin;
    PyObject *jstr;
    PyObject *writer;
    /* The writer's bound methods. */
    PyObject *opened, *closed, *random_bytes, *make_parts, *text, *flush;
    /* The writer's objects. */
    PyObject *processes, *latest, *parked, *parts, *root_parent;
    /* Each tag's canonical object (the first one equal to it): a reader makes a new
     * str each time its lines change tags. The last tag object seen, its canonical
     * one and its processes entry (NULL until looked up; entries never change). */
    PyObject *tags;
    PyObject *last_tag, *last_canon, *last_entry;
    /* Random 64-bit values (_random_bytes(): big-endian), the next one the last of
     * the `left` still unused. */
    PyObject *drawn;
    Py_ssize_t left;
    Pair *pairs;     /* PAIRS of them, by pointers */
    Cached *cached;  /* CACHED of them, by pointers; emptied when _parts is cleared */
    int started; /* a frame went through the writer's opened: known_offset is decided */
    int exact;   /* known_offset is an int (offset), not None (markers) */
    int python;  /* known_offset past a long long: every text by _text */
    long long offset;
    Py_ssize_t pending; /* spans written since the last flush */
    char *buf;
    Py_ssize_t cap;
} Coder;

#define FRAME(o, k) (*ft_slot_at((o), self->frame_at[k]))
#define SPAN(o, k) (*ft_slot_at((o), self->span_at[k]))

/* ------------------------------------------------------------ text */

typedef struct {
    char *s;
    Py_ssize_t len, cap;
    int ascii;
    int ok; /* 0: a piece this buffer does not take (past Latin-1), or no memory */
} Buf;

/* grow() when the buffer is full: kept out of the inlined part. */
static int
grow_more(Buf *b, Py_ssize_t more)
{
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more) {
        cap *= 2;
    }
    char *s = PyMem_Realloc(b->s, (size_t)cap);
    if (s == NULL) {
        PyErr_NoMemory();
        b->ok = 0;
        return 0;
    }
    b->s = s;
    b->cap = cap;
    return 1;
}

/* Room for more bytes: 1, or 0 (not ok, no memory). */
FT_HOT int
grow(Buf *b, Py_ssize_t more)
{
    return b->len + more <= b->cap ? 1 : grow_more(b, more);
}

FT_HOT void
raw(Buf *b, const char *s, Py_ssize_t n)
{
    if (b->ok && grow(b, n)) {
        memcpy(b->s + b->len, s, (size_t)n);
        b->len += n;
    }
}

#define LIT(b, text) raw((b), (text), (Py_ssize_t)(sizeof(text) - 1))

/* A str of Latin-1 characters, copied; any other leaves the buffer not ok. */
FT_HOT void
str(Buf *b, PyObject *o)
{
    if (!b->ok) {
        return;
    }
    if (!ft_latin1(o)) {
        b->ok = 0;
        return;
    }
    if (!PyUnicode_IS_ASCII(o)) {
        b->ascii = 0;
    }
    raw(b, (const char *)PyUnicode_1BYTE_DATA(o), PyUnicode_GET_LENGTH(o));
}

/* v in decimal. */
static inline void
number(Buf *b, unsigned long long v)
{
    if (b->ok && grow(b, FT_DIGITS)) {
        b->len = ft_put_digits(b->s + b->len, v) - b->s;
    }
}

/* A time left for place(): \x00NS\x00 (ns) or \x01NS\x01 (µs). */
static inline void
marker(Buf *b, char mark, long long ns)
{
    raw(b, &mark, 1);
    number(b, (unsigned long long)ns);
    raw(b, &mark, 1);
}


/* What a span's text is made of (F_NAME to F_SUSPENDED), as references. */
typedef struct {
    PyObject *f[N_TEXT];
} Fields;

static void
fields_clear(Fields *x)
{
    for (int k = 0; k < N_TEXT; k++) {
        Py_CLEAR(x->f[k]);
    }
}

/* A frame's or a span's fields (slots; any other object's attributes); -1 with
 * AttributeError, as Python would raise it, when one is missing. */
static int
fields_read(Coder *self, PyObject *o, Fields *x)
{
    memset(x, 0, sizeof(*x));
    for (int k = 0; k < N_TEXT; k++) {
        PyObject *v;
        if (Py_IS_TYPE(o, self->frame)) {
            v = Py_XNewRef(FRAME(o, k));
        }
        else if (Py_IS_TYPE(o, self->span)) {
            v = Py_XNewRef(SPAN(o, k)); /* P_NAME to P_SUSPENDED: the same order */
        }
        else {
            v = PyObject_GetAttr(o, text_names[k]);
        }
        if (v == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_AttributeError, text_names[k]);
            }
            fields_clear(x);
            return -1;
        }
        x->f[k] = v;
    }
    return 0;
}

/* encode() of OtlpJsonWriter / ZipkinWriter into b (left not ok for what it does
 * not take); -1 on an error raised. */
static int
encode(Coder *self, Buf *b, Fields *x, PyObject *trace_id, PyObject *span_id,
       PyObject *parent_id, PyObject *parts)
{
    Py_ssize_t need = self->zipkin ? 4 : 3;
    if (!PyTuple_CheckExact(parts) || PyTuple_GET_SIZE(parts) < need) {
        b->ok = 0;
        return 0;
    }
    long long start = ft_time(x->f[F_START]), end = ft_time(x->f[F_END]);
    PyObject *exception = x->f[F_EXCEPTION];
    if (start < 0 || end < 0 || (exception != Py_None && !PyUnicode_CheckExact(exception))) {
        b->ok = 0;
        return 0;
    }
    int exact = self->exact;
    long long offset = self->offset;
    if (exact && (start > LLONG_MAX - offset || end > LLONG_MAX - offset || start + offset < 0 ||
                  end + offset < 0)) {
        b->ok = 0; /* Python's ints */
        return 0;
    }
    int has_parent = PyUnicode_GET_LENGTH(parent_id) > 0;
    if (!self->zipkin) {
        LIT(b, "{\"traceId\":\"");
        str(b, trace_id);
        LIT(b, "\",\"spanId\":\"");
        str(b, span_id);
        LIT(b, "\"");
        if (has_parent) {
            LIT(b, ",\"parentSpanId\":\"");
            str(b, parent_id);
            LIT(b, "\"");
        }
        str(b, PyTuple_GET_ITEM(parts, 0));
        if (exact) {
            number(b, (unsigned long long)(start + offset));
        }
        else {
            marker(b, 0, start);
        }
        LIT(b, "\",\"endTimeUnixNano\":\"");
        if (exact) {
            number(b, (unsigned long long)(end + offset));
        }
        else {
            marker(b, 0, end);
        }
        if (exception == Py_None) {
            str(b, PyTuple_GET_ITEM(parts, 1));
            return 0;
        }
        PyObject *exc = ft_call1(self->jstr, exception);
        if (exc == NULL) {
            return -1;
        }
        LIT(b, "\",\"attributes\":[");
        str(b, PyTuple_GET_ITEM(parts, 2));
        LIT(b, "],\"events\":[{\"timeUnixNano\":\"");
        if (exact) {
            number(b, (unsigned long long)(end + offset));
        }
        else {
            marker(b, 0, end);
        }
        LIT(b, "\",\"name\":\"exception\",\"attributes\":[{\"key\":\"exception.type\",\"value\":"
               "{\"stringValue\":");
        str(b, exc);
        LIT(b, "}}]}],\"status\":{\"code\":2,\"message\":");
        str(b, exc);
        LIT(b, "}}");
        Py_DECREF(exc);
        return 0;
    }
    /* Zipkin: µs; the duration rounded up, at least 1 (as -(-d // 1000) or 1). */
    long long d = end - start, duration;
    duration = d >= 0 ? d / 1000 + (d % 1000 != 0) : -((-d) / 1000);
    if (duration == 0) {
        duration = 1;
    }
    LIT(b, "{\"traceId\":\"");
    str(b, trace_id);
    LIT(b, "\",\"id\":\"");
    str(b, span_id);
    LIT(b, "\"");
    if (has_parent) {
        LIT(b, ",\"parentId\":\"");
        str(b, parent_id);
        LIT(b, "\"");
    }
    str(b, PyTuple_GET_ITEM(parts, 0));
    if (exact) {
        number(b, (unsigned long long)((start + offset) / 1000));
    }
    else {
        marker(b, 1, start);
    }
    LIT(b, ",\"duration\":");
    if (duration < 0) {
        LIT(b, "-");
        number(b, (unsigned long long)(-duration));
    }
    else {
        number(b, (unsigned long long)duration);
    }
    if (exception == Py_None) {
        str(b, PyTuple_GET_ITEM(parts, 1));
        return 0;
    }
    PyObject *exc = ft_call1(self->jstr, exception);
    if (exc == NULL) {
        return -1;
    }
    PyObject *said = PyUnicode_FromFormat("exception: %U", exception);
    PyObject *value = said == NULL ? NULL : ft_call1(self->jstr, said);
    Py_XDECREF(said);
    if (value == NULL) {
        Py_DECREF(exc);
        return -1;
    }
    str(b, PyTuple_GET_ITEM(parts, 2));
    LIT(b, ",\"annotations\":[{\"timestamp\":");
    if (exact) {
        number(b, (unsigned long long)((end + offset) / 1000));
    }
    else {
        marker(b, 1, end);
    }
    LIT(b, ",\"value\":");
    str(b, value);
    LIT(b, "}],\"tags\":{");
    str(b, PyTuple_GET_ITEM(parts, 3));
    LIT(b, ",\"error\":");
    str(b, exc);
    LIT(b, "}}");
    Py_DECREF(exc);
    Py_DECREF(value);
    return 0;
}

/* known_offset, once the writer's opened has decided it. */
static int
load_offset(Coder *self)
{
    PyObject *known = PyObject_GetAttrString(self->writer, "known_offset");
    if (known == NULL) {
        return -1;
    }
    self->exact = known != Py_None;
    self->python = 0;
    self->offset = 0;
    if (self->exact) {
        int overflow = 0;
        self->offset = PyLong_Check(known) ? PyLong_AsLongLongAndOverflow(known, &overflow) : 0;
        if (self->offset == -1 && PyErr_Occurred()) {
            Py_DECREF(known);
            return -1;
        }
        self->python = !PyLong_Check(known) || overflow != 0;
    }
    Py_DECREF(known);
    return 0;
}

/* The canonical object of a tag (borrowed), or NULL with an error. */
static PyObject *
canon_of(Coder *self, PyObject *tag)
{
    if (tag == self->last_tag) {
        return self->last_canon;
    }
    PyObject *canon = PyDict_SetDefault(self->tags, tag, tag);
    if (canon == NULL) {
        return NULL;
    }
    Py_XSETREF(self->last_tag, Py_NewRef(tag));
    Py_XSETREF(self->last_canon, Py_NewRef(canon));
    Py_CLEAR(self->last_entry);
    return canon;
}

/* processes[tag] (a new reference), remembered while the tag's object is the same. */
static PyObject *
process_of(Coder *self, PyObject *tag)
{
    PyObject *canon = canon_of(self, tag);
    if (canon == NULL) {
        return NULL;
    }
    if (self->last_entry != NULL) {
        return Py_NewRef(self->last_entry);
    }
    PyObject *entry = PyObject_GetItem(self->processes, canon);
    if (entry == NULL) {
        return NULL;
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2 ||
        !PyList_CheckExact(PyTuple_GET_ITEM(entry, 0))) {
        Py_DECREF(entry);
        PyErr_SetString(PyExc_TypeError, "processes: tag -> (list, trace id)");
        return NULL;
    }
    Py_XSETREF(self->last_entry, Py_NewRef(entry));
    return entry;
}

static inline size_t
mix(const void *a, const void *b, const void *c)
{
    uint64_t h = ((uint64_t)(uintptr_t)a >> 4) * 0x9E3779B97F4A7C15ULL;
    h ^= ((uint64_t)(uintptr_t)b >> 4) * 0xC2B2AE3D27D4EB4FULL;
    h ^= ((uint64_t)(uintptr_t)c >> 4) * 0x165667B19E3779F9ULL;
    return (size_t)(h ^ (h >> 29));
}

static void
cached_clear(Coder *self)
{
    for (Py_ssize_t i = 0; self->cached != NULL && i < CACHED; i++) {
        Cached *c = &self->cached[i];
        Py_CLEAR(c->name);
        Py_CLEAR(c->file);
        Py_CLEAR(c->line);
        Py_CLEAR(c->tag);
        Py_CLEAR(c->suspended);
        Py_CLEAR(c->resumed);
        Py_CLEAR(c->parts);
    }
}

/* fn(args): a method of the writer that may clear _parts (_make_parts, _text): the
 * cached parts are forgotten when it has (it leaves one entry where there were 50,000). */
static PyObject *
call_parts(Coder *self, PyObject *fn, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t before = PyDict_GET_SIZE(self->parts);
    PyObject *result = PyObject_Vectorcall(fn, args, (size_t)nargs, NULL);
    if (PyDict_GET_SIZE(self->parts) < before) {
        cached_clear(self);
    }
    return result;
}

/* SpanWriter._write(span, span_id, parent_id, runs, unfinished). */
static PyObject *
do_write(Coder *self, PyObject *span, PyObject *span_id, PyObject *parent_id, PyObject *runs,
         PyObject *unfinished)
{
    Fields x;
    PyObject *entry = NULL, *text = NULL, *key = NULL, *made = NULL;
    if (fields_read(self, span, &x) < 0) {
        return NULL;
    }
    entry = process_of(self, x.f[F_TAG]);
    if (entry == NULL) {
        goto error;
    }
    PyObject *tag = self->last_canon;
    PyObject *texts = PyTuple_GET_ITEM(entry, 0), *trace_id = PyTuple_GET_ITEM(entry, 1);
    int python = self->python || !self->started || !PyUnicode_CheckExact(trace_id) ||
                 !PyUnicode_CheckExact(span_id) || !PyUnicode_CheckExact(parent_id);
    if (!python) {
        int values = x.f[F_RETURNED] != Py_None;
        if (!values) {
            values = PyObject_IsTrue(x.f[F_ARGS]);
            if (values < 0) {
                goto error;
            }
        }
        python = values; /* this call's own attributes: Python makes them */
    }
    if (!python) {
        /* runs > 1 or suspended or resumed or unfinished: the key has them. */
        int own = runs == one ? 0 : PyObject_RichCompareBool(runs, one, Py_GT);
        for (int k = 0; k < 3 && own == 0; k++) {
            own = PyObject_IsTrue(k == 0 ? x.f[F_SUSPENDED] : k == 1 ? x.f[F_RESUMED] : unfinished);
        }
        if (own < 0) {
            goto error;
        }
        /* Runs of one that finished: found by their objects when seen before. */
        Cached *c = NULL;
        PyObject *parts = NULL;
        if (runs == one && unfinished == Py_False) {
            size_t h = mix(x.f[F_NAME], tag, x.f[F_SUSPENDED]) ^
                       mix(x.f[F_FILE], x.f[F_LINE], x.f[F_RESUMED]);
            c = &self->cached[h & (CACHED - 1)];
            if (c->name == x.f[F_NAME] && c->tag == tag && c->file == x.f[F_FILE] &&
                c->line == x.f[F_LINE] && c->suspended == x.f[F_SUSPENDED] &&
                c->resumed == x.f[F_RESUMED]) {
                parts = made = Py_NewRef(c->parts);
            }
        }
        if (parts == NULL) {
            if (own) {
                PyObject *o = PyTuple_Pack(4, runs, x.f[F_SUSPENDED], x.f[F_RESUMED], unfinished);
                if (o == NULL) {
                    goto error;
                }
                key = PyTuple_Pack(5, x.f[F_NAME], x.f[F_FILE], x.f[F_LINE], tag, o);
                Py_DECREF(o);
            }
            else {
                key = PyTuple_Pack(4, x.f[F_NAME], x.f[F_FILE], x.f[F_LINE], tag);
            }
            if (key == NULL) {
                goto error;
            }
            parts = PyDict_GetItemWithError(self->parts, key);
            if (parts != NULL) {
                made = Py_NewRef(parts);
            }
            else {
                if (PyErr_Occurred()) {
                    goto error;
                }
                parts = made = call_parts(self, self->make_parts, &key, 1);
                if (parts == NULL) {
                    goto error;
                }
            }
            if (c != NULL) {
                PyObject *was[7] = {c->name, c->file, c->line, c->tag, c->suspended, c->resumed,
                                    c->parts};
                c->name = Py_NewRef(x.f[F_NAME]);
                c->file = Py_NewRef(x.f[F_FILE]);
                c->line = Py_NewRef(x.f[F_LINE]);
                c->tag = Py_NewRef(tag);
                c->suspended = Py_NewRef(x.f[F_SUSPENDED]);
                c->resumed = Py_NewRef(x.f[F_RESUMED]);
                c->parts = Py_NewRef(parts);
                for (int k = 0; k < 7; k++) {
                    Py_XDECREF(was[k]);
                }
            }
        }
        Buf b = {self->buf, 0, self->cap, 1, 1};
        int r = encode(self, &b, &x, trace_id, span_id, parent_id, parts);
        self->buf = b.s;
        self->cap = b.cap;
        if (r < 0 || PyErr_Occurred()) {
            goto error;
        }
        if (b.ok) {
            text = PyUnicode_New(b.len, b.ascii ? 127 : 255);
            if (text == NULL) {
                goto error;
            }
            memcpy(PyUnicode_1BYTE_DATA(text), b.s, (size_t)b.len);
        }
        else {
            python = 1;
        }
    }
    if (python) {
        PyObject *args[5] = {span, span_id, parent_id, runs, unfinished};
        text = call_parts(self, self->text, args, 5);
        if (text == NULL) {
            goto error;
        }
    }
    if (PyList_Append(texts, text) < 0) {
        goto error;
    }
    if (++self->pending >= PENDING_MAX) {
        self->pending = 0;
        PyObject *done = PyObject_CallNoArgs(self->flush);
        if (done == NULL) {
            goto error;
        }
        Py_DECREF(done);
    }
    Py_DECREF(entry);
    Py_DECREF(text);
    Py_XDECREF(key);
    Py_XDECREF(made);
    fields_clear(&x);
    Py_RETURN_NONE;
error:
    Py_XDECREF(entry);
    Py_XDECREF(text);
    Py_XDECREF(key);
    Py_XDECREF(made);
    fields_clear(&x);
    return NULL;
}

static PyObject *
Coder_write(Coder *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "write(span, span_id, parent_id, runs, unfinished)");
        return NULL;
    }
    return do_write(self, args[0], args[1], args[2], args[3], args[4]);
}

/* SpanWriter._write_span(span), for a Span. */
static PyObject *
write_span(Coder *self, PyObject *span)
{
    PyObject *span_id = SPAN(span, P_SPAN_ID), *parent_id = SPAN(span, P_PARENT_ID);
    PyObject *runs = SPAN(span, P_RUNS), *unfinished = SPAN(span, P_UNFINISHED);
    if (span_id == NULL || parent_id == NULL || runs == NULL || unfinished == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a Span's field is not set");
        return NULL;
    }
    return do_write(self, span, span_id, parent_id, runs, unfinished);
}

/* ------------------------------------------------------------ opened, closed */

static PyObject *
python_opened(Coder *self, PyObject *frame)
{
    PyObject *done = ft_call1(self->opened, frame);
    if (done != NULL && !self->started) {
        if (load_offset(self) < 0) {
            Py_DECREF(done);
            return NULL;
        }
        self->started = 1;
    }
    return done;
}

/* SpanWriter._draw(): the next random 64-bit value as 16 hex digits. */
static PyObject *
draw(Coder *self)
{
    if (self->left == 0) {
        PyObject *drawn = PyObject_CallNoArgs(self->random_bytes);
        if (drawn == NULL) {
            return NULL;
        }
        if (!PyBytes_CheckExact(drawn) || PyBytes_GET_SIZE(drawn) < 8 ||
            PyBytes_GET_SIZE(drawn) % 8 != 0) {
            Py_DECREF(drawn);
            PyErr_SetString(PyExc_TypeError, "_random_bytes(): bytes, 8 per value");
            return NULL;
        }
        Py_XSETREF(self->drawn, drawn);
        self->left = PyBytes_GET_SIZE(drawn) / 8;
    }
    self->left--;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(self->drawn) + 8 * self->left;
    PyObject *id = PyUnicode_New(16, 127);
    if (id == NULL) {
        return NULL;
    }
    static const char hex[] = "0123456789abcdef";
    Py_UCS1 *d = PyUnicode_1BYTE_DATA(id);
    for (int i = 0; i < 8; i++) {
        d[2 * i] = (Py_UCS1)hex[p[i] >> 4];
        d[2 * i + 1] = (Py_UCS1)hex[p[i] & 15];
    }
    return id;
}

static PyObject *
Coder_draw(Coder *self, PyObject *unused)
{
    return draw(self);
}

/* _span_id(): the next value, 0 as 1. */
static PyObject *
next_id(Coder *self)
{
    PyObject *id = draw(self);
    if (id != NULL && memcmp(PyUnicode_1BYTE_DATA(id), "0000000000000000", 16) == 0) {
        Py_SETREF(id, Py_NewRef(s_one_id));
    }
    return id;
}

/* 1 if the tag has its processes entry (*canon: its canonical object, borrowed from
 * tags, which keeps it), 0 if not, -1 on an error. */
static int
known_process(Coder *self, PyObject *tag, PyObject **canon)
{
    *canon = canon_of(self, tag);
    if (*canon == NULL) {
        return -1;
    }
    return self->last_entry != NULL ? 1 : PyDict_Contains(self->processes, *canon);
}

/* (tag, name) for latest: the same tuple for the same canonical tag and name (borrowed). */
static PyObject *
pair_key(Coder *self, PyObject *canon, PyObject *name)
{
    Pair *p = &self->pairs[mix(canon, name, NULL) & (PAIRS - 1)];
    if (p->tag != canon || p->name != name) {
        PyObject *key = PyTuple_Pack(2, canon, name);
        if (key == NULL) {
            return NULL;
        }
        Py_XSETREF(p->tag, Py_NewRef(canon));
        Py_XSETREF(p->name, Py_NewRef(name));
        Py_XSETREF(p->key, key);
    }
    return p->key;
}

/* SpanWriter.opened, for a frame of a process seen before that is no outermost call
 * with an origin (and while latest has room): all it checks comes before all it does. */
static PyObject *
Coder_opened(Coder *self, PyObject *frame)
{
    if (!self->started || !Py_IS_TYPE(frame, self->frame)) {
        return python_opened(self, frame);
    }
    PyObject *tag = FRAME(frame, F_TAG), *name = FRAME(frame, F_NAME);
    PyObject *parent = FRAME(frame, F_PARENT), *origin = FRAME(frame, F_ORIGIN);
    PyObject *resumed = FRAME(frame, F_RESUMED), *depth = FRAME(frame, F_DEPTH);
    if (tag == NULL || name == NULL || parent == NULL || origin == NULL || depth == NULL ||
        (resumed != Py_False && resumed != Py_True) || (parent == Py_None && origin != Py_None) ||
        PyDict_GET_SIZE(self->latest) >= LATEST_MAX) {
        return python_opened(self, frame);
    }
    PyObject *canon;
    int seen = known_process(self, tag, &canon);
    if (seen <= 0) {
        return seen < 0 ? NULL : python_opened(self, frame);
    }
    PyObject *waiting = NULL, *parked = NULL;
    if (resumed == Py_True) {
        /* A coroutine's span parked at this depth: this run is its next one. */
        parked = PyDict_GetItemWithError(self->parked, tag);
        if (parked == NULL && PyErr_Occurred()) {
            return NULL;
        }
        if (parked != NULL && (!PyDict_CheckExact(parked) || PyDict_GET_SIZE(parked) == 0)) {
            if (!PyDict_CheckExact(parked)) {
                return python_opened(self, frame);
            }
            parked = NULL;
        }
        if (parked != NULL) {
            waiting = PyDict_GetItemWithError(parked, depth);
            if (waiting == NULL && PyErr_Occurred()) {
                return NULL;
            }
            if (waiting != NULL && !Py_IS_TYPE(waiting, self->span)) {
                return python_opened(self, frame);
            }
        }
    }
    if (waiting != NULL) {
        Py_INCREF(waiting);
        if (PyDict_DelItem(parked, depth) < 0) {
            Py_DECREF(waiting);
            return NULL;
        }
        PyObject *its = SPAN(waiting, P_NAME), *runs = SPAN(waiting, P_RUNS);
        int same = its == NULL ? -1 : PyObject_RichCompareBool(its, name, Py_EQ);
        if (same > 0) {
            PyObject *more = runs == NULL ? NULL : PyNumber_Add(runs, one);
            if (more == NULL) {
                Py_DECREF(waiting);
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_AttributeError, "runs");
                }
                return NULL;
            }
            ft_put(&SPAN(waiting, P_RUNS), more);
            ft_put(&FRAME(frame, F_DATA), waiting);
            Py_RETURN_NONE;
        }
        PyObject *done = same < 0 ? NULL : write_span(self, waiting);
        Py_DECREF(waiting);
        if (done == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_AttributeError, "name");
            }
            return NULL;
        }
        Py_DECREF(done);
    }
    PyObject *span_id = next_id(self);
    if (span_id == NULL) {
        return NULL;
    }
    ft_put(&FRAME(frame, F_DATA), span_id);
    PyObject *key = pair_key(self, canon, name);
    if (key == NULL || PyDict_SetItem(self->latest, key, span_id) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Span(frame, span_id, parent_id), its slots set as Span.__init__ sets them. */
static PyObject *
new_span(Coder *self, PyObject *frame, PyObject *span_id, PyObject *parent_id)
{
    PyObject *span = self->span->tp_alloc(self->span, 0);
    if (span == NULL) {
        return NULL;
    }
    static const int from[] = {F_NAME, F_TAG, F_RESUMED, F_ARGS, F_FILE, F_LINE, F_START};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
        SPAN(span, from[i]) = Py_NewRef(FRAME(frame, from[i])); /* P_k is F_k for these */
    }
    SPAN(span, P_END) = Py_NewRef(FRAME(frame, F_START));
    SPAN(span, P_RETURNED) = Py_NewRef(Py_None);
    SPAN(span, P_EXCEPTION) = Py_NewRef(Py_None);
    SPAN(span, P_SUSPENDED) = Py_NewRef(Py_None);
    SPAN(span, P_SPAN_ID) = Py_NewRef(span_id);
    SPAN(span, P_PARENT_ID) = Py_NewRef(parent_id);
    SPAN(span, P_RUNS) = Py_NewRef(one);
    SPAN(span, P_UNFINISHED) = Py_NewRef(Py_False);
    return span;
}

/* SpanWriter.closed, for a finished frame whose span (or whose parent's span) is an
 * id or a Span: all it checks comes before all it does. */
static PyObject *
Coder_closed(Coder *self, PyObject *frame)
{
    if (!self->started || !Py_IS_TYPE(frame, self->frame)) {
        return ft_call1(self->closed, frame);
    }
    static const int needed[] = {F_NAME,      F_TAG,    F_RESUMED, F_ARGS,   F_RETURNED,
                                 F_EXCEPTION, F_START,  F_END,     F_FILE,   F_LINE,
                                 F_SUSPENDED, F_PARENT, F_DATA,    F_DURATION, F_DEPTH};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        if (FRAME(frame, needed[i]) == NULL) {
            return ft_call1(self->closed, frame);
        }
    }
    PyObject *data = FRAME(frame, F_DATA), *suspended = FRAME(frame, F_SUSPENDED);
    PyObject *parent = FRAME(frame, F_PARENT);
    if (FRAME(frame, F_DURATION) == Py_None ||
        (suspended != Py_None && !PyUnicode_CheckExact(suspended))) {
        return ft_call1(self->closed, frame); /* unfinished: Python's */
    }
    int awaits = suspended != Py_None && PyUnicode_Compare(suspended, s_await) == 0;
    PyObject *span;
    if (PyUnicode_CheckExact(data)) {
        PyObject *parent_id = self->root_parent;
        if (parent != Py_None) {
            parent_id = Py_IS_TYPE(parent, self->frame) ? FRAME(parent, F_DATA) : NULL;
            if (parent_id != NULL && Py_IS_TYPE(parent_id, self->span)) {
                parent_id = SPAN(parent_id, P_SPAN_ID); /* a coroutine's span */
            }
            if (parent_id == NULL || !PyUnicode_CheckExact(parent_id)) {
                return ft_call1(self->closed, frame);
            }
        }
        if (!awaits) {
            return do_write(self, frame, data, parent_id, one, Py_False);
        }
        span = new_span(self, frame, data, parent_id);
        if (span == NULL) {
            return NULL;
        }
    }
    else if (Py_IS_TYPE(data, self->span)) {
        span = Py_NewRef(data);
    }
    else {
        return ft_call1(self->closed, frame);
    }
    /* The run's end is the span's end so far. */
    ft_put(&SPAN(span, P_END), Py_NewRef(FRAME(frame, F_END)));
    ft_put(&SPAN(span, P_EXCEPTION), Py_NewRef(FRAME(frame, F_EXCEPTION)));
    ft_put(&SPAN(span, P_SUSPENDED), Py_NewRef(suspended));
    ft_put(&SPAN(span, P_UNFINISHED), Py_NewRef(Py_False));
    ft_put(&SPAN(span, P_RETURNED), Py_NewRef(FRAME(frame, F_RETURNED)));
    if (!awaits) {
        PyObject *done = write_span(self, span);
        Py_DECREF(span);
        return done;
    }
    /* Parked at its depth until its next run (or another call there ends it). */
    PyObject *tag = FRAME(frame, F_TAG), *depth = FRAME(frame, F_DEPTH);
    PyObject *parked = PyDict_GetItemWithError(self->parked, tag);
    if (parked == NULL) {
        if (PyErr_Occurred()) {
            goto error;
        }
        parked = PyDict_New();
        if (parked == NULL || PyDict_SetItem(self->parked, tag, parked) < 0) {
            Py_XDECREF(parked);
            goto error;
        }
        Py_DECREF(parked); /* self->parked holds it */
    }
    else if (!PyDict_CheckExact(parked)) {
        PyErr_SetString(PyExc_TypeError, "parked: tag -> dict");
        goto error;
    }
    PyObject *waiting = PyDict_GetItemWithError(parked, depth);
    if (waiting != NULL) {
        Py_INCREF(waiting);
        PyObject *done = PyDict_DelItem(parked, depth) < 0 ? NULL
                         : Py_IS_TYPE(waiting, self->span)
                             ? write_span(self, waiting)
                             : PyObject_CallMethod(self->writer, "_write_span", "O", waiting);
        Py_DECREF(waiting);
        if (done == NULL) {
            goto error;
        }
        Py_DECREF(done);
    }
    else if (PyErr_Occurred()) {
        goto error;
    }
    if (PyDict_SetItem(parked, depth, span) < 0) {
        goto error;
    }
    Py_DECREF(span);
    Py_RETURN_NONE;
error:
    Py_DECREF(span);
    return NULL;
}

/* ------------------------------------------------------------ the type */

/* Every slot of tp found (at[k] for names[k]); a Span's must be all it has. */
static int
find_slots(PyTypeObject *tp, const char *what, const char *const *names, int n, Py_ssize_t *at,
           int all)
{
    if (tp->tp_dictoffset != 0) {
        PyErr_Format(PyExc_TypeError, "%s: a class with __slots__ only", what);
        return -1;
    }
    if (ft_slot_offsets(tp, what, names, n, at) < 0) {
        return -1;
    }
    int count = 0;
    for (PyMemberDef *m = tp->tp_members; m != NULL && m->name != NULL; m++) {
        count += m->type == T_OBJECT_EX;
    }
    if (all && (count != n || tp->tp_base != &PyBaseObject_Type)) {
        PyErr_Format(PyExc_TypeError, "%s: slots other than the %d known", what, n);
        return -1;
    }
    return 0;
}

static int Coder_clear(Coder *self);

static int
Coder_init(Coder *self, PyObject *args, PyObject *kwds)
{
    PyObject *writer, *frame, *span, *jstr;
    int zipkin;
    static char *kwlist[] = {"writer", "frame", "span", "zipkin", "jstr", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!pO", kwlist, &writer, &PyType_Type, &frame,
                                     &PyType_Type, &span, &zipkin, &jstr)) {
        return -1;
    }
    if (find_slots((PyTypeObject *)frame, "frame", frame_slots, N_FRAME, self->frame_at, 0) < 0 ||
        find_slots((PyTypeObject *)span, "span", span_slots, N_SPAN, self->span_at, 1) < 0) {
        return -1;
    }
    static const char *const names[] = {"opened", "closed", "_random_bytes", "_make_parts",
                                        "_text",  "_flush", "processes",     "latest",
                                        "parked", "_parts", "root_parent"};
    enum { N_GOT = 11 };
    PyObject *got[N_GOT];
    if (ft_attrs(writer, names, N_GOT, got) < 0) {
        return -1;
    }
    if (!PyDict_CheckExact(got[6]) || !PyDict_CheckExact(got[7]) || !PyDict_CheckExact(got[8]) ||
        !PyDict_CheckExact(got[9]) || !PyUnicode_CheckExact(got[10])) {
        ft_release(got, N_GOT);
        PyErr_SetString(PyExc_TypeError, "writer: not a SpanWriter");
        return -1;
    }
    PyObject *tags = PyDict_New();
    Pair *pairs = PyMem_Calloc(PAIRS, sizeof(Pair));
    Cached *cached = PyMem_Calloc(CACHED, sizeof(Cached));
    if (tags == NULL || pairs == NULL || cached == NULL) {
        Py_XDECREF(tags);
        PyMem_Free(pairs);
        PyMem_Free(cached);
        ft_release(got, N_GOT);
        PyErr_NoMemory();
        return -1;
    }
    Coder_clear(self); /* a second __init__ starts again */
    PyObject **into[N_GOT] = {&self->opened,    &self->closed, &self->random_bytes,
                              &self->make_parts, &self->text,  &self->flush,
                              &self->processes, &self->latest, &self->parked,
                              &self->parts,     &self->root_parent};
    for (int k = 0; k < N_GOT; k++) {
        *into[k] = got[k];
    }
    self->tags = tags;
    self->pairs = pairs;
    self->cached = cached;
    self->left = 0;
    self->writer = Py_NewRef(writer);
    self->frame = (PyTypeObject *)Py_NewRef(frame);
    self->span = (PyTypeObject *)Py_NewRef(span);
    self->jstr = Py_NewRef(jstr);
    self->zipkin = zipkin;
    self->started = 0;
    self->pending = 0;
    return 0;
}

static int
Coder_traverse(Coder *self, visitproc visit, void *arg)
{
    PyObject *held[] = {(PyObject *)self->frame, (PyObject *)self->span, self->jstr,
                        self->writer, self->opened, self->closed, self->random_bytes,
                        self->make_parts, self->text, self->flush, self->processes,
                        self->latest, self->parked, self->parts, self->root_parent,
                        self->tags, self->last_tag, self->last_canon, self->last_entry,
                        self->drawn};
    for (size_t k = 0; k < sizeof(held) / sizeof(held[0]); k++) {
        Py_VISIT(held[k]);
    }
    for (Py_ssize_t i = 0; self->pairs != NULL && i < PAIRS; i++) {
        Py_VISIT(self->pairs[i].key);
    }
    for (Py_ssize_t i = 0; self->cached != NULL && i < CACHED; i++) {
        Py_VISIT(self->cached[i].parts);
    }
    return 0;
}

static int
Coder_clear(Coder *self)
{
    PyObject **held[] = {(PyObject **)&self->frame, (PyObject **)&self->span, &self->jstr,
                         &self->writer, &self->opened, &self->closed, &self->random_bytes,
                         &self->make_parts, &self->text, &self->flush, &self->processes,
                         &self->latest, &self->parked, &self->parts, &self->root_parent,
                         &self->tags, &self->last_tag, &self->last_canon, &self->last_entry,
                         &self->drawn};
    for (size_t k = 0; k < sizeof(held) / sizeof(held[0]); k++) {
        Py_CLEAR(*held[k]);
    }
    self->left = 0;
    if (self->pairs != NULL) {
        for (Py_ssize_t i = 0; i < PAIRS; i++) {
            Py_CLEAR(self->pairs[i].tag);
            Py_CLEAR(self->pairs[i].name);
            Py_CLEAR(self->pairs[i].key);
        }
        PyMem_Free(self->pairs);
        self->pairs = NULL;
    }
    if (self->cached != NULL) {
        cached_clear(self);
        PyMem_Free(self->cached);
        self->cached = NULL;
    }
    return 0;
}

static void
Coder_dealloc(Coder *self)
{
    PyObject_GC_UnTrack(self);
    Coder_clear(self);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Coder_methods[] = {
    {"opened", (PyCFunction)Coder_opened, METH_O, "SpanWriter.opened."},
    {"closed", (PyCFunction)Coder_closed, METH_O, "SpanWriter.closed."},
    {"write", (PyCFunction)(void (*)(void))Coder_write, METH_FASTCALL,
     "write(span, span_id, parent_id, runs, unfinished): SpanWriter._write."},
    {"draw", (PyCFunction)Coder_draw, METH_NOARGS, "SpanWriter._draw."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace.export._spancode.Coder",
    .tp_basicsize = sizeof(Coder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Coder(writer, Frame, Span, zipkin, jstr): a span writer's common calls "
              "(see the module).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Coder_init,
    .tp_dealloc = (destructor)Coder_dealloc,
    .tp_traverse = (traverseproc)Coder_traverse,
    .tp_clear = (inquiry)Coder_clear,
    .tp_methods = Coder_methods,
};

/* ------------------------------------------------------------ place */

/* place(text, offset, table): _place in _spans.py for a text of Latin-1 characters
 * whose table entries are too: \x02N\x02 becomes table[N], \x00NS\x00 NS + offset,
 * \x01NS\x01 (NS + offset) // 1000. None for any other text (Python reads it). */
static PyObject *
place(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "place(text: str, offset: int, table: list)");
        return NULL;
    }
    PyObject *text = args[0], *table = args[2];
    int overflow = 0;
    long long offset = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow || offset < 0 || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        Py_RETURN_NONE;
    }
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), i = 0;
    Buf b = {NULL, 0, 0, PyUnicode_IS_ASCII(text), 1};
    if (!grow(&b, len + len / 4 + 64)) {
        return NULL;
    }
    while (i < len) {
        /* Up to the next marker (a byte below 3), copied whole; eight bytes at a time
         * while none of them is one (a byte below 3 makes (w - 0x03..) & ~w & 0x80..
         * nonzero, and no other does when none is). */
        Py_ssize_t upto = i;
        while (upto + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + upto, 8);
            if ((w - 0x0303030303030303ULL) & ~w & 0x8080808080808080ULL) {
                break;
            }
            upto += 8;
        }
        while (upto < len && s[upto] > 2) {
            upto++;
        }
        raw(&b, (const char *)s + i, upto - i);
        i = upto;
        if (i >= len) {
            break;
        }
        unsigned char c = s[i];
        Py_ssize_t q = i + 1;
        unsigned long long v = 0;
        while (q < len && s[q] >= '0' && s[q] <= '9' && q - i <= 19) {
            v = v * 10 + (unsigned)(s[q] - '0');
            q++;
        }
        if (q == i + 1 || q >= len || s[q] != c) {
            goto python; /* not a marker this module writes */
        }
        i = q + 1;
        if (c == 2) {
            if (v >= (unsigned long long)PyList_GET_SIZE(table)) {
                goto python;
            }
            PyObject *entry = PyList_GET_ITEM(table, (Py_ssize_t)v);
            str(&b, entry);
            if (!b.ok) {
                goto python;
            }
            continue;
        }
        if (v > ULLONG_MAX - (unsigned long long)offset) {
            goto python;
        }
        v += (unsigned long long)offset;
        number(&b, c == 1 ? v / 1000 : v);
    }
    if (!b.ok) {
        goto python;
    }
    PyObject *result = PyUnicode_New(b.len, b.ascii ? 127 : 255);
    if (result != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(result), b.s, (size_t)b.len);
    }
    PyMem_Free(b.s);
    return result;
python:
    PyMem_Free(b.s);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"place", (PyCFunction)(void (*)(void))place, METH_FASTCALL,
     "place(text, offset, table) -> str | None: a spooled span text's markers replaced."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "functrace.export._spancode",
    "The span exports' common calls (optional, compiled).", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__spancode(void)
{
    if (PyType_Ready(&CoderType) < 0) {
        return NULL;
    }
    if (s_await == NULL) {
        for (int k = 0; k < N_TEXT; k++) {
            text_names[k] = PyUnicode_InternFromString(frame_slots[k]);
            if (text_names[k] == NULL) {
                return NULL;
            }
        }
        s_await = PyUnicode_InternFromString("await");
        s_one_id = PyUnicode_InternFromString("0000000000000001");
        one = PyLong_FromLong(1);
        if (s_await == NULL || s_one_id == NULL || one == NULL) {
            return NULL;
        }
    }
    static PyTypeObject *const types[] = {&CoderType};
    static const char *const names[] = {"Coder"};
    return ft_module_ready(PyModule_Create(&module), API_VERSION, types, names, 1);
}
