/* functrace._runtime._speedups: recordings on the compiled path (journals).
 *
 * Not a module of its own: _speedups.c includes it (one translation unit), after
 * the helpers it uses (peek_slot, get_slot, slot offsets, call_type).
 *
 * While a recording is active (and nothing else is asked of the events than plain
 * text lines or none: engine.select_path), the fast way records the calls it
 * takes without making a record.Call per call: each context keeps a journal
 * (Context.journal, weakly: made at its first call of the session, held by the
 * session) of records in C memory
 * (the call's info and tag, its start and end, its parent, whether it resumed or
 * yielded), and the call's stack entry gets the journal as its node. The journal
 * is made into Calls by flush() (listeners.Session.build: when a recording is
 * read), attached to their parents and to the roots of the recordings whose
 * window holds their start (listeners.Window); by the Python path before it
 * gives a Call a parent in that context (so that children stay in start order);
 * and when the Python path ends one of its calls (call_for). A call still running when its journal is flushed keeps its Call
 * (the open list): its end is written into that Call then.
 *
 * A journal is its context's (its thread's or task's): only that thread appends
 * to it and ends its calls. Another thread may flush it (reading a recording):
 * without the GIL, a journal's own mutex is held for each change (uncontended
 * but for such a flush); with it, every function here runs without a Python
 * instruction in between (the collector is paused while Calls are made). */

#define J_RESUMED 1
#define J_YIELD 2
#define J_ANCHOR 4 /* the parent is parent.call (a Call), not a record */
#define J_SEEN 16  /* slots of the held-objects cache */

typedef struct {
    PyObject *info, *tag; /* borrowed: the journal holds them (held) */
    long long start, end; /* end -1: still running */
    union {
        Py_ssize_t index; /* the parent's record; -1: its parent is not recorded */
        PyObject *call;   /* J_ANCHOR: the parent's Call (held) */
    } parent;
    int flags;
} jrec;

typedef struct {
    PyObject *entry; /* its stack entry (a reference: identity only) */
    Py_ssize_t rec;  /* its record, or -1 */
    PyObject *call;  /* its Call once made (a reference), else NULL */
} jopen;

typedef struct {
    PyObject_HEAD
    PyObject *session;          /* weak reference to the listeners.Session */
    PyObject *held;             /* list: what records point at */
    PyObject *seen[J_SEEN];     /* held lately, so that each is held about once */
    jrec *recs;                 /* the calls not made into Calls yet, in start order */
    Py_ssize_t n, cap;
    jopen *open;                /* the calls running, innermost last */
    Py_ssize_t nopen, capopen;
    uint64_t gen;               /* the session's number (rec_gen) */
    PyObject *weakrefs;         /* Context.journal is a weak reference */
#ifdef Py_GIL_DISABLED
    PyMutex mutex;
    uint64_t fork_gen; /* fork_gen when the mutex was last known good */
#endif
} JournalObject;

static PyTypeObject journal_type;

/* The session the fast way journals into (listeners.Session), and its number;
 * rec_gen 0: not recording. Set by set_record. */
static PyObject *rec_session;
static uint64_t rec_gen, rec_sessions;
/* Lines are written on the fast way (else a recording is all that is wanted). */
static int write_lines = 1;
#ifdef Py_GIL_DISABLED
static PyMutex rec_mutex;   /* rec_session */
static PyMutex count_mutex; /* each Window.count */
static uint64_t fork_gen; /* one more in each child after fork() */
#define REC_GEN() _Py_atomic_load_uint64_relaxed(&rec_gen)
#else
#define REC_GEN() rec_gen
#endif

static PyObject *s_journals, *s_windows, *s_roots, *s_wstart, *s_wend, *s_count, *s_dirty;

static inline void
j_lock(JournalObject *j)
{
#ifdef Py_GIL_DISABLED
    /* A journal's mutex may have been held at a fork by a thread that is not in
     * the child: the first lock in the child starts it afresh. */
    uint64_t now = _Py_atomic_load_uint64_relaxed(&fork_gen);
    uint64_t was = _Py_atomic_load_uint64_relaxed(&j->fork_gen);
    if (was != now && _Py_atomic_compare_exchange_uint64(&j->fork_gen, &was, now)) {
        memset(&j->mutex, 0, sizeof(j->mutex));
    }
    PyMutex_Lock(&j->mutex);
#else
    (void)j;
#endif
}

static inline void
j_unlock(JournalObject *j)
{
#ifdef Py_GIL_DISABLED
    PyMutex_Unlock(&j->mutex);
#else
    (void)j;
#endif
}

/* Keep obj alive as long as the records that point at it (lock held). */
static inline int
j_hold(JournalObject *j, PyObject *obj)
{
    size_t slot = ((size_t)obj >> 4) % J_SEEN;
    if (j->seen[slot] == obj) {
        return 0;
    }
    if (PyList_Append(j->held, obj) < 0) {
        return -1;
    }
    j->seen[slot] = obj;
    return 0;
}

/* The open call of entry (lock held): its index, searched from the innermost;
 * -1 if none. */
static inline Py_ssize_t
j_find(JournalObject *j, PyObject *entry)
{
    for (Py_ssize_t k = j->nopen - 1; k >= 0; k--) {
        if (j->open[k].entry == entry) {
            return k;
        }
    }
    return -1;
}

/* Take the open calls from k up off the list (lock held): those above k are
 * calls whose entries left the stack without an end (see engine._resync). */
static void
j_pop_from(JournalObject *j, Py_ssize_t k, PyObject **keep_call)
{
    while (j->nopen > k) {
        jopen *o = &j->open[--j->nopen];
        if (keep_call != NULL && j->nopen == k) {
            *keep_call = o->call; /* the caller takes the reference */
        }
        else {
            Py_XDECREF(o->call);
        }
        Py_DECREF(o->entry);
    }
}

static JournalObject *
journal_new(uint64_t gen, PyObject *session)
{
    JournalObject *j = PyObject_GC_New(JournalObject, &journal_type);
    if (j == NULL) {
        return NULL;
    }
    j->session = NULL;
    j->held = NULL;
    memset(j->seen, 0, sizeof(j->seen));
    j->recs = NULL;
    j->n = j->cap = 0;
    j->open = NULL;
    j->nopen = j->capopen = 0;
    j->gen = gen;
    j->weakrefs = NULL;
#ifdef Py_GIL_DISABLED
    memset(&j->mutex, 0, sizeof(j->mutex));
    j->fork_gen = _Py_atomic_load_uint64_relaxed(&fork_gen);
#endif
    PyObject_GC_Track(j);
    j->held = PyList_New(0);
    j->session = j->held != NULL ? PyWeakref_NewRef(session, NULL) : NULL;
    if (j->session == NULL) {
        Py_DECREF(j);
        return NULL;
    }
    return j;
}

/* The referent of a weak reference (a new reference), or NULL (no error) if it
 * is gone or ref is not one. */
static PyObject *
weak_target(PyObject *ref)
{
    if (ref == NULL || !PyWeakref_Check(ref)) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *obj;
    if (PyWeakref_GetRef(ref, &obj) < 0) {
        PyErr_Clear();
        return NULL;
    }
    return obj;
#else
    PyObject *obj = PyWeakref_GetObject(ref);
    return obj == NULL || obj == Py_None ? NULL : Py_NewRef(obj);
#endif
}

/* The context's journal for the session being recorded (a new reference), made
 * and registered with the session at the context's first call of it; NULL with
 * no error if the recording ended meanwhile. The context holds it weakly (the
 * session strongly): once nobody can read a recording, its journals go. */
static JournalObject *
ctx_journal(PyObject *ctx)
{
    PyObject *have = weak_target(peek_slot(ctx, ctx_type, C_JOURNAL));
    uint64_t gen = REC_GEN();
    if (have != NULL && Py_TYPE(have) == &journal_type && ((JournalObject *)have)->gen == gen) {
        return (JournalObject *)have;
    }
    Py_XDECREF(have);
#ifdef Py_GIL_DISABLED
    PyMutex_Lock(&rec_mutex);
#endif
    PyObject *session = Py_XNewRef(rec_session);
    gen = rec_gen;
#ifdef Py_GIL_DISABLED
    PyMutex_Unlock(&rec_mutex);
#endif
    if (session == NULL) {
        return NULL;
    }
    JournalObject *j = journal_new(gen, session);
    PyObject *journals = j != NULL ? PyObject_GetAttr(session, s_journals) : NULL;
    PyObject *ref = journals != NULL ? PyWeakref_NewRef((PyObject *)j, NULL) : NULL;
    int err = ref == NULL || PyList_Append(journals, (PyObject *)j) < 0 ||
              PyObject_SetAttr(ctx, slot_str[C_JOURNAL], ref) < 0;
    Py_XDECREF(ref);
    Py_XDECREF(journals);
    Py_DECREF(session);
    if (err) {
        Py_XDECREF(j);
        return NULL;
    }
    return j;
}

static int j_flush(JournalObject *j);
static PyObject *j_call_for(JournalObject *j, PyObject *entry, int pop);

/* A call just pushed (entry, on top of stack) starts: record it in ctx's journal. */
static int
journal_enter(PyObject *ctx, PyObject *stack, PyObject *entry, PyObject *info, PyObject *tag,
              long long t, int resumed)
{
    JournalObject *j = ctx_journal(ctx); /* a reference, released below */
    if (j == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(stack);
    PyObject *pe = n >= 2 ? PyList_GET_ITEM(stack, n - 2) : NULL;
    PyObject *node = pe != NULL ? peek_slot(pe, entry_type, E_NODE) : NULL;
    PyObject *made = NULL; /* the parent's Call, made from another journal of this context */
    if (node != NULL && node != (PyObject *)j && Py_TYPE(node) == &journal_type) {
        made = j_call_for((JournalObject *)node, pe, 0); /* a session before this one */
        if (made == NULL && PyErr_Occurred()) {
            return -1;
        }
    }
    int err = -1;
    j_lock(j);
    if (j->n == j->cap || j->nopen == j->capopen) {
        Py_ssize_t cap = j->n == j->cap ? (j->cap ? 2 * j->cap : 256) : j->cap;
        Py_ssize_t capopen = j->nopen == j->capopen ? (j->capopen ? 2 * j->capopen : 32)
                                                    : j->capopen;
        jrec *recs = PyMem_RawRealloc(j->recs, (size_t)cap * sizeof(jrec));
        if (recs != NULL) {
            j->recs = recs;
            j->cap = cap;
        }
        jopen *open = PyMem_RawRealloc(j->open, (size_t)capopen * sizeof(jopen));
        if (open != NULL) {
            j->open = open;
            j->capopen = capopen;
        }
        if (recs == NULL || open == NULL) {
            PyErr_NoMemory();
            goto out;
        }
    }
    jrec *r = &j->recs[j->n];
    r->info = info;
    r->tag = tag;
    r->start = t;
    r->end = -1;
    r->flags = resumed ? J_RESUMED : 0;
    r->parent.index = -1;
    PyObject *anchor = made;
    if (node == (PyObject *)j) {
        Py_ssize_t k = j_find(j, pe);
        if (k >= 0) {
            j_pop_from(j, k + 1, NULL); /* calls above the parent that left unseen */
            if (j->open[k].rec >= 0) {
                r->parent.index = j->open[k].rec;
            }
            else {
                anchor = j->open[k].call; /* NULL: its journal was dropped */
            }
        }
    }
    else if (node != NULL && Py_TYPE(node) == call_type) {
        anchor = node; /* made by the Python path */
    }
    if (anchor != NULL) {
        if (j_hold(j, anchor) < 0) {
            goto out;
        }
        r->parent.call = anchor;
        r->flags |= J_ANCHOR;
    }
    if (j_hold(j, info) < 0 || j_hold(j, tag) < 0) {
        goto out;
    }
    j->open[j->nopen].entry = Py_NewRef(entry);
    j->open[j->nopen].rec = j->n;
    j->open[j->nopen].call = NULL;
    j->nopen++;
    j->n++;
    err = 0;
out:
    j_unlock(j);
    if (err == 0) {
        /* The entry is this thread's own and new: its node (None) is set in place. */
        PyObject **slot = (PyObject **)((char *)entry + slot_off[E_NODE]);
        PyObject *old = *slot;
        *slot = Py_NewRef((PyObject *)j);
        Py_XDECREF(old);
    }
    Py_DECREF(j);
    Py_XDECREF(made);
    return err;
}

/* The journaled call of entry ends at t (a return, or a yield). */
static int
journal_leave(JournalObject *j, PyObject *entry, long long t, int yielded)
{
    PyObject *call = NULL;
    Py_INCREF(j);
    j_lock(j);
    Py_ssize_t k = j_find(j, entry);
    if (k >= 0) {
        Py_ssize_t rec = j->open[k].rec;
        if (rec >= 0 && j->open[k].call == NULL) {
            j->recs[rec].end = t;
            if (yielded) {
                j->recs[rec].flags |= J_YIELD;
            }
        }
        j_pop_from(j, k, &call);
    }
    j_unlock(j);
    Py_DECREF(j);
    if (call == NULL) {
        return 0;
    }
    /* Made into a Call while it ran (its recording was read): the Call ends. */
    PyObject *t_obj = PyLong_FromLongLong(t);
    int err = t_obj == NULL || PyObject_SetAttr(call, s_end_ns, t_obj) < 0 ||
              (yielded && PyObject_SetAttr(call, s_suspended, s_yield) < 0);
    Py_XDECREF(t_obj);
    Py_DECREF(call);
    return err ? -1 : 0;
}

/* A Call of record r (with its parent), made slot by slot as record.Call's
 * __init__ would. */
static PyObject *
j_new_call(jrec *r, PyObject *parent)
{
    PyObject *call = call_type->tp_alloc(call_type, 0);
    if (call == NULL) {
        return NULL;
    }
#define CL_SET(i, v) (*(PyObject **)((char *)call + slot_off[i]) = (v))
    CL_SET(CL_NAME, get_slot(r->info, info_type, I_NAME));
    CL_SET(CL_FILE, get_slot(r->info, info_type, I_FILE));
    CL_SET(CL_LINE, get_slot(r->info, info_type, I_LINE));
    CL_SET(CL_TAG, Py_NewRef(r->tag));
    CL_SET(CL_START, PyLong_FromLongLong(r->start));
    CL_SET(CL_END, r->end >= 0 ? PyLong_FromLongLong(r->end) : Py_NewRef(Py_None));
    CL_SET(CL_EXCEPTION, Py_NewRef(Py_None));
    CL_SET(CL_SUSPENDED, Py_NewRef(r->flags & J_YIELD ? s_yield : Py_None));
    CL_SET(CL_RESUMED, Py_NewRef(r->flags & J_RESUMED ? Py_True : Py_False));
    CL_SET(CL_ARGS, Py_NewRef(Py_None));
    CL_SET(CL_RETURNED, Py_NewRef(Py_None));
    CL_SET(CL_CHILDREN, PyList_New(0));
    CL_SET(CL_PARENT, Py_NewRef(parent != NULL ? parent : Py_None));
    CL_SET(CL_ORIGIN, Py_NewRef(Py_None));
#undef CL_SET
    for (int i = CL_PARENT; i < N_SLOTS; i++) {
        if (*(PyObject **)((char *)call + slot_off[i]) == NULL) {
            Py_DECREF(call);
            return NULL;
        }
    }
    if (parent != NULL) {
        PyObject *children = peek_slot(parent, call_type, CL_CHILDREN);
        if (children == NULL || !PyList_CheckExact(children) || PyList_Append(children, call) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "functrace: a Call's children must be a list");
            }
            Py_DECREF(call);
            return NULL;
        }
    }
    return call;
}

/* One recording's window (listeners.Window), read before a flush. */
typedef struct {
    PyObject *window, *roots; /* references */
    long long start, end;
    PyObject *add; /* the roots this flush found for it */
    Py_ssize_t count;
} jwindow;

static void
j_windows_free(jwindow *w, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(w[i].window);
        Py_XDECREF(w[i].roots);
        Py_XDECREF(w[i].add);
    }
    PyMem_Free(w);
}

static int
as_ns(PyObject *v, long long none_is, long long *out)
{
    if (v == NULL) {
        return -1;
    }
    if (v == Py_None) {
        *out = none_is;
        Py_DECREF(v);
        return 0;
    }
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The windows of j's session (none once it is gone): *out, their number or -1. */
static Py_ssize_t
j_windows(JournalObject *j, jwindow **out)
{
    *out = NULL;
    PyObject *session;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyWeakref_GetRef(j->session, &session) < 0) {
        return -1;
    }
#else
    session = Py_XNewRef(PyWeakref_GetObject(j->session));
    if (session == Py_None) {
        Py_CLEAR(session);
    }
#endif
    if (session == NULL) {
        return 0; /* every recording of it is gone: nobody will read these */
    }
    PyObject *windows = PyObject_GetAttr(session, s_windows);
    Py_DECREF(session);
    PyObject *list = windows != NULL ? PySequence_List(windows) : NULL;
    Py_XDECREF(windows);
    if (list == NULL) {
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    jwindow *w = PyMem_Calloc(n ? (size_t)n : 1, sizeof(jwindow));
    if (w == NULL) {
        Py_DECREF(list);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        w[i].window = Py_NewRef(PyList_GET_ITEM(list, i));
        w[i].roots = PyObject_GetAttr(w[i].window, s_roots);
        w[i].add = PyList_New(0);
        if (w[i].roots == NULL || w[i].add == NULL || !PyList_Check(w[i].roots) ||
            as_ns(PyObject_GetAttr(w[i].window, s_wstart), 0, &w[i].start) < 0 ||
            as_ns(PyObject_GetAttr(w[i].window, s_wend), LLONG_MAX, &w[i].end) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "functrace: unexpected recording window");
            }
            Py_DECREF(list);
            j_windows_free(w, n);
            return -1;
        }
    }
    Py_DECREF(list);
    *out = w;
    return n;
}

/* Make every record of j a Call, in its place (see above). */
static int
j_flush(JournalObject *j)
{
    if (j->n == 0) {
        return 0; /* a read without the lock: an append since is the next flush's */
    }
    jwindow *w;
    Py_ssize_t nw = j_windows(j, &w);
    if (nw < 0) {
        return -1;
    }
    int err = 0;
    Py_INCREF(j);
    int gc_was = PyGC_Disable(); /* no finalizer (Python code) while Calls are made */
    j_lock(j);
    Py_ssize_t n = j->n;
    PyObject **calls = PyMem_Calloc(n ? (size_t)n : 1, sizeof(PyObject *));
    if (calls == NULL) {
        PyErr_NoMemory();
        err = -1;
    }
    for (Py_ssize_t i = 0; i < n && err == 0; i++) {
        jrec *r = &j->recs[i];
        PyObject *parent = r->flags & J_ANCHOR       ? r->parent.call
                           : r->parent.index >= 0 ? calls[r->parent.index]
                                                  : NULL;
        long long parent_start = 0;
        if (r->flags & J_ANCHOR) {
            PyObject *start = peek_slot(parent, call_type, CL_START);
            parent_start = start != NULL ? PyLong_AsLongLong(start) : 0;
            if (parent_start == -1 && PyErr_Occurred()) {
                err = -1;
                break;
            }
        }
        else if (parent != NULL) {
            parent_start = j->recs[r->parent.index].start;
        }
        PyObject *call = j_new_call(r, parent);
        if (call == NULL) {
            err = -1;
            break;
        }
        calls[i] = call;
        for (Py_ssize_t k = 0; k < nw; k++) {
            if (w[k].start <= r->start && r->start <= w[k].end) {
                w[k].count++; /* listeners.record_enter counts every call kept */
                if ((parent == NULL || parent_start < w[k].start) &&
                    PyList_Append(w[k].add, call) < 0) {
                    err = -1;
                }
            }
        }
    }
    /* The calls still running keep their Calls: their ends are written there. */
    for (Py_ssize_t k = 0; k < j->nopen; k++) {
        jopen *o = &j->open[k];
        if (o->rec >= 0) {
            o->call = err == 0 ? Py_XNewRef(calls[o->rec]) : NULL;
            o->rec = -1;
        }
    }
    j->n = 0;
    memset(j->seen, 0, sizeof(j->seen));
    PyObject *held = j->held;
    j->held = PyList_New(0);
    if (j->held == NULL) {
        j->held = held; /* keeps what it holds: the next flush clears it */
        held = NULL;
        err = -1;
    }
    j_unlock(j);
    Py_XDECREF(held);
    if (calls != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_XDECREF(calls[i]); /* each is held by its parent or a recording, else gone */
        }
        PyMem_Free(calls);
    }
    for (Py_ssize_t k = 0; k < nw && err == 0; k++) {
        Py_ssize_t added = PyList_GET_SIZE(w[k].add);
        if (added) {
            Py_ssize_t len = PyList_GET_SIZE(w[k].roots);
            if (PyList_SetSlice(w[k].roots, len, len, w[k].add) < 0 ||
                PyObject_SetAttr(w[k].window, s_dirty, Py_True) < 0) {
                err = -1;
            }
        }
        if (w[k].count && err == 0) {
            /* Journals of other threads may be flushed at the same time. */
#ifdef Py_GIL_DISABLED
            PyMutex_Lock(&count_mutex);
#endif
            PyObject *count = PyObject_GetAttr(w[k].window, s_count);
            PyObject *more = PyLong_FromSsize_t(w[k].count);
            PyObject *sum = count != NULL && more != NULL ? PyNumber_Add(count, more) : NULL;
            err = sum == NULL || PyObject_SetAttr(w[k].window, s_count, sum) < 0 ? -1 : 0;
#ifdef Py_GIL_DISABLED
            PyMutex_Unlock(&count_mutex);
#endif
            Py_XDECREF(count);
            Py_XDECREF(more);
            Py_XDECREF(sum);
        }
    }
    if (gc_was) {
        PyGC_Enable();
    }
    j_windows_free(w, nw);
    Py_DECREF(j);
    return err;
}

/* The Call of entry's call (made now if need be; a new reference), or NULL
 * with no error if j has none; pop: it ends, off the open list. */
static PyObject *
j_call_for(JournalObject *j, PyObject *entry, int pop)
{
    if (j_flush(j) < 0) {
        return NULL;
    }
    PyObject *call = NULL;
    Py_INCREF(j);
    j_lock(j);
    Py_ssize_t k = j_find(j, entry);
    if (k >= 0) {
        if (pop) {
            j_pop_from(j, k, &call);
        }
        else {
            call = Py_XNewRef(j->open[k].call);
        }
    }
    j_unlock(j);
    Py_DECREF(j);
    return call;
}

static PyObject *
journal_flush(PyObject *self, PyObject *unused)
{
    if (j_flush((JournalObject *)self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
journal_call_for(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "call_for(entry, pop)");
        return NULL;
    }
    int pop = PyObject_IsTrue(args[1]);
    if (pop < 0) {
        return NULL;
    }
    PyObject *call = j_call_for((JournalObject *)self, args[0], pop);
    if (call == NULL && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return call;
}

/* detach(stack): the entries of stack that this journal marks get their Calls
 * as nodes (the Python path takes over: it knows only Calls). */
static PyObject *
journal_detach(PyObject *self, PyObject *stack)
{
    JournalObject *j = (JournalObject *)self;
    if (!PyList_Check(stack)) {
        PyErr_SetString(PyExc_TypeError, "detach(stack)");
        return NULL;
    }
    PyObject *entries = PySequence_List(stack);
    if (entries == NULL) {
        return NULL;
    }
    int err = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries) && err == 0; i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        PyObject *node = PyObject_GetAttr(entry, slot_str[E_NODE]);
        if (node == NULL) {
            err = -1;
            break;
        }
        if (node == self) {
            PyObject *call = j_call_for(j, entry, 0);
            if (call == NULL && PyErr_Occurred()) {
                err = -1;
            }
            else if (PyObject_SetAttr(entry, slot_str[E_NODE], call ? call : Py_None) < 0) {
                err = -1;
            }
            Py_XDECREF(call);
        }
        Py_DECREF(node);
    }
    Py_DECREF(entries);
    if (err < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static Py_ssize_t
journal_len(PyObject *self)
{
    return ((JournalObject *)self)->n; /* pending records (a racy read without the GIL) */
}

static int
journal_traverse(PyObject *self, visitproc visit, void *arg)
{
    JournalObject *j = (JournalObject *)self;
    Py_VISIT(j->session);
    Py_VISIT(j->held);
    for (Py_ssize_t k = 0; k < j->nopen; k++) {
        Py_VISIT(j->open[k].entry);
        Py_VISIT(j->open[k].call);
    }
    return 0;
}

static int
journal_clear(PyObject *self)
{
    JournalObject *j = (JournalObject *)self;
    Py_CLEAR(j->session);
    j->n = 0;
    memset(j->seen, 0, sizeof(j->seen));
    Py_CLEAR(j->held);
    j_pop_from(j, 0, NULL);
    return 0;
}

static void
journal_dealloc(PyObject *self)
{
    JournalObject *j = (JournalObject *)self;
    PyObject_GC_UnTrack(self);
    if (j->weakrefs != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    journal_clear(self);
    PyMem_RawFree(j->recs);
    PyMem_RawFree(j->open);
    PyObject_GC_Del(self);
}

static PyMethodDef journal_methods[] = {
    {"flush", journal_flush, METH_NOARGS, "flush(): make every call recorded here a Call."},
    {"call_for", (PyCFunction)(void (*)(void))journal_call_for, METH_FASTCALL,
     "call_for(entry, pop): the Call of a running call recorded here (None if there is none)."},
    {"detach", journal_detach, METH_O,
     "detach(stack): the entries of stack marked by this journal get their Calls as nodes."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods journal_as_sequence = {
    .sq_length = journal_len,
};

static PyTypeObject journal_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace._runtime._speedups.Journal",
    .tp_basicsize = sizeof(JournalObject),
    .tp_dealloc = journal_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A context's calls recorded by the compiled path (see listeners.Session).",
    .tp_traverse = journal_traverse,
    .tp_clear = journal_clear,
    .tp_methods = journal_methods,
    .tp_as_sequence = &journal_as_sequence,
    .tp_weaklistoffset = offsetof(JournalObject, weakrefs),
};

/* set_record(session, lines): journal into session (a listeners.Session, or
 * None: not recording), writing lines on the fast way too or not. */
static PyObject *
sp_set_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "set_record(session, lines)");
        return NULL;
    }
    int lines = PyObject_IsTrue(args[1]);
    if (lines < 0) {
        return NULL;
    }
    PyObject *session = args[0] == Py_None ? NULL : args[0];
    PyObject *old = NULL;
#ifdef Py_GIL_DISABLED
    PyMutex_Lock(&rec_mutex);
#endif
    if (session != rec_session) {
        old = rec_session;
        rec_session = Py_XNewRef(session);
        uint64_t gen = session != NULL ? ++rec_sessions : 0;
#ifdef Py_GIL_DISABLED
        _Py_atomic_store_uint64_relaxed(&rec_gen, gen);
#else
        rec_gen = gen;
#endif
    }
#ifdef Py_GIL_DISABLED
    PyMutex_Unlock(&rec_mutex);
#endif
    Py_XDECREF(old);
    write_lines = session == NULL || lines;
    Py_RETURN_NONE;
}
