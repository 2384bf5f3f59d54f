/* The optional compiled half of the reading loops (functrace/reading/_fast.py).
 *
 * A Scanner reads lines[i:] (a block of lines without their newline) as long as
 * each is one of the common shapes functrace writes, text:
 *
 *     t[NN]:<4n spaces>->NAME               t[NN]a[NN]:...   t[PID.NN]:...
 *     t[NN]:<4n spaces>->NAME resume
 *     t[NN]:<4n spaces><-NAME DURATION[ yield| await| !EXC]
 *
 * or jsonl (``jsonl=True``), laid out key for key as the runtime writes it
 * (``_JSONL_RE`` in _read.py; strings without escapes):
 *
 *     {"v":1,"ts":N,"pid":N,"tid":N,"thread":"..","task":null|N,"tag":"TAG","depth":N,
 *      "ev":"enter|resume|exit|suspend",["running":true,]"name":"..","file":"..","line":N
 *      [,"dur":N,"exc":null|"..","suspended":null|"yield"|"await"]}
 *
 * and does for it what the Python loop it serves does, on the same objects. It
 * stops at the first line it does not take (any other shape, a line that skips
 * or closes other calls, a duration it does not parse the way parse_duration
 * does, a name with characters an argument list has, a character outside
 * Latin-1, a jsonl tag the general reader has not seen yet) and returns its index
 * with the loop's state: the Python loop reads that line as before, so every
 * judgement on an unusual line stays the general reader's. Nothing is changed
 * for a line that is handed back.
 *
 * Two kinds of loop, each on its Python loop's objects:
 * - Scanner(light, rows=...): run_text_summary / run_jsonl_summary. The open calls
 *   are lists in ``light`` (tag -> [[name, resumed, children's time, start, inner
 *   end, row], ...]) and the counts are ``rows`` (name -> [calls, total, own, max]).
 * - Scanner(stacks, frame=Frame, opened=..., closed=...): run_text / run_jsonl.
 *   The open calls are Frame objects (their __slots__ read and written at the
 *   offsets of their member descriptors), made and closed as Stream makes and
 *   closes them, each handed to opened(frame) / closed(frame).
 *
 * run(lines, index, clock, last, count) -> (index, clock, last, count): clock is a
 * text trace's rebuilt time, last the latest end seen, count the calls opened.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../_cshared.h"

#define API_VERSION 3 /* _SCAN_API in _fast.py */
#define SPAN_MAX 1000000000000000000LL /* _TEXT_SPAN_MAX */
#define INT63_MAX 9223372036854775807LL /* _INT_MAX */
#define TAG_MAX 64
/* The line grammar's pieces (functrace/_runtime/lines.py: INDENT, ENTER, EXIT),
 * given to Python as the module's GRAMMAR: _fast.py uses no build that reads
 * another grammar. */
#define INDENT "    "
#define ENTER "->"
#define EXIT "<-"
#define INDENT_WIDTH ((Py_ssize_t)sizeof(INDENT) - 1)
#define NUMBER_MAX 40
#define TABLE_MAX 65536 /* entries kept before the table starts again */

enum { SUMMARY, FRAMES };
#define MAX_OTHERS 16

/* The fields of an open call: the first six are a light list's items (VALUE: the
 * row); a Frame has them all (but VALUE) as slots. */
enum {
    F_NAME,
    F_RESUMED,
    F_CHILD,
    F_START,
    F_INNER,
    F_VALUE,
    F_TAG,
    F_DEPTH,
    F_END,
    F_DURATION,
    F_FILE,
    F_LINE,
    F_PARENT,
    F_EXCEPTION,
    F_SUSPENDED,
    F_DATA,
    N_FIELDS
};
static const char *const slot_names[N_FIELDS] = {
    "name", "resumed", "child_ns", "start_ns", "inner_end", NULL,        "tag",       "depth",
    "end_ns", "duration_ns", "file", "line", "parent", "exception", "suspended", "data",
};

static PyObject *s_yield, *s_await, *s_empty, *zero;

/* A function (its name's Latin-1 characters; jsonl: from the name to the line
 * number) -> its name as a str, its row (None without rows), file and line. */
typedef struct {
    uint64_t hash;
    Py_ssize_t len;
    char *key; /* NULL: a free slot */
    PyObject *name;
    PyObject *row;
    PyObject *file;
    PyObject *line;
} Entry;

typedef struct {
    PyObject_HEAD
    int kind;  /* SUMMARY or FRAMES */
    int jsonl;
    PyObject *stacks;  /* tag -> the open calls (lists or frames) */
    PyObject *rows;    /* SUMMARY: name -> row */
    PyObject *frame;   /* FRAMES: the Frame class */
    PyObject *opened, *closed; /* FRAMES */
    PyObject *known;   /* jsonl: the tags the general reader has seen (a dict) */
    Py_ssize_t offsets[N_FIELDS]; /* FRAMES: each slot's byte offset */
    /* FRAMES: the class's other slots (arguments, return value, origin: what only
     * the general reader fills), None in every frame made here. */
    Py_ssize_t others[MAX_OTHERS];
    int n_others;
    Entry *table;
    Py_ssize_t cap; /* a power of two */
    Py_ssize_t used;
} Scanner;

/* ------------------------------------------------------------ the table */

/* FNV-1a over 8 bytes at a time, each step folded down (the table uses the low bits). */
static uint64_t
hash_bytes(const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)n;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 1099511628211ULL;
        h ^= h >> 29;
    }
    for (; n > 0; s++, n--) {
        h = (h ^ *s) * 1099511628211ULL;
    }
    return h ^ (h >> 32);
}

static void
table_clear(Entry *table, Py_ssize_t cap)
{
    for (Py_ssize_t i = 0; i < cap; i++) {
        if (table[i].key != NULL) {
            PyMem_Free(table[i].key);
            Py_DECREF(table[i].name);
            Py_DECREF(table[i].row);
            Py_XDECREF(table[i].file);
            Py_XDECREF(table[i].line);
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

/* The parsed pieces of one line. */
typedef struct {
    const unsigned char *tag;
    Py_ssize_t tag_len;
    Py_ssize_t depth;
    int enter, resumed;
    const unsigned char *name;
    Py_ssize_t name_len;
    const unsigned char *key; /* the table's key */
    Py_ssize_t key_len;
    const unsigned char *file; /* jsonl */
    Py_ssize_t file_len;
    long long line, ts; /* jsonl */
    long long d;        /* an exit's duration */
    const unsigned char *exc; /* NULL: none */
    Py_ssize_t exc_len;
    PyObject *suspended; /* borrowed: s_yield, s_await or NULL */
} Event;

static PyObject *
latin1(const unsigned char *s, Py_ssize_t n)
{
    return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s, n);
}

/* The entry of the event's function, made when new (its row in rows, as _row
 * makes it). */
static Entry *
lookup(Scanner *self, const Event *ev)
{
    const unsigned char *s = ev->key;
    Py_ssize_t n = ev->key_len;
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
    if (self->used >= TABLE_MAX) {
        table_clear(self->table, self->cap); /* bounded, as the Python loops' caches */
        self->used = 0;
    }
    if ((self->used + 1) * 2 > self->cap && table_grow(self) < 0) {
        return NULL;
    }
    PyObject *name = latin1(ev->name, ev->name_len);
    PyObject *file = NULL, *line = NULL, *row = Py_None;
    if (name == NULL) {
        return NULL;
    }
    if (self->jsonl) {
        file = latin1(ev->file, ev->file_len);
        line = PyLong_FromLongLong(ev->line);
        if (file == NULL || line == NULL) {
            goto fail;
        }
    }
    if (self->rows != NULL) {
        row = PyDict_GetItemWithError(self->rows, name);
        if (row == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            row = Py_BuildValue("[iiii]", 0, 0, 0, 0);
            if (row == NULL) {
                goto fail;
            }
            if (PyDict_SetItem(self->rows, name, row) < 0) {
                Py_DECREF(row);
                goto fail;
            }
        }
        else {
            Py_INCREF(row);
        }
    }
    else {
        Py_INCREF(row);
    }
    char *key = PyMem_Malloc((size_t)(n ? n : 1));
    if (key == NULL) {
        Py_DECREF(row);
        PyErr_NoMemory();
        goto fail;
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
    e->file = file;
    e->line = line;
    self->used++;
    return e;
fail:
    Py_DECREF(name);
    Py_XDECREF(file);
    Py_XDECREF(line);
    return NULL;
}

/* ------------------------------------------------------------ text lines */

/* str.isspace() for a Latin-1 character: what \S, \s and str.split() stop at. */
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

/* Characters no qualified name holds but an argument list or a value may: a name
 * with one is left to the general reader, which knows the whole grammar. */
static inline int
is_value_char(unsigned char c)
{
    return c == '(' || c == ')' || c == '=' || c == ',' || c == '\'' || c == '"' || c == '[' ||
           c == ']' || c == '{' || c == '}';
}

/* For each character, what it does to a name: NAME_END (a space of any kind ends
 * it), NAME_REFUSED (is_value_char) or 0 (part of it); one look-up per character. */
enum { NAME_END = 1, NAME_REFUSED = 2 };
static unsigned char name_class[256];

static void
init_name_class(void)
{
    for (int c = 0; c < 256; c++) {
        name_class[c] = is_space((unsigned char)c)        ? NAME_END
                        : is_value_char((unsigned char)c) ? NAME_REFUSED
                                                          : 0;
    }
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

/* t\[[0-9.]+\](?:a\[[0-9]+\])? from s[0]: its length, or 0. */
static Py_ssize_t
parse_tag(const unsigned char *s, Py_ssize_t len)
{
    if (len < 4 || s[0] != 't' || s[1] != '[') {
        return 0;
    }
    Py_ssize_t p = 2, q;
    while (p < len && ((s[p] >= '0' && s[p] <= '9') || s[p] == '.')) {
        p++;
    }
    if (p == 2 || p >= len || s[p] != ']') {
        return 0;
    }
    p++;
    if (p < len && s[p] == 'a') {
        p++;
        if (p >= len || s[p] != '[') {
            return 0;
        }
        p++;
        q = p;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            p++;
        }
        if (p == q || p >= len || s[p] != ']') {
            return 0;
        }
        p++;
    }
    return p > TAG_MAX ? 0 : p;
}

static int
parse_text(const unsigned char *s, Py_ssize_t len, Event *ev)
{
    Py_ssize_t p = parse_tag(s, len), q;
    if (p == 0 || p >= len || s[p] != ':') {
        return -1;
    }
    ev->tag = s;
    ev->tag_len = p;
    p++;
    /* (?:INDENT)+ then the arrow */
    q = p;
    while (len - p >= INDENT_WIDTH && memcmp(s + p, INDENT, (size_t)INDENT_WIDTH) == 0) {
        p += INDENT_WIDTH;
    }
    if (p == q || p + 2 > len) {
        return -1;
    }
    ev->depth = (p - q) / INDENT_WIDTH;
    if (memcmp(s + p, ENTER, 2) == 0) {
        ev->enter = 1;
    }
    else if (memcmp(s + p, EXIT, 2) == 0) {
        ev->enter = 0;
    }
    else {
        return -1;
    }
    p += 2;
    /* The name: \S+ */
    ev->name = s + p;
    while (p < len) {
        unsigned char k = name_class[s[p]];
        if (k) {
            if (k == NAME_REFUSED) {
                return -1;
            }
            break;
        }
        p++;
    }
    ev->name_len = (s + p) - ev->name;
    if (ev->name_len == 0) {
        return -1;
    }
    ev->key = ev->name;
    ev->key_len = ev->name_len;
    ev->resumed = 0;
    ev->exc = NULL;
    ev->suspended = NULL;
    if (ev->enter) {
        if (p == len) {
            return 0;
        }
        if (len - p == 7 && memcmp(s + p, " resume", 7) == 0) {
            ev->resumed = 1;
            return 0;
        }
        return -1; /* "running", or anything else */
    }
    if (p >= len || s[p] != ' ') {
        return -1;
    }
    p++;
    q = p;
    while (p < len && s[p] != ' ') {
        p++;
    }
    ev->d = parse_duration(s + q, p - q);
    if (ev->d < 0) {
        return -1;
    }
    if (p == len) {
        return 0;
    }
    /* One more word: yield, await or !EXCEPTION (lost and the rest: Python). */
    p++;
    const unsigned char *w = s + p;
    Py_ssize_t w_len = len - p;
    if (w_len < 2) {
        return -1;
    }
    for (Py_ssize_t k = 0; k < w_len; k++) {
        if (!is_plain(w[k]) || is_value_char(w[k])) {
            return -1; /* "!Error('message')" and the like: the general reader */
        }
    }
    if (w[0] == '!') {
        ev->exc = w + 1;
        ev->exc_len = w_len - 1;
    }
    else if (w_len == 5 && memcmp(w, "yield", 5) == 0) {
        ev->suspended = s_yield;
    }
    else if (w_len == 5 && memcmp(w, "await", 5) == 0) {
        ev->suspended = s_await;
    }
    else {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ jsonl lines */

/* s[0:n] == text[0:n], 8 bytes at a time: n is a constant here, so the compiler
 * unrolls it (a call to memcmp per literal was a tenth of a line's reading). */
static inline int
same(const unsigned char *s, const char *text, Py_ssize_t n)
{
    for (; n >= 8; s += 8, text += 8, n -= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, text, 8);
        if (a != b) {
            return 0;
        }
    }
    for (; n > 0; s++, text++, n--) {
        if (*s != (unsigned char)*text) {
            return 0;
        }
    }
    return 1;
}

static inline int
literal(const unsigned char *s, Py_ssize_t len, Py_ssize_t *p, const char *text, Py_ssize_t n)
{
    if (len - *p < n || !same(s + *p, text, n)) {
        return 0;
    }
    *p += n;
    return 1;
}

/* [0-9]+ holding at most 2**63-1, in at most 19 digits (which a 64-bit unsigned
 * holds: no check per digit). A larger one, or more digits: the general reader. */
static inline int
number(const unsigned char *s, Py_ssize_t len, Py_ssize_t *p, long long *value)
{
    Py_ssize_t q = *p, end = len - *p > 19 ? *p + 19 : len;
    unsigned long long v = 0;
    while (q < end && (unsigned)(s[q] - '0') <= 9) {
        v = v * 10 + (unsigned)(s[q] - '0');
        q++;
    }
    if (q == *p || v > (unsigned long long)INT63_MAX || (q < len && (unsigned)(s[q] - '0') <= 9)) {
        return 0;
    }
    *p = q;
    *value = (long long)v;
    return 1;
}

/* "[^"\\]*": where its text starts and its length. */
static inline int
string(const unsigned char *s, Py_ssize_t len, Py_ssize_t *p, const unsigned char **text,
       Py_ssize_t *n)
{
    Py_ssize_t q = *p;
    if (q >= len || s[q] != '"') {
        return 0;
    }
    q++;
    const unsigned char *start = s + q;
    const unsigned char *end = memchr(start, '"', (size_t)(len - q));
    if (end == NULL || memchr(start, '\\', (size_t)(end - start)) != NULL) {
        return 0;
    }
    *text = start;
    *n = end - start;
    *p = (end - s) + 1;
    return 1;
}

#define LIT(text) literal(s, len, &p, text, (Py_ssize_t)sizeof(text) - 1)

static int
parse_jsonl(const unsigned char *s, Py_ssize_t len, Event *ev)
{
    Py_ssize_t p = 0, n;
    long long skip;
    const unsigned char *text;
    if (!LIT("{\"v\":1,\"ts\":") || !number(s, len, &p, &ev->ts) || !LIT(",\"pid\":") ||
        !number(s, len, &p, &skip) || !LIT(",\"tid\":") || !number(s, len, &p, &skip) ||
        !LIT(",\"thread\":") || !string(s, len, &p, &text, &n) || !LIT(",\"task\":")) {
        return -1;
    }
    if (!LIT("null")) {
        Py_ssize_t q = p;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            p++;
        }
        if (p == q) {
            return -1;
        }
    }
    if (!LIT(",\"tag\":\"")) {
        return -1;
    }
    ev->tag = s + p;
    ev->tag_len = parse_tag(s + p, len - p);
    if (ev->tag_len == 0) {
        return -1;
    }
    p += ev->tag_len;
    long long depth;
    if (!LIT("\",\"depth\":") || !number(s, len, &p, &depth) || !LIT(",\"ev\":\"")) {
        return -1;
    }
    ev->depth = (Py_ssize_t)depth;
    if (LIT("enter\",")) {
        ev->enter = 1, ev->resumed = 0;
    }
    else if (LIT("resume\",")) {
        ev->enter = 1, ev->resumed = 1;
    }
    else if (LIT("exit\",") || LIT("suspend\",")) {
        ev->enter = 0;
    }
    else {
        return -1;
    }
    LIT("\"running\":true,");
    if (!LIT("\"name\":")) {
        return -1;
    }
    ev->key = s + p + 1;
    if (!string(s, len, &p, &ev->name, &ev->name_len) || !LIT(",\"file\":") ||
        !string(s, len, &p, &ev->file, &ev->file_len) || !LIT(",\"line\":") ||
        !number(s, len, &p, &ev->line)) {
        return -1;
    }
    ev->key_len = (s + p) - ev->key;
    ev->exc = NULL;
    ev->suspended = NULL;
    if (LIT(",\"dur\":")) {
        if (ev->enter || !number(s, len, &p, &ev->d) || ev->d > ev->ts || !LIT(",\"exc\":")) {
            return -1; /* an enter with a duration: the general reader */
        }
        if (!LIT("null")) {
            if (!string(s, len, &p, &ev->exc, &ev->exc_len)) {
                return -1;
            }
        }
        if (!LIT(",\"suspended\":")) {
            return -1;
        }
        if (LIT("\"yield\"")) {
            ev->suspended = s_yield;
        }
        else if (LIT("\"await\"")) {
            ev->suspended = s_await;
        }
        else if (!LIT("null")) {
            return -1;
        }
    }
    else if (!ev->enter) {
        return -1;
    }
    if (!LIT("}")) {
        return -1;
    }
    while (p < len && is_space(s[p])) {
        p++;
    }
    return p == len ? 0 : -1;
}

#undef LIT

/* ------------------------------------------------------------ open calls */

/* Where a field of an open call (a light list or a frame) is held. */
static inline PyObject **
field(Scanner *self, PyObject *call, int f)
{
    if (self->kind == FRAMES) {
        return ft_slot_at(call, self->offsets[f]);
    }
    return &((PyListObject *)call)->ob_item[f];
}

/* An open call this loop may read: an exact list of six, or an exact frame. */
static inline int
is_call(Scanner *self, PyObject *call)
{
    if (self->kind == FRAMES) {
        return (PyObject *)Py_TYPE(call) == self->frame;
    }
    return PyList_CheckExact(call) && PyList_GET_SIZE(call) == 6;
}


/* ft_put and ft_latin1 (_cshared.h) are written out here instead: taken from the
 * header, gcc compiled Scanner_run's loop into ~50 more instructions a jsonl line
 * (callgrind, 3.12, show --summary), forced inline or not. */
static inline void
put(PyObject **slot, PyObject *value) /* steals value */
{
    PyObject *old = *slot;
    *slot = value;
    Py_XDECREF(old);
}

FT_HOT int
put_int(PyObject **slot, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL) {
        return -1;
    }
    put(slot, v);
    return 0;
}

/* *slot += delta, for an int. */
static int
add_int(PyObject **slot, long long delta)
{
    PyObject *old = *slot;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(old, &overflow);
    PyObject *sum;
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (!overflow && !(delta > 0 && v > LLONG_MAX - delta) &&
        !(delta < 0 && v < LLONG_MIN - delta)) {
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
    put(slot, sum);
    return 0;
}

static inline PyObject *
item(PyObject *list, Py_ssize_t i)
{
    return PyList_GET_ITEM(list, i);
}

/* A new open call: a light list (with its function's row), or a frame as
 * Stream.enter makes it. */
static PyObject *
new_call(Scanner *self, Entry *e, PyObject *tag, Py_ssize_t depth, long long t, int resumed,
         PyObject *parent)
{
    PyObject *start = PyLong_FromLongLong(t);
    if (start == NULL) {
        return NULL;
    }
    PyObject *call;
    if (self->kind != FRAMES) {
        call = PyList_New(6);
        if (call == NULL) {
            Py_DECREF(start);
            return NULL;
        }
        PyList_SET_ITEM(call, F_NAME, Py_NewRef(e->name));
        PyList_SET_ITEM(call, F_RESUMED, Py_NewRef(resumed ? Py_True : Py_False));
        PyList_SET_ITEM(call, F_CHILD, Py_NewRef(zero));
        PyList_SET_ITEM(call, F_START, Py_NewRef(start));
        PyList_SET_ITEM(call, F_INNER, start);
        PyList_SET_ITEM(call, F_VALUE, Py_NewRef(e->row));
        return call;
    }
    PyObject *number = PyLong_FromSsize_t(depth);
    if (number == NULL) {
        Py_DECREF(start);
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)self->frame;
    call = type->tp_alloc(type, 0);
    if (call == NULL) {
        Py_DECREF(start);
        Py_DECREF(number);
        return NULL;
    }
    *field(self, call, F_NAME) = Py_NewRef(e->name);
    *field(self, call, F_TAG) = Py_NewRef(tag);
    *field(self, call, F_DEPTH) = number;
    *field(self, call, F_START) = Py_NewRef(start);
    *field(self, call, F_END) = Py_NewRef(start);
    *field(self, call, F_DURATION) = Py_NewRef(Py_None);
    *field(self, call, F_RESUMED) = Py_NewRef(resumed ? Py_True : Py_False);
    *field(self, call, F_FILE) = Py_NewRef(e->file != NULL ? e->file : s_empty);
    *field(self, call, F_LINE) = Py_NewRef(e->line != NULL ? e->line : zero);
    *field(self, call, F_PARENT) = Py_NewRef(parent != NULL ? parent : Py_None);
    *field(self, call, F_EXCEPTION) = Py_NewRef(Py_None);
    *field(self, call, F_SUSPENDED) = Py_NewRef(Py_None);
    *field(self, call, F_CHILD) = Py_NewRef(zero);
    *field(self, call, F_INNER) = start;
    *field(self, call, F_DATA) = Py_NewRef(Py_None);
    for (int k = 0; k < self->n_others; k++) {
        *ft_slot_at(call, self->others[k]) = Py_NewRef(Py_None);
    }
    return call;
}

/* ------------------------------------------------------------ the loop */

static PyObject *
Scanner_run(Scanner *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "run(lines: list, index, clock, last, count)");
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
    long long last = PyLong_AsLongLong(args[3]);
    if (last == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long long count = PyLong_AsLongLong(args[4]);
    if (count == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0) {
        i = 0;
    }
    if (clock < 0 || clock > SPAN_MAX || last < 0) {
        goto done; /* not a state this loop keeps: the Python loop reads on */
    }

    unsigned char tag[TAG_MAX];
    Py_ssize_t tag_len = -1;
    PyObject *tag_obj = NULL; /* the current tag as a str */
    PyObject *stack = NULL;   /* its open calls (a reference) */
    int text = !self->jsonl, kind = self->kind;
    Py_ssize_t n = PyList_GET_SIZE(lines);
    Event ev = {0}; /* each parse sets what is read after it; zeroed for -Wmaybe-uninitialized */
    for (; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyUnicode_CheckExact(line) || PyUnicode_KIND(line) != PyUnicode_1BYTE_KIND) {
            break;
        }
        const unsigned char *s = PyUnicode_1BYTE_DATA(line);
        Py_ssize_t len = PyUnicode_GET_LENGTH(line);
        if ((text ? parse_text(s, len, &ev) : parse_jsonl(s, len, &ev)) < 0) {
            break;
        }
        if (text && !ev.enter && clock + ev.d > SPAN_MAX) {
            break;
        }
        /* The tag's open calls. */
        if (ev.tag_len != tag_len || memcmp(tag, ev.tag, (size_t)ev.tag_len) != 0) {
            PyObject *key = latin1(ev.tag, ev.tag_len);
            if (key == NULL) {
                goto error;
            }
            int seen = text ? 1 : PyDict_Contains(self->known, key);
            if (seen <= 0) {
                Py_DECREF(key);
                if (seen < 0) {
                    goto error;
                }
                break; /* its thread is not recorded yet: the general reader does it */
            }
            PyObject *found = PyDict_GetItemWithError(self->stacks, key);
            if (found == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(key);
                    goto error;
                }
                found = PyList_New(0);
                if (found == NULL || PyDict_SetItem(self->stacks, key, found) < 0) {
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
            Py_XSETREF(tag_obj, key);
            Py_XSETREF(stack, Py_NewRef(found));
            memcpy(tag, ev.tag, (size_t)ev.tag_len);
            tag_len = ev.tag_len;
        }
        Py_ssize_t size = PyList_GET_SIZE(stack);
        if (ev.enter) {
            if (ev.depth < 1 || size >= ev.depth) {
                break; /* closes open calls: the general reader */
            }
            PyObject *parent = size ? item(stack, size - 1) : NULL;
            long long t = clock;
            if (!text) {
                t = ev.ts;
                if (parent != NULL) {
                    /* Never before its caller: as Stream.enter has it. */
                    if (!is_call(self, parent)) {
                        break;
                    }
                    long long parent_start = ft_time(*field(self, parent, F_START));
                    if (parent_start < 0) {
                        break;
                    }
                    if (t < parent_start) {
                        t = parent_start;
                    }
                }
            }
            if (kind == FRAMES && parent != NULL && !is_call(self, parent)) {
                break;
            }
            Entry *e = lookup(self, &ev);
            if (e == NULL) {
                goto error;
            }
            PyObject *call = new_call(self, e, tag_obj, size + 1, t, ev.resumed, parent);
            if (call == NULL) {
                goto error;
            }
            if (PyList_Append(stack, call) < 0) {
                Py_DECREF(call);
                goto error;
            }
            count++;
            if (kind == FRAMES) {
                PyObject *result = ft_call1(self->opened, call);
                Py_DECREF(call);
                if (result == NULL) {
                    goto error;
                }
                Py_DECREF(result);
            }
            else {
                Py_DECREF(call);
            }
            continue;
        }
        /* An exit: of the innermost open call, by its name. */
        if (size != ev.depth || size < 1) {
            break;
        }
        PyObject *top = item(stack, size - 1);
        if (!is_call(self, top)) {
            break;
        }
        PyObject *top_name = *field(self, top, F_NAME);
        if (top_name == NULL || !PyUnicode_CheckExact(top_name) ||
            PyUnicode_KIND(top_name) != PyUnicode_1BYTE_KIND ||
            PyUnicode_GET_LENGTH(top_name) != ev.name_len ||
            memcmp(PyUnicode_1BYTE_DATA(top_name), ev.name, (size_t)ev.name_len) != 0) {
            break;
        }
        long long start = ft_time(*field(self, top, F_START));
        long long inner = ft_time(*field(self, top, F_INNER));
        PyObject *child_obj = *field(self, top, F_CHILD);
        if (start < 0 || inner < 0 || child_obj == NULL || !PyLong_Check(child_obj)) {
            break;
        }
        long long d = ev.d; /* jsonl: "dur" */
        long long end;
        if (text) {
            if (start > INT63_MAX - d) {
                break;
            }
            end = start + d;
        }
        else {
            end = ev.ts;
            if (end < start) {
                end = start;
            }
        }
        if (end < inner) {
            end = inner;
        }
        PyObject *parent = NULL;
        long long parent_inner = 0;
        if (kind == FRAMES) {
            parent = *field(self, top, F_PARENT);
            if (parent == NULL) {
                break;
            }
            if (parent == Py_None) {
                parent = NULL;
            }
            else if (!is_call(self, parent)) {
                break;
            }
        }
        else if (size > 1) {
            parent = item(stack, size - 2);
            if (!is_call(self, parent)) {
                break;
            }
        }
        if (parent != NULL) {
            PyObject *parent_child = *field(self, parent, F_CHILD);
            parent_inner = ft_time(*field(self, parent, F_INNER));
            if (parent_inner < 0 || parent_child == NULL || !PyLong_Check(parent_child)) {
                break;
            }
        }
        PyObject *row = NULL;
        long long longest = 0, own = 0;
        int was_resumed = 0;
        if (kind == SUMMARY) {
            row = item(top, F_VALUE);
            if (!PyList_CheckExact(row) || PyList_GET_SIZE(row) != 4) {
                break;
            }
            longest = ft_time(item(row, 3));
            if (longest < 0) {
                break;
            }
            int overflow = 0;
            long long child = PyLong_AsLongLongAndOverflow(child_obj, &overflow);
            if (child == -1 && PyErr_Occurred()) {
                goto error;
            }
            was_resumed = PyObject_IsTrue(item(top, F_RESUMED));
            if (was_resumed < 0) {
                goto error;
            }
            if (overflow < 0 || (overflow == 0 && child < 0)) {
                break; /* a negative children's time is never kept: left to Python */
            }
            /* own = d - children's time, counted when positive (never when that time
             * is past a long long: d is at most 2**63-1). */
            own = overflow > 0 ? 0 : d - child;
        }
        PyObject *exception = Py_None;
        if (kind == FRAMES && ev.exc != NULL) {
            exception = latin1(ev.exc, ev.exc_len);
            if (exception == NULL) {
                goto error;
            }
        }
        else {
            Py_INCREF(exception);
        }
        /* Taken: the call closes. */
        Py_INCREF(top);
        if (PyList_SetSlice(stack, size - 1, size, NULL) < 0) {
            goto fail;
        }
        if (parent != NULL) {
            if (add_int(field(self, parent, F_CHILD), d) < 0 ||
                (end > parent_inner && put_int(field(self, parent, F_INNER), end) < 0)) {
                goto fail;
            }
        }
        if (end > last) {
            last = end;
        }
        if (end > clock && text) {
            clock = end;
        }
        PyObject *suspended = ev.suspended != NULL ? ev.suspended : Py_None;
        if (kind == SUMMARY) {
            if ((!was_resumed && add_int(&((PyListObject *)row)->ob_item[0], 1) < 0) ||
                add_int(&((PyListObject *)row)->ob_item[1], d) < 0 ||
                (own > 0 && add_int(&((PyListObject *)row)->ob_item[2], own) < 0) ||
                (d > longest && put_int(&((PyListObject *)row)->ob_item[3], d) < 0)) {
                goto fail;
            }
        }
        else {
            if (put_int(field(self, top, F_END), end) < 0 ||
                put_int(field(self, top, F_DURATION), d) < 0) {
                goto fail;
            }
            put(field(self, top, F_EXCEPTION), Py_NewRef(exception));
            put(field(self, top, F_SUSPENDED), Py_NewRef(suspended));
            PyObject *result = ft_call1(self->closed, top);
            if (result == NULL) {
                goto fail;
            }
            Py_DECREF(result);
        }
        Py_DECREF(exception);
        Py_DECREF(top);
        continue;
    fail:
        Py_DECREF(exception);
        Py_DECREF(top);
        goto error;
    }
    Py_XDECREF(stack);
    Py_XDECREF(tag_obj);
done:
    return Py_BuildValue("nLLL", i, clock, last, count);
error:
    Py_XDECREF(stack);
    Py_XDECREF(tag_obj);
    return NULL;
}

/* ------------------------------------------------------------ blocks */

/* The index of the first byte past ASCII in s[i:size], or size: 8 bytes at a time. */
static inline Py_ssize_t
next_high(const unsigned char *s, Py_ssize_t i, Py_ssize_t size)
{
    for (; i + 8 <= size; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) {
            break;
        }
    }
    while (i < size && s[i] < 0x80) {
        i++;
    }
    return i;
}

/* The characters of s[0:size] when it is ASCII and Latin-1 letters in two bytes
 * each (a text trace's "µs"), else -1. */
static Py_ssize_t
latin1_length(const unsigned char *s, Py_ssize_t size)
{
    Py_ssize_t pairs = 0;
    for (Py_ssize_t i = next_high(s, 0, size); i < size; i = next_high(s, i + 2, size)) {
        if ((s[i] != 0xC2 && s[i] != 0xC3) || i + 1 >= size || (s[i + 1] & 0xC0) != 0x80) {
            return -1;
        }
        pairs++;
    }
    return size - pairs;
}

/* A line of s[0:size]: ASCII copied, ASCII and Latin-1 decoded here (as the
 * decoder would: a compact Latin-1 str), anything else decoded as UTF-8 with
 * "replace". */
static PyObject *
line_of(const unsigned char *s, Py_ssize_t size)
{
    Py_ssize_t high = next_high(s, 0, size);
    PyObject *line;
    if (high == size) {
        line = PyUnicode_New(size, 127);
        if (line != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(line), s, (size_t)size);
        }
        return line;
    }
    Py_ssize_t n = latin1_length(s, size);
    if (n < 0) {
        return PyUnicode_DecodeUTF8((const char *)s, size, "replace");
    }
    line = PyUnicode_New(n, 255); /* it holds one character past ASCII at least */
    if (line != NULL) {
        Py_UCS1 *out = PyUnicode_1BYTE_DATA(line);
        Py_ssize_t i = 0;
        while (i < size) {
            memcpy(out, s + i, (size_t)(high - i)); /* the ASCII before it */
            out += high - i;
            if (high >= size) {
                break;
            }
            *out++ = (Py_UCS1)(((s[high] & 0x03) << 6) | (s[high + 1] & 0x3F));
            i = high + 2;
            high = next_high(s, i, size);
        }
    }
    return line;
}

/* split(data, end, head) -> list[str] | None: scan.py's _split, the lines of
 * head + data[:end] (decoded as UTF-8 with "replace", cut at each newline, no
 * empty last line), in one pass, each line copied once (the block itself never).
 * None when they hold a carriage return (the Python function does universal
 * newlines) or head a newline. A line is decoded on its own: no UTF-8 sequence holds the byte \n, so
 * the decoder replaces the same bytes as on the whole block. */
static PyObject *
split(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "split(data: bytes, end: int, head: bytes)");
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 0 || n > PyBytes_GET_SIZE(args[0])) {
        PyErr_SetString(PyExc_ValueError, "split: end out of range");
        return NULL;
    }
    const unsigned char *head = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    Py_ssize_t head_len = PyBytes_GET_SIZE(args[2]);
    if (memchr(s, '\r', (size_t)n) != NULL || memchr(head, '\r', (size_t)head_len) != NULL ||
        memchr(head, '\n', (size_t)head_len) != NULL) {
        Py_RETURN_NONE; /* a head is a line's start: one with a newline, Python splits it */
    }
    PyObject *lines = PyList_New(0);
    if (lines == NULL) {
        return NULL;
    }
    Py_ssize_t p = 0;
    if (head_len) {
        /* The first line starts in head. */
        const unsigned char *nl = memchr(s, '\n', (size_t)n);
        Py_ssize_t first = nl != NULL ? nl - s : n;
        PyObject *joined = PyBytes_FromStringAndSize(NULL, head_len + first);
        if (joined == NULL) {
            Py_DECREF(lines);
            return NULL;
        }
        memcpy(PyBytes_AS_STRING(joined), head, (size_t)head_len);
        memcpy(PyBytes_AS_STRING(joined) + head_len, s, (size_t)first);
        PyObject *line = line_of((const unsigned char *)PyBytes_AS_STRING(joined), head_len + first);
        Py_DECREF(joined);
        if (line == NULL || PyList_Append(lines, line) < 0) {
            Py_XDECREF(line);
            Py_DECREF(lines);
            return NULL;
        }
        Py_DECREF(line);
        p = first + 1;
    }
    while (p < n) {
        const unsigned char *nl = memchr(s + p, '\n', (size_t)(n - p));
        Py_ssize_t end = nl != NULL ? nl - s : n;
        PyObject *line = line_of(s + p, end - p);
        if (line == NULL || PyList_Append(lines, line) < 0) {
            Py_XDECREF(line);
            Py_DECREF(lines);
            return NULL;
        }
        Py_DECREF(line);
        p = end + 1;
    }
    return lines;
}

/* ------------------------------------------------------------ the type */

static int
Scanner_init(Scanner *self, PyObject *args, PyObject *kwds)
{
    PyObject *stacks, *rows = Py_None;
    PyObject *frame = Py_None, *opened = Py_None, *closed = Py_None, *known = Py_None;
    int jsonl = 0;
    static char *kwlist[] = {"stacks", "rows", "frame", "opened", "closed", "jsonl", "known", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!|OOOOpO", kwlist, &PyDict_Type, &stacks, &rows,
                                     &frame, &opened, &closed, &jsonl, &known)) {
        return -1;
    }
    int frames = frame != Py_None || opened != Py_None || closed != Py_None;
    int kind;
    if (PyDict_CheckExact(rows) && !frames) {
        kind = SUMMARY;
    }
    else if (rows == Py_None && PyType_Check(frame) && PyCallable_Check(opened) &&
             PyCallable_Check(closed)) {
        kind = FRAMES;
    }
    else {
        PyErr_SetString(PyExc_TypeError,
                        "Scanner(stacks, rows=...) or "
                        "Scanner(stacks, frame=Frame, opened=..., closed=...)");
        return -1;
    }
    if (jsonl && !PyDict_CheckExact(known)) {
        PyErr_SetString(PyExc_TypeError, "a jsonl Scanner needs known (the tags already read)");
        return -1;
    }
    if (kind == FRAMES) {
        PyTypeObject *tp = (PyTypeObject *)frame;
        if (tp->tp_alloc == NULL || tp->tp_dictoffset != 0) {
            PyErr_SetString(PyExc_TypeError, "frame: a class with __slots__ only");
            return -1;
        }
        if (ft_slot_offsets(tp, "frame", slot_names, N_FIELDS, self->offsets) < 0) {
            return -1; /* F_VALUE (no name): -1 */
        }
        self->n_others = 0;
        for (PyMemberDef *m = tp->tp_members; m != NULL && m->name != NULL; m++) {
            int known = m->type != T_OBJECT_EX;
            for (int f = 0; f < N_FIELDS && !known; f++) {
                known = self->offsets[f] == m->offset;
            }
            if (known) {
                continue;
            }
            if (self->n_others == MAX_OTHERS) {
                PyErr_SetString(PyExc_TypeError, "frame: too many slots");
                return -1;
            }
            self->others[self->n_others++] = m->offset;
        }
    }
    self->kind = kind;
    self->jsonl = jsonl;
    Py_XSETREF(self->stacks, Py_NewRef(stacks));
    Py_XSETREF(self->rows, kind == SUMMARY ? Py_NewRef(rows) : NULL);
    Py_XSETREF(self->frame, kind == FRAMES ? Py_NewRef(frame) : NULL);
    Py_XSETREF(self->opened, kind == FRAMES ? Py_NewRef(opened) : NULL);
    Py_XSETREF(self->closed, kind == FRAMES ? Py_NewRef(closed) : NULL);
    Py_XSETREF(self->known, jsonl ? Py_NewRef(known) : NULL);
    if (self->table != NULL) {
        table_clear(self->table, self->cap);
        self->used = 0;
    }
    return 0;
}

static int
Scanner_traverse(Scanner *self, visitproc visit, void *arg)
{
    Py_VISIT(self->stacks);
    Py_VISIT(self->rows);
    Py_VISIT(self->frame);
    Py_VISIT(self->opened);
    Py_VISIT(self->closed);
    Py_VISIT(self->known);
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
    Py_CLEAR(self->stacks);
    Py_CLEAR(self->rows);
    Py_CLEAR(self->frame);
    Py_CLEAR(self->opened);
    Py_CLEAR(self->closed);
    Py_CLEAR(self->known);
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
     "run(lines, index, clock, last, count) -> (index, clock, last, count): the common lines "
     "of lines[index:], up to the first other one."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace.reading._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Scanner(stacks, ...): a reading loop's common lines (see the module).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_methods = Scanner_methods,
};

static PyMethodDef module_methods[] = {
    {"split", (PyCFunction)(void (*)(void))split, METH_FASTCALL,
     "split(data: bytes, end: int, head: bytes) -> list[str] | None: the lines of "
     "head + data[:end], decoded (None: they hold a carriage return)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "functrace.reading._scan",
    "The common lines of a trace for the reading loops (optional, compiled).", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    if (PyType_Ready(&ScannerType) < 0) {
        return NULL;
    }
    if (s_yield == NULL) {
        init_name_class();
        s_yield = PyUnicode_InternFromString("yield");
        s_await = PyUnicode_InternFromString("await");
        s_empty = PyUnicode_InternFromString("");
        zero = PyLong_FromLong(0);
        if (s_yield == NULL || s_await == NULL || s_empty == NULL || zero == NULL) {
            return NULL;
        }
    }
    static PyTypeObject *const types[] = {&ScannerType};
    static const char *const names[] = {"Scanner"};
    PyObject *m = ft_module_ready(PyModule_Create(&module), API_VERSION, types, names, 1);
    PyObject *grammar = m == NULL ? NULL : Py_BuildValue("(sss)", INDENT, ENTER, EXIT);
    if (grammar == NULL || PyModule_AddObjectRef(m, "GRAMMAR", grammar) < 0) {
        Py_CLEAR(m);
    }
    Py_XDECREF(grammar);
    return m;
}
