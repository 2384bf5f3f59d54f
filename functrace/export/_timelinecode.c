/* The optional compiled half of the timeline exports (functrace/export/chrome.py and
 * speedscope.py).
 *
 * Chrome(writer, Frame) does what ChromeWriter.opened and .closed do, on the writer's
 * own objects (tracks, events, pending: the dicts and list it clears but never
 * replaces), for the calls that are most of a trace:
 *
 * - opened: a frame whose tag has its track already (nothing to do).
 * - closed: a frame that ended (returned, raised, suspended; not cut off) with no
 *   argument or return values, times that fit a long long, and its function's
 *   parts (ChromeWriter._parts, called from here when missing), exception and
 *   suspension in Latin-1 that JSON takes as they are: the event's text, made as
 *   closed() and _extra_args() make it, appended to pending (_write called
 *   every 2048 events), its run noted, and _settle called when flows wait for it.
 *
 * Speedscope(writer, Frame, Profile) does what SpeedscopeWriter.opened and .closed
 * do, on its frames, profiles and _Profile objects, for a frame whose tag has its
 * profile already, times that fit a long long and its function's events (_frame,
 * called from here when missing) in Latin-1: the event's text appended to its
 * profile's pending events (_flush called every 4096 events it adds).
 *
 * Anything else goes to the writer's Python method, which does the whole of it, so
 * the Python methods stay the definition: both ways write the same bytes
 * (tests/export/test_timelinecode_c.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#include "../_cshared.h"

#define API_VERSION 1 /* _TIMELINECODE_API in _base.py */
#define PENDING_MAX 2048 /* ChromeWriter._add and closed write there */

/* A Frame's slots read here (Frame in functrace/reading/_stream.py). */
enum {
    F_NAME,
    F_TAG,
    F_FILE,
    F_LINE,
    F_START,
    F_END,
    F_DURATION,
    F_EXCEPTION,
    F_SUSPENDED,
    F_RESUMED,
    F_ARGS,
    F_RETURNED,
    N_FRAME
};
static const char *const frame_slots[N_FRAME] = {
    "name",     "tag",      "file",      "line",    "start_ns", "end_ns",
    "duration_ns", "exception", "suspended", "resumed", "args",     "returned",
};

typedef struct {
    PyObject_HEAD
    PyTypeObject *frame;
    Py_ssize_t at[N_FRAME];
    PyObject *writer;
    /* The writer's Python methods (bound, taken before it replaces opened/closed). */
    PyObject *opened, *closed, *parts, *settle, *write;
    /* The writer's objects. */
    PyObject *tracks, *events, *pending;
    /* The trace's origin once the writer has one (it never changes then). */
    int has_origin;
    long long origin;
} Chrome;

static PyObject *s_origin;

static inline PyObject *
slot(Py_ssize_t *at, PyObject *frame, int f)
{
    return *ft_slot_at(frame, at[f]);
}

/* Calls fn(arg) for its side effects: None, or NULL on an error. */
static PyObject *
hand_over(PyObject *fn, PyObject *arg)
{
    PyObject *result = ft_call1(fn, arg);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_NONE;
}

static PyObject *
Chrome_opened(Chrome *self, PyObject *frame)
{
    if (Py_TYPE(frame) == self->frame) {
        PyObject *tag = slot(self->at, frame, F_TAG);
        if (tag != NULL && PyUnicode_CheckExact(tag)) {
            int known = PyDict_Contains(self->tracks, tag);
            if (known < 0) {
                return NULL;
            }
            if (known) {
                Py_RETURN_NONE;
            }
        }
    }
    return hand_over(self->opened, frame);
}

/* A time (ft_time) that is an exact int: a bool or an int subclass goes to Python. */
static inline long long
get_time(PyObject *o)
{
    return o != NULL && PyLong_CheckExact(o) ? ft_time(o) : -1;
}

/* The writer's origin once it has one that fits: 1, or 0. */
static int
origin_known(Chrome *self)
{
    if (self->has_origin) {
        return 1;
    }
    PyObject *origin = PyObject_GetAttr(self->writer, s_origin);
    if (origin == NULL) {
        PyErr_Clear();
        return 0;
    }
    long long t = get_time(origin);
    Py_DECREF(origin);
    if (t < 0) {
        return 0;
    }
    self->origin = t;
    self->has_origin = 1;
    return 1;
}

/* ns as microseconds, as _us() writes them: whole microseconds, then "" or ".NNN". */
static char *
put_us(char *p, long long ns)
{
    long long frac = ns % 1000;
    p = ft_put_digits(p, (unsigned long long)(ns / 1000));
    if (frac) {
        p[0] = '.';
        p[1] = (char)('0' + frac / 100);
        p[2] = (char)('0' + frac / 10 % 10);
        p[3] = (char)('0' + frac % 10);
        p += 4;
    }
    return p;
}

/* A Latin-1 str that json.dumps(ensure_ascii=False) only puts in quotes: no quote,
 * backslash or control character (below U+0020). */
static int
plain(PyObject *o)
{
    if (!ft_latin1(o)) {
        return 0;
    }
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(o);
    Py_ssize_t n = PyUnicode_GET_LENGTH(o);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == '"' || s[i] == '\\') {
            return 0;
        }
    }
    return 1;
}

static PyObject *
Chrome_closed(Chrome *self, PyObject *frame)
{
    if (Py_TYPE(frame) != self->frame || !origin_known(self)) {
        return hand_over(self->closed, frame);
    }
    PyObject *tag = slot(self->at, frame, F_TAG), *name = slot(self->at, frame, F_NAME);
    PyObject *file = slot(self->at, frame, F_FILE), *line = slot(self->at, frame, F_LINE);
    PyObject *args = slot(self->at, frame, F_ARGS);
    PyObject *start_obj = slot(self->at, frame, F_START), *end_obj = slot(self->at, frame, F_END);
    long long start_ns = get_time(start_obj), end_ns = get_time(end_obj);
    PyObject *exception = slot(self->at, frame, F_EXCEPTION);
    PyObject *suspended = slot(self->at, frame, F_SUSPENDED);
    PyObject *resumed = slot(self->at, frame, F_RESUMED);
    if (tag == NULL || name == NULL || file == NULL || line == NULL || start_ns < 0 ||
        end_ns < 0 || !(exception == Py_None || plain(exception)) ||
        !(suspended == Py_None || ft_latin1(suspended)) ||
        (resumed != Py_False && resumed != Py_True) || slot(self->at, frame, F_DURATION) == NULL ||
        slot(self->at, frame, F_DURATION) == Py_None || slot(self->at, frame, F_RETURNED) != Py_None ||
        !(args == Py_None ||
          (args != NULL && PyDict_CheckExact(args) && PyDict_GET_SIZE(args) == 0))) {
        return hand_over(self->closed, frame);
    }
    long long start = start_ns - self->origin;
    if (start < 0) {
        start = 0;
    }
    long long end = end_ns - self->origin;
    long long dur = (end > 0 ? end : 0) - start;
    if (dur < 0) {
        return hand_over(self->closed, frame); /* Python's floor division */
    }
    PyObject *key = PyTuple_Pack(4, tag, name, file, line);
    if (key == NULL) {
        return NULL;
    }
    PyObject *parts = PyDict_GetItemWithError(self->events, key);
    if (parts != NULL) {
        Py_INCREF(parts);
    }
    else if (!PyErr_Occurred()) {
        parts = ft_call1(self->parts, key);
    }
    Py_DECREF(key);
    if (parts == NULL) {
        return NULL;
    }
    PyObject *head, *tail, *run;
    if (!PyList_CheckExact(parts) || PyList_GET_SIZE(parts) != 3 ||
        !PyUnicode_CheckExact(head = PyList_GET_ITEM(parts, 0)) ||
        !PyUnicode_CheckExact(tail = PyList_GET_ITEM(parts, 1)) ||
        PyUnicode_KIND(head) != PyUnicode_1BYTE_KIND ||
        PyUnicode_KIND(tail) != PyUnicode_1BYTE_KIND ||
        !PyList_CheckExact(run = PyList_GET_ITEM(parts, 2)) || PyList_GET_SIZE(run) < 3 ||
        PyUnicode_GET_LENGTH(tail) < 2) {
        Py_DECREF(parts);
        return hand_over(self->closed, frame);
    }
    /* Taken. The event: head, start, ',"dur":', dur, tail; with _extra_args' text
     * (the exception, suspended, resumed) before the tail's closing "}}". */
    Py_ssize_t head_len = PyUnicode_GET_LENGTH(head), tail_len = PyUnicode_GET_LENGTH(tail);
    char buf[64];
    char *p = put_us(buf, start);
    memcpy(p, ",\"dur\":", 7);
    p = put_us(p + 7, dur);
    Py_ssize_t mid = p - buf;
    Py_ssize_t exc_len = exception != Py_None ? PyUnicode_GET_LENGTH(exception) : -1;
    Py_ssize_t susp_len = suspended != Py_None ? PyUnicode_GET_LENGTH(suspended) : -1;
    Py_ssize_t extra = (exc_len >= 0 ? exc_len + 15 : 0) + (susp_len >= 0 ? susp_len + 15 : 0) +
                       (resumed == Py_True ? 15 : 0);
    int ascii = PyUnicode_IS_ASCII(head) && PyUnicode_IS_ASCII(tail) &&
                (exc_len < 0 || PyUnicode_IS_ASCII(exception)) &&
                (susp_len < 0 || PyUnicode_IS_ASCII(suspended));
    PyObject *event = PyUnicode_New(head_len + mid + tail_len + extra, ascii ? 127 : 255);
    if (event == NULL) {
        Py_DECREF(parts);
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(event);
    memcpy(out, PyUnicode_1BYTE_DATA(head), (size_t)head_len);
    out += head_len;
    memcpy(out, buf, (size_t)mid);
    out += mid;
    memcpy(out, PyUnicode_1BYTE_DATA(tail), (size_t)(tail_len - 2));
    out += tail_len - 2;
    if (exc_len >= 0) {
        memcpy(out, ",\"exception\":\"", 14);
        memcpy(out + 14, PyUnicode_1BYTE_DATA(exception), (size_t)exc_len);
        out[14 + exc_len] = '"';
        out += 15 + exc_len;
    }
    if (susp_len >= 0) {
        memcpy(out, ",\"suspended\":\"", 14);
        memcpy(out + 14, PyUnicode_1BYTE_DATA(suspended), (size_t)susp_len);
        out[14 + susp_len] = '"';
        out += 15 + susp_len;
    }
    if (resumed == Py_True) {
        memcpy(out, ",\"resumed\":true", 15);
        out += 15;
    }
    memcpy(out, "}}", 2);
    /* Its run, and the flows waiting for it (which go before the event). */
    Py_INCREF(start_obj);
    Py_INCREF(end_obj);
    PyList_SetItem(run, 0, start_obj);
    PyList_SetItem(run, 1, end_obj);
    int waiting = PyObject_IsTrue(PyList_GET_ITEM(run, 2));
    if (waiting > 0) {
        PyObject *settle_args[2] = {run, tag};
        PyObject *result = PyObject_Vectorcall(self->settle, settle_args, 2, NULL);
        if (result == NULL) {
            waiting = -1;
        }
        Py_XDECREF(result);
    }
    Py_DECREF(parts);
    if (waiting < 0 || PyList_Append(self->pending, event) < 0) {
        Py_DECREF(event);
        return NULL;
    }
    Py_DECREF(event);
    if (PyList_GET_SIZE(self->pending) >= PENDING_MAX) {
        PyObject *result = PyObject_CallNoArgs(self->write);
        if (result == NULL) {
            return NULL;
        }
        Py_DECREF(result);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------ the type */

static int
Chrome_init(Chrome *self, PyObject *args, PyObject *kwargs)
{
    PyObject *writer, *frame;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Chrome(writer, Frame)");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OO!:Chrome", &writer, &PyType_Type, &frame)) {
        return -1;
    }
    if (ft_slot_offsets((PyTypeObject *)frame, "Chrome: Frame", frame_slots, N_FRAME, self->at) <
        0) {
        return -1;
    }
    PyObject *got[8];
    static const char *const names[8] = {"opened", "closed", "_parts", "_settle",
                                         "_write", "tracks", "events", "pending"};
    if (ft_attrs(writer, names, 8, got) < 0) {
        return -1;
    }
    if (!PyDict_CheckExact(got[5]) || !PyDict_CheckExact(got[6]) || !PyList_CheckExact(got[7])) {
        ft_release(got, 8);
        PyErr_SetString(PyExc_TypeError, "Chrome: the writer's tracks, events, pending");
        return -1;
    }
    Py_XSETREF(self->opened, got[0]);
    Py_XSETREF(self->closed, got[1]);
    Py_XSETREF(self->parts, got[2]);
    Py_XSETREF(self->settle, got[3]);
    Py_XSETREF(self->write, got[4]);
    Py_XSETREF(self->tracks, got[5]);
    Py_XSETREF(self->events, got[6]);
    Py_XSETREF(self->pending, got[7]);
    Py_XSETREF(self->frame, (PyTypeObject *)Py_NewRef(frame));
    Py_XSETREF(self->writer, Py_NewRef(writer));
    self->has_origin = 0;
    return 0;
}

static int
Chrome_traverse(Chrome *self, visitproc visit, void *arg)
{
    Py_VISIT(self->frame);
    Py_VISIT(self->writer);
    Py_VISIT(self->opened);
    Py_VISIT(self->closed);
    Py_VISIT(self->parts);
    Py_VISIT(self->settle);
    Py_VISIT(self->write);
    Py_VISIT(self->tracks);
    Py_VISIT(self->events);
    Py_VISIT(self->pending);
    return 0;
}

static int
Chrome_clear(Chrome *self)
{
    Py_CLEAR(self->frame);
    Py_CLEAR(self->writer);
    Py_CLEAR(self->opened);
    Py_CLEAR(self->closed);
    Py_CLEAR(self->parts);
    Py_CLEAR(self->settle);
    Py_CLEAR(self->write);
    Py_CLEAR(self->tracks);
    Py_CLEAR(self->events);
    Py_CLEAR(self->pending);
    return 0;
}

static void
Chrome_dealloc(Chrome *self)
{
    PyObject_GC_UnTrack(self);
    Chrome_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Chrome_methods[] = {
    {"opened", (PyCFunction)Chrome_opened, METH_O, "ChromeWriter.opened, for a known track."},
    {"closed", (PyCFunction)Chrome_closed, METH_O, "ChromeWriter.closed, for a plain return."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ChromeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace.export._timelinecode.Chrome",
    .tp_basicsize = sizeof(Chrome),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Chrome(writer, Frame): a chrome writer's common calls (see the module).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Chrome_init,
    .tp_dealloc = (destructor)Chrome_dealloc,
    .tp_traverse = (traverseproc)Chrome_traverse,
    .tp_clear = (inquiry)Chrome_clear,
    .tp_methods = Chrome_methods,
};

/* ------------------------------------------------------------ speedscope */

/* A _Profile's slots (speedscope.py). */
enum { P_LAST, P_PENDING, N_PROFILE };
static const char *const profile_slots[N_PROFILE] = {"last", "pending"};
#define SPEEDSCOPE_PENDING_MAX 4096 /* SpeedscopeWriter._event flushes there */

typedef struct {
    PyObject_HEAD
    PyTypeObject *frame, *profile;
    Py_ssize_t at[N_FRAME], profile_at[N_PROFILE];
    Py_ssize_t data_at; /* Frame.data */
    PyObject *opened, *closed, *make_frame, *flush; /* the writer's methods */
    PyObject *frames, *profiles;                   /* the writer's dicts */
    Py_ssize_t added; /* events added here since the last _flush */
} Speedscope;

/* _event(tag, event, at) for a tag with its profile: 1 done, 0 not taken, -1 error. */
static int
speedscope_event(Speedscope *self, PyObject *tag, PyObject *event, PyObject *at_obj)
{
    long long at = get_time(at_obj);
    if (at < 0 || !ft_latin1(event)) {
        return 0;
    }
    PyObject *profile = PyDict_GetItemWithError(self->profiles, tag);
    if (profile == NULL || Py_TYPE(profile) != self->profile) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject **last_slot = ft_slot_at(profile, self->profile_at[P_LAST]);
    PyObject *pending = *ft_slot_at(profile, self->profile_at[P_PENDING]);
    long long last = get_time(*last_slot);
    if (last < 0 || pending == NULL || !PyList_CheckExact(pending)) {
        return 0;
    }
    if (at < last) {
        at = last;
    }
    else {
        Py_INCREF(at_obj);
        Py_SETREF(*last_slot, at_obj);
    }
    Py_ssize_t n = ft_digit_count((unsigned long long)at);
    Py_ssize_t len = PyUnicode_GET_LENGTH(event);
    PyObject *text = PyUnicode_New(len + n + 1, PyUnicode_IS_ASCII(event) ? 127 : 255);
    if (text == NULL) {
        return -1;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    memcpy(out, PyUnicode_1BYTE_DATA(event), (size_t)len);
    ft_put_digits((char *)out + len, (unsigned long long)at);
    out[len + n] = '}';
    int failed = PyList_Append(pending, text);
    Py_DECREF(text);
    if (failed) {
        return -1;
    }
    if (++self->added >= SPEEDSCOPE_PENDING_MAX) {
        self->added = 0;
        PyObject *result = PyObject_CallNoArgs(self->flush);
        if (result == NULL) {
            return -1;
        }
        Py_DECREF(result);
    }
    return 1;
}

static PyObject *
Speedscope_opened(Speedscope *self, PyObject *frame)
{
    if (Py_TYPE(frame) != self->frame) {
        return hand_over(self->opened, frame);
    }
    PyObject *tag = slot(self->at, frame, F_TAG), *name = slot(self->at, frame, F_NAME);
    PyObject *file = slot(self->at, frame, F_FILE), *line = slot(self->at, frame, F_LINE);
    PyObject *start = slot(self->at, frame, F_START);
    if (tag == NULL || name == NULL || file == NULL || line == NULL || start == NULL ||
        get_time(start) < 0) {
        return hand_over(self->opened, frame);
    }
    int known = PyDict_Contains(self->profiles, tag);
    if (known <= 0) {
        return known < 0 ? NULL : hand_over(self->opened, frame);
    }
    PyObject *key = PyTuple_Pack(3, name, file, line);
    if (key == NULL) {
        return NULL;
    }
    PyObject *events = PyDict_GetItemWithError(self->frames, key);
    if (events != NULL) {
        Py_INCREF(events);
    }
    else if (!PyErr_Occurred()) {
        events = ft_call1(self->make_frame, key);
    }
    else {
        events = NULL;
    }
    Py_DECREF(key);
    if (events == NULL) {
        return NULL;
    }
    if (!PyTuple_CheckExact(events) || PyTuple_GET_SIZE(events) != 2 ||
        !ft_latin1(PyTuple_GET_ITEM(events, 0)) || !ft_latin1(PyTuple_GET_ITEM(events, 1))) {
        Py_DECREF(events);
        return hand_over(self->opened, frame);
    }
    PyObject **data = ft_slot_at(frame, self->data_at);
    Py_XSETREF(*data, Py_NewRef(PyTuple_GET_ITEM(events, 1)));
    int done = speedscope_event(self, tag, PyTuple_GET_ITEM(events, 0), start);
    Py_DECREF(events); /* frame.data holds its close event */
    if (done < 0) {
        return NULL;
    }
    if (done == 0) {
        return hand_over(self->opened, frame); /* nothing changed but frame.data: it does all */
    }
    Py_RETURN_NONE;
}

static PyObject *
Speedscope_closed(Speedscope *self, PyObject *frame)
{
    if (Py_TYPE(frame) == self->frame) {
        PyObject *tag = slot(self->at, frame, F_TAG), *end = slot(self->at, frame, F_END);
        PyObject *data = *ft_slot_at(frame, self->data_at);
        if (tag != NULL && end != NULL && data != NULL) {
            int done = speedscope_event(self, tag, data, end);
            if (done != 0) {
                return done < 0 ? NULL : Py_NewRef(Py_None);
            }
        }
    }
    return hand_over(self->closed, frame);
}

static int
Speedscope_init(Speedscope *self, PyObject *args, PyObject *kwargs)
{
    PyObject *writer, *frame, *profile;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Speedscope(writer, Frame, Profile)");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OO!O!:Speedscope", &writer, &PyType_Type, &frame,
                          &PyType_Type, &profile)) {
        return -1;
    }
    static const char *const data_slot[1] = {"data"};
    if (ft_slot_offsets((PyTypeObject *)frame, "Speedscope: Frame", frame_slots, N_FRAME,
                        self->at) < 0 ||
        ft_slot_offsets((PyTypeObject *)frame, "Speedscope: Frame", data_slot, 1,
                        &self->data_at) < 0 ||
        ft_slot_offsets((PyTypeObject *)profile, "Speedscope: _Profile", profile_slots,
                        N_PROFILE, self->profile_at) < 0) {
        return -1;
    }
    PyObject *got[6];
    static const char *const names[6] = {"opened", "closed", "_frame",
                                         "_flush", "frames", "profiles"};
    if (ft_attrs(writer, names, 6, got) < 0) {
        return -1;
    }
    if (!PyDict_CheckExact(got[4]) || !PyDict_CheckExact(got[5])) {
        ft_release(got, 6);
        PyErr_SetString(PyExc_TypeError, "Speedscope: the writer's frames, profiles");
        return -1;
    }
    Py_XSETREF(self->opened, got[0]);
    Py_XSETREF(self->closed, got[1]);
    Py_XSETREF(self->make_frame, got[2]);
    Py_XSETREF(self->flush, got[3]);
    Py_XSETREF(self->frames, got[4]);
    Py_XSETREF(self->profiles, got[5]);
    Py_XSETREF(self->frame, (PyTypeObject *)Py_NewRef(frame));
    Py_XSETREF(self->profile, (PyTypeObject *)Py_NewRef(profile));
    self->added = 0;
    return 0;
}

static int
Speedscope_traverse(Speedscope *self, visitproc visit, void *arg)
{
    Py_VISIT(self->frame);
    Py_VISIT(self->profile);
    Py_VISIT(self->opened);
    Py_VISIT(self->closed);
    Py_VISIT(self->make_frame);
    Py_VISIT(self->flush);
    Py_VISIT(self->frames);
    Py_VISIT(self->profiles);
    return 0;
}

static int
Speedscope_clear(Speedscope *self)
{
    Py_CLEAR(self->frame);
    Py_CLEAR(self->profile);
    Py_CLEAR(self->opened);
    Py_CLEAR(self->closed);
    Py_CLEAR(self->make_frame);
    Py_CLEAR(self->flush);
    Py_CLEAR(self->frames);
    Py_CLEAR(self->profiles);
    return 0;
}

static void
Speedscope_dealloc(Speedscope *self)
{
    PyObject_GC_UnTrack(self);
    Speedscope_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Speedscope_methods[] = {
    {"opened", (PyCFunction)Speedscope_opened, METH_O, "SpeedscopeWriter.opened."},
    {"closed", (PyCFunction)Speedscope_closed, METH_O, "SpeedscopeWriter.closed."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SpeedscopeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace.export._timelinecode.Speedscope",
    .tp_basicsize = sizeof(Speedscope),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Speedscope(writer, Frame, Profile): a speedscope writer's common calls.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Speedscope_init,
    .tp_dealloc = (destructor)Speedscope_dealloc,
    .tp_traverse = (traverseproc)Speedscope_traverse,
    .tp_clear = (inquiry)Speedscope_clear,
    .tp_methods = Speedscope_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "functrace.export._timelinecode",
    "The timeline exports' common calls (optional, compiled).", -1, NULL,
};

PyMODINIT_FUNC
PyInit__timelinecode(void)
{
    if (PyType_Ready(&ChromeType) < 0 || PyType_Ready(&SpeedscopeType) < 0) {
        return NULL;
    }
    if (s_origin == NULL && (s_origin = PyUnicode_InternFromString("origin")) == NULL) {
        return NULL;
    }
    static PyTypeObject *const types[] = {&ChromeType, &SpeedscopeType};
    static const char *const names[] = {"Chrome", "Speedscope"};
    return ft_module_ready(PyModule_Create(&module), API_VERSION, types, names, 2);
}
