/*
 * stream.core.sketch._codec: the sketch wire format's hot primitives in C (issue 12,
 * replay flush). Each returns exactly the bytes of its Python definition in
 * stream/core/sketch/_wire.py and _store.py, which stays the reference (the tests
 * compare the two on random input):
 *
 *   uvarint(v)          Writer.uvarint: unsigned LEB128 of a non-negative int, any size
 *   bigint(v)           Writer.bigint: zigzag LEB128 of the odd mantissa, then the shift
 *   uints(a)            encode_uints: mode byte, then nibbles (all < 16) or varints
 *   uvarints(a)         encode_uvarints: LEB128 of each value
 *   store_layouts(a)    layouts_of_array: (dense, sparse, non-empty buckets) of a store
 *
 * ``a`` is a C-contiguous int64 buffer. Negative values where a non-negative one is
 * needed raise ValueError, as the Python paths do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The little-endian magnitude bytes of a Python int (caller frees *out). */
static int magnitude(PyObject *v, unsigned char **out, size_t *n, int *negative) {
    if (!PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "expected an int");
        return -1;
    }
    int sign = _PyLong_Sign(v);
    *negative = sign < 0;
    PyObject *a = sign < 0 ? PyNumber_Negative(v) : (Py_INCREF(v), v);
    if (a == NULL) return -1;
    size_t bits = _PyLong_NumBits(a);
    if (bits == (size_t)-1 && PyErr_Occurred()) {
        Py_DECREF(a);
        return -1;
    }
    size_t len = bits / 8 + 1;
    unsigned char *buf = PyMem_Malloc(len);
    if (buf == NULL) {
        Py_DECREF(a);
        PyErr_NoMemory();
        return -1;
    }
#if PY_VERSION_HEX >= 0x030D0000
    int rc = _PyLong_AsByteArray((PyLongObject *)a, buf, len, 1, 0, 1);
#else
    int rc = _PyLong_AsByteArray((PyLongObject *)a, buf, len, 1, 0);
#endif
    Py_DECREF(a);
    if (rc < 0) {
        PyMem_Free(buf);
        return -1;
    }
    *out = buf;
    *n = bits;
    return 0;
}

static inline int bit_at(const unsigned char *b, size_t i) { return (b[i >> 3] >> (i & 7)) & 1; }

/* LEB128 of the bits z_0 .. z_{nbits-1} given by get(ctx, i); at least one byte. */
typedef int (*bit_fn)(const void *ctx, size_t i);

static size_t leb_bits(unsigned char *out, size_t nbits, bit_fn get, const void *ctx) {
    size_t groups = nbits ? (nbits + 6) / 7 : 1;
    for (size_t g = 0; g < groups; g++) {
        unsigned char byte = 0;
        for (size_t k = 0; k < 7; k++) {
            size_t i = g * 7 + k;
            if (i < nbits && get(ctx, i)) byte |= (unsigned char)(1u << k);
        }
        out[g] = byte | (g + 1 < groups ? 0x80 : 0);
    }
    return groups;
}

static inline size_t leb_u64(unsigned char *out, uint64_t x) {
    size_t n = 0;
    while (x >= 0x80) {
        out[n++] = (unsigned char)((x & 0x7F) | 0x80);
        x >>= 7;
    }
    out[n++] = (unsigned char)x;
    return n;
}

typedef struct {
    const unsigned char *mag;
    size_t shift;
    int negative;
} zig_ctx;

/* Bit i of zigzag(±m) with m = |v| >> shift odd: z = 2m (v > 0) or 2m - 1 (v < 0). */
static int zig_bit(const void *p, size_t i) {
    const zig_ctx *c = p;
    if (i == 0) return c->negative;
    if (i == 1) return !c->negative; /* m's lowest bit is 1; 2m - 1 clears it */
    return bit_at(c->mag, i - 1 + c->shift);
}

static int plain_bit(const void *p, size_t i) { return bit_at((const unsigned char *)p, i); }

static PyObject *uvarint(PyObject *self, PyObject *v) {
    if (PyLong_Check(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) return NULL;
        if (!overflow && x >= 0) {
            unsigned char out[10];
            return PyBytes_FromStringAndSize((char *)out, (Py_ssize_t)leb_u64(out, (uint64_t)x));
        }
    }
    unsigned char *mag;
    size_t bits;
    int negative;
    if (magnitude(v, &mag, &bits, &negative) < 0) return NULL;
    if (negative) {
        PyMem_Free(mag);
        return PyErr_Format(PyExc_ValueError, "uvarint needs a non-negative int, got %R", v);
    }
    PyObject *res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(bits / 7 + 1));
    if (res != NULL) {
        size_t n = leb_bits((unsigned char *)PyBytes_AS_STRING(res), bits, plain_bit, mag);
        _PyBytes_Resize(&res, (Py_ssize_t)n);
    }
    PyMem_Free(mag);
    return res;
}

static PyObject *bigint(PyObject *self, PyObject *v) {
    unsigned char *mag;
    size_t bits;
    int negative;
    if (magnitude(v, &mag, &bits, &negative) < 0) return NULL;
    if (bits == 0) {
        PyMem_Free(mag);
        return PyBytes_FromStringAndSize("\x00", 1);
    }
    size_t shift = 0;
    while (!mag[shift >> 3]) shift += 8; /* bits > 0: some byte is non-zero */
    while (!bit_at(mag, shift)) shift++;
    size_t mbits = bits - shift;                 /* m is odd: its top bit is bit mbits-1 */
    size_t zbits = negative && mbits == 1 ? 1 : mbits + 1;
    PyObject *res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(zbits / 7 + 1 + 10));
    if (res != NULL) {
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(res);
        zig_ctx c = {mag, shift, negative};
        size_t n = leb_bits(out, zbits, zig_bit, &c);
        n += leb_u64(out + n, (uint64_t)shift);
        _PyBytes_Resize(&res, (Py_ssize_t)n);
    }
    PyMem_Free(mag);
    return res;
}

/* encode_uints of n values into a growing buffer; -1 (ValueError set) on a negative. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + more) cap *= 2;
    unsigned char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int put_uints(buf_t *b, const int64_t *v, Py_ssize_t n) {
    int small = n > 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "uvarints need non-negative values");
            return -1;
        }
        if (v[i] >= 16) small = 0;
    }
    if (buf_reserve(b, 1 + (size_t)n * 10) < 0) return -1;
    if (small) {
        b->p[b->len++] = 1;
        for (Py_ssize_t i = 0; i < n; i += 2) {
            unsigned hi = (unsigned)v[i], lo = i + 1 < n ? (unsigned)v[i + 1] : 0;
            b->p[b->len++] = (unsigned char)((hi << 4) | lo);
        }
    } else {
        b->p[b->len++] = 0;
        for (Py_ssize_t i = 0; i < n; i++) b->len += leb_u64(b->p + b->len, (uint64_t)v[i]);
    }
    return 0;
}

static int int64_buffer(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    if (view->itemsize != 8 || view->ndim > 1 || !(f[0] == 'l' || f[0] == 'q') || f[1]) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "expected a contiguous int64 array");
        return -1;
    }
    return 0;
}

static PyObject *take(buf_t *b) {
    PyObject *res = PyBytes_FromStringAndSize((char *)b->p, (Py_ssize_t)b->len);
    PyMem_Free(b->p);
    b->p = NULL;
    return res;
}

static PyObject *uints(PyObject *self, PyObject *arr) {
    Py_buffer view;
    if (int64_buffer(arr, &view) < 0) return NULL;
    buf_t b = {NULL, 0, 0};
    int rc = put_uints(&b, (const int64_t *)view.buf, view.len / 8);
    PyBuffer_Release(&view);
    if (rc < 0) {
        PyMem_Free(b.p);
        return NULL;
    }
    return take(&b);
}

static PyObject *uvarints(PyObject *self, PyObject *arr) {
    Py_buffer view;
    if (int64_buffer(arr, &view) < 0) return NULL;
    const int64_t *v = view.buf;
    Py_ssize_t n = view.len / 8;
    buf_t b = {NULL, 0, 0};
    PyObject *res = NULL;
    if (buf_reserve(&b, (size_t)n * 10 + 1) == 0) {
        Py_ssize_t i = 0;
        for (; i < n && v[i] >= 0; i++) b.len += leb_u64(b.p + b.len, (uint64_t)v[i]);
        if (i < n)
            PyErr_SetString(PyExc_ValueError, "uvarints need non-negative values");
        else
            res = take(&b);
    }
    PyMem_Free(b.p);
    PyBuffer_Release(&view);
    return res;
}

static PyObject *store_layouts(PyObject *self, PyObject *arr) {
    Py_buffer view;
    if (int64_buffer(arr, &view) < 0) return NULL;
    const int64_t *c = view.buf;
    Py_ssize_t n = view.len / 8;
    int64_t *tmp = PyMem_Malloc(sizeof(int64_t) * (size_t)(2 * n + 1));
    if (tmp == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    buf_t dense = {NULL, 0, 0}, sparse = {NULL, 0, 0};
    PyObject *res = NULL;
    /* Dense: zigzag of the deltas of consecutive counts (the first against 0). */
    int64_t prev = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t d = (int64_t)((uint64_t)c[i] - (uint64_t)prev);
        tmp[i] = (int64_t)(((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
        prev = c[i];
    }
    if (put_uints(&dense, tmp, n) < 0) goto done;
    /* Sparse: gaps between the non-empty buckets' keys, then their counts. */
    Py_ssize_t m = 0, last = -1;
    int64_t *gaps = tmp, *vals = tmp + n;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (c[i]) {
            if (last >= 0) gaps[m - 1] = (int64_t)(i - last - 1);
            vals[m++] = c[i];
            last = i;
        }
    }
    if (put_uints(&sparse, gaps, m ? m - 1 : 0) < 0 || put_uints(&sparse, vals, m) < 0) goto done;
    {
        PyObject *d = take(&dense), *s = take(&sparse);
        if (d != NULL && s != NULL) res = Py_BuildValue("(OOn)", d, s, m);
        Py_XDECREF(d);
        Py_XDECREF(s);
    }
done:
    PyMem_Free(dense.p);
    PyMem_Free(sparse.p);
    PyMem_Free(tmp);
    PyBuffer_Release(&view);
    return res;
}

static PyMethodDef methods[] = {
    {"uvarint", uvarint, METH_O, "Unsigned LEB128 of a non-negative int of any size."},
    {"bigint", bigint, METH_O, "Writer.bigint's bytes: zigzag LEB128 mantissa, then shift."},
    {"uints", uints, METH_O, "encode_uints of a contiguous int64 array."},
    {"uvarints", uvarints, METH_O, "encode_uvarints of a contiguous int64 array."},
    {"store_layouts", store_layouts, METH_O, "(dense, sparse, m) of a store's counts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "stream.core.sketch._codec",
    "The sketch wire format's hot primitives (issue 12); see native/sketchcodec.c.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__codec(void) { return PyModule_Create(&module); }
