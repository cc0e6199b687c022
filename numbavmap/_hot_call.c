/* numbavmap._hot_call: HotCall, VmappedFunction's call in C (see hot_call.py).
 *
 * A call of plain np.ndarray arguments in the compiled entry's form goes to the
 * entry (the `_entry` attribute, a Numba dispatcher) when there is one. The form
 * (`_entry_form`) is None for positional arrays only, else (counts, names,
 * total): per positional argument 0 for an array, n for a tuple of n arrays,
 * -n for a list of n arrays; then arrays by keyword in the order of `names`;
 * `total` arrays in all, which the entry takes flattened in that order. The
 * entry returns None for a shape it was not made for. Every other call, and
 * a call the entry declined, goes to the instance's `_call_by_plan` method.
 * An entry that raises TypeError (other dtypes, ranks, layouts or flags) is
 * retired.
 *
 * This is numbavmap.hot_call.PythonHotCall.__call__ written in C: a Python
 * __call__ costs about 0.3 us more per call, a quarter of a small call's time.
 * Keep the two the same (tests/test_hot_call.py runs both).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *entry;       /* the compiled entry, or NULL or None */
    PyObject *entry_form;  /* NULL or None: positional arrays; else (counts, names, total) */
    Py_ssize_t entry_hits; /* calls the entry answered */
} HotCall;

static PyObject *ndarray_type;      /* numpy.ndarray */
static PyObject *call_by_plan_name; /* "_call_by_plan" */

static int
all_plain_arrays(PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((PyObject *)Py_TYPE(PyTuple_GET_ITEM(args, i)) != ndarray_type) {
            return 0;
        }
    }
    return 1;
}

static int
take_array(PyObject *leaves, Py_ssize_t *at, PyObject *value)
{
    if ((PyObject *)Py_TYPE(value) != ndarray_type || *at >= PyTuple_GET_SIZE(leaves)) {
        return 0;
    }
    Py_INCREF(value);
    PyTuple_SET_ITEM(leaves, (*at)++, value);
    return 1;
}

/* The arrays of a call in `form`, positional (a tuple's or list's in order)
 * then keyword, as a new tuple; or NULL, without an error set, for a call of
 * another form. */
static PyObject *
leaves_in_form(PyObject *form, PyObject *args, PyObject *kwargs)
{
    PyObject *counts = PyTuple_GET_ITEM(form, 0), *names = PyTuple_GET_ITEM(form, 1);
    Py_ssize_t total = PyLong_AsSsize_t(PyTuple_GET_ITEM(form, 2));
    Py_ssize_t n_args = PyTuple_GET_SIZE(args);
    Py_ssize_t n_keywords = kwargs == NULL ? 0 : PyDict_GET_SIZE(kwargs);
    if (n_args != PyTuple_GET_SIZE(counts) || n_keywords != PyTuple_GET_SIZE(names)
            || total < 0) {
        PyErr_Clear();  /* a total that is not an int */
        return NULL;
    }
    PyObject *leaves = PyTuple_New(total);
    if (leaves == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n_args; i++) {
        PyObject *value = PyTuple_GET_ITEM(args, i);
        Py_ssize_t count = PyLong_AsSsize_t(PyTuple_GET_ITEM(counts, i));
        if (count == 0) {
            if (!take_array(leaves, &at, value)) {
                goto other_form;
            }
            continue;
        }
        /* a tuple of count arrays (count > 0), a list of -count arrays */
        if (count > 0 ? !PyTuple_CheckExact(value) : !PyList_CheckExact(value)) {
            goto other_form;
        }
        Py_ssize_t size = count > 0 ? count : -count;
        if (PySequence_Fast_GET_SIZE(value) != size) {
            goto other_form;
        }
        PyObject **items = PySequence_Fast_ITEMS(value);
        for (Py_ssize_t j = 0; j < size; j++) {
            if (!take_array(leaves, &at, items[j])) {
                goto other_form;
            }
        }
    }
    PyObject *key, *value;
    Py_ssize_t position = 0;
    for (Py_ssize_t i = 0; kwargs != NULL && PyDict_Next(kwargs, &position, &key, &value); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if ((key != name && PyUnicode_Compare(key, name) != 0)
                || !take_array(leaves, &at, value)) {
            goto other_form;
        }
    }
    if (at == total) {
        return leaves;
    }
other_form:
    PyErr_Clear();  /* PyUnicode_Compare or PyLong_AsSsize_t may have set one */
    Py_DECREF(leaves);
    return NULL;
}

/* self._call_by_plan(*args, **kwargs); without keywords, called as a method
 * (no bound method is made: this is every call that has no entry). */
static PyObject *
call_by_plan(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n_args = PyTuple_GET_SIZE(args);
    if ((kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) && n_args < 8) {
        PyObject *stack[9] = {self};
        for (Py_ssize_t i = 0; i < n_args; i++) {
            stack[i + 1] = PyTuple_GET_ITEM(args, i);
        }
        return PyObject_VectorcallMethod(call_by_plan_name, stack, n_args + 1, NULL);
    }
    PyObject *method = PyObject_GetAttr(self, call_by_plan_name);
    if (method == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Call(method, args, kwargs);
    Py_DECREF(method);
    return result;
}

static PyObject *
HotCall_call(HotCall *self, PyObject *args, PyObject *kwargs)
{
    PyObject *entry = self->entry;
    PyObject *form = self->entry_form;
    PyObject *leaves = NULL;
    if (entry != NULL && entry != Py_None) {
        if (form == NULL || form == Py_None) {
            if ((kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) && all_plain_arrays(args)) {
                Py_INCREF(args);
                leaves = args;
            }
        }
        else {
            leaves = leaves_in_form(form, args, kwargs);
        }
    }
    if (leaves != NULL) {
        Py_INCREF(entry); /* another thread may retire it during the call */
        PyObject *output = PyObject_Call(entry, leaves, NULL);
        Py_DECREF(entry);
        Py_DECREF(leaves);
        if (output == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
                return NULL;
            }
            PyErr_Clear();
            Py_CLEAR(self->entry);
        }
        else if (output != Py_None) {
            self->entry_hits++;
            return output;
        }
        else {
            Py_DECREF(output);
        }
    }
    return call_by_plan((PyObject *)self, args, kwargs);
}

static int
HotCall_traverse(HotCall *self, visitproc visit, void *arg)
{
    Py_VISIT(self->entry);
    Py_VISIT(self->entry_form);
    return 0;
}

static int
HotCall_clear(HotCall *self)
{
    Py_CLEAR(self->entry);
    Py_CLEAR(self->entry_form);
    return 0;
}

static void
HotCall_dealloc(HotCall *self)
{
    PyObject_GC_UnTrack(self);
    HotCall_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef HotCall_members[] = {
    {"_entry", T_OBJECT, offsetof(HotCall, entry), 0,
     "The compiled entry (None: none yet, or retired)."},
    {"_entry_form", T_OBJECT, offsetof(HotCall, entry_form), 0,
     "The form of the calls the entry takes (None: positional arrays only)."},
    {"_entry_hits", T_PYSSIZET, offsetof(HotCall, entry_hits), 0,
     "Calls the compiled entry answered."},
    {NULL}
};

static PyTypeObject HotCallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "numbavmap._hot_call.HotCall",
    .tp_doc = PyDoc_STR("Calls a compiled entry for calls of plain arrays in its form, "
                        "else self._call_by_plan(*args, **kwargs)."),
    .tp_basicsize = sizeof(HotCall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_call = (ternaryfunc)HotCall_call,
    .tp_traverse = (traverseproc)HotCall_traverse,
    .tp_clear = (inquiry)HotCall_clear,
    .tp_dealloc = (destructor)HotCall_dealloc,
    .tp_members = HotCall_members,
};

static struct PyModuleDef hot_call_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "numbavmap._hot_call",
    .m_doc = "VmappedFunction's call with a compiled entry, in C (see numbavmap.hot_call).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__hot_call(void)
{
    PyObject *numpy = PyImport_ImportModule("numpy");
    if (numpy == NULL) {
        return NULL;
    }
    ndarray_type = PyObject_GetAttrString(numpy, "ndarray");
    Py_DECREF(numpy);
    if (ndarray_type == NULL) {
        return NULL;
    }
    call_by_plan_name = PyUnicode_InternFromString("_call_by_plan");
    if (call_by_plan_name == NULL || PyType_Ready(&HotCallType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&hot_call_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&HotCallType);
    if (PyModule_AddObject(module, "HotCall", (PyObject *)&HotCallType) < 0) {
        Py_DECREF(&HotCallType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
