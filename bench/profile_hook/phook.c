/* For bench/bench_profile_hook.py only (not part of functrace): install(0) removes
 * the profile hook, install(1) sets one that does nothing, install(2) one that
 * looks the code object up in a set, the least a tracer's hook must do. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
static PyObject *codes;  /* set of registered code ids */
static long hits;
static int noop(PyObject *o, PyFrameObject *f, int what, PyObject *arg) { return 0; }
static int filt(PyObject *o, PyFrameObject *f, int what, PyObject *arg) {
    if (what == PyTrace_CALL || what == PyTrace_RETURN) {
        PyCodeObject *c = PyFrame_GetCode(f);
        PyObject *k = PyLong_FromVoidPtr(c);
        Py_DECREF(c);
        int r = PySet_Contains(codes, k);
        Py_DECREF(k);
        if (r > 0) hits++;
    }
    return 0;
}
static PyObject *install(PyObject *m, PyObject *a) {
    int which = PyLong_AsLong(a);
    PyEval_SetProfile(which == 0 ? NULL : which == 1 ? noop : filt, NULL);
    Py_RETURN_NONE;
}
static PyMethodDef M[] = {{"install", install, METH_O, ""}, {0}};
static struct PyModuleDef D = {PyModuleDef_HEAD_INIT, "phook", 0, -1, M};
PyMODINIT_FUNC PyInit_phook(void) { codes = PySet_New(NULL); PyObject *m = PyModule_Create(&D); PyModule_AddObject(m, "codes", codes); Py_INCREF(codes); return m; }
