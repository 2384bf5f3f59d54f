/* functrace._runtime._speedups: the compiled implementation of the event contract
 * (engine.enter / engine.leave are the other, in Python).
 *
 * Optional: setup.py builds it when a compiler is there, and the engine uses its
 * Python event path when it is missing or FUNCTRACE_SPEEDUPS=0. The effects
 * are exactly those of the Python functions: for a nested plain call, append
 * an Entry(info, t, written=True) to the context's stack and one enter line to
 * output.buffer; on its return, raise or plain generator's yield pop it and
 * append one exit line; text or jsonl lines, none past FUNCTRACE_MAX_DEPTH.
 * Everything else (outermost calls, async code, other suspensions, filters,
 * recordings, mismatched stacks, anything of an unexpected shape) is handed to
 * the general engine.enter / engine.leave, looked up at call time. A RecursionError drops the event; any
 * other Exception goes to engine._internal_error and never reaches the program.
 *
 * Lines go to output.buffer as UTF-8 bytes: consecutive lines share one
 * bytearray chunk (the last item of the buffer while it is being filled), which
 * saves a str object per line and the UTF-8 encoding at flush time. output.flush
 * writes str lines and chunks in buffer order. A text that cannot be UTF-8
 * encoded (a lone surrogate) goes in as a str line, as the Python path does.
 *
 * Python state comes from init(engine, output). Context and CodeInfo use
 * __slots__: their slots are read at the offsets their member descriptors
 * give (checked at init, with plain getattr for anything else).
 *
 * With FUNCTRACE_ARGS and text lines, the same fast way writes the arguments and
 * the value returned or yielded (see "argument and return values" below).
 *
 * Two sets of entry points:
 *   enter(resumed, code, offset=0, exc=None, given=None),
 *   leave(kind, code, offset=0, arg=None)
 *       the engine's signatures (engine.current; the 3.10/3.11 wrappers call them,
 *       handing over their arguments as given when values are wanted);
 *   py_start, py_resume, py_throw, py_return, py_yield, py_unwind
 *       sys.monitoring's callback signatures, with the kind bound in C (3.12+);
 * and the Probe type (3.10/3.11): the context manager a traced plain function's
 * own code enters (see probe.py), whose __enter__ and __exit__ are enter/leave.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#endif

#define API_VERSION 16

#if defined(_MSC_VER) && !defined(__clang__)
#define THREAD_LOCAL __declspec(thread)
#define FT_NO_INLINE __declspec(noinline)
#else
#define THREAD_LOCAL _Thread_local
#define FT_NO_INLINE __attribute__((noinline))
#endif

/* Free-threaded builds (3.13t+): no chunk is shared and filled in place (filling
 * one from several threads tore lines). Each thread queues its lines in a buffer
 * of its own (see lines_reserve): one shared list append per 64 KB instead of one
 * per line, so threads do not serialise on the output (bench/bench_threads.py:
 * traced 2-thread speedup 0.94x with a bytes object per line, 1.76x with these).
 * Built with -DFUNCTRACE_NO_THREAD_LINES, each line is a bytes object appended
 * to the buffer instead (list.append is thread-safe there). With the GIL, each
 * entry point is atomic already, and consecutive lines share a chunk. */
#if defined(Py_GIL_DISABLED) && !defined(_WIN32) && !defined(FUNCTRACE_NO_THREAD_LINES)
/* Ordering holds while every line the engine queues goes through put()
 * (engine.py takes its own fast branch only when this module is not in use).
 * A forked child hung once with these on, under load (tests/runtime/
 * test_host_safety.py::test_fork_while_another_thread_writes_never_hangs_the_child);
 * the cause found since was a lazy import inside an event, not these buffers
 * (110 runs of the fork tests on 3.13t under load since: no hang). */
#define TL_LINES 1
#include <pthread.h>
#endif

/* ------------------------------------------------------------ state from init() */

static PyObject *engine_mod;  /* functrace._runtime.engine */
static PyObject *infos;       /* engine.infos: id(code) -> CodeInfo */
static PyObject *tls;         /* engine._tls (threading.local) */
static PyObject *buffer;      /* output.buffer */
static PyObject *output_dict; /* vars(output): next_flush_ns, flush */
static PyTypeObject *info_type, *ctx_type, *entry_type, *call_type; /* state.py's, record.Call */
static PyObject *kind_obj[3]; /* engine.RETURN, engine.UNWIND, engine.SUSPEND */
static PyObject *zero;        /* the default offset */
static PyObject *chunk;       /* the bytearray being filled, while it is buffer[-1] */
static int chunk_filled;      /* a chunk is full: flush now, keeping memory in cache */
#ifdef Py_GIL_DISABLED
static int flushing; /* a thread is in maybe_flush's flush */
#define CHUNK_FILLED() _Py_atomic_load_int_relaxed(&chunk_filled)
#define SET_CHUNK_FILLED(v) _Py_atomic_store_int_relaxed(&chunk_filled, (v))
#else
#define CHUNK_FILLED() chunk_filled
#define SET_CHUNK_FILLED(v) (chunk_filled = (v))
#endif
/* output.next_flush_ns as last read. A flush only moves it later, except when
 * output.configure shortens the interval, and engine.configure calls init()
 * then; so the module's value needs reading only once this one is reached. */
static long long next_flush = LLONG_MIN;

#define CHUNK_SIZE (1 << 16)
#define CHUNK_START 256 /* a chunk's first allocation; it doubles up to CHUNK_SIZE */

/* id(code) -> CodeInfo remembered per code object, direct-mapped. The engine
 * drops an entry of engine.infos when its code object dies (before the address
 * can be reused) and then calls forget(); the cache is also dropped whenever
 * len(infos) changes. */
#define CACHE_SIZE 256
static struct {
    PyObject *code; /* borrowed: kept alive by the info */
    PyObject *info;
} info_cache[CACHE_SIZE];
static Py_ssize_t info_cache_len = -1;

static void
clear_info_cache(void)
{
    for (int i = 0; i < CACHE_SIZE; i++) {
        info_cache[i].code = NULL;
        Py_CLEAR(info_cache[i].info);
    }
}

enum { K_RETURN, K_UNWIND, K_SUSPEND };

/* Slots read in place: CodeInfo's (I_*), Context's (C_*) and Entry's (E_*), all
 * of state.py, and record.Call's (CL_*, made here from a journal). */
enum {
    I_IS_ASYNC, I_ENTER, I_RESUME, I_EXIT, I_SUSPEND, I_JSON, I_NAME, I_FILE, I_LINE,
    C_STACK, C_TAG, C_BUSY, C_LOST, C_JSON, C_JOURNAL, C_BASE, C_DUE, C_NAMED, C_NAME, C_OWNER,
    E_INFO, E_START, E_NODE, E_WRITTEN, E_TOKENS, E_ARGS,
    CL_PARENT, CL_ARGS, CL_CHILDREN, CL_END, CL_EXCEPTION, CL_FILE, CL_LINE, CL_NAME,
    CL_ORIGIN, CL_RESUMED, CL_RETURNED, CL_START, CL_SUSPENDED, CL_TAG,
    N_SLOTS
};
static const char *slot_names[N_SLOTS] = {
    "is_async", "enter_text", "resume_text", "exit_text", "suspend_word", "json_head", "name",
    "file", "line",
    "stack", "tag", "busy", "lost", "json_head", "journal", "base", "due", "named", "name", "owner",
    "info", "start", "node", "written", "tokens", "args",
    "_parent", "args", "children", "end_ns", "exception", "file", "line", "name",
    "origin", "resumed", "returned", "start_ns", "suspended", "tag",
};
/* Plain text lines only (engine.select_path): the fast way; else every event
 * goes to engine.enter / engine.leave. */
static int plain = 1;
static PyObject *async_yield; /* engine.ASYNC_YIELD */
static PyObject *no_value;    /* engine.NO_VALUE: a probe's return (its value unseen) */
static PyObject *slot_str[N_SLOTS];
static Py_ssize_t slot_off[N_SLOTS]; /* -1: read with getattr */

static PyObject *s_cur, *s_next_flush_ns, *s_flush, *s_enter, *s_leave, *s_internal_error,
    *s_end_ns, *s_suspended, *s_yield, *s_generation, *s_flush_outermost, *s_asyncio,
    *s_get_running_loop, *s_name;

static int initialized = 0;

/* CPython internals this module still relies on, each where no public API does
 * the same at this cost (checked on 3.10-3.13 and the free-threaded 3.13t):
 * - _PyTime_GetPerfCounter before 3.13 (3.13+: the public PyTime_PerfCounterRaw):
 *   time.perf_counter_ns()'s clock without creating an int per event.
 * - PyMemberDescrObject (slot_offset): the byte offset of a __slots__ member of
 *   Context and CodeInfo, read once at init(), so that each event reads a slot in
 *   place; if the layout ever differs, the offset is -1 and getattr is used.
 * - PyByteArrayObject's ob_start / ob_bytes / ob_exports (chunk_reserve): a chunk
 *   of lines filled in place; only when ob_exports is 0 (no buffer view open).
 * - PyHeapTypeObject's ht_qualname and a heap type's tp_dict (class_name): a class's
 *   name as type's own __qualname__ / __module__ descriptors give it, for values.
 * Free-threaded builds only (Py_GIL_DISABLED), where no public API exists yet:
 * - _Py_IsOwnedByCurrentThread (pin_info): whether this thread owns an object
 *   (biased reference counting), i.e. whether a dict lookup of it stays lock-free.
 * - _Py_atomic_* (cpython/pyatomic.h): loads, stores and compare-and-swaps on the
 *   flags and generation counters threads share; CPython's own, so the same on
 *   every compiler it supports (C11 <stdatomic.h> is not, on older MSVC).
 * PyErr_Fetch is used before 3.12 only (PyErr_GetRaisedException from 3.12).
 * Argument values (FUNCTRACE_ARGS) come from the wrapper that hands them over
 * (3.10/3.11), or are read with public API only: PyEval_GetFrame, PyFrame_GetVar
 * (3.12+), the frame's f_locals (3.10/3.11). */

/* ------------------------------------------------------------ helpers */

/* ------------------------------------------------------------ the clock
 *
 * Every event reads time.perf_counter_ns()'s clock (CLOCK_MONOTONIC on Linux),
 * and an enter and its exit read it twice per call, as cProfile does. Through
 * the vDSO that read costs ~25 ns here (KVM, TSC clock source: the kernel reads
 * the TSC behind a fence and scales it); the TSC read alone ~10 ns. Where the
 * kernel's own clock source is the TSC (it then vouches that every CPU's counts
 * agree) and the CPU says it never stops or changes rate, this module scales the
 * TSC itself to that clock: each read is the last anchor (a CLOCK_MONOTONIC
 * read and the TSC count at its middle) plus the ticks since, at the rate
 * measured from the first anchor (the longer the base, the closer), with a new
 * anchor after a sixteenth of that base, at most ~0.1 s: the kernel's own rate
 * corrections (NTP) are followed within a tenth of a second. An anchor far
 * from where the scale put it (a suspended machine, a changed rate) starts the
 * measuring anew. Measured here: every read between two perf_counter_ns()
 * around it; tests/runtime/test_speedups.py checks 1 us. It never goes back (a
 * new anchor behind the last time given holds that time). Python's reads (the
 * engine, perf_counter_ns) and these are the same clock within that.
 * Only with the GIL (one reader at a time: the anchor is plain memory), on
 * x86-64 Linux; -DFUNCTRACE_NO_TSC builds without it. Else the Python API. */
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(Py_GIL_DISABLED) && !defined(FUNCTRACE_NO_TSC)
#define TSC_CLOCK 1
#include <cpuid.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

#define TSC_SPAN_MAX (1ULL << 28)       /* ticks: ~0.1 s at 2.6 GHz */
#define TSC_FIRST_SCALE_NS 10000000LL   /* the first rate: over 10 ms of kernel reads */
#define TSC_PAIR_MAX 2000               /* ticks: a pair taken over longer (an interrupt) is no anchor */
#define TSC_OFF_MAX 20000LL             /* ns: an anchor this far from the scale's time starts anew */
static int tsc_state;                    /* 0: off, 1: measuring its first rate, 2: on */
static uint64_t tsc_origin;              /* the first anchor: the rate is measured from it */
static long long tsc_origin_ns;
static uint64_t tsc_base;                /* the last anchor: a TSC count ... */
static long long tsc_base_ns;            /* ... and CLOCK_MONOTONIC then */
static uint64_t tsc_mult;                /* ns per tick, << 32 */
static uint64_t tsc_span = TSC_SPAN_MAX; /* ticks until the next anchor */
static long long tsc_last;               /* the last time given */

/* The TSC may stand for the clock: the CPU's invariant TSC (CPUID 0x80000007
 * EDX bit 8) and the kernel's clock source "tsc". */
static int
tsc_usable(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007 ||
        !__get_cpuid(0x80000007, &a, &b, &c, &d) || !(d & (1u << 8))) {
        return 0;
    }
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == NULL) {
        return 0;
    }
    char name[16] = {0};
    int ok = fgets(name, sizeof(name), f) != NULL && strcmp(name, "tsc\n") == 0;
    fclose(f);
    return ok;
}

/* A CLOCK_MONOTONIC read and the TSC count at that moment (the middle of two
 * reads around it; the closest of a few tries): 1, or 0 if every try was
 * interrupted (no anchor to be had now), -1 if the clock failed. */
static int
tsc_pair(uint64_t *tsc, long long *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 4; i++) {
        struct timespec ts;
        uint64_t before = __rdtsc();
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
            return -1;
        }
        uint64_t took = __rdtsc() - before;
        if (took < best) {
            best = took;
            *tsc = before + took / 2;
            *ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        }
    }
    return best <= TSC_PAIR_MAX;
}

static void
tsc_start(void)
{
    tsc_state = 0;
    if (tsc_usable() && tsc_pair(&tsc_origin, &tsc_origin_ns) == 1) {
        tsc_base = tsc_origin;
        tsc_base_ns = tsc_last = tsc_origin_ns;
        tsc_state = 1;
    }
}

/* A new anchor (tsc_span ticks since the last, or the rate not known yet): the
 * time from the kernel; the TSC's rate since the first anchor (the longer the
 * base, the closer), the next anchor within a sixteenth of it: the drift
 * between two anchors stays a fraction of one pair's uncertainty. */
static FT_NO_INLINE long long
tsc_anchor(void)
{
    uint64_t tsc = 0;
    long long ns = 0;
    if (tsc_state == 1) {
        /* its rate not known yet: the kernel's time until 10 ms have passed */
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
            tsc_state = 0;
            return -1;
        }
        ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        if (ns - tsc_origin_ns < TSC_FIRST_SCALE_NS) {
            if (ns < tsc_last) {
                ns = tsc_last;
            }
            return tsc_last = ns;
        }
    }
    int r = tsc_pair(&tsc, &ns);
    if (r < 0) {
        tsc_state = 0;
        return -1;
    }
    if (r == 1 && tsc_state == 2 && tsc > tsc_base) {
        /* Where the scale put this moment, against the kernel: far off (the
         * machine was suspended, the TSC's rate changed), measure it anew. */
        unsigned __int128 ticks = (unsigned __int128)(tsc - tsc_base) * tsc_mult;
        long long off = tsc_base_ns + (long long)(ticks >> 32) - ns;
        if (off > TSC_OFF_MAX || off < -TSC_OFF_MAX) {
            tsc_origin = tsc_base = tsc;
            tsc_origin_ns = tsc_base_ns = ns;
            tsc_state = 1;
        }
    }
    long long dn = ns - tsc_origin_ns;
    if (r == 1 && tsc > tsc_origin && dn >= TSC_FIRST_SCALE_NS) {
        uint64_t dt = tsc - tsc_origin;
        unsigned __int128 mult = ((unsigned __int128)dn << 32) / dt;
        if (mult == 0 || mult >= ((unsigned __int128)1 << 35)) {
            tsc_state = 0; /* a TSC slower than ~125 MHz, or not counting: the kernel's clock */
        }
        else {
            tsc_mult = (uint64_t)mult;
            tsc_base = tsc;
            tsc_base_ns = ns;
            tsc_span = dt / 16 < TSC_SPAN_MAX ? dt / 16 : TSC_SPAN_MAX;
            tsc_state = 2;
        }
    }
    else if (r == 1 && tsc <= tsc_origin) {
        tsc_state = 0; /* the TSC went back: not one clock across CPUs after all */
    }
    if (ns < tsc_last) {
        ns = tsc_last;
    }
    tsc_last = ns;
    return ns;
}
#endif

static inline int
now_ns(long long *t)
{
#ifdef TSC_CLOCK
    if (tsc_state == 2) {
        uint64_t dt = __rdtsc() - tsc_base;
        if (dt < tsc_span) {
            long long ns = tsc_base_ns + (long long)((dt * tsc_mult) >> 32);
            if (ns < tsc_last) {
                ns = tsc_last; /* a new anchor put the clock back a little: never go back */
            }
            *t = tsc_last = ns;
            return 0;
        }
    }
    if (tsc_state != 0) {
        long long ns = tsc_anchor();
        if (ns >= 0) {
            *t = ns;
            return 0;
        }
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    PyTime_t v;
    if (PyTime_PerfCounterRaw(&v) < 0) {
        return -1;
    }
    *t = (long long)v;
#else
    *t = (long long)_PyTime_GetPerfCounter(); /* time.perf_counter_ns()'s clock */
#endif
    return 0;
}

/* The entries this module makes: state.Entry with the start kept in C (see
 * "stack entries"); its slots are state.Entry's, at the same offsets. */
static PyTypeObject *centry_type;

/* obj is exactly tp, or this module's entry type where state.Entry is asked for. */
#define IS_EXACTLY(obj, tp) \
    (Py_TYPE(obj) == (tp) || ((tp) == entry_type && Py_TYPE(obj) == centry_type))

/* A slot of obj (new reference), read in place when obj is exactly tp. */
static inline PyObject *
get_slot(PyObject *obj, PyTypeObject *tp, int i)
{
    if (IS_EXACTLY(obj, tp) && slot_off[i] >= 0) {
        PyObject *v = *(PyObject **)((char *)obj + slot_off[i]);
        if (v != NULL) {
            return Py_NewRef(v);
        }
        PyErr_SetObject(PyExc_AttributeError, slot_str[i]);
        return NULL;
    }
    return PyObject_GetAttr(obj, slot_str[i]);
}

#ifdef Py_GIL_DISABLED
/* Without the GIL each thread keeps its own cache, of borrowed references: a
 * lookup in engine.infos (a dict shared by every thread, keyed by a new int)
 * and a reference taken on a CodeInfo that every thread uses would make the
 * threads contend on every event. A cached info is valid while its code object
 * lives (the code object of an event is alive: its frame runs), and the engine
 * calls forget() when a traced code object dies: that bumps cache_gen, which
 * every thread checks (one read of memory nobody writes in between) before
 * using its cache. init() bumps it too. */
#define TL_CACHE_SIZE 64
static THREAD_LOCAL struct {
    PyObject *code;
    PyObject *info;
} tl_cache[TL_CACHE_SIZE];
static THREAD_LOCAL uint64_t tl_cache_gen; /* 0: never filled */
static uint64_t cache_gen = 1;

static void
bump_cache_gen(void)
{
    _Py_atomic_add_uint64(&cache_gen, 1);
}

/* Pins. A lookup in a dict from a thread that does not own the entry's key and
 * value (made by another thread, never referenced by a third) cannot take its
 * references without the dict's lock; dict.get, which holds that lock already,
 * then waits on itself until the thread sleeps (3.13t), for milliseconds. The
 * engine's own events (an outermost call's enter and leave: infos.get) hit that
 * in every thread but the one that registered the code. A reference held from
 * another thread (a pin) marks the key and the CodeInfo shared, and those
 * lookups stay lock-free. pins: CodeInfo -> its key in engine.infos, filled by
 * threads that own neither; forget() drops the pins of codes gone. */
static PyObject *pins; /* made by PyInit */
/* Taken with a compare-and-swap, never waited for: a collection that runs
 * forget() (a code object died) may start inside pin_info's own calls. */
static int pins_busy;
static int pins_stale; /* forget() found pins_busy: drop the gone ones next time */

static int
pins_try_lock(void)
{
    int idle = 0;
    return _Py_atomic_compare_exchange_int(&pins_busy, &idle, 1);
}

/* Drop the pins whose code is gone (its key no longer finds that info); pins held. */
static void
unpin_gone_locked(void)
{
    PyObject *gone = PyList_New(0);
    if (gone == NULL) {
        return;
    }
    PyObject *info, *key;
    Py_ssize_t pos = 0;
    Py_BEGIN_CRITICAL_SECTION(pins);
    while (PyDict_Next(pins, &pos, &info, &key)) {
        PyObject *now = NULL;
        if (PyDict_GetItemRef(infos, key, &now) >= 0 && now != info) {
            (void)PyList_Append(gone, info);
        }
        Py_XDECREF(now);
    }
    Py_END_CRITICAL_SECTION();
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(gone); i++) {
        (void)PyDict_DelItem(pins, PyList_GET_ITEM(gone, i));
    }
    Py_DECREF(gone);
    _Py_atomic_store_int_relaxed(&pins_stale, 0);
}

static void
pin_info(PyObject *info)
{
    if (_Py_IsOwnedByCurrentThread(info) || infos == NULL || pins == NULL) {
        return; /* this thread's references would not mark it shared */
    }
    if (!pins_try_lock()) {
        return; /* another thread pins: this one is done next time */
    }
    PyObject *exc = PyErr_GetRaisedException();
    if (_Py_atomic_load_int_relaxed(&pins_stale)) {
        unpin_gone_locked();
    }
    if (PyDict_Contains(pins, info) == 0) {
        PyObject *key = NULL, *k, *v;
        Py_ssize_t pos = 0;
        Py_BEGIN_CRITICAL_SECTION(infos);
        while (PyDict_Next(infos, &pos, &k, &v)) {
            if (v == info) {
                key = Py_NewRef(k);
                break;
            }
        }
        Py_END_CRITICAL_SECTION();
        if (key != NULL && !_Py_IsOwnedByCurrentThread(key)) {
            (void)PyDict_SetItem(pins, info, key);
        }
        Py_XDECREF(key);
    }
    PyErr_Clear(); /* only a speed-up */
    PyErr_SetRaisedException(exc);
    _Py_atomic_store_int_release(&pins_busy, 0);
}

/* forget(): drop the pins of codes gone, now or at the next pin_info. */
static void
unpin_gone(void)
{
    if (pins == NULL || infos == NULL) {
        return;
    }
    _Py_atomic_store_int_relaxed(&pins_stale, 1);
    if (!pins_try_lock()) {
        return;
    }
    PyObject *exc = PyErr_GetRaisedException();
    unpin_gone_locked();
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    _Py_atomic_store_int_release(&pins_busy, 0);
}
#endif

/* The CodeInfo of code: 1 and a reference, 0 if code is not traced, -1 on error.
 * With the GIL the reference is a new one (release it with INFO_RELEASE); without
 * it, borrowed (see tl_cache). */
#ifdef Py_GIL_DISABLED
#define INFO_RELEASE(info) ((void)(info))
#else
#define INFO_RELEASE(info) Py_XDECREF(info)
#endif

static inline int
lookup_info(PyObject *code, PyObject **out)
{
    *out = NULL;
#ifdef Py_GIL_DISABLED
    size_t slot = ((size_t)code >> 4) % TL_CACHE_SIZE;
    uint64_t gen = _Py_atomic_load_uint64_acquire(&cache_gen);
    if (tl_cache_gen != gen) {
        memset(tl_cache, 0, sizeof(tl_cache));
        tl_cache_gen = gen;
    }
    else if (tl_cache[slot].code == code) {
        *out = tl_cache[slot].info;
        return 1;
    }
#else
    size_t slot = ((size_t)code >> 4) % CACHE_SIZE;
    if (info_cache_len == PyDict_GET_SIZE(infos)) {
        if (info_cache[slot].code == code) {
            *out = Py_NewRef(info_cache[slot].info);
            return 1;
        }
    }
    else {
        clear_info_cache();
        info_cache_len = PyDict_GET_SIZE(infos);
    }
#endif
    PyObject *key = PyLong_FromVoidPtr(code); /* id(code) */
    if (key == NULL) {
        return -1;
    }
    PyObject *info;
#if PY_VERSION_HEX >= 0x030D0000
    int found = PyDict_GetItemRef(infos, key, &info);
    Py_DECREF(key);
    if (found <= 0) {
        return found;
    }
#else
    info = PyDict_GetItemWithError(infos, key);
    Py_DECREF(key);
    if (info == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_INCREF(info);
#endif
#ifdef Py_GIL_DISABLED
    /* engine.infos keeps it while the code object lives. Only a cache filled
     * under the generation read above may keep it: a forget() since then
     * (another code object died) leaves this lookup uncached. */
    if (_Py_atomic_load_uint64_acquire(&cache_gen) == gen) {
        tl_cache[slot].code = code;
        tl_cache[slot].info = info;
    }
    pin_info(info);
    Py_DECREF(info);
#else
    info_cache[slot].code = code;
    Py_XSETREF(info_cache[slot].info, Py_NewRef(info));
#endif
    *out = info;
    return 1;
}

/* Context.busy: the Python path is between changing this context's stack and
 * writing its line, and Python ran a signal handler or a finalizer in between:
 * its calls are not traced at all (1), rather than at a wrong depth. */
/* A slot of obj, borrowed, when obj is exactly tp and the slot is set; else NULL
 * (then read it with get_slot). For the checks made on every event. */
static inline PyObject *
peek_slot(PyObject *obj, PyTypeObject *tp, int i)
{
    if (IS_EXACTLY(obj, tp) && slot_off[i] >= 0) {
        return *(PyObject **)((char *)obj + slot_off[i]);
    }
    return NULL;
}

/* A CodeInfo's line text, and a Context's tag: set once, when the object is made,
 * and never changed, so read in place (borrowed: the info and the context are
 * held for the whole event) without touching their reference counts, which
 * every thread would share. Read with getattr (a new reference, left in *owned
 * for the caller to release) when the object is of an unexpected shape. */
static inline PyObject *
info_text(PyObject *info, int i, PyObject **owned)
{
    PyObject *v = peek_slot(info, info_type, i);
    return v != NULL ? v : (*owned = get_slot(info, info_type, i));
}

static inline PyObject *
ctx_tag(PyObject *ctx, PyObject **owned)
{
    PyObject *v = peek_slot(ctx, ctx_type, C_TAG);
    return v != NULL ? v : (*owned = get_slot(ctx, ctx_type, C_TAG));
}

static inline int
context_busy(PyObject *ctx)
{
    PyObject *peek = peek_slot(ctx, ctx_type, C_BUSY);
    if (peek == Py_False) {
        return 0;
    }
    PyObject *busy = get_slot(ctx, ctx_type, C_BUSY);
    if (busy == NULL) {
        return -1;
    }
    int r = busy == Py_True ? 1 : busy == Py_False ? 0 : PyObject_IsTrue(busy);
    Py_DECREF(busy);
    return r;
}

/* Context.lost is not empty: ends the engine must write before anything else. */
static inline int
context_has_lost(PyObject *ctx)
{
    PyObject *peek = peek_slot(ctx, ctx_type, C_LOST);
    if (peek != NULL && PyList_CheckExact(peek)) {
        return PyList_GET_SIZE(peek) > 0;
    }
    PyObject *lost = get_slot(ctx, ctx_type, C_LOST);
    if (lost == NULL) {
        return -1;
    }
    int r = PyList_CheckExact(lost) ? PyList_GET_SIZE(lost) > 0 : PyObject_IsTrue(lost);
    Py_DECREF(lost);
    return r;
}

/* Where an event of ctx goes: the fast way, nowhere (the context is busy: see
 * context_busy), or to the engine (ends are waiting to be written, or more than
 * plain text lines are wanted); -1 on error. */
enum { ROUTE_FAST, ROUTE_SKIP, ROUTE_ENGINE };

static inline int
route(PyObject *ctx)
{
    int r = context_busy(ctx);
    if (r != 0) {
        return r < 0 ? -1 : ROUTE_SKIP;
    }
    r = context_has_lost(ctx);
    if (r < 0) {
        return -1;
    }
    return r || !plain ? ROUTE_ENGINE : ROUTE_FAST;
}

/* len(ctx.stack), or -1 (no error set) if it is not a list. */
static Py_ssize_t
stack_len(PyObject *ctx)
{
    PyObject *stack = get_slot(ctx, ctx_type, C_STACK);
    if (stack == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t n = PyList_CheckExact(stack) ? PyList_GET_SIZE(stack) : -1;
    Py_DECREF(stack);
    return n;
}

/* engine._tls is a threading.local: reading _tls.cur finds this thread's dict of
 * it in a dict that every thread shares (3.13+), so on every event the threads
 * would contend there. This thread's dict is found once and then read directly:
 * it lives as long as both the thread state and engine._tls (the module holds
 * it), so it is remembered (borrowed) together with the thread state's unique id
 * and the generation of init() it was found under. */
static uint64_t tls_gen = 1; /* bumped by init() */
/* _tls.cur as this thread last read it is still current while cur_gen has not
 * moved: the engine calls current_changed() right after each `_tls.cur = ...`
 * (a task's context in and out; a thread's first context needs none, as there
 * was none to remember). The dict lookup it saves was an eighth of an enter and
 * exit's instructions (callgrind, fib, 3.12). A thread only ever changes its own
 * _tls.cur, and the context it replaces is still referenced by the frame that
 * replaces it until the bump, so the remembered (borrowed) one is alive while
 * it is current. */
static uint64_t cur_gen = 1;
static THREAD_LOCAL struct {
    PyObject *dict;     /* borrowed */
    uint64_t tstate_id; /* PyThreadState_GetID of the thread state it belongs to */
    uint64_t gen;       /* tls_gen when found; 0: not yet */
    PyObject *cur;      /* borrowed: dict["cur"] when cur_gen was cur_gen_seen, or NULL */
    uint64_t cur_gen_seen;
} tl_tls;

static inline PyObject *
tls_dict(void)
{
    uint64_t id = PyThreadState_GetID(PyThreadState_Get());
#ifdef Py_GIL_DISABLED
    uint64_t gen = _Py_atomic_load_uint64_acquire(&tls_gen);
#else
    uint64_t gen = tls_gen;
#endif
    if (tl_tls.gen == gen && tl_tls.tstate_id == id && tl_tls.dict != NULL) {
        return tl_tls.dict;
    }
    tl_tls.cur = NULL;
    PyObject *dict = PyObject_GetAttrString(tls, "__dict__"); /* made if needed */
    if (dict == NULL) {
        return NULL;
    }
    if (!PyDict_CheckExact(dict)) {
        Py_DECREF(dict);
        PyErr_SetString(PyExc_TypeError, "functrace._speedups: unexpected engine._tls");
        return NULL;
    }
    /* Borrowed from here on: the threading.local keeps it for this thread state. */
    Py_DECREF(dict);
    tl_tls.dict = dict;
    tl_tls.tstate_id = id;
    tl_tls.gen = gen;
    return dict;
}

/* _tls.cur: 1 and a new reference, 0 if this thread has none yet, -1 on error. */
static inline int
current_context(PyObject **out)
{
    *out = NULL;
    PyObject *dict = tls_dict();
    if (dict == NULL) {
        return -1;
    }
#ifdef Py_GIL_DISABLED
    uint64_t seen = _Py_atomic_load_uint64_acquire(&cur_gen);
#else
    uint64_t seen = cur_gen;
#endif
    if (tl_tls.cur != NULL && tl_tls.cur_gen_seen == seen) {
        *out = Py_NewRef(tl_tls.cur);
        return 1;
    }
#if PY_VERSION_HEX >= 0x030D0000
    int found = PyDict_GetItemRef(dict, s_cur, out);
    if (found <= 0) {
        return found;
    }
#else
    PyObject *cur = PyDict_GetItemWithError(dict, s_cur);
    if (cur == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    *out = Py_NewRef(cur);
#endif
    tl_tls.cur = *out;
    tl_tls.cur_gen_seen = seen;
    return 1;
}

/* output.<name>: a new reference, NULL with an error set if it is missing. */
static PyObject *
output_attr(PyObject *name)
{
    PyObject *value;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyDict_GetItemRef(output_dict, name, &value) == 0) {
        PyErr_SetObject(PyExc_AttributeError, name);
    }
#else
    value = PyDict_GetItemWithError(output_dict, name);
    if (value == NULL && !PyErr_Occurred()) {
        PyErr_SetObject(PyExc_AttributeError, name);
    }
    Py_XINCREF(value);
#endif
    return value;
}

static int
read_next_flush(void)
{
    PyObject *next = output_attr(s_next_flush_ns);
    if (next == NULL) {
        return -1;
    }
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(next, &overflow);
    Py_DECREF(next);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    next_flush = overflow ? (overflow < 0 ? LLONG_MIN : LLONG_MAX) : n;
    return 0;
}

/* if t >= output.next_flush_ns (or a chunk is full): output.flush(). Without the
 * GIL, one thread at a time (flushing): the others go on (their lines wait for
 * the next flush) rather than queue for output.lock behind it. */
static int
maybe_flush(long long t)
{
    if (t < next_flush && !CHUNK_FILLED()) {
        return 0;
    }
#ifdef Py_GIL_DISABLED
    int idle = 0;
    if (!_Py_atomic_compare_exchange_int(&flushing, &idle, 1)) {
        return 0;
    }
#endif
    int err = read_next_flush();
    if (err == 0 && (t >= next_flush || CHUNK_FILLED())) {
        SET_CHUNK_FILLED(0);
        PyObject *flush = output_attr(s_flush);
        PyObject *res = flush != NULL ? PyObject_CallNoArgs(flush) : NULL;
        Py_XDECREF(flush);
        err = res == NULL ? -1 : read_next_flush();
        Py_XDECREF(res);
    }
#ifdef Py_GIL_DISABLED
    _Py_atomic_store_int_release(&flushing, 0);
#endif
    return err;
}

static Py_ssize_t
put_int(char *out, long long v)
{
    char digits[24];
    int n = 0;
    Py_ssize_t len = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        out[len++] = '-';
    }
    while (n) {
        out[len++] = digits[--n];
    }
    return len;
}

/* lines.format_duration, byte for byte in UTF-8 ("µ" is C2 B5); returns the length. */
static Py_ssize_t
format_duration(long long ns, char *out)
{
    Py_ssize_t n;
    if (ns < 1000) {
        n = put_int(out, ns);
        out[n++] = 'n';
        out[n++] = 's';
        return n;
    }
    long long scale;
    unsigned char unit;
    if (ns < 1000000LL) {
        scale = 1000LL;
        unit = 0xB5; /* µ, written as C2 B5 */
    }
    else if (ns < 1000000000LL) {
        scale = 1000000LL;
        unit = 'm';
    }
    else {
        scale = 1000000000LL;
        unit = 0;
    }
    if (ns < scale * 10) {
        long long v = ns * 100 / scale;
        n = put_int(out, v / 100);
        out[n++] = '.';
        out[n++] = (char)('0' + (v % 100) / 10);
        out[n++] = (char)('0' + v % 10);
    }
    else if (ns < scale * 100) {
        long long v = ns * 10 / scale;
        n = put_int(out, v / 10);
        out[n++] = '.';
        out[n++] = (char)('0' + v % 10);
    }
    else {
        n = put_int(out, ns / scale);
    }
    if (unit == 0xB5) {
        out[n++] = (char)0xC2;
        out[n++] = (char)0xB5;
    }
    else if (unit) {
        out[n++] = (char)unit;
    }
    out[n++] = 's';
    return n;
}

#ifndef Py_GIL_DISABLED
/* Room for n more bytes at the end of the chunk that is output.buffer[-1]
 * (starting a new one if needed); returns where to write them, NULL on error.
 *
 * A chunk starts small and doubles, in place while it is the buffer's last item,
 * up to CHUNK_SIZE; then it is full and the next fast event flushes. A str line
 * appended behind it (the Python paths' own lines, a line that is not UTF-8)
 * ends it: the next line starts another chunk, so where str and chunk lines
 * alternate each chunk holds a line or two and must not cost CHUNK_SIZE. */
static char *
chunk_reserve(Py_ssize_t n)
{
    Py_ssize_t items = PyList_GET_SIZE(buffer);
    if (chunk != NULL && items > 0 && PyList_GET_ITEM(buffer, items - 1) == chunk) {
        PyByteArrayObject *ba = (PyByteArrayObject *)chunk;
        Py_ssize_t used = Py_SIZE(ba);
        /* Nobody may hold its buffer: it is written in place and may move. */
        if (ba->ob_exports == 0 && ba->ob_start == ba->ob_bytes) {
            if (used + n >= ba->ob_alloc && ba->ob_alloc <= CHUNK_SIZE) {
                Py_ssize_t want = 2 * ba->ob_alloc;
                if (want > CHUNK_SIZE) {
                    want = CHUNK_SIZE;
                }
                if (want < used + n) {
                    want = used + n;
                }
                if (PyByteArray_Resize(chunk, want) < 0) {
                    return NULL;
                }
                Py_SET_SIZE(ba, used); /* the allocation stays: ob_alloc > want */
            }
            if (used + n < ba->ob_alloc) {
                Py_SET_SIZE(ba, used + n);
                ba->ob_start[used + n] = '\0';
                return ba->ob_start + used;
            }
        }
        chunk_filled = 1;
    }
    /* Small at first, doubling: a chunk started at CHUNK_SIZE after each flush
     * (skipping the copies of the doubling, a third of the line writing's
     * instructions) cost more in the kernel than it saved: each fresh 64 KB
     * allocation faults its pages in again (fib, 3.12: system time 0.01-0.04 s
     * -> 0.14-0.24 s for 1.3M calls, user time unchanged). */
    Py_ssize_t size = n < CHUNK_START ? CHUNK_START : n;
    PyObject *fresh = PyByteArray_FromStringAndSize(NULL, size);
    if (fresh == NULL) {
        return NULL;
    }
    PyByteArrayObject *ba = (PyByteArrayObject *)fresh;
    Py_SET_SIZE(ba, n); /* the allocation stays: ob_alloc > size */
    ba->ob_start[n] = '\0';
    if (PyList_Append(buffer, fresh) < 0) {
        Py_DECREF(fresh);
        return NULL;
    }
    Py_XSETREF(chunk, fresh);
    return ba->ob_start;
}
#endif

#ifdef TL_LINES
/* Without the GIL, each thread queues its lines in a buffer of its own (plain
 * memory: no object per line, no shared list touched per line), published to
 * output.buffer as one bytes object: when it is full, when the Python engine
 * queues a line (put() publishes every thread's first: the engine may write for
 * another thread's context, at exit), and when a flush takes the lines (take()
 * publishes every thread's, then cuts the list).
 * The owner holds its buffer's mutex for each line; take() for the publishing.
 * While a thread has lines unpublished, output.buffer holds a marker (an empty
 * bytearray that take() drops) so that it is never empty then: output.flush
 * and the flusher thread look at it before calling take().
 *
 * Order: a thread's published lines are in output.buffer in the order they were
 * written, every publishing appends, and take() cuts the list only after
 * publishing, so every line written before the cut is taken, in order. */
typedef struct tl_lines {
    PyMutex mutex;
    int dead;   /* its thread has ended: the next take() publishes and frees it */
    int marked; /* the marker went into output.buffer since the last publishing */
    int in_event; /* its thread is inside an event (atomic: see event_begin) */
    char *data;
    Py_ssize_t len, cap;
    struct tl_lines *next; /* in all_lines (under all_lines_mutex) */
} tl_lines;

static PyMutex all_lines_mutex;
static tl_lines *all_lines;
static THREAD_LOCAL tl_lines *my_lines;
static pthread_key_t lines_key; /* its destructor marks a thread's buffer dead */
static PyObject *marker;        /* an empty bytearray */
#define LINES_START 4096

static void
lines_thread_ended(void *arg)
{
    _Py_atomic_store_int_release(&((tl_lines *)arg)->dead, 1);
}

/* In a child after fork(): its parent writes the lines queued before the fork;
 * the other threads do not exist here. No Python code may run in this handler. */
static void
lines_after_fork_child(void)
{
    memset(&all_lines_mutex, 0, sizeof(all_lines_mutex));
    for (tl_lines *l = all_lines; l != NULL; l = l->next) {
        memset(&l->mutex, 0, sizeof(l->mutex));
        l->len = 0;
        l->marked = 0;
        l->in_event = 0;
        if (l != my_lines) {
            l->dead = 1;
        }
    }
}

/* This thread's buffer, made and registered on first use; NULL on error. */
static tl_lines *
lines_mine(void)
{
    tl_lines *l = my_lines;
    if (l != NULL) {
        return l;
    }
    l = PyMem_RawCalloc(1, sizeof(*l));
    if (l == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (pthread_setspecific(lines_key, l) != 0) {
        PyMem_RawFree(l);
        PyErr_SetString(PyExc_RuntimeError, "functrace: pthread_setspecific failed");
        return NULL;
    }
    PyMutex_Lock(&all_lines_mutex);
    l->next = all_lines;
    all_lines = l;
    PyMutex_Unlock(&all_lines_mutex);
    my_lines = l;
    return l;
}

/* Append l's lines to output.buffer as one bytes object (l->mutex held). */
static int
lines_publish(tl_lines *l)
{
    if (l->len == 0) {
        return 0;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(l->data, l->len);
    if (bytes == NULL) {
        return -1;
    }
    int err = PyList_Append(buffer, bytes); /* the list holds it: no dealloc here */
    Py_DECREF(bytes);
    if (err < 0) {
        return -1;
    }
    l->len = 0;
    l->marked = 0;
    return 0;
}

/* Room for n more bytes in this thread's buffer: returns it locked (release it
 * with lines_commit or lines_abort) and where to write, or NULL on error. */
static char *
lines_reserve(Py_ssize_t n, tl_lines **out)
{
    tl_lines *l = lines_mine();
    if (l == NULL) {
        return NULL;
    }
    PyMutex_Lock(&l->mutex);
    if (l->len + n > l->cap) {
        if (l->len > 0 && l->len + n > CHUNK_SIZE) {
            /* Full: out it goes, and the next fast event flushes. */
            if (lines_publish(l) < 0) {
                PyMutex_Unlock(&l->mutex);
                return NULL;
            }
            SET_CHUNK_FILLED(1);
        }
        if (l->len + n > l->cap) {
            Py_ssize_t cap = l->cap ? l->cap : LINES_START;
            while (cap < l->len + n) {
                cap *= 2;
            }
            char *data = PyMem_RawRealloc(l->data, (size_t)cap);
            if (data == NULL) {
                PyMutex_Unlock(&l->mutex);
                PyErr_NoMemory();
                return NULL;
            }
            l->data = data;
            l->cap = cap;
        }
    }
    *out = l;
    return l->data + l->len;
}

/* The n bytes reserved are written: count them, and unlock. */
static int
lines_commit(tl_lines *l, Py_ssize_t n)
{
    l->len += n;
    int err = 0;
    if (!l->marked) {
        err = PyList_Append(buffer, marker);
        l->marked = err == 0;
    }
    PyMutex_Unlock(&l->mutex);
    return err;
}

/* A line that goes into output.buffer as its own item (a str the Python engine
 * queues, or a text that is not UTF-8): after this thread's unpublished ones. */
static int
lines_append_item(PyObject *item)
{
    tl_lines *l = lines_mine();
    if (l == NULL) {
        return -1;
    }
    PyMutex_Lock(&l->mutex);
    int err = lines_publish(l);
    if (err == 0) {
        err = PyList_Append(buffer, item);
    }
    PyMutex_Unlock(&l->mutex);
    return err;
}

/* Publish every thread's lines (for take()), and free the buffers of threads
 * that have ended. */
static int
lines_publish_all(void)
{
    int err = 0;
    PyMutex_Lock(&all_lines_mutex);
    tl_lines **link = &all_lines;
    while (*link != NULL) {
        tl_lines *l = *link;
        PyMutex_Lock(&l->mutex);
        if (lines_publish(l) < 0) {
            err = -1;
        }
        int dead = _Py_atomic_load_int_acquire(&l->dead);
        PyMutex_Unlock(&l->mutex);
        if (err < 0) {
            break;
        }
        if (dead) {
            *link = l->next;
            PyMem_RawFree(l->data);
            PyMem_RawFree(l);
        }
        else {
            link = &l->next;
        }
    }
    PyMutex_Unlock(&all_lines_mutex);
    return err;
}

/* After take() cut the list (and with it the markers): a thread that queued
 * lines since its publishing gets its marker back. */
static int
lines_remark(void)
{
    int err = 0;
    PyMutex_Lock(&all_lines_mutex);
    for (tl_lines *l = all_lines; l != NULL && err == 0; l = l->next) {
        PyMutex_Lock(&l->mutex);
        l->marked = 0;
        if (l->len > 0) {
            err = PyList_Append(buffer, marker);
            l->marked = err == 0;
        }
        PyMutex_Unlock(&l->mutex);
    }
    PyMutex_Unlock(&all_lines_mutex);
    return err;
}
#endif

/* A line queued as its own item of output.buffer (a str). */
static int
append_item(PyObject *item)
{
#ifdef TL_LINES
    return lines_append_item(item);
#else
    return PyList_Append(buffer, item);
#endif
}

/* Room for one whole line of n bytes in the output, wherever this build queues
 * lines (the shared chunk, this thread's buffer, or a bytes object of its own):
 * line_begin gives where to write them (NULL on error), line_end queues them. */
typedef struct {
#if defined(TL_LINES)
    tl_lines *mine;
#elif defined(Py_GIL_DISABLED)
    PyObject *line;
#endif
    Py_ssize_t total;
} line_room;

static inline char *
line_begin(line_room *room, Py_ssize_t total)
{
    room->total = total;
#if defined(TL_LINES)
    return lines_reserve(total, &room->mine);
#elif defined(Py_GIL_DISABLED)
    room->line = PyBytes_FromStringAndSize(NULL, total);
    return room->line != NULL ? PyBytes_AS_STRING(room->line) : NULL;
#else
    return chunk_reserve(total);
#endif
}

static inline int
line_end(line_room *room)
{
#if defined(TL_LINES)
    return lines_commit(room->mine, room->total);
#elif defined(Py_GIL_DISABLED)
    int err = PyList_Append(buffer, room->line);
    Py_DECREF(room->line);
    return err;
#else
    (void)room;
    return 0;
#endif
}

/* PyUnicode_AsUTF8AndSize, without the call for an ASCII str (its characters are
 * its UTF-8; nearly every tag and name): two of them per line were a tenth of
 * the line's writing (callgrind, fib, 3.12). */
static inline const char *
utf8_and_size(PyObject *u, Py_ssize_t *len)
{
    if (PyUnicode_IS_COMPACT_ASCII(u)) {
        *len = PyUnicode_GET_LENGTH(u);
        return (const char *)PyUnicode_DATA(u);
    }
    return PyUnicode_AsUTF8AndSize(u, len); /* cached in the str */
}

/* Append f"{tag}:{'    ' * depth}{text}" + tail (UTF-8 bytes) to the output. */
static int
emit(PyObject *tag, Py_ssize_t depth, PyObject *text, const char *tail, Py_ssize_t tail_len)
{
    if (tag == NULL || text == NULL) {
        return -1; /* reading it failed */
    }
    if (!PyUnicode_Check(tag) || !PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "functrace: tag and line texts must be str");
        return -1;
    }
    Py_ssize_t tag_len, text_len;
    const char *tag_u8 = utf8_and_size(tag, &tag_len);
    const char *text_u8 = tag_u8 ? utf8_and_size(text, &text_len) : NULL;
    if (text_u8 == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return -1;
        }
        /* A lone surrogate: a str line, which flush writes with backslashreplace. */
        PyErr_Clear();
        char *pad = PyMem_Malloc((size_t)(1 + 4 * depth));
        if (pad == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        pad[0] = ':';
        memset(pad + 1, ' ', (size_t)(4 * depth));
        PyObject *pad_str = PyUnicode_FromStringAndSize(pad, 1 + 4 * depth);
        PyMem_Free(pad);
        if (pad_str == NULL) {
            return -1;
        }
        PyObject *spaces = PyUnicode_Concat(tag, pad_str);
        Py_DECREF(pad_str);
        if (spaces == NULL) {
            return -1;
        }
        PyObject *tail_str = PyUnicode_DecodeUTF8(tail, tail_len, NULL);
        PyObject *line = NULL;
        if (tail_str != NULL) {
            PyObject *head = PyUnicode_Concat(spaces, text);
            if (head != NULL) {
                line = PyUnicode_Concat(head, tail_str);
                Py_DECREF(head);
            }
            Py_DECREF(tail_str);
        }
        Py_DECREF(spaces);
        if (line == NULL) {
            return -1;
        }
        int err = append_item(line);
        Py_DECREF(line);
        return err;
    }
    Py_ssize_t spaces = 4 * depth;
    line_room room;
    char *out = line_begin(&room, tag_len + 1 + spaces + text_len + tail_len);
    if (out == NULL) {
        return -1;
    }
    memcpy(out, tag_u8, (size_t)tag_len);
    out += tag_len;
    *out++ = ':';
    memset(out, ' ', (size_t)spaces);
    out += spaces;
    memcpy(out, text_u8, (size_t)text_len);
    out += text_len;
    if (tail_len) {
        memcpy(out, tail, (size_t)tail_len);
    }
    return line_end(&room);
}

/* The end of every entry point: RecursionError drops the event, any other
 * Exception goes to engine._internal_error; BaseException passes, as in Python. */
static PyObject *
finish(int ok)
{
    if (ok) {
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *value = PyErr_GetRaisedException(); /* normalized, with its traceback */
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb); /* deprecated from 3.12, where the branch above runs */
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
#endif
    PyObject *report = PyObject_GetAttr(engine_mod, s_internal_error);
    if (report != NULL) {
        PyObject *res = PyObject_CallOneArg(report, value ? value : Py_None);
        Py_DECREF(report);
        Py_XDECREF(res);
    }
    Py_XDECREF(value);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return NULL;
        }
        PyErr_Clear(); /* reporting failed: still nothing reaches the program */
    }
    Py_RETURN_NONE;
}

/* engine.<name>(*args), for the calls the fast path hands on. */
static int
delegate(PyObject *name, PyObject *const *args, size_t nargs)
{
    PyObject *fn = PyObject_GetAttr(engine_mod, name);
    if (fn == NULL) {
        return -1;
    }
    PyObject *res = PyObject_Vectorcall(fn, args, nargs, NULL);
    Py_DECREF(fn);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* ------------------------------------------------------------ stack entries */

/* The entries this module pushes are of a subtype of state.Entry made at init()
 * (centry_type): the same slots at the same offsets, plus the start as a C
 * integer after them, which a `start` property reads and writes as an int. A
 * Python int per call (made at the enter, read back and freed at the exit) was
 * 15% of an enter and exit's instructions (callgrind, fib, 3.12); an int is
 * made now only when Python code reads the start of a running call (the engine
 * writing an end it takes over, `running` lines, a recording's own calls). The
 * engine's own entries stay state.Entry, their start in the slot. */
static Py_ssize_t cstart_off; /* where the start is, in a centry_type object */
#define CSTART(e) (*(long long *)((char *)(e) + cstart_off))

static PyObject *
centry_get_start(PyObject *self, void *unused)
{
    return PyLong_FromLongLong(CSTART(self));
}

static int
centry_set_start(PyObject *self, PyObject *value, void *unused)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "an Entry's start cannot be deleted");
        return -1;
    }
    long long t = PyLong_AsLongLong(value);
    if (t == -1 && PyErr_Occurred()) {
        return -1;
    }
    CSTART(self) = t;
    return 0;
}

static PyGetSetDef centry_getset[] = {
    {"start", centry_get_start, centry_set_start,
     "When it started (or resumed): time.perf_counter_ns().", NULL},
    {NULL},
};

static PyType_Slot centry_slots[] = {
    {Py_tp_getset, centry_getset},
    {Py_tp_doc, "state.Entry, made by the compiled path: its start kept in C."},
    {0, NULL},
};

/* The subtype of base (state.Entry) described above; a new reference. */
static PyTypeObject *
make_centry_type(PyTypeObject *base)
{
    Py_ssize_t off = (base->tp_basicsize + 7) & ~(Py_ssize_t)7;
    PyType_Spec spec = {
        "functrace._runtime._speedups.Entry",
        (int)(off + (Py_ssize_t)sizeof(long long)),
        0,
        /* GC support, traverse and dealloc come from state.Entry (subtype_*: they
         * walk the slots of every class up the MRO) */
        Py_TPFLAGS_DEFAULT,
        centry_slots,
    };
    PyObject *bases = PyTuple_Pack(1, (PyObject *)base);
    if (bases == NULL) {
        return NULL;
    }
    PyObject *tp = PyType_FromSpecWithBases(&spec, bases);
    Py_DECREF(bases);
    if (tp != NULL) {
        cstart_off = off;
    }
    return (PyTypeObject *)tp;
}

/* Entries whose last reference the fast path dropped, kept for the next enter
 * (GIL builds only: the list is shared). A call's Entry lives as long as the call
 * and nothing else holds it in the common case, so alloc and dealloc (GC tracking,
 * a malloc and a free, the slots' clean-up through subtype_dealloc) were a third
 * of the instructions of an enter and its exit (callgrind, fib, 3.12). A kept
 * entry is untracked by the GC and has every slot empty: no one can see it (its
 * reference count was 1, and Entry has no __weakref__). */
#ifndef Py_GIL_DISABLED
#define ENTRY_SPARE_MAX 64
static PyObject *entry_spare[ENTRY_SPARE_MAX];
static int entry_spares;

static void
drop_spare_entries(void)
{
    while (entry_spares > 0) {
        PyObject *e = entry_spare[--entry_spares];
        Py_DECREF(e);
    }
}
#endif

/* Entry(info, t, written), made slot by slot (init() checked that every slot of
 * state.Entry has its offset): no Python __init__ per call. */
static PyObject *
new_entry(PyObject *info, long long t, PyObject *written)
{
    PyObject *entry;
#ifndef Py_GIL_DISABLED
    if (entry_spares > 0) {
        entry = entry_spare[--entry_spares];
        PyObject_GC_Track(entry); /* a spare is untracked */
    }
    else
#endif
    {
        entry = centry_type->tp_alloc(centry_type, 0);
        if (entry == NULL) {
            return NULL;
        }
    }
    /* Set before the GC can look (no allocation from here on). */
#define E_SET(i, v) (*(PyObject **)((char *)entry + slot_off[i]) = (v))
    E_SET(E_INFO, Py_NewRef(info));
    E_SET(E_NODE, Py_NewRef(Py_None));
    E_SET(E_WRITTEN, Py_NewRef(written));
    E_SET(E_TOKENS, Py_NewRef(Py_None));
    E_SET(E_ARGS, Py_NewRef(Py_None));
#undef E_SET
    CSTART(entry) = t; /* its start slot stays empty: the property is read instead */
    return entry;
}

/* The start of a stack entry: in C for this module's, in the slot for the engine's. */
static inline int
entry_start(PyObject *entry, long long *t0)
{
    if (Py_TYPE(entry) == centry_type) {
        *t0 = CSTART(entry);
        return 0;
    }
    PyObject *start = peek_slot(entry, entry_type, E_START);
    if (start == NULL) {
        PyErr_SetString(PyExc_TypeError, "functrace: an Entry without its start");
        return -1;
    }
    /* PyLong_AsLong where long is 64 bits: before 3.12, PyLong_AsLongLong takes
     * a multi-digit int through _PyLong_AsByteArray, seven times the work. */
#if LONG_MAX == LLONG_MAX
    *t0 = PyLong_AsLong(start);
#else
    *t0 = PyLong_AsLongLong(start);
#endif
    return *t0 == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Py_DECREF(entry), an entry the fast path popped: the last reference goes to
 * the spares instead of being freed. */
static void
release_entry(PyObject *entry)
{
#ifndef Py_GIL_DISABLED
    if (Py_REFCNT(entry) == 1 && Py_TYPE(entry) == centry_type &&
        entry_spares < ENTRY_SPARE_MAX) {
        PyObject_GC_UnTrack(entry);
        for (int i = E_INFO; i <= E_ARGS; i++) {
            PyObject **slot = (PyObject **)((char *)entry + slot_off[i]);
            Py_CLEAR(*slot); /* may run a finalizer (an observer's token): the entry is
                              * nobody's but ours meanwhile */
        }
        if (entry_spares < ENTRY_SPARE_MAX && Py_TYPE(entry) == centry_type) {
            entry_spare[entry_spares++] = entry;
            return;
        }
    }
#endif
    Py_DECREF(entry);
}

/* ------------------------------------------------------------ recordings: journals */

#include "_journal.h"

/* ------------------------------------------------------------ at the recursion limit */

/* ctx.stack.append(Entry(info, now, False)) */
static int
push_unwritten(PyObject *ctx, PyObject *info)
{
    long long t;
    if (now_ns(&t) < 0) {
        return -1;
    }
    PyObject *stack = get_slot(ctx, ctx_type, C_STACK);
    if (stack == NULL) {
        return -1;
    }
    PyObject *entry = new_entry(info, t, Py_False);
    int err = entry == NULL ? -1 : PyList_Append(stack, entry);
    Py_XDECREF(entry);
    Py_DECREF(stack);
    return err;
}

/* engine._failed: an internal error turned tracing off (then the engine drops
 * every event on purpose). */
static int
engine_failed(void)
{
    PyObject *failed = PyObject_GetAttrString(engine_mod, "_failed");
    if (failed == NULL) {
        PyErr_Clear();
        return 1;
    }
    int r = failed != Py_False;
    Py_DECREF(failed);
    return r;
}

/* What engine.leave would have called the end: (exception, suspended) words. */
static int
end_words(PyObject *info, PyObject *kind, PyObject *arg, PyObject **exception,
          PyObject **suspended)
{
    *exception = Py_NewRef(Py_None);
    *suspended = Py_NewRef(Py_None);
    if (kind == kind_obj[K_UNWIND]) {
        PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(arg), "__qualname__");
        if (name == NULL) {
            return -1;
        }
        Py_SETREF(*exception, name);
    }
    else if (kind == kind_obj[K_SUSPEND]) {
        PyObject *word = get_slot(info, info_type, I_SUSPEND);
        if (word == NULL) {
            return -1;
        }
        if (PyUnicode_CheckExact(word) && PyUnicode_CompareWithASCIIString(word, "asyncgen") == 0) {
            int own = arg == async_yield ||
                      strcmp(Py_TYPE(arg)->tp_name, "async_generator_wrapped_value") == 0;
            Py_SETREF(word, PyUnicode_FromString(own ? "yield" : "await"));
            if (word == NULL) {
                return -1;
            }
        }
        Py_SETREF(*suspended, word);
    }
    return 0;
}

/* Pop the innermost call (if it is info's) and queue its end on ctx.lost as
 * (entry, depth, t, exception, suspended). */
static int
stash_lost(PyObject *ctx, PyObject *info, PyObject *kind, PyObject *arg, long long t,
           Py_ssize_t depth)
{
    int err = -1;
    PyObject *stack = get_slot(ctx, ctx_type, C_STACK);
    PyObject *lost = stack ? get_slot(ctx, ctx_type, C_LOST) : NULL;
    PyObject *entry = NULL, *exception = NULL, *suspended = NULL, *record = NULL;
    if (lost == NULL || !PyList_CheckExact(stack) || !PyList_CheckExact(lost)) {
        goto out;
    }
    Py_ssize_t n = PyList_GET_SIZE(stack);
    if (n == 0 || peek_slot(PyList_GET_ITEM(stack, n - 1), entry_type, E_INFO) != info) {
        err = 0; /* not the innermost call's end: nothing we can place */
        goto out;
    }
    entry = Py_NewRef(PyList_GET_ITEM(stack, n - 1));
    if (end_words(info, kind, arg, &exception, &suspended) < 0) {
        goto out;
    }
    record = Py_BuildValue("(OnLOO)", entry, depth, t, exception, suspended);
    if (record == NULL || PyList_SetSlice(stack, n - 1, n, NULL) < 0) {
        goto out;
    }
    err = PyList_Append(lost, record);
out:
    Py_XDECREF(stack);
    Py_XDECREF(lost);
    Py_XDECREF(entry);
    Py_XDECREF(exception);
    Py_XDECREF(suspended);
    Py_XDECREF(record);
    return err;
}

/* ------------------------------------------------------------ argument and return values
 *
 * FUNCTRACE_ARGS with plain text lines otherwise: the enter line's "(a=1, b='x')"
 * and the exit line's " => value", written here for the common values exactly as
 * values.py writes them (compared byte for byte by tests/runtime/
 * test_values_speedups.py). What is not formatted here (a string or a container
 * that needs cutting, a big int, an instance in repr mode, **kwargs, a
 * generator's arguments) is handed to values.py, with the context busy as the
 * engine has it (a repr may run traced code: it writes no lines). On 3.12+ the
 * arguments are read with PyFrame_GetVar (public since 3.12: a scan of the code's
 * local names, no locals dict made) from the frame the sys.monitoring callback
 * runs in; a generated wrapper (3.10/3.11, or no free tool id) hands them over. */

static int args_on;   /* values wanted on this fast path (set_args) */
static int args_repr; /* FUNCTRACE_ARGS=repr */
static Py_ssize_t args_length = 100, args_line_length = 1000;
static long args_gen = -1;     /* values._generation: CodeInfo.params made under it are good */
static PyObject *values_mod;   /* functrace._runtime.values */
static Py_ssize_t params_off = -1; /* CodeInfo.params' slot offset, -1: getattr */
static PyObject *s_params, *s_value_text, *s_kwargs_text, *s_params_fn, *s_arguments,
    *s_given_arguments, *s_args_text, *s_empty, *s_module;

#define V_MAX_ITEMS 10 /* values.MAX_ITEMS */
#define V_MAX_DEPTH 3  /* values.MAX_DEPTH */
#define V_FALLBACK 1   /* not formatted here: values.py formats the whole value */
#define ELLIPSIS_U8 "\xe2\x80\xa6"

/* UTF-8 text being built, with its length in characters. */
typedef struct {
    char *p;
    Py_ssize_t len, cap, chars;
    char small[512];
} vbuf;

static void
vb_init(vbuf *b)
{
    b->p = b->small;
    b->len = 0;
    b->cap = (Py_ssize_t)sizeof(b->small);
    b->chars = 0;
}

static void
vb_free(vbuf *b)
{
    if (b->p != b->small) {
        PyMem_Free(b->p);
    }
}

static int
vb_put(vbuf *b, const char *s, Py_ssize_t n, Py_ssize_t chars)
{
    if (b->len + n > b->cap) {
        Py_ssize_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
        char *p = b->p == b->small ? PyMem_Malloc((size_t)cap) : PyMem_Realloc(b->p, (size_t)cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (b->p == b->small) {
            memcpy(p, b->small, (size_t)b->len);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    b->chars += chars;
    return 0;
}

#define VB_LIT(b, s) vb_put((b), (s), (Py_ssize_t)sizeof(s) - 1, (Py_ssize_t)sizeof(s) - 1)
#define VB_ELLIPSIS(b) vb_put((b), ELLIPSIS_U8, 3, 1)

static int
vb_str(vbuf *b, PyObject *u)
{
    Py_ssize_t n;
    const char *u8 = PyUnicode_AsUTF8AndSize(u, &n);
    if (u8 == NULL) {
        return -1;
    }
    return vb_put(b, u8, n, PyUnicode_GET_LENGTH(u));
}

/* values._cut of an ASCII text */
static int
vb_cut_ascii(vbuf *b, const char *s, Py_ssize_t n, Py_ssize_t room)
{
    if (n <= room) {
        return vb_put(b, s, n, n);
    }
    Py_ssize_t keep = room - 1 > 0 ? room - 1 : 0;
    if (vb_put(b, s, keep, keep) < 0) {
        return -1;
    }
    return VB_ELLIPSIS(b);
}

/* values._cut of a str */
static int
vb_cut_str(vbuf *b, PyObject *u, Py_ssize_t room)
{
    if (PyUnicode_GET_LENGTH(u) <= room) {
        return vb_str(b, u);
    }
    PyObject *piece = PyUnicode_Substring(u, 0, room - 1 > 0 ? room - 1 : 0);
    if (piece == NULL) {
        return -1;
    }
    int err = vb_str(b, piece);
    Py_DECREF(piece);
    return err < 0 ? -1 : VB_ELLIPSIS(b);
}

/* repr(v) of a C type, written when it fits room (else values.py cuts it). */
static int
fmt_repr_fitting(vbuf *b, PyObject *v, Py_ssize_t room)
{
    PyObject *r = PyObject_Repr(v);
    if (r == NULL) {
        return -1;
    }
    int res = PyUnicode_GET_LENGTH(r) <= room ? vb_str(b, r) : V_FALLBACK;
    Py_DECREF(r);
    return res;
}

/* A scalar's repr (ASCII), cut as values._cut does. */
static int
fmt_repr_cut(vbuf *b, PyObject *v, Py_ssize_t room)
{
    PyObject *r = PyObject_Repr(v);
    if (r == NULL) {
        return -1;
    }
    int res;
    if (PyUnicode_IS_ASCII(r)) {
        res = vb_cut_ascii(b, (const char *)PyUnicode_DATA(r), PyUnicode_GET_LENGTH(r), room);
    }
    else {
        res = vb_cut_str(b, r, room);
    }
    Py_DECREF(r);
    return res;
}

static int
fmt_int(vbuf *b, PyObject *v, Py_ssize_t room)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        return V_FALLBACK;
    }
    if (x == -1 && PyErr_Occurred()) {
        return -1;
    }
    char s[32];
    Py_ssize_t n = put_int(s, x);
    if (-10000 < x && x < 100000 && room >= 5) {
        return vb_put(b, s, n, n);
    }
    unsigned long long a = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    long long bits = 0;
    while (a) {
        bits++;
        a >>= 1;
    }
    if (bits > 12 * (long long)room) { /* values._int_text */
        char t[48];
        int m = snprintf(t, sizeof(t), "<int %lld bits>", bits);
        return vb_put(b, t, m, m);
    }
    return vb_cut_ascii(b, s, n, room);
}

/* type's own __qualname__ and __module__, as values._class_name filters them;
 * NULL with no error: values.py decides. */
static PyObject *
class_name(PyTypeObject *cls)
{
    PyObject *name, *module;
    if (cls->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        name = Py_NewRef(((PyHeapTypeObject *)cls)->ht_qualname);
        PyObject *found = cls->tp_dict ? PyDict_GetItemWithError(cls->tp_dict, s_module) : NULL;
        if (found == NULL) {
            Py_DECREF(name);
            return PyErr_Occurred() ? NULL : PyUnicode_FromString("?");
        }
        module = Py_NewRef(found);
    }
    else {
        const char *dot = strrchr(cls->tp_name, '.');
        name = PyUnicode_FromString(dot ? dot + 1 : cls->tp_name);
        module = dot ? PyUnicode_FromStringAndSize(cls->tp_name, dot - cls->tp_name)
                     : PyUnicode_FromString("builtins");
        if (name == NULL || module == NULL) {
            Py_XDECREF(name);
            Py_XDECREF(module);
            return NULL;
        }
    }
    PyObject *full = NULL;
    if (!PyUnicode_CheckExact(name)) {
        Py_SETREF(name, PyUnicode_FromString("?"));
        if (name == NULL) {
            goto out;
        }
    }
    if (!PyUnicode_CheckExact(module)) {
        if (PyUnicode_Check(module)) {
            goto out; /* a str subclass: its == is the program's; values.py decides */
        }
        full = Py_NewRef(name);
    }
    else if (PyUnicode_CompareWithASCIIString(module, "builtins") == 0) {
        full = Py_NewRef(name);
    }
    else {
        full = PyUnicode_FromFormat("%U.%U", module, name);
    }
    if (full == NULL) {
        goto out;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(full);
    int kind = PyUnicode_KIND(full);
    const void *data = PyUnicode_DATA(full);
    int clean = 1;
    for (Py_ssize_t i = 0; i < n && clean; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        clean = Py_UNICODE_ISALNUM(c) || c == '.' || c == '_' || c == '<' || c == '>';
    }
    if (!clean) {
        Py_UCS4 *buf = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(n ? n : 1));
        if (buf == NULL) {
            Py_CLEAR(full);
            PyErr_NoMemory();
            goto out;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            buf[i] = Py_UNICODE_ISALNUM(c) || c == '.' || c == '_' || c == '<' || c == '>' ? c
                                                                                        : '?';
        }
        Py_SETREF(full, PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, n));
        PyMem_Free(buf);
    }
out:
    Py_XDECREF(name);
    Py_DECREF(module);
    return full;
}

/* values._opaque: "<module.Class>", " len=N" for a builtin container's subclass. */
static int
fmt_opaque(vbuf *b, PyObject *v, Py_ssize_t room)
{
    PyTypeObject *cls = Py_TYPE(v);
    Py_ssize_t len = -1;
    if (PyType_IsSubtype(cls, &PyUnicode_Type)) {
        len = PyUnicode_GET_LENGTH(v);
    }
    else if (PyType_IsSubtype(cls, &PyBytes_Type) || PyType_IsSubtype(cls, &PyByteArray_Type) ||
             PyType_IsSubtype(cls, &PyList_Type) || PyType_IsSubtype(cls, &PyTuple_Type)) {
        len = Py_SIZE(v);
    }
    else if (PyType_IsSubtype(cls, &PyDict_Type)) {
        len = PyDict_Size(v);
    }
    else if (PyType_IsSubtype(cls, &PySet_Type) || PyType_IsSubtype(cls, &PyFrozenSet_Type)) {
        len = PySet_Size(v);
    }
    PyObject *name = class_name(cls);
    if (name == NULL) {
        return PyErr_Occurred() ? -1 : V_FALLBACK;
    }
    if (len >= 0) {
        Py_SETREF(name, PyUnicode_FromFormat("%U len=%zd", name, len));
        if (name == NULL) {
            return -1;
        }
    }
    int err = VB_LIT(b, "<");
    if (err == 0) {
        err = vb_cut_str(b, name, room - 2);
    }
    Py_DECREF(name);
    return err < 0 ? -1 : VB_LIT(b, ">");
}

static int fmt_value(vbuf *b, PyObject *v, Py_ssize_t room, int depth, PyObject **seen, int nseen);

/* values._text for a list, tuple, dict, set or frozenset. */
static int
fmt_container(vbuf *b, PyObject *v, Py_ssize_t room, int depth, PyObject **seen, int nseen)
{
    PyTypeObject *cls = Py_TYPE(v);
    const char *open, *close;
    Py_ssize_t size;
    if (cls == &PyList_Type) {
        open = "[", close = "]", size = PyList_GET_SIZE(v);
    }
    else if (cls == &PyTuple_Type) {
        open = "(", close = ")", size = PyTuple_GET_SIZE(v);
    }
    else if (cls == &PyDict_Type) {
#ifdef Py_GIL_DISABLED
        return V_FALLBACK; /* PyDict_Next wants the dict locked: values.py iterates it */
#endif
        open = "{", close = "}", size = PyDict_GET_SIZE(v);
    }
    else if (cls == &PySet_Type) {
        if (PySet_GET_SIZE(v) == 0) {
            return VB_LIT(b, "set()");
        }
        open = "{", close = "}", size = PySet_GET_SIZE(v);
    }
    else {
        if (PySet_GET_SIZE(v) == 0) {
            return VB_LIT(b, "frozenset()");
        }
        open = "frozenset({", close = "})", size = PySet_GET_SIZE(v);
    }
    Py_ssize_t open_len = (Py_ssize_t)strlen(open), close_len = (Py_ssize_t)strlen(close);
    int inside = 0;
    for (int i = 0; i < nseen; i++) {
        inside |= seen[i] == v;
    }
    if (inside || depth >= V_MAX_DEPTH) {
        if (vb_put(b, open, open_len, open_len) < 0 || (size && VB_ELLIPSIS(b) < 0)) {
            return -1;
        }
        return vb_put(b, close, close_len, close_len);
    }
    seen[nseen] = v;
    if (vb_put(b, open, open_len, open_len) < 0) {
        return -1;
    }
    Py_ssize_t left = room - open_len - close_len - 3;
    Py_ssize_t parts = 0, pos = 0;
    int cut = 0, res = 0;
    PyObject *iter = NULL;
    if (cls == &PySet_Type || cls == &PyFrozenSet_Type) {
        iter = PyObject_GetIter(v); /* the set's own iterator: no code of the program */
        if (iter == NULL) {
            return -1;
        }
    }
    for (Py_ssize_t count = 0;; count++) {
        PyObject *item = NULL, *key = NULL, *val = NULL;
        if (cls == &PyList_Type || cls == &PyTuple_Type) {
            if (count >= Py_SIZE(v)) {
                break;
            }
#ifdef Py_GIL_DISABLED
            /* another thread may change the list meanwhile */
            item = cls == &PyList_Type ? PyList_GetItemRef(v, count)
                                       : Py_NewRef(PyTuple_GET_ITEM(v, count));
            if (item == NULL) {
                PyErr_Clear();
                break;
            }
#else
            item = Py_NewRef(cls == &PyList_Type ? PyList_GET_ITEM(v, count)
                                                 : PyTuple_GET_ITEM(v, count));
#endif
        }
        else if (cls == &PyDict_Type) {
            if (!PyDict_Next(v, &pos, &key, &val)) {
                break;
            }
            Py_INCREF(key);
            Py_INCREF(val);
        }
        else {
            item = PyIter_Next(iter);
            if (item == NULL) {
                if (PyErr_Occurred()) {
                    res = -1;
                }
                break;
            }
        }
        Py_ssize_t sep = parts ? 2 : 0;
        if (count == V_MAX_ITEMS || left - sep < 6) {
            Py_XDECREF(item);
            Py_XDECREF(key);
            Py_XDECREF(val);
            if ((sep && VB_LIT(b, ", ") < 0) || VB_ELLIPSIS(b) < 0) {
                res = -1;
            }
            parts++;
            cut = 1;
            break;
        }
        if (sep && VB_LIT(b, ", ") < 0) {
            res = -1;
        }
        Py_ssize_t start = b->chars;
        if (res == 0 && key != NULL) {
            Py_ssize_t half = (left - sep) / 2; /* left - sep >= 6: a floor division */
            res = fmt_value(b, key, half, depth + 1, seen, nseen + 1);
            if (res == 0) {
                Py_ssize_t rest = left - sep - (b->chars - start) - 2;
                res = VB_LIT(b, ": ");
                if (res == 0) {
                    res = fmt_value(b, val, rest, depth + 1, seen, nseen + 1);
                }
            }
        }
        else if (res == 0) {
            res = fmt_value(b, item, left - sep, depth + 1, seen, nseen + 1);
        }
        Py_XDECREF(item);
        Py_XDECREF(key);
        Py_XDECREF(val);
        if (res != 0) {
            break;
        }
        left -= (b->chars - start) + sep;
        parts++;
    }
    Py_XDECREF(iter);
    if (res != 0) {
        return res;
    }
    if (cls == &PyTuple_Type && parts == 1 && !cut && VB_LIT(b, ",") < 0) {
        return -1;
    }
    return vb_put(b, close, close_len, close_len);
}

/* values._text(v, room, ...) for the types done here; V_FALLBACK otherwise. */
static int
fmt_value(vbuf *b, PyObject *v, Py_ssize_t room, int depth, PyObject **seen, int nseen)
{
    PyTypeObject *cls = Py_TYPE(v);
    if (cls == &PyLong_Type) {
        return fmt_int(b, v, room);
    }
    if (cls == &PyUnicode_Type) {
        /* values._quoted gives the whole repr when it fits; cutting is left to it */
        return PyUnicode_GET_LENGTH(v) + 2 <= room ? fmt_repr_fitting(b, v, room) : V_FALLBACK;
    }
    if (cls == &PyBytes_Type) {
        return PyBytes_GET_SIZE(v) + 3 <= room ? fmt_repr_fitting(b, v, room) : V_FALLBACK;
    }
    if (cls == &PyByteArray_Type) {
        return PyByteArray_GET_SIZE(v) + 14 <= room ? fmt_repr_fitting(b, v, room) : V_FALLBACK;
    }
    if (v == Py_None) {
        return vb_cut_ascii(b, "None", 4, room);
    }
    if (v == Py_True) {
        return vb_cut_ascii(b, "True", 4, room);
    }
    if (v == Py_False) {
        return vb_cut_ascii(b, "False", 5, room);
    }
    if (v == Py_Ellipsis) {
        return vb_cut_ascii(b, "Ellipsis", 8, room);
    }
    if (cls == &PyFloat_Type || cls == &PyComplex_Type) {
        return fmt_repr_cut(b, v, room);
    }
    if (cls == &PyList_Type || cls == &PyTuple_Type || cls == &PyDict_Type ||
        cls == &PySet_Type || cls == &PyFrozenSet_Type) {
        return fmt_container(b, v, room, depth, seen, nseen);
    }
    if (args_repr) {
        return V_FALLBACK; /* repr(): the program's code, run by values.py */
    }
    return fmt_opaque(b, v, room);
}

/* values.<fn>(arg) as text, the context busy meanwhile (see Context.busy). */
static int
vb_python(vbuf *b, PyObject *ctx, PyObject *fn_name, PyObject *const *args, size_t nargs,
          int join)
{
    PyObject *fn = PyObject_GetAttr(values_mod, fn_name);
    if (fn == NULL) {
        return -1;
    }
    if (PyObject_SetAttr(ctx, slot_str[C_BUSY], Py_True) < 0) {
        Py_DECREF(fn);
        return -1;
    }
    PyObject *res = PyObject_Vectorcall(fn, args, nargs, NULL);
    Py_DECREF(fn);
    if (PyObject_SetAttr(ctx, slot_str[C_BUSY], Py_False) < 0) {
        Py_XDECREF(res);
        return -1;
    }
    if (res == NULL) {
        return -1;
    }
    if (join) { /* values.args_text(values.arguments(...)) */
        PyObject *text_fn = PyObject_GetAttr(values_mod, s_args_text);
        if (text_fn == NULL) {
            Py_DECREF(res);
            return -1;
        }
        Py_SETREF(res, PyObject_CallOneArg(text_fn, res));
        Py_DECREF(text_fn);
        if (res == NULL) {
            return -1;
        }
    }
    int err = PyUnicode_Check(res) ? vb_str(b, res) : -1;
    if (!PyUnicode_Check(res)) {
        PyErr_SetString(PyExc_TypeError, "functrace: a value's text must be a str");
    }
    Py_DECREF(res);
    return err;
}

/* values.value_text(v) */
static int
vb_value(vbuf *b, PyObject *ctx, PyObject *v)
{
    Py_ssize_t len = b->len, chars = b->chars;
    PyObject *seen[V_MAX_DEPTH + 1];
    int r = fmt_value(b, v, args_length, 0, seen, 0);
    if (r == 0) {
        return 0;
    }
    if (r < 0) {
        PyErr_Clear(); /* values.py says what it says: "<?>" */
    }
    b->len = len, b->chars = chars;
    return vb_python(b, ctx, s_value_text, &v, 1, 0);
}

/* The parameters' (names, redacted flags, has **kwargs), as values._params keeps them. */
static PyObject *
params_of(PyObject *info, PyObject *code)
{
#ifdef Py_GIL_DISABLED
    /* another thread may replace it meanwhile (after a configure): a reference */
    PyObject *cached = PyObject_GetAttr(info, s_params);
    if (cached == NULL) {
        PyErr_Clear();
    }
#else
    PyObject *cached = params_off >= 0 && Py_TYPE(info) == info_type
                           ? Py_XNewRef(*(PyObject **)((char *)info + params_off))
                           : NULL;
#endif
    if (cached != NULL && PyTuple_CheckExact(cached) && PyTuple_GET_SIZE(cached) == 2 &&
        PyLong_CheckExact(PyTuple_GET_ITEM(cached, 0)) &&
        PyLong_AsLong(PyTuple_GET_ITEM(cached, 0)) == args_gen) {
        PyObject *spec = Py_NewRef(PyTuple_GET_ITEM(cached, 1));
        Py_DECREF(cached);
        return spec;
    }
    Py_XDECREF(cached);
    PyObject *fn = PyObject_GetAttr(values_mod, s_params_fn);
    if (fn == NULL) {
        return NULL;
    }
    PyObject *spec = PyObject_CallFunctionObjArgs(fn, info, code, NULL);
    Py_DECREF(fn);
    return spec;
}

#if PY_VERSION_HEX < 0x030C0000
/* 3.10/3.11: wrapper code -> the traced code whose parameters it has, as
 * values._call_frame found it (strong references: no address is reused while here). */
#define WRAPPER_CACHE_SIZE 64
static struct {
    PyObject *wrapper, *code;
} wrapper_cache[WRAPPER_CACHE_SIZE];
static PyObject *s_f_locals, *s_call_frame;

/* Whether frame (running fcode) is code's generated wrapper: 1, 0, -1 on error. */
static int
is_wrapper_of(PyObject *frame, PyObject *fcode, PyObject *code, PyObject *names)
{
    size_t slot = ((size_t)fcode >> 4) % WRAPPER_CACHE_SIZE;
    if (wrapper_cache[slot].wrapper == fcode && wrapper_cache[slot].code == code) {
        return 1;
    }
    PyObject *fn = PyObject_GetAttr(values_mod, s_call_frame);
    if (fn == NULL) {
        return -1;
    }
    PyObject *found = PyObject_CallFunctionObjArgs(fn, code, frame, names, NULL);
    Py_DECREF(fn);
    if (found == NULL) {
        return -1;
    }
    int same = found == frame;
    Py_DECREF(found);
    if (same) {
        PyObject *old_wrapper = wrapper_cache[slot].wrapper, *old_code = wrapper_cache[slot].code;
        wrapper_cache[slot].wrapper = Py_NewRef(fcode);
        wrapper_cache[slot].code = Py_NewRef(code);
        Py_XDECREF(old_wrapper);
        Py_XDECREF(old_code);
    }
    return same;
}
#endif

/* "(a=1, b='x')" of the call starting: values.arguments (read from the running
 * frame, the call's own or its wrapper's) or values.given_arguments (given: the
 * values a generated wrapper hands over, in the parameters' order), and
 * values.args_text. 0, or -1 with an error. */
static int
vb_arguments(vbuf *b, PyObject *ctx, PyObject *info, PyObject *code, PyObject *given)
{
    PyFrameObject *frame = given == NULL ? PyEval_GetFrame() : NULL; /* borrowed */
    PyObject *caller = frame != NULL ? (PyObject *)frame : Py_None;
    PyObject *spec = NULL, *scope = NULL;
    Py_ssize_t start = b->len, start_chars = b->chars;
    int err = -1, known = 0;
    if (given == NULL && frame == NULL) {
        goto python;
    }
    spec = params_of(info, code);
    if (spec == NULL) {
        goto out;
    }
    PyObject *names, *redacted;
    if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != 3 ||
        !PyTuple_CheckExact(names = PyTuple_GET_ITEM(spec, 0)) ||
        !PyTuple_CheckExact(redacted = PyTuple_GET_ITEM(spec, 1)) ||
        PyTuple_GET_SIZE(redacted) != PyTuple_GET_SIZE(names)) {
        PyErr_SetString(PyExc_TypeError, "functrace: unexpected parameters");
        goto out;
    }
    int varkw = PyTuple_GET_ITEM(spec, 2) == Py_True;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (n == 0) {
        err = VB_LIT(b, "()");
        goto out;
    }
    if (given != NULL) {
        if (!PyTuple_CheckExact(given) || PyTuple_GET_SIZE(given) != n) {
            goto python; /* values.py says what it says (nothing) */
        }
    }
    else {
        PyCodeObject *fcode = PyFrame_GetCode(frame);
        int own = (PyObject *)fcode == code;
#if PY_VERSION_HEX < 0x030C0000
        if (!own) {
            /* 3.10/3.11: a generated wrapper made while values were not wanted
             * (wrap.py), whose parameters are the function's */
            own = is_wrapper_of(caller, (PyObject *)fcode, code, names);
        }
#endif
        Py_DECREF(fcode);
        if (own < 0) {
            goto out;
        }
        if (!own) {
            goto python; /* a generator's driver (values.frame_finders), or no frame of it */
        }
#if PY_VERSION_HEX < 0x030C0000
        /* The locals snapshot, as values.arguments reads it (no public way to read
         * a local of a 3.10/3.11 frame without it). */
        scope = PyObject_GetAttr(caller, s_f_locals);
        if (scope == NULL) {
            goto out;
        }
        if (!PyDict_CheckExact(scope)) {
            goto python;
        }
#endif
    }
    known = 1;
    Py_ssize_t left = args_line_length, written = 0;
    err = VB_LIT(b, "(");
    for (Py_ssize_t i = 0; i < n && err == 0; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *v;
        if (given != NULL) {
            v = Py_NewRef(PyTuple_GET_ITEM(given, i));
        }
        else {
#if PY_VERSION_HEX >= 0x030C0000
            /* public since 3.12: a scan of the code's local names, no locals dict made */
            v = PyFrame_GetVar(frame, name);
            if (v == NULL) {
                if (PyErr_ExceptionMatches(PyExc_NameError)) {
                    PyErr_Clear(); /* a cell not filled yet, or deleted */
                    continue;
                }
                err = -1;
                break;
            }
#else
            v = PyDict_GetItemWithError(scope, name);
            if (v == NULL) {
                if (PyErr_Occurred()) {
                    err = -1;
                    break;
                }
                continue;
            }
            Py_INCREF(v);
#endif
        }
        Py_ssize_t sep_at = b->len, sep_chars = b->chars;
        if (written && VB_LIT(b, ", ") < 0) {
            err = -1;
        }
        Py_ssize_t part = b->chars;
        if (err == 0) {
            err = vb_str(b, name) < 0 || VB_LIT(b, "=") < 0 ? -1 : 0;
        }
        if (err == 0) {
            if (PyTuple_GET_ITEM(redacted, i) == Py_True) {
                err = VB_LIT(b, "***");
            }
            else if (varkw && i == n - 1 && PyDict_CheckExact(v)) {
                err = PyDict_GET_SIZE(v) == 0 ? VB_LIT(b, "{}")
                                              : vb_python(b, ctx, s_kwargs_text, &v, 1, 0);
            }
            else {
                err = vb_value(b, ctx, v);
            }
        }
        Py_DECREF(v);
        if (err < 0) {
            break;
        }
        Py_ssize_t part_len = b->chars - part;
        if (part_len + 2 > left) { /* the rest is one "…" */
            b->len = sep_at, b->chars = sep_chars;
            err = (written && VB_LIT(b, ", ") < 0) || VB_ELLIPSIS(b) < 0 ? -1 : 0;
            break;
        }
        left -= part_len + 2;
        written++;
    }
    if (err == 0) {
        err = VB_LIT(b, ")");
    }
    goto out;
python: {
    PyObject *args[3] = {info, code, given != NULL ? given : caller};
    err = vb_python(b, ctx, given != NULL ? s_given_arguments : s_arguments, args, 3, 1);
}
out:
    if (scope != NULL && PyDict_CheckExact(scope)) {
        /* values.arguments too: the frame's snapshot must not keep the arguments */
        PyDict_Clear(scope);
    }
    Py_XDECREF(scope);
    Py_XDECREF(spec);
    if (err < 0 && known && PyErr_ExceptionMatches(PyExc_Exception) &&
        !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) { /* that one: see do_enter */
        PyErr_Clear(); /* values.arguments gives none then */
        b->len = start, b->chars = start_chars;
        return VB_LIT(b, "()");
    }
    return err;
}

/* "->name(a=1)\n", the enter line's text after the tag and indent. */
static int
enter_args_text(vbuf *b, PyObject *ctx, PyObject *info, PyObject *code, PyObject *given)
{
    PyObject *owned_text = NULL;
    int err = -1;
    PyObject *text = info_text(info, I_ENTER, &owned_text); /* "->name\n" */
    Py_ssize_t n = 0;
    const char *u8 =
        text != NULL && PyUnicode_Check(text) ? PyUnicode_AsUTF8AndSize(text, &n) : NULL;
    if (u8 == NULL || n < 1) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "functrace: unexpected enter text");
        }
        goto out;
    }
    if (vb_put(b, u8, n - 1, 0) < 0 || vb_arguments(b, ctx, info, code, given) < 0 ||
        VB_LIT(b, "\n") < 0) {
        goto out;
    }
    err = 0;
out:
    Py_XDECREF(owned_text);
    return err;
}

/* The exit line: the duration words, then value (" => value\n"). */
static int
emit_with_value(PyObject *tag, Py_ssize_t depth, PyObject *text, const char *words,
                Py_ssize_t words_len, vbuf *value)
{
    vbuf b;
    vb_init(&b);
    int err = vb_put(&b, words, words_len, 0) < 0 || vb_put(&b, value->p, value->len, 0) < 0
                  ? -1
                  : emit(tag, depth, text, b.p, b.len);
    vb_free(&b);
    return err;
}

/* " => value" of an exit line: what the call returned or yielded. */
static int
exit_value_text(vbuf *b, PyObject *ctx, PyObject *value)
{
    if (VB_LIT(b, " => ") < 0) {
        return -1;
    }
    return vb_value(b, ctx, value);
}

/* ------------------------------------------------------------ jsonl lines and the depth limit
 *
 * FUNCTRACE_FORMAT=jsonl takes the same fast way as text lines, writing
 * sink.json_enter's and sink.json_exit's lines byte for byte (compared by
 * tests/runtime/test_speedups.py):
 *   {"v":1,"ts":T,<ctx.json_head>,"depth":D,"ev":"enter",<info.json_head>}
 *   {"v":1,"ts":T,<ctx.json_head>,"depth":D,"ev":"exit",<info.json_head>,"dur":N,"exc":null,"suspended":null}
 * with T = sink.epoch_offset_ns + the event's perf_counter_ns. Both heads are
 * ASCII (JSON-escaped by the engine). A CodeInfo's never changes: it is read in
 * place, as the text slots are. A Context's changes when its thread is renamed
 * or the process tag changes, maybe from another thread (an output switch), so
 * it is read with a reference of its own. Arguments and values (FUNCTRACE_ARGS)
 * in jsonl are the engine's.
 *
 * FUNCTRACE_MAX_DEPTH (either format): a call deeper than the limit goes on the
 * stack unwritten and its end writes nothing, as in the engine. */

static int jsonl;                             /* set_lines: jsonl, else text */
static Py_ssize_t max_depth = PY_SSIZE_T_MAX; /* set_lines */
static long long epoch_offset;                /* sink.epoch_offset_ns */
static PyObject *json_quote;                  /* json.encoder.encode_basestring_ascii */
static PyObject *s_qualname;
#ifdef Py_GIL_DISABLED
static PyObject *ctx_json_descr;      /* Context.json_head's member descriptor */
static PyMemberDef *ctx_json_member;  /* its member, or NULL: getattr */
#endif

/* ctx.json_head, a new reference. */
static inline PyObject *
ctx_json_head(PyObject *ctx)
{
#ifdef Py_GIL_DISABLED
    /* As ctx.json_head reads it: safe while another thread replaces it. */
    if (Py_TYPE(ctx) == ctx_type && ctx_json_member != NULL) {
        return PyMember_GetOne((const char *)ctx, ctx_json_member);
    }
    return PyObject_GetAttr(ctx, slot_str[C_JSON]);
#else
    return get_slot(ctx, ctx_type, C_JSON);
#endif
}

/* ts (epoch_offset + t, 19 digits) as text: the seconds, which change once a
 * second, kept as text (per thread without the GIL); the nanoseconds nine digits,
 * two at a time. A digit at a time was a fifth of a jsonl event's cost. */
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324"
                                  "25262728293031323334353637383940414243444546474849"
                                  "50515253545556575859606162636465666768697071727374"
                                  "75767778798081828384858687888990919293949596979899";
#ifdef Py_GIL_DISABLED
static THREAD_LOCAL
#else
static /* with the GIL, one writer at a time */
#endif
    struct {
    long long sec; /* -1: none yet */
    Py_ssize_t len;
    char text[24];
} tl_sec = {-1, 0, {0}};

/* put_int of a count (a depth, a duration), two digits at a time. */
static inline Py_ssize_t
put_count(char *out, long long v)
{
    if (v < 0) {
        return put_int(out, v);
    }
    char digits[24];
    char *p = digits + sizeof(digits);
    unsigned long long u = (unsigned long long)v;
    while (u >= 100) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * u, 2);
    }
    else {
        *--p = (char)('0' + u);
    }
    Py_ssize_t n = digits + sizeof(digits) - p;
    memcpy(out, p, (size_t)n);
    return n;
}

static Py_ssize_t
put_ts(char *out, long long ts)
{
    if (ts < 1000000000LL) {
        return put_count(out, ts); /* a clock before 1970 */
    }
    long long sec = ts / 1000000000LL;
    unsigned int ns = (unsigned int)(ts % 1000000000LL);
    if (tl_sec.sec != sec) {
        tl_sec.len = put_int(tl_sec.text, sec);
        tl_sec.sec = sec;
    }
    memcpy(out, tl_sec.text, (size_t)tl_sec.len);
    char *p = out + tl_sec.len + 9;
    for (int i = 0; i < 4; i++) {
        unsigned int r = ns % 100;
        ns /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    *--p = (char)('0' + ns);
    return tl_sec.len + 9;
}

#define JSON_START "{\"v\":1,\"ts\":"
#define JSON_DEPTH ",\"depth\":"
#define JSON_EV ",\"ev\":\""
#define LIT_LEN(s) ((Py_ssize_t)sizeof(s) - 1)

/* A str's UTF-8 text; an ASCII one (every json head) read in place. */
static inline const char *
utf8_of(PyObject *text, Py_ssize_t *len)
{
    if (PyUnicode_IS_COMPACT_ASCII(text)) {
        *len = PyUnicode_GET_LENGTH(text);
        return (const char *)PyUnicode_DATA(text);
    }
    return PyUnicode_AsUTF8AndSize(text, len);
}

/* One jsonl event line: {"v":1,"ts":T,<ctx head>,"depth":D,"ev":"EV",<info head>
 * and then tail (the rest, with "}\n"). These writers stay out of line
 * (FT_NO_INLINE): inlined into do_leave, they made GCC stop inlining the text
 * path's own small helpers there. */
static FT_NO_INLINE int
emit_json(PyObject *ctx, PyObject *info, Py_ssize_t depth, long long t, const char *ev,
          Py_ssize_t ev_len, const char *tail, Py_ssize_t tail_len)
{
    PyObject *owned = NULL;
    PyObject *ctx_head = ctx_json_head(ctx);
    PyObject *info_head = ctx_head != NULL ? info_text(info, I_JSON, &owned) : NULL;
    int err = -1;
    if (info_head == NULL) {
        goto out;
    }
    if (!PyUnicode_Check(ctx_head) || !PyUnicode_Check(info_head)) {
        PyErr_SetString(PyExc_TypeError, "functrace: json heads must be str");
        goto out;
    }
    Py_ssize_t ctx_len, info_len;
    const char *ctx_u8 = utf8_of(ctx_head, &ctx_len);
    const char *info_u8 = ctx_u8 != NULL ? utf8_of(info_head, &info_len) : NULL;
    if (info_u8 == NULL) {
        goto out;
    }
    char ts[24], dp[24];
    Py_ssize_t ts_len = put_ts(ts, epoch_offset + t), dp_len = put_count(dp, depth);
    line_room room;
    char *out = line_begin(&room, LIT_LEN(JSON_START) + ts_len + 1 + ctx_len +
                                      LIT_LEN(JSON_DEPTH) + dp_len + LIT_LEN(JSON_EV) + ev_len +
                                      2 + info_len + tail_len);
    if (out == NULL) {
        goto out;
    }
#define PUT(p, n) (memcpy(out, (p), (size_t)(n)), out += (n))
    PUT(JSON_START, LIT_LEN(JSON_START));
    PUT(ts, ts_len);
    *out++ = ',';
    PUT(ctx_u8, ctx_len);
    PUT(JSON_DEPTH, LIT_LEN(JSON_DEPTH));
    PUT(dp, dp_len);
    PUT(JSON_EV, LIT_LEN(JSON_EV));
    switch (ev_len) { /* fixed sizes: no call */
    case 4:
        memcpy(out, ev, 4);
        break;
    case 5:
        memcpy(out, ev, 5);
        break;
    case 6:
        memcpy(out, ev, 6);
        break;
    default:
        memcpy(out, ev, (size_t)ev_len);
    }
    out += ev_len;
    *out++ = '"';
    *out++ = ',';
    PUT(info_u8, info_len);
    PUT(tail, tail_len);
#undef PUT
    err = line_end(&room);
out:
    Py_XDECREF(ctx_head);
    Py_XDECREF(owned);
    return err;
}

/* sink.json_exit's line of a return, a plain generator's yield (yielded) or a
 * raise (raised: the exception's type name, JSON-quoted). */
static FT_NO_INLINE int
emit_json_exit(PyObject *ctx, PyObject *info, Py_ssize_t depth, long long t, long long dur,
               PyObject *raised, int yielded)
{
    static const char returned[] = ",\"exc\":null,\"suspended\":null}\n";
    static const char suspended[] = ",\"exc\":null,\"suspended\":\"yield\"}\n";
    static const char after_raised[] = ",\"suspended\":null}\n";
    char tail[128] = ",\"dur\":";
    Py_ssize_t n = LIT_LEN(",\"dur\":");
    n += put_count(tail + n, dur);
    const char *ev = yielded ? "suspend" : "exit";
    Py_ssize_t ev_len = yielded ? LIT_LEN("suspend") : LIT_LEN("exit");
    if (raised == NULL) {
        if (yielded) {
            memcpy(tail + n, suspended, sizeof(suspended) - 1);
            n += LIT_LEN(suspended);
        }
        else {
            memcpy(tail + n, returned, sizeof(returned) - 1);
            n += LIT_LEN(returned);
        }
        return emit_json(ctx, info, depth, t, ev, ev_len, tail, n);
    }
    vbuf b;
    vb_init(&b);
    int err = vb_put(&b, tail, n, 0) < 0 || VB_LIT(&b, ",\"exc\":") < 0 ||
                      vb_str(&b, raised) < 0 || VB_LIT(&b, after_raised) < 0
                  ? -1
                  : emit_json(ctx, info, depth, t, ev, ev_len, b.p, b.len);
    vb_free(&b);
    return err;
}

/* The name an exit line gives exc, the exception a call raised: its type's
 * __qualname__, JSON-quoted for jsonl. 1 and a new reference; 0 when the engine
 * is to write the line (a metaclass, whose __qualname__ may be the program's
 * code; a text that is not UTF-8: the engine writes a str line); -1 on error. */
static FT_NO_INLINE int
raised_name(PyObject *exc, PyObject **out)
{
    *out = NULL;
    PyTypeObject *tp = Py_TYPE(exc);
    if (!Py_IS_TYPE((PyObject *)tp, &PyType_Type)) {
        return 0;
    }
    PyObject *name = PyObject_GetAttr((PyObject *)tp, s_qualname); /* type's own getter */
    if (name == NULL) {
        return -1;
    }
    if (!PyUnicode_CheckExact(name)) {
        Py_DECREF(name);
        return 0;
    }
    if (jsonl) {
        Py_SETREF(name, PyObject_CallOneArg(json_quote, name));
        if (name == NULL) {
            return -1;
        }
        if (!PyUnicode_Check(name)) {
            Py_DECREF(name);
            PyErr_SetString(PyExc_TypeError, "functrace: a quoted name must be a str");
            return -1;
        }
    }
    if (PyUnicode_AsUTF8AndSize(name, NULL) == NULL) {
        Py_DECREF(name);
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    *out = name;
    return 1;
}

/* The text exit line of a raise: the duration words, " !Name\n". */
static FT_NO_INLINE int
emit_text_raised(PyObject *tag, Py_ssize_t depth, PyObject *text, const char *words,
                 Py_ssize_t words_len, PyObject *raised)
{
    vbuf b;
    vb_init(&b);
    int err = VB_LIT(&b, " !") < 0 || vb_str(&b, raised) < 0 || VB_LIT(&b, "\n") < 0
                  ? -1
                  : emit_with_value(tag, depth, text, words, words_len, &b);
    vb_free(&b);
    return err;
}

/* ------------------------------------------------------------ outermost calls
 *
 * A thread's outermost call (its stack empty) went to the engine, which looks
 * for an asyncio task and checks the thread's origin and name there: with a
 * parser called in a loop (bench_runtime's, 68 calls per outermost one) those
 * two Python events cost more than all the nested calls' together. When the
 * engine's general way would end up writing the same line as a nested call's,
 * it is taken here: the thread's own context (not a task's), no asyncio loop
 * running in this thread (state.task_context then gives the thread's context),
 * no origin due (a thread's first call), no recording, named in this output
 * under the name the thread has now. The rest is the engine's, as before. With
 * the GIL only: without it, reading another thread's renames needs references
 * of its own; the engine keeps those calls. */

#ifndef Py_GIL_DISABLED
static inline int events_are_paused(void); /* PAUSED(), below ("pausing") */

/* engine.<name> (a module global), borrowed; NULL without an error if missing. */
static inline PyObject *
engine_global(PyObject *name)
{
    PyObject *dict = PyModule_GetDict(engine_mod); /* borrowed */
    PyObject *v = dict != NULL ? PyDict_GetItemWithError(dict, name) : NULL;
    return v;
}

/* An asyncio event loop runs in this thread: 1, 0, -1 on error. As
 * state.task_context asks: sys.modules["asyncio"]._get_running_loop(). */
static int
asyncio_running(void)
{
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    PyObject *asyncio = PyDict_GetItemWithError(modules, s_asyncio);
    if (asyncio == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_INCREF(asyncio);
    PyObject *loop = PyObject_CallMethodNoArgs(asyncio, s_get_running_loop);
    Py_DECREF(asyncio);
    if (loop == NULL) {
        return -1;
    }
    int r = loop != Py_None;
    Py_DECREF(loop);
    return r;
}
#endif

/* The enter of ctx's outermost call can be written here (1), is the engine's
 * (0), or -1 on error. */
static FT_NO_INLINE int
outermost_enter_plain(PyObject *ctx)
{
#ifdef Py_GIL_DISABLED
    (void)ctx;
    return 0;
#else
    /* Python code first (it may let another thread run, which may switch the
     * output meanwhile: with the GIL, a switch does not wait for compiled
     * events, which run none), then the checks, and from them to the line no
     * Python code runs. */
    PyObject *owner = peek_slot(ctx, ctx_type, C_OWNER);
    if (owner == NULL || owner == Py_None || args_on) {
        return 0; /* values: formatted by Python code, after these checks */
    }
    /* The context busy meanwhile, as around any call of Python code from an
     * event: the program may trace the code asked (`-i 'threading*'`: the
     * thread's name is a property), which is functrace's own work here. */
    if (PyObject_SetAttr(ctx, slot_str[C_BUSY], Py_True) < 0) {
        return -1;
    }
    PyObject *now = NULL;
    int r = asyncio_running();
    if (r == 0) {
        Py_INCREF(owner);
        now = PyObject_GetAttr(owner, s_name); /* Context.current_name()'s */
        Py_DECREF(owner);
        r = now == NULL ? -1 : 0;
    }
    if (PyObject_SetAttr(ctx, slot_str[C_BUSY], Py_False) < 0) {
        Py_XDECREF(now);
        return -1;
    }
    if (r != 0) {
        return r < 0 ? -1 : 0;
    }
    if (events_are_paused() || !write_lines || REC_GEN() != 0 ||
        peek_slot(ctx, ctx_type, C_BASE) != Py_None ||
        peek_slot(ctx, ctx_type, C_DUE) != Py_None) {
        Py_DECREF(now);
        return 0;
    }
    PyObject *named = peek_slot(ctx, ctx_type, C_NAMED);
    PyObject *name = peek_slot(ctx, ctx_type, C_NAME);
    PyObject *generation = engine_global(s_generation);
    if (named == NULL || name == NULL || generation == NULL || !PyUnicode_CheckExact(now) ||
        !PyUnicode_CheckExact(name) || !PyLong_CheckExact(named) ||
        !PyLong_CheckExact(generation)) {
        Py_DECREF(now);
        return PyErr_Occurred() ? -1 : 0;
    }
    /* Named in this output (engine._generation), under its name now: else the
     * engine names it first. Ints and strs compare without Python code. */
    r = PyObject_RichCompareBool(named, generation, Py_EQ);
    if (r > 0) {
        r = PyObject_RichCompareBool(now, name, Py_EQ);
    }
    Py_DECREF(now);
    return r;
#endif
}

/* The end of ctx's outermost call can be written here (1: as the engine would,
 * its _outermost_ended doing nothing), or is the engine's (0); -1 on error. */
static FT_NO_INLINE int
outermost_leave_plain(PyObject *ctx, PyObject *entry)
{
#ifdef Py_GIL_DISABLED
    (void)ctx;
    (void)entry;
    return 0;
#else
    if (peek_slot(ctx, ctx_type, C_BASE) != Py_None ||
        peek_slot(entry, entry_type, E_NODE) != Py_None) {
        return 0;
    }
    PyObject *flush_outermost = engine_global(s_flush_outermost);
    if (flush_outermost == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return flush_outermost == Py_False;
#endif
}

/* ------------------------------------------------------------ the two events */

/* given: the call's arguments a generated wrapper hands over (enter's fifth), or NULL */
static PyObject *
enter_event(PyObject *resumed_obj, int resumed, PyObject *code, PyObject *given)
{
    PyObject *info = NULL, *ctx = NULL, *stack = NULL, *entry = NULL, *tag = NULL,
             *text = NULL;
    int ok = 0;
    vbuf vb; /* FUNCTRACE_ARGS: the line, with its arguments */
    int with_args = 0;
    int r = lookup_info(code, &info);
    if (r <= 0) {
        ok = r == 0;
        goto done;
    }
    r = current_context(&ctx);
    if (r < 0) {
        goto done;
    }
    if (r == 0) {
        goto hand_on; /* the thread's first traced call */
    }
    switch (route(ctx)) {
    case ROUTE_SKIP:
        ok = 1;
        goto done;
    case ROUTE_ENGINE:
        goto hand_on;
    case ROUTE_FAST:
        break;
    default:
        goto done;
    }
    stack = get_slot(ctx, ctx_type, C_STACK);
    if (stack == NULL) {
        goto done;
    }
    if (!PyList_CheckExact(stack)) {
        goto hand_on;
    }
    int outermost = PyList_GET_SIZE(stack) == 0;
    int async_code = peek_slot(info, info_type, I_IS_ASYNC) == Py_False ? 0 : -1;
    if (async_code < 0) {
        PyObject *is_async = get_slot(info, info_type, I_IS_ASYNC);
        if (is_async == NULL) {
            goto done;
        }
        async_code = PyObject_IsTrue(is_async);
        Py_DECREF(is_async);
        if (async_code < 0) {
            goto done;
        }
    }
    if (async_code) {
        goto hand_on;
    }
    if (outermost) {
        r = outermost_enter_plain(ctx); /* maybe a task's, a thread's first, ... */
        if (r <= 0) {
            if (r < 0) {
                goto done;
            }
            goto hand_on;
        }
    }
    /* Past the depth limit the call writes nothing. Within it, a parent whose
     * enter line is not written yet (held back by a filter since switched off, or
     * at the recursion limit) is the engine's to write first. */
    Py_ssize_t depth = PyList_GET_SIZE(stack) + 1;
    int lines = write_lines; /* else a recording only (its entries are never written) */
    int deep = depth > max_depth;
    if (lines && !deep && !outermost &&
        peek_slot(PyList_GET_ITEM(stack, depth - 2), entry_type, E_WRITTEN) != Py_True) {
        goto hand_on;
    }
    if (args_on && !resumed) {
        if (deep || jsonl) {
            goto hand_on; /* select_path never asks for these: the engine's */
        }
        vb_init(&vb);
        with_args = 1;
        if (enter_args_text(&vb, ctx, info, code, given) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                goto done;
            }
            PyErr_Clear(); /* a lone surrogate (a repr's): the engine writes a str line */
            goto hand_on;
        }
    }
    long long t;
    if (now_ns(&t) < 0) {
        goto done;
    }
    entry = new_entry(info, t, lines && !deep ? Py_True : Py_False);
    if (entry == NULL || PyList_Append(stack, entry) < 0) {
        goto done;
    }
    PyObject *tag_now = ctx_tag(ctx, &tag);
    if (!lines || deep) {
        /* a recording only, or past the depth limit: no line */
    }
    else if (jsonl) {
        if (emit_json(ctx, info, depth, t, resumed ? "resume" : "enter", resumed ? 6 : 5, "}\n",
                      2) < 0) {
            goto done;
        }
    }
    else if (with_args) {
        if (emit(tag_now, depth, s_empty, vb.p, vb.len) < 0) {
            goto done;
        }
    }
    else if (emit(tag_now, depth, info_text(info, resumed ? I_RESUME : I_ENTER, &text), NULL,
                  0) < 0) {
        goto done;
    }
    if (REC_GEN() != 0 &&
        (tag_now == NULL || journal_enter(ctx, stack, entry, info, tag_now, t, resumed) < 0)) {
        goto done;
    }
    ok = !lines || maybe_flush(t) == 0;
    goto done;
hand_on: {
    Py_ssize_t before = ctx != NULL ? stack_len(ctx) : -1;
    PyObject *args[5] = {resumed_obj, code, zero, Py_None, given};
    ok = delegate(s_enter, args, given != NULL ? 5 : 2) == 0;
    if (!ok && before >= 0 && PyErr_ExceptionMatches(PyExc_RecursionError)) {
        /* engine.enter had no frame left to run in (the program is at its
         * recursion limit). The call is on the stack all the same, unwritten,
         * so that its end matches it and writes both its lines. */
        PyErr_Clear();
        ok = stack_len(ctx) != before || push_unwritten(ctx, info) == 0;
    }
}
done:
    if (with_args) {
        vb_free(&vb);
    }
    INFO_RELEASE(info);
    Py_XDECREF(ctx);
    Py_XDECREF(stack);
    Py_XDECREF(entry);
    Py_XDECREF(tag);
    Py_XDECREF(text);
    return finish(ok);
}

static PyObject *
leave_event(PyObject *kind, PyObject *code, PyObject *offset, PyObject *arg)
{
    PyObject *info = NULL, *ctx = NULL, *stack = NULL, *entry = NULL, *tag = NULL,
             *text = NULL, *raised = NULL;
    int ok = 0;
    vbuf vb; /* FUNCTRACE_ARGS: " => value\n" */
    int with_value = 0;
    long long t;
    if (now_ns(&t) < 0) {
        return finish(0);
    }
    int r = lookup_info(code, &info);
    if (r <= 0) {
        ok = r == 0;
        goto done;
    }
    r = current_context(&ctx);
    if (r <= 0) {
        ok = r == 0; /* a call that started before tracing did in this thread */
        goto done;
    }
    switch (route(ctx)) {
    case ROUTE_SKIP:
        ok = 1;
        goto done;
    case ROUTE_ENGINE:
        goto hand_on;
    case ROUTE_FAST:
        break;
    default:
        goto done;
    }
    stack = get_slot(ctx, ctx_type, C_STACK);
    if (stack == NULL) {
        goto done;
    }
    int special = kind == kind_obj[K_RETURN] ? 0 : PyObject_IsTrue(kind);
    if (special < 0) {
        goto done;
    }
    /* A plain generator's yield is as common as a return in generator-heavy code
     * (a lexer): the same fast way, its exit line ending in " yield". */
    int yielded = 0;
    if (kind == kind_obj[K_SUSPEND]) {
        PyObject *owned_word = NULL;
        PyObject *word = info_text(info, I_SUSPEND, &owned_word);
        if (word == NULL) {
            goto done;
        }
        yielded = PyUnicode_CheckExact(word) && PyUnicode_CompareWithASCIIString(word, "yield") == 0;
        Py_XDECREF(owned_word);
        special = !yielded;
    }
    /* A raise: its line says the exception's type (with values, the engine's). */
    int unwound = kind == kind_obj[K_UNWIND] && !args_on;
    if ((special && !unwound) || !PyList_CheckExact(stack)) {
        goto hand_on;
    }
    Py_ssize_t n = PyList_GET_SIZE(stack);
    if (n == 0) {
        ok = 1; /* nothing of ours is running here: a call entered while tracing was off */
        goto done;
    }
    PyObject *last = PyList_GET_ITEM(stack, n - 1);
    if (n < 2) {
        r = outermost_leave_plain(ctx, last); /* maybe a task's */
        if (r <= 0) {
            if (r < 0) {
                goto done;
            }
            goto hand_on;
        }
    }
    int lines = write_lines; /* else a recording only */
    int deep = n > max_depth; /* past the depth limit: no line */
    if (peek_slot(last, entry_type, E_INFO) != info ||
        (lines && !deep && peek_slot(last, entry_type, E_WRITTEN) != Py_True)) {
        goto hand_on; /* not the innermost call, or its enter line is not written */
    }
    if (unwound) {
        if (peek_slot(last, entry_type, E_NODE) != Py_None) {
            goto hand_on; /* a recording's call: the engine notes the exception */
        }
        if (lines && !deep) {
            r = raised_name(arg, &raised);
            if (r <= 0) {
                if (r < 0) {
                    goto done;
                }
                goto hand_on;
            }
        }
    }
    if (args_on && deep) {
        goto hand_on; /* select_path never asks for this: the engine's */
    }
    if (args_on && arg != no_value) { /* a probe's return: no value seen */
        vb_init(&vb);
        with_value = 1;
        if (exit_value_text(&vb, ctx, arg) < 0 || VB_LIT(&vb, "\n") < 0) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                goto done;
            }
            PyErr_Clear(); /* a lone surrogate (a repr's): the engine writes a str line */
            goto hand_on;
        }
    }
#ifndef Py_GIL_DISABLED
    /* stack.pop(), the list's reference moving to entry: the list keeps its
     * allocation (as list.pop does until it is half empty) and never reads past
     * its size. A third of the cost of PyList_SetSlice here. */
    entry = last;
    Py_SET_SIZE(stack, n - 1);
#else
    entry = Py_NewRef(last);
    if (PyList_SetSlice(stack, n - 1, n, NULL) < 0) {
        goto done;
    }
#endif
    PyObject *node = peek_slot(entry, entry_type, E_NODE);
    if (node != Py_None && Py_TYPE(node) == &journal_type) {
        if (journal_leave((JournalObject *)node, entry, t, yielded) < 0) {
            goto done;
        }
    }
    else if (node != Py_None) {
        /* made by the Python path (an outermost or an async call, or one of a
         * recording with a limit) */
        PyObject *t_obj = PyLong_FromLongLong(t);
        if (t_obj == NULL) {
            goto done;
        }
        int err = PyObject_SetAttr(node, s_end_ns, t_obj);
        Py_DECREF(t_obj);
        if (err < 0) {
            goto done;
        }
        if (yielded && PyObject_SetAttr(node, s_suspended, s_yield) < 0) {
            goto done;
        }
    }
    long long t0;
    if (entry_start(entry, &t0) < 0) {
        goto done;
    }
    if (!lines || deep) {
        ok = !lines || maybe_flush(t) == 0; /* a recording only, or no line */
        goto done;
    }
    if (jsonl) {
        if (emit_json_exit(ctx, info, n, t, t - t0, raised, yielded) < 0) {
            goto done;
        }
        ok = maybe_flush(t) == 0;
        goto done;
    }
    char tail[48];
    Py_ssize_t tail_len = format_duration(t - t0, tail);
    if (yielded) {
        memcpy(tail + tail_len, " yield", 6);
        tail_len += 6;
    }
    PyObject *tag_str = ctx_tag(ctx, &tag);
    PyObject *exit_text = tag_str != NULL ? info_text(info, I_EXIT, &text) : NULL;
    if (raised != NULL) {
        if (emit_text_raised(tag_str, n, exit_text, tail, tail_len, raised) < 0) {
            goto done;
        }
    }
    else if (with_value) {
        if (emit_with_value(tag_str, n, exit_text, tail, tail_len, &vb) < 0) {
            goto done;
        }
    }
    else {
        tail[tail_len++] = '\n';
        if (emit(tag_str, n, exit_text, tail, tail_len) < 0) {
            goto done;
        }
    }
    ok = maybe_flush(t) == 0;
    goto done;
hand_on: {
    Py_ssize_t before = stack_len(ctx);
    PyObject *args[4] = {kind, code, offset, arg};
    ok = delegate(s_leave, args, 4) == 0;
    if (!ok && before > 0 && PyErr_ExceptionMatches(PyExc_RecursionError)) {
        /* engine.leave had no frame left to run in: take the call off the
         * stack here, and leave its end for the context's next event to write. */
        PyErr_Clear();
        ok = stack_len(ctx) != before || stash_lost(ctx, info, kind, arg, t, before) == 0;
    }
    else if (ok && before > 0 && stack_len(ctx) == before && !engine_failed()) {
        /* engine.leave ran but dropped the end: before 3.12 its first calls of
         * builtins count against the recursion limit, and it loses the event
         * rather than the program's call. The same as above, then. */
        ok = stash_lost(ctx, info, kind, arg, t, before) == 0;
    }
}
done:
    if (with_value) {
        vb_free(&vb);
    }
    INFO_RELEASE(info);
    Py_XDECREF(ctx);
    Py_XDECREF(stack);
    if (entry != NULL) {
        release_entry(entry);
    }
    Py_XDECREF(tag);
    Py_XDECREF(text);
    Py_XDECREF(raised);
    return finish(ok);
}

/* ------------------------------------------------------------ pausing
 *
 * A switch of output stops every event for a moment (engine.configure): the
 * stacks then give the new output its `running` lines, and no line falls on the
 * wrong side of the switch. pause(True) raises the flag; each event, as it
 * begins, sees it and waits, off the interpreter, until pause(False). With the
 * GIL no event is half done when the flag goes up (one in a Python callout has
 * its context busy: the engine waits for those). Free-threaded, events run
 * beside the pausing thread: each marks itself in its thread's tl_lines, mark
 * first and flag second, the pausing thread flag first and marks second, both
 * sequentially consistent, so at least one of the two sees the other. */
#ifdef Py_GIL_DISABLED
static int events_paused;
#define PAUSED() _Py_atomic_load_int(&events_paused)
#define SET_PAUSED(v) _Py_atomic_store_int(&events_paused, (v))
#else
static volatile int events_paused; /* written with the GIL, read without it too */
#define PAUSED() events_paused
#define SET_PAUSED(v) (events_paused = (v))
#endif

#ifndef Py_GIL_DISABLED
static inline int
events_are_paused(void)
{
    return PAUSED();
}
#endif
/* This thread paused the others: its own events (functrace's own work calling
 * traced code, which the engine then leaves untraced) go on. */
static THREAD_LOCAL int pausing;

static void
wait_resumed(void)
{
    Py_BEGIN_ALLOW_THREADS
    while (PAUSED()) {
#ifndef _WIN32
        usleep(20);
#endif
    }
    Py_END_ALLOW_THREADS
}

#ifndef TL_LINES
/* With the GIL: the flag is up as an event begins. It waits, unless this thread
 * is the pausing one, or its context is busy: an event inside another's Python
 * callout (the pausing thread waits for that one to end; it returns at once). */
static FT_NO_INLINE int
event_paused(void)
{
    if (pausing) {
        return 0;
    }
    PyObject *ctx = NULL;
    int r = current_context(&ctx);
    if (r < 0) {
        return -1;
    }
    int busy = r > 0 ? context_busy(ctx) : 0;
    Py_XDECREF(ctx);
    if (busy < 0) {
        return -1;
    }
    while (!busy && PAUSED()) {
        wait_resumed(); /* and again if paused again before this thread had the GIL back */
    }
    return 0;
}
#endif

/* As an event begins: 0 to go on (after any pause), -1 on error. Free-threaded,
 * the thread's in_event counts its events in progress (more than one when an
 * event's Python callout runs another, which must not wait: its outer one
 * waited already, and the pausing thread waits for it to end). */
static inline int
event_begin(void)
{
#ifdef TL_LINES
    tl_lines *l = lines_mine();
    if (l == NULL) {
        return -1;
    }
    int depth = l->in_event; /* only this thread writes it */
    for (;;) {
        _Py_atomic_store_int(&l->in_event, depth + 1);
        if (depth > 0 || !PAUSED() || pausing) {
            return 0;
        }
        _Py_atomic_store_int(&l->in_event, 0);
        wait_resumed();
    }
#else
    return PAUSED() ? event_paused() : 0;
#endif
}

static inline void
event_end(void)
{
#ifdef TL_LINES
    tl_lines *l = my_lines;
    if (l != NULL) {
        _Py_atomic_store_int_release(&l->in_event, l->in_event - 1);
    }
#endif
}

static PyObject *
do_enter(PyObject *resumed_obj, int resumed, PyObject *code, PyObject *given)
{
    if (event_begin() < 0) {
        return finish(0);
    }
    PyObject *res = enter_event(resumed_obj, resumed, code, given);
    event_end();
    return res;
}

static PyObject *
do_leave(PyObject *kind, PyObject *code, PyObject *offset, PyObject *arg)
{
    if (event_begin() < 0) {
        return finish(0);
    }
    PyObject *res = leave_event(kind, code, offset, arg);
    event_end();
    return res;
}

/* pause(on): see above. pause(True) returns once no other thread is inside a
 * compiled event: True, or False if that could not be had (free-threaded without
 * per-thread lines, or a thread still inside one after ~2 s). */
static PyObject *
sp_pause(PyObject *self, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) {
        return NULL;
    }
    pausing = on;
    SET_PAUSED(on);
    if (!on) {
        Py_RETURN_TRUE;
    }
#if !defined(Py_GIL_DISABLED)
    Py_RETURN_TRUE;
#elif defined(TL_LINES)
    for (int tries = 0; tries < 100000; tries++) {
        int inside = 0;
        PyMutex_Lock(&all_lines_mutex);
        for (tl_lines *l = all_lines; l != NULL && !inside; l = l->next) {
            inside = l != my_lines && _Py_atomic_load_int(&l->in_event) &&
                     !_Py_atomic_load_int_acquire(&l->dead);
        }
        PyMutex_Unlock(&all_lines_mutex);
        if (!inside) {
            Py_RETURN_TRUE;
        }
        Py_BEGIN_ALLOW_THREADS
        usleep(20);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_FALSE;
#else
    Py_RETURN_FALSE;
#endif
}

/* wait_resumed(): for the engine's Python path, inside an event (its context no
 * longer busy): this thread counts as outside any event until the pause ends. */
static PyObject *
sp_wait_resumed(PyObject *self, PyObject *unused)
{
#ifdef TL_LINES
    tl_lines *l = my_lines;
    int depth = l != NULL ? l->in_event : 0;
    if (depth > 0) {
        for (;;) {
            _Py_atomic_store_int(&l->in_event, 0);
            wait_resumed();
            _Py_atomic_store_int(&l->in_event, depth);
            if (!PAUSED()) {
                break;
            }
        }
        Py_RETURN_NONE;
    }
#endif
    wait_resumed();
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------ entry points */

static int
check_ready(void)
{
    if (!initialized) {
        PyErr_SetString(PyExc_RuntimeError, "functrace._speedups: init() was not called");
        return -1;
    }
    return 0;
}

static int
check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t lo, Py_ssize_t hi)
{
    if (nargs < lo || nargs > hi) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd positional arguments (%zd given)",
                     name, lo, hi, nargs);
        return -1;
    }
    return check_ready();
}

/* enter(resumed, code, offset=0, exc=None, given=None): engine.enter */
static PyObject *
sp_enter(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("enter", nargs, 2, 5) < 0) {
        return NULL;
    }
    int resumed = args[0] == Py_False ? 0 : args[0] == Py_True ? 1 : PyObject_IsTrue(args[0]);
    if (resumed < 0) {
        return finish(0);
    }
    return do_enter(args[0], resumed, args[1], nargs > 4 && args[4] != Py_None ? args[4] : NULL);
}

/* leave(kind, code, offset=0, arg=None): engine.leave's contract, the fast way when it can */
static PyObject *
sp_leave(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("leave", nargs, 2, 4) < 0) {
        return NULL;
    }
    return do_leave(args[0], args[1], nargs > 2 ? args[2] : zero, nargs > 3 ? args[3] : Py_None);
}

/* sys.monitoring callbacks: (code, offset) or (code, offset, value). */

static PyObject *
sp_py_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("py_start", nargs, 2, 2) < 0) {
        return NULL;
    }
    return do_enter(Py_False, 0, args[0], NULL);
}

static PyObject *
sp_py_resume(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("py_resume", nargs, 2, 3) < 0) { /* PY_THROW adds the exception */
        return NULL;
    }
    return do_enter(Py_True, 1, args[0], NULL);
}

static PyObject *
sp_py_return(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("py_return", nargs, 3, 3) < 0) {
        return NULL;
    }
    return do_leave(kind_obj[K_RETURN], args[0], args[1], args[2]);
}

static PyObject *
sp_py_yield(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("py_yield", nargs, 3, 3) < 0) {
        return NULL;
    }
    return do_leave(kind_obj[K_SUSPEND], args[0], args[1], args[2]);
}

static PyObject *
sp_py_unwind(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("py_unwind", nargs, 3, 3) < 0) {
        return NULL;
    }
    return do_leave(kind_obj[K_UNWIND], args[0], args[1], args[2]);
}

/* ------------------------------------------------------------ inline probes
 *
 * 3.10/3.11: a traced plain function's body is `with <probe>: <body>` (probe.py),
 * the probe a constant of its code object. `with` looks up __enter__ and
 * __exit__ on the type and calls what the lookup gives; here both are
 * descriptors whose __get__ returns the probe itself while tracing is on (its
 * vectorcall is enter with no argument, leave with the three of __exit__) and
 * the shared idle object while it is off. So no bound method is made per call,
 * and, as these callables are not PyCFunctions, the interpreter makes no
 * recursion check around them: a traced function reaches the recursion limit
 * at the very depth it did untraced. Both lookups come before __enter__ runs,
 * with no Python code in between: a call that started while tracing was on
 * ends with its exit line, one that started while it was off writes nothing. */

static int probes_on;     /* the wrapper backend's switch (probe_switch) */
static int probes_direct; /* this module's enter/leave are engine.current (set_direct) */

typedef struct {
    PyObject_HEAD
    PyObject *code; /* the key code object engine.infos knows */
    vectorcallfunc vectorcall;
} ProbeObject;

static PyObject *probe_idle; /* __enter__ and __exit__ while tracing is off */

static PyObject *
probe_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyObject *code = ((ProbeObject *)self)->code;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((kwnames != NULL && PyTuple_GET_SIZE(kwnames)) || (nargs != 0 && nargs != 3)) {
        PyErr_SetString(PyExc_TypeError, "a functrace probe is entered and exited by `with` only");
        return NULL;
    }
    if (check_ready() < 0) {
        return NULL;
    }
    PyObject *res;
    if (nargs == 0) {
        if (probes_direct) {
            res = do_enter(Py_False, 0, code, NULL);
        }
        else {
            PyObject *call[2] = {Py_False, code};
            res = finish(delegate(s_enter, call, 2) == 0);
        }
        return res;
    }
    /* __exit__(type, value, traceback): value is the exception, if any. */
    PyObject *kind = args[0] == Py_None ? kind_obj[K_RETURN] : kind_obj[K_UNWIND];
    /* A return's value never reaches __exit__: "none seen", not None. */
    PyObject *arg = args[0] == Py_None ? no_value : args[1];
    if (probes_direct) {
        res = do_leave(kind, code, zero, arg);
    }
    else {
        PyObject *call[4] = {kind, code, zero, arg};
        res = finish(delegate(s_leave, call, 4) == 0);
    }
    if (res == NULL) {
        return NULL;
    }
    Py_DECREF(res);
    Py_RETURN_FALSE; /* never swallow the exception */
}

static PyObject *
probe_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    PyObject *code;
    if ((kwds != NULL && PyDict_GET_SIZE(kwds)) ||
        !PyArg_ParseTuple(args, "O!:Probe", &PyCode_Type, &code)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "Probe(code)");
        }
        return NULL;
    }
    ProbeObject *p = (ProbeObject *)tp->tp_alloc(tp, 0);
    if (p == NULL) {
        return NULL;
    }
    p->code = Py_NewRef(code);
    p->vectorcall = probe_vectorcall;
    return (PyObject *)p;
}

static void
probe_dealloc(PyObject *self)
{
    Py_XDECREF(((ProbeObject *)self)->code);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *
probe_get_code(PyObject *self, void *unused)
{
    return Py_NewRef(((ProbeObject *)self)->code);
}

/* __reduce__ (for both types): probe.py's _reduce(self). cloudpickle and dill
 * pickle a nested function by value, its code's constants with it. */
static PyObject *
probe_reduce(PyObject *self, PyObject *unused)
{
    PyObject *mod = PyImport_ImportModule("functrace._runtime.probe");
    if (mod == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallMethod(mod, "_reduce", "O", self);
    Py_DECREF(mod);
    return res;
}

static PyMethodDef probe_methods[] = {
    {"__reduce__", probe_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef probe_getset[] = {
    {"code", probe_get_code, NULL, "The key code object (engine.infos knows it).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject probe_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace._runtime._speedups.Probe",
    .tp_basicsize = sizeof(ProbeObject),
    .tp_dealloc = probe_dealloc,
    .tp_vectorcall_offset = offsetof(ProbeObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Probe(code): `with` it around a traced function's body (see probe.py).",
    .tp_getset = probe_getset,
    .tp_methods = probe_methods,
    .tp_new = probe_new,
};

/* __enter__ and __exit__ of Probe: the probe itself while tracing is on. */
static PyObject *
switch_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL) {
        return Py_NewRef(self);
    }
    return Py_NewRef(probes_on ? obj : probe_idle);
}

static PyTypeObject switch_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace._runtime._speedups.ProbeSwitch",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_descr_get = switch_get,
};

/* The idle probe: takes what __enter__ or __exit__ take, returns False. */
static PyObject *
idle_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_RETURN_FALSE;
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
} IdleObject;

static PyTypeObject idle_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "functrace._runtime._speedups.IdleProbe",
    .tp_basicsize = sizeof(IdleObject),
    .tp_vectorcall_offset = offsetof(IdleObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_methods = probe_methods,
};

static int
probe_types_ready(PyObject *m)
{
    if (PyType_Ready(&switch_type) < 0 || PyType_Ready(&idle_type) < 0) {
        return -1;
    }
    if (probe_idle == NULL) {
        IdleObject *idle = PyObject_New(IdleObject, &idle_type);
        if (idle == NULL) {
            return -1;
        }
        idle->vectorcall = idle_vectorcall;
        probe_idle = (PyObject *)idle;
        /* It is a probe that never traces too (a filtered-out function's): its
         * __enter__ and __exit__ are itself (a plain attribute, no binding). */
        if (PyDict_SetItemString(idle_type.tp_dict, "__enter__", probe_idle) < 0 ||
            PyDict_SetItemString(idle_type.tp_dict, "__exit__", probe_idle) < 0) {
            return -1;
        }
        PyType_Modified(&idle_type);
    }
    if (probe_type.tp_dict == NULL) {
        if (PyType_Ready(&probe_type) < 0) {
            return -1;
        }
        PyObject *sw = PyObject_New(PyObject, &switch_type);
        if (sw == NULL) {
            return -1;
        }
        int err = PyDict_SetItemString(probe_type.tp_dict, "__enter__", sw) < 0 ||
                  PyDict_SetItemString(probe_type.tp_dict, "__exit__", sw) < 0;
        Py_DECREF(sw);
        if (err) {
            return -1;
        }
        PyType_Modified(&probe_type);
    }
    if (PyModule_AddObjectRef(m, "idle_probe", probe_idle) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "Probe", (PyObject *)&probe_type);
}

/* probe_switch(on): tracing on or off for every probe (WrapperBackend.switch). */
static PyObject *
sp_probe_switch(PyObject *self, PyObject *flag)
{
    int v = PyObject_IsTrue(flag);
    if (v < 0) {
        return NULL;
    }
    probes_on = v;
    Py_RETURN_NONE;
}

/* set_direct(flag): whether this module's enter/leave are the ones in force
 * (engine.select_path); if not, probes hand their events to engine.enter/leave. */
static PyObject *
sp_set_direct(PyObject *self, PyObject *flag)
{
    int v = PyObject_IsTrue(flag);
    if (v < 0) {
        return NULL;
    }
    probes_direct = v;
    Py_RETURN_NONE;
}

/* put(line): queue one whole line, as the compiled path queues its own: into the
 * chunk at the end of the buffer. One C call, so neither a flush in another
 * thread nor a signal handler can come between finding the chunk and filling it. */
static PyObject *
sp_put(PyObject *self, PyObject *line)
{
    if (check_ready() < 0) {
        return NULL;
    }
    if (!PyUnicode_Check(line)) {
        PyErr_SetString(PyExc_TypeError, "put() takes a str");
        return NULL;
    }
    Py_ssize_t len;
    const char *u8 = PyUnicode_AsUTF8AndSize(line, &len);
    if (u8 == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return NULL;
        }
        PyErr_Clear(); /* a lone surrogate: a str line, which flush backslash-escapes */
#ifdef TL_LINES
        if (lines_publish_all() < 0) {
            return NULL;
        }
#endif
        if (append_item(line) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
#if defined(TL_LINES)
    /* After every line queued so far: the engine may be writing for another
     * thread's context (at exit, the calls of threads that never end get their
     * exits from the exiting thread), and the Python paths' next lines of this
     * thread (appended as they are) must come after it. */
    if (lines_publish_all() < 0) {
        return NULL;
    }
    tl_lines *mine;
    char *out = lines_reserve(len, &mine);
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, u8, (size_t)len);
    mine->len += len;
    int err = lines_publish(mine);
    PyMutex_Unlock(&mine->mutex);
    if (err < 0) {
        return NULL;
    }
#elif defined(Py_GIL_DISABLED)
    PyObject *bytes = PyBytes_FromStringAndSize(u8, len);
    int err = bytes == NULL ? -1 : PyList_Append(buffer, bytes);
    Py_XDECREF(bytes);
    if (err < 0) {
        return NULL;
    }
#else
    char *out = chunk_reserve(len);
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, u8, (size_t)len);
#endif
    Py_RETURN_NONE;
}

/* take(): cut every queued line out of the buffer, for a flush. No line can be
 * added to a chunk once it is taken (it is no longer the buffer's last item). */
static PyObject *
sp_take(PyObject *self, PyObject *unused)
{
    if (check_ready() < 0) {
        return NULL;
    }
#ifdef TL_LINES
    if (lines_publish_all() < 0) {
        return NULL;
    }
#endif
    Py_ssize_t n = PyList_Size(buffer);
    PyObject *items = PyList_GetSlice(buffer, 0, n);
    if (items != NULL && PyList_SetSlice(buffer, 0, n, NULL) < 0) {
        Py_CLEAR(items); /* lines appended meanwhile stay, after the n taken */
    }
    Py_CLEAR(chunk); /* taken: never filled again */
#ifdef TL_LINES
    if (lines_remark() < 0) {
        PyErr_Clear(); /* no memory for a marker: those lines wait for the next publishing */
    }
    if (items != NULL) { /* without the markers */
        Py_ssize_t total = PyList_GET_SIZE(items), markers = 0;
        for (Py_ssize_t i = 0; i < total; i++) {
            markers += PyList_GET_ITEM(items, i) == marker;
        }
        if (markers) {
            PyObject *lines = PyList_New(total - markers);
            if (lines != NULL) {
                for (Py_ssize_t i = 0, k = 0; i < total; i++) {
                    PyObject *item = PyList_GET_ITEM(items, i);
                    if (item != marker) {
                        PyList_SET_ITEM(lines, k++, Py_NewRef(item));
                    }
                }
            }
            Py_SETREF(items, lines);
        }
    }
#endif
    return items;
}

/* snapshot(contexts): for a switch of output, in one step that no other thread's
 * event can come between (the GIL is held throughout, no Python code runs, the
 * collector is paused): (the buffer's lines, a copy of each context's stack), or
 * None while some context is mid-event (busy): the caller lets it finish and asks
 * again. The lines go to the old output; the stacks give the new one its
 * `running` lines, and everything queued after this belongs to the new one. */
static PyObject *
sp_snapshot(PyObject *self, PyObject *contexts)
{
    if (check_ready() < 0) {
        return NULL;
    }
    if (!PyList_CheckExact(contexts)) {
        PyErr_SetString(PyExc_TypeError, "snapshot() takes a list of contexts");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(contexts);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ctx = PyList_GET_ITEM(contexts, i);
        if (Py_TYPE(ctx) != ctx_type || slot_off[C_BUSY] < 0 || slot_off[C_STACK] < 0) {
            PyErr_SetString(PyExc_TypeError, "snapshot() takes a list of contexts");
            return NULL;
        }
        if (peek_slot(ctx, ctx_type, C_BUSY) != Py_False) {
            Py_RETURN_NONE;
        }
    }
    int gc_was = PyGC_Disable();
    PyObject *result = NULL, *items = NULL;
    PyObject *stacks = PyList_New(n);
    if (stacks == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *stack = peek_slot(PyList_GET_ITEM(contexts, i), ctx_type, C_STACK);
        PyObject *copy = stack != NULL && PyList_CheckExact(stack)
                             ? PyList_GetSlice(stack, 0, PyList_GET_SIZE(stack))
                             : PyList_New(0);
        if (copy == NULL) {
            goto done;
        }
        PyList_SET_ITEM(stacks, i, copy);
    }
    items = sp_take(self, NULL);
    if (items != NULL) {
        result = PyTuple_Pack(2, items, stacks);
    }
done:
    Py_XDECREF(items);
    Py_XDECREF(stacks);
    if (gc_was) {
        PyGC_Enable();
    }
    return result;
}

/* ------------------------------------------------------------ SIGTERM
 *
 * SIGTERM with the default action ends the process at once, losing the lines
 * still buffered. Instead of a Python-level handler (which runs only in the main
 * thread, only between bytecodes, and so could leave a blocked program alive)
 * a C handler writes one byte to the flusher thread's pipe; the flusher writes
 * the buffer and calls sigterm_reraise(), which restores the default action and
 * sends SIGTERM again: the process ends by SIGTERM as before. With no flusher
 * to tell (fd -1) or a full pipe, the handler does that at once itself.
 * Python's own view (signal.getsignal) still says SIG_DFL, and a handler the
 * program sets later replaces this one. */
#ifndef _WIN32
static volatile int term_fd = -1;

static void
on_sigterm(int sig)
{
    int saved = errno;
    int fd = term_fd;
    if (fd < 0 || write(fd, "T", 1) != 1) {
        signal(SIGTERM, SIG_DFL);
        kill(getpid(), SIGTERM);
    }
    errno = saved;
}
#endif

/* sigterm_install(fd): catch SIGTERM if its action is the default one (or ours
 * already) and tell fd; -1 stops telling. Returns whether SIGTERM is ours. */
static PyObject *
sp_sigterm_install(PyObject *self, PyObject *arg)
{
#ifndef _WIN32
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    struct sigaction old;
    if (sigaction(SIGTERM, NULL, &old) != 0) {
        Py_RETURN_FALSE;
    }
    int ours = !(old.sa_flags & SA_SIGINFO) && old.sa_handler == on_sigterm;
    if (!ours && ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)) {
        Py_RETURN_FALSE; /* the program (or its parent) chose what SIGTERM does */
    }
    term_fd = (int)fd;
    if (!ours && fd >= 0) {
        struct sigaction act;
        memset(&act, 0, sizeof(act));
        act.sa_handler = on_sigterm;
        act.sa_flags = SA_RESTART;
        sigemptyset(&act.sa_mask);
        if (sigaction(SIGTERM, &act, NULL) != 0) {
            term_fd = -1;
            Py_RETURN_FALSE;
        }
    }
    return PyBool_FromLong(ours || fd >= 0);
#else
    Py_RETURN_FALSE;
#endif
}

/* sigterm_reraise(): the buffer is written; end the process by SIGTERM. */
static PyObject *
sp_sigterm_reraise(PyObject *self, PyObject *unused)
{
#ifndef _WIN32
    term_fd = -1;
    signal(SIGTERM, SIG_DFL);
    kill(getpid(), SIGTERM); /* process-directed: the flusher thread blocks it */
#endif
    Py_RETURN_NONE;
}

/* set_plain(flag): whether only plain text lines are wanted (engine.select_path). */
static PyObject *
sp_set_plain(PyObject *self, PyObject *flag)
{
    int v = PyObject_IsTrue(flag);
    if (v < 0) {
        return NULL;
    }
    plain = v;
    Py_RETURN_NONE;
}

/* set_lines(jsonl, max_depth, epoch_offset_ns, json_quote): the lines the fast
 * way writes (engine.select_path): jsonl or text, none for a call deeper than
 * max_depth; json_quote is json.encoder.encode_basestring_ascii (sink's). */
static PyObject *
sp_set_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyCallable_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "set_lines(jsonl, max_depth, epoch_offset_ns, json_quote)");
        return NULL;
    }
    int on = PyObject_IsTrue(args[0]);
    if (on < 0) {
        return NULL;
    }
    Py_ssize_t depth = PyLong_AsSsize_t(args[1]);
    if (depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long long offset = PyLong_AsLongLong(args[2]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (depth < 1) {
        PyErr_SetString(PyExc_ValueError, "set_lines: max_depth must be at least 1");
        return NULL;
    }
    Py_XSETREF(json_quote, Py_NewRef(args[3]));
    jsonl = on;
    max_depth = depth;
    epoch_offset = offset;
    Py_RETURN_NONE;
}

/* current_changed(): this thread's _tls.cur was just set (see cur_gen). */
static PyObject *
sp_current_changed(PyObject *self, PyObject *unused)
{
#ifdef Py_GIL_DISABLED
    _Py_atomic_add_uint64(&cur_gen, 1);
#else
    cur_gen++;
#endif
    Py_RETURN_NONE;
}

/* forget(): a traced code object died; its address may come back as another's. */
static PyObject *
sp_forget(PyObject *self, PyObject *unused)
{
    clear_info_cache();
    info_cache_len = -1;
#ifdef Py_GIL_DISABLED
    bump_cache_gen();
    unpin_gone();
#endif
    Py_RETURN_NONE;
}

/* format_duration(ns) -> str: exposed so tests can compare it with lines.format_duration. */
static PyObject *
sp_format_duration(PyObject *self, PyObject *arg)
{
    long long ns = PyLong_AsLongLong(arg);
    if (ns == -1 && PyErr_Occurred()) {
        return NULL;
    }
    char buf[48];
    Py_ssize_t n = format_duration(ns, buf);
    return PyUnicode_DecodeUTF8(buf, n, NULL);
}

/* The offset of a __slots__ member of tp, or -1 to read it with getattr. */
static Py_ssize_t
slot_offset(PyTypeObject *tp, PyObject *name)
{
    PyObject *descr = PyObject_GetAttr((PyObject *)tp, name);
    if (descr == NULL) {
        return -2;
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

/* len(tp.__slots__), or -1 with an error. */
static Py_ssize_t
slot_count(PyObject *tp)
{
    PyObject *slots = PyObject_GetAttrString(tp, "__slots__");
    if (slots == NULL) {
        return -1;
    }
    Py_ssize_t n = PyObject_Length(slots);
    Py_DECREF(slots);
    return n;
}

static void
replace(PyObject **slot, PyObject *value)
{
    PyObject *old = *slot;
    *slot = value;
    Py_XDECREF(old);
}

/* init(engine, output): take the engine's state; engine.configure calls it again. */
static PyObject *
sp_init(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "init(engine, output)");
        return NULL;
    }
    PyObject *engine = args[0], *output = args[1];
    PyObject *new_infos = NULL, *new_tls = NULL, *new_buffer = NULL, *new_dict = NULL,
             *new_info_type = NULL, *new_ctx_type = NULL, *new_entry_type = NULL,
             *new_call_type = NULL, *record_mod = NULL, *kinds[3] = {NULL, NULL, NULL},
             *new_async_yield = NULL, *new_no_value = NULL;
    PyTypeObject *new_centry_type = NULL;
    static const char *kind_names[3] = {"RETURN", "UNWIND", "SUSPEND"};
    Py_ssize_t offsets[N_SLOTS];

    new_infos = PyObject_GetAttrString(engine, "infos");
    new_tls = PyObject_GetAttrString(engine, "_tls");
    new_buffer = PyObject_GetAttrString(output, "buffer");
    new_dict = PyObject_GetAttrString(output, "__dict__");
    new_info_type = PyObject_GetAttrString(engine, "CodeInfo");
    new_ctx_type = PyObject_GetAttrString(engine, "Context");
    new_entry_type = PyObject_GetAttrString(engine, "Entry");
    record_mod = PyImport_ImportModule("functrace._runtime.record");
    new_call_type = record_mod ? PyObject_GetAttrString(record_mod, "Call") : NULL;
    Py_XDECREF(record_mod);
    new_async_yield = PyObject_GetAttrString(engine, "ASYNC_YIELD");
    new_no_value = PyObject_GetAttrString(engine, "NO_VALUE");
    for (int i = 0; i < 3; i++) {
        kinds[i] = PyObject_GetAttrString(engine, kind_names[i]);
        if (kinds[i] == NULL) {
            goto error;
        }
    }
    if (!new_infos || !new_tls || !new_buffer || !new_dict || !new_info_type || !new_ctx_type ||
        !new_entry_type || !new_call_type || !new_async_yield || !new_no_value) {
        goto error;
    }
    if (!PyDict_CheckExact(new_infos) || !PyList_CheckExact(new_buffer) ||
        !PyDict_Check(new_dict) || !PyType_Check(new_info_type) ||
        !PyType_Check(new_ctx_type) || !PyType_Check(new_entry_type) ||
        !PyType_Check(new_call_type)) {
        PyErr_SetString(PyExc_TypeError, "functrace._speedups.init: unexpected engine state");
        goto error;
    }
    for (int i = 0; i < N_SLOTS; i++) {
        PyTypeObject *tp = (PyTypeObject *)(i < C_STACK       ? new_info_type
                                            : i < E_INFO    ? new_ctx_type
                                            : i < CL_PARENT ? new_entry_type
                                                            : new_call_type);
        offsets[i] = slot_offset(tp, slot_str[i]);
        if (offsets[i] == -2) {
            goto error;
        }
    }
    for (int i = E_INFO; i < N_SLOTS; i++) {
        if (offsets[i] < 0 || offsets[C_JOURNAL] < 0) {
            /* Entries and Calls are made here slot by slot: one of another shape
             * would be half made. Journals are kept in the Context's slot. */
            PyErr_SetString(PyExc_TypeError,
                            "functrace._speedups.init: unexpected Entry, Call or Context slots");
            goto error;
        }
    }
    if (slot_count(new_call_type) != N_SLOTS - CL_PARENT ||
        slot_count(new_entry_type) != CL_PARENT - E_INFO) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError,
                            "functrace._speedups.init: Entry or Call has slots unknown here");
        }
        goto error;
    }
    if (new_entry_type != (PyObject *)entry_type) {
        new_centry_type = make_centry_type((PyTypeObject *)new_entry_type);
        if (new_centry_type == NULL) {
            goto error;
        }
    }
#ifdef Py_GIL_DISABLED
    {
        /* Context.json_head is read with PyMember_GetOne (see ctx_json_head). */
        PyObject *descr = PyObject_GetAttr(new_ctx_type, slot_str[C_JSON]);
        if (descr == NULL) {
            goto error;
        }
        PyMemberDef *member = NULL;
        if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyMemberDescrObject *md = (PyMemberDescrObject *)descr;
            if (md->d_common.d_type == (PyTypeObject *)new_ctx_type &&
                md->d_member->type == T_OBJECT_EX) {
                member = md->d_member;
            }
        }
        replace(&ctx_json_descr, descr); /* keeps the member alive */
        ctx_json_member = member;
    }
#endif
    replace(&engine_mod, Py_NewRef(engine));
    replace(&infos, new_infos);
    replace(&tls, new_tls);
    replace(&buffer, new_buffer);
    Py_CLEAR(chunk);
    clear_info_cache();
    info_cache_len = -1;
#ifdef Py_GIL_DISABLED
    bump_cache_gen();
    _Py_atomic_add_uint64(&tls_gen, 1);
#else
    tls_gen++;
#endif
    next_flush = LLONG_MIN;
    SET_CHUNK_FILLED(0);
    replace(&output_dict, new_dict);
    replace((PyObject **)&info_type, new_info_type);
    replace((PyObject **)&ctx_type, new_ctx_type);
    if (new_entry_type != (PyObject *)entry_type) {
#ifndef Py_GIL_DISABLED
        drop_spare_entries(); /* of the type init() was given before */
#endif
        replace((PyObject **)&centry_type, (PyObject *)new_centry_type);
        new_centry_type = NULL;
    }
    replace((PyObject **)&entry_type, new_entry_type);
    replace((PyObject **)&call_type, new_call_type);
    for (int i = 0; i < 3; i++) {
        replace(&kind_obj[i], kinds[i]);
    }
    replace(&async_yield, new_async_yield);
    replace(&no_value, new_no_value);
    memcpy(slot_off, offsets, sizeof(offsets));
    initialized = 1;
    Py_XDECREF(new_centry_type);
    Py_RETURN_NONE;
error:
    Py_XDECREF(new_centry_type);
    Py_XDECREF(new_infos);
    Py_XDECREF(new_tls);
    Py_XDECREF(new_buffer);
    Py_XDECREF(new_dict);
    Py_XDECREF(new_info_type);
    Py_XDECREF(new_ctx_type);
    Py_XDECREF(new_entry_type);
    Py_XDECREF(new_call_type);
    Py_XDECREF(new_async_yield);
    Py_XDECREF(new_no_value);
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(kinds[i]);
    }
    return NULL;
}

/* set_args(on, repr, length, line_length, generation, values): argument and
 * return values on the fast path (FUNCTRACE_ARGS, plain text lines otherwise),
 * with values.py's settings. */
static PyObject *
sp_set_args(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "set_args(on, repr, length, line_length, generation, values)");
        return NULL;
    }
    if (check_ready() < 0) {
        return NULL;
    }
    int on = PyObject_IsTrue(args[0]);
    int use_repr = on < 0 ? -1 : PyObject_IsTrue(args[1]);
    Py_ssize_t length = use_repr < 0 ? -1 : PyLong_AsSsize_t(args[2]);
    Py_ssize_t line_length = length == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[3]);
    long gen = line_length == -1 && PyErr_Occurred() ? -1 : PyLong_AsLong(args[4]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t off = slot_offset(info_type, s_params);
    if (off == -2) {
        return NULL;
    }
    replace(&values_mod, Py_NewRef(args[5]));
    params_off = off;
    args_repr = use_repr;
    args_length = length;
    args_line_length = line_length;
    args_gen = gen;
    args_on = on;
    Py_RETURN_NONE;
}

#if defined(Py_GIL_DISABLED) && !defined(_WIN32)
/* In a child after fork(): no thread of the parent is in maybe_flush here (and,
 * with per-thread lines, the parent writes the lines queued before the fork). */
static void
after_fork_child(void)
{
    flushing = 0;
    memset(&rec_mutex, 0, sizeof(rec_mutex));
    memset(&count_mutex, 0, sizeof(count_mutex));
    _Py_atomic_add_uint64(&fork_gen, 1); /* every journal's mutex starts afresh */
#ifdef TL_LINES
    lines_after_fork_child();
#endif
    pausing = 0;
    SET_PAUSED(0);
}
#endif

/* clock(): the time an event would be given now (see "the clock"). */
static PyObject *
sp_clock(PyObject *self, PyObject *unused)
{
    long long t;
    if (now_ns(&t) < 0) {
        return NULL;
    }
    return PyLong_FromLongLong(t);
}

static PyMethodDef methods[] = {
    {"init", (PyCFunction)(void (*)(void))sp_init, METH_FASTCALL,
     "init(engine, output): take the engine's state (again after a configure)."},
    {"enter", (PyCFunction)(void (*)(void))sp_enter, METH_FASTCALL,
     "enter(resumed, code, offset=0, exc=None, given=None): engine.enter's contract."},
    {"leave", (PyCFunction)(void (*)(void))sp_leave, METH_FASTCALL,
     "leave(kind, code, offset=0, arg=None): engine.leave's contract."},
    {"py_start", (PyCFunction)(void (*)(void))sp_py_start, METH_FASTCALL,
     "sys.monitoring PY_START callback."},
    {"py_resume", (PyCFunction)(void (*)(void))sp_py_resume, METH_FASTCALL,
     "sys.monitoring PY_RESUME and PY_THROW callback."},
    {"py_return", (PyCFunction)(void (*)(void))sp_py_return, METH_FASTCALL,
     "sys.monitoring PY_RETURN callback."},
    {"py_yield", (PyCFunction)(void (*)(void))sp_py_yield, METH_FASTCALL,
     "sys.monitoring PY_YIELD callback."},
    {"py_unwind", (PyCFunction)(void (*)(void))sp_py_unwind, METH_FASTCALL,
     "sys.monitoring PY_UNWIND callback."},
    {"put", sp_put, METH_O, "put(line): queue one whole line (a str ending in a newline)."},
    {"forget", sp_forget, METH_NOARGS, "forget(): drop the code -> info cache."},
    {"current_changed", sp_current_changed, METH_NOARGS,
     "current_changed(): this thread's engine._tls.cur was just set."},
    {"take", sp_take, METH_NOARGS, "take(): cut every queued line out of the buffer."},
    {"clock", sp_clock, METH_NOARGS, "clock(): the events' clock, in ns (perf_counter_ns's)."},
    {"pause", sp_pause, METH_O,
     "pause(on): stop (True) or resume (False) every compiled event; see engine.configure."},
    {"wait_resumed", sp_wait_resumed, METH_NOARGS,
     "wait_resumed(): wait, as outside any event, until the pause ends."},
    {"snapshot", sp_snapshot, METH_O,
     "snapshot(contexts): (lines, stacks) at one instant, for a switch of output; or None."},
    {"sigterm_install", sp_sigterm_install, METH_O,
     "sigterm_install(fd): catch a default SIGTERM and tell fd (-1: stop telling)."},
    {"sigterm_reraise", sp_sigterm_reraise, METH_NOARGS,
     "sigterm_reraise(): restore SIGTERM's default action and send it again."},
    {"set_plain", sp_set_plain, METH_O, "set_plain(flag): the fast way (True) or the engine's."},
    {"set_lines", (PyCFunction)(void (*)(void))sp_set_lines, METH_FASTCALL,
     "set_lines(jsonl, max_depth, epoch_offset_ns, json_quote): the lines of the fast way."},
    {"set_record", (PyCFunction)(void (*)(void))sp_set_record, METH_FASTCALL,
     "set_record(session, lines): journal the fast way's calls into session (None: not)."},
    {"probe_switch", sp_probe_switch, METH_O, "probe_switch(on): tracing on or off for probes."},
    {"set_direct", sp_set_direct, METH_O,
     "set_direct(flag): probes call this module's enter/leave (True) or the engine's."},
    {"format_duration", sp_format_duration, METH_O,
     "format_duration(ns): lines.format_duration in C."},
    {"set_args", (PyCFunction)(void (*)(void))sp_set_args, METH_FASTCALL,
     "set_args(on, repr, length, line_length, generation, values): values on the fast path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "functrace._runtime._speedups",
    "The engine's fast path (text and jsonl lines) in C; see engine.py.", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
#define INTERN(var, text)                              \
    if ((var) == NULL) {                               \
        (var) = PyUnicode_InternFromString(text);      \
        if ((var) == NULL) {                           \
            return NULL;                               \
        }                                              \
    }
    INTERN(s_cur, "cur");
    INTERN(s_next_flush_ns, "next_flush_ns");
    INTERN(s_flush, "flush");
    INTERN(s_enter, "enter");
    INTERN(s_leave, "leave");
    INTERN(s_internal_error, "_internal_error");
    INTERN(s_end_ns, "end_ns");
    INTERN(s_suspended, "suspended");
    INTERN(s_yield, "yield");
    INTERN(s_generation, "_generation");
    INTERN(s_flush_outermost, "flush_outermost");
    INTERN(s_asyncio, "asyncio");
    INTERN(s_get_running_loop, "_get_running_loop");
    INTERN(s_name, "name");
    INTERN(s_params, "params");
    INTERN(s_value_text, "value_text");
    INTERN(s_kwargs_text, "_kwargs_text");
    INTERN(s_params_fn, "_params");
    INTERN(s_arguments, "arguments");
    INTERN(s_given_arguments, "given_arguments");
    INTERN(s_args_text, "args_text");
    INTERN(s_empty, "");
    INTERN(s_module, "__module__");
    INTERN(s_qualname, "__qualname__");
    INTERN(s_journals, "journals");
    INTERN(s_windows, "windows");
    INTERN(s_roots, "roots");
    INTERN(s_wstart, "start");
    INTERN(s_wend, "end");
    INTERN(s_count, "count");
    INTERN(s_dirty, "dirty");
#if PY_VERSION_HEX < 0x030C0000
    INTERN(s_f_locals, "f_locals");
    INTERN(s_call_frame, "_call_frame");
#endif
    for (int i = 0; i < N_SLOTS; i++) {
        INTERN(slot_str[i], slot_names[i]);
        slot_off[i] = -1;
    }
#undef INTERN
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    if (pins == NULL && (pins = PyDict_New()) == NULL) {
        return NULL;
    }
#endif
#if defined(Py_GIL_DISABLED) && !defined(_WIN32)
    static int atfork_done;
    if (!atfork_done) {
        if (pthread_atfork(NULL, NULL, after_fork_child) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "functrace: pthread_atfork failed");
            return NULL;
        }
        atfork_done = 1;
    }
#endif
#ifdef TL_LINES
    if (marker == NULL) {
        if ((marker = PyByteArray_FromStringAndSize("", 0)) == NULL) {
            return NULL;
        }
        if (pthread_key_create(&lines_key, lines_thread_ended) != 0) {
            Py_CLEAR(marker);
            PyErr_SetString(PyExc_RuntimeError, "functrace: no thread-specific storage");
            return NULL;
        }
    }
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    /* Correct without the GIL (see emit and take): importing
     * functrace must not turn the GIL back on for the whole program. */
    if (PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    if (probe_types_ready(m) < 0 || PyType_Ready(&journal_type) < 0 ||
        PyModule_AddObjectRef(m, "Journal", (PyObject *)&journal_type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "API", API_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#ifdef TSC_CLOCK
    tsc_start();
    const char *clock_name = tsc_state ? "tsc" : "perf_counter";
#else
    const char *clock_name = "perf_counter";
#endif
    if (PyModule_AddStringConstant(m, "CLOCK", clock_name) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
