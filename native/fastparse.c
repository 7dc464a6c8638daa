/*
 * stream.contract._native: the columnar parse of a batch of event JSON values (issue 19).
 *
 * It CLAIMS only records it can prove valid under a strict, common subset of the event
 * contract, and returns the positions of every other record ("unclaimed") for the
 * pure-Python paths (msgspec typed decode, then the per-record reference check), which
 * stay the definition. A claimed record is:
 *   - a bytes value, 1..max_event_bytes long, starting with '{' and ending with its '}'
 *     (no leading/trailing whitespace, no BOM);
 *   - one flat object with keys only among "model", "ts", "id", "features",
 *     "prediction" (each at most once), no escapes in any key or string;
 *   - "model": a non-empty string naming a catalog model;
 *   - "features": an object whose keys are declared features of that model (each at most
 *     once) and whose values are scalars (no arrays/objects);
 *   - numeric columns: null, an integer literal of at most 18 digits (converted by a
 *     rounding int64 -> double cast: Python's float(int)), or a finite, normal float
 *     literal (Clinger's exact fast path, else CPython's correctly rounded
 *     PyOS_string_to_double);
 *   - categorical columns and "prediction" when categorical: null, a string of valid
 *     UTF-8 (strict decoder) of at most max_value_bytes bytes, an integer literal of at
 *     most 18 digits (its text; "-0" is left unclaimed), true/false;
 *   - "id": null, such a string or integer literal;
 *   - "ts": absent/null (the record timestamp is used: the caller checks it), an integer
 *     literal of at most 18 digits, or ISO-8601 text of exactly the shapes
 *     stream/contract/_time.py's vectorised parser claims, with the same field checks;
 *   - "prediction" only when the model declares one.
 * Everything else (escapes, undeclared keys, wrong types, big numbers, other time shapes)
 * is unclaimed, never rejected here: this module decides speed only, never results.
 * Bounds of the event time (record timestamp, worker clock) are checked by the caller.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "scan.h"

#define MAX_ENTRIES 256  /* feature entries per record claimed; more -> unclaimed */
#ifndef PREFETCH
#define PREFETCH 6 /* values fetched ahead (each ~6 cache lines) */
#endif

/* ------------------------------------------------------------------ growable buffers */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int buf_grow(Buf *b, const void *src, Py_ssize_t size) {
    Py_ssize_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + size) cap *= 2;
    char *p = PyMem_Realloc(b->data, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = p;
    b->cap = cap;
    memcpy(b->data + b->len, src, (size_t)size);
    b->len += size;
    return 0;
}

/* Append (the common case, room left, inlined: a few stores per value). */
static inline int buf_put(Buf *b, const void *src, Py_ssize_t size) {
    if (b->len + size > b->cap) return buf_grow(b, src, size);
    memcpy(b->data + b->len, src, (size_t)size);
    b->len += size;
    return 0;
}

static void buf_free(Buf *b) {
    PyMem_Free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static PyObject *buf_take(Buf *b) { /* a writable bytearray copy */
    return PyByteArray_FromStringAndSize(b->data ? b->data : "", b->len);
}

/* ------------------------------------------------------------------ category codes */

/* One categorical column of one batch: each distinct text gets a code (its index in
 * ``cats``, in order of first use); the column is the codes (-1 = null). Keys point into
 * the batch's bytes, valid for the call. The text is the contract's: a string's UTF-8,
 * an integer's literal, "true"/"false", so "5" and 5 share one code, as their str does. */
typedef struct {
    const char *s;
    Py_ssize_t n; /* -1: empty slot */
    uint32_t h;
    int32_t code;
} CatEntry;

typedef struct {
    CatEntry *tab;
    uint32_t mask; /* table size - 1 (a power of two) */
    Py_ssize_t used;
    PyObject *cats; /* list of str */
    Buf codes;      /* int32 per claimed record */
} CatDict;

static void cat_free(CatDict *d) {
    PyMem_Free(d->tab);
    d->tab = NULL;
    Py_CLEAR(d->cats);
    buf_free(&d->codes);
}

static int cat_resize(CatDict *d, uint32_t size) {
    CatEntry *tab = PyMem_Malloc(sizeof(CatEntry) * size);
    if (tab == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t i = 0; i < size; i++) tab[i].n = -1;
    if (d->tab != NULL) {
        for (uint32_t i = 0; i <= d->mask; i++) {
            if (d->tab[i].n < 0) continue;
            uint32_t k = d->tab[i].h & (size - 1);
            while (tab[k].n >= 0) k = (k + 1) & (size - 1);
            tab[k] = d->tab[i];
        }
        PyMem_Free(d->tab);
    }
    d->tab = tab;
    d->mask = size - 1;
    return 0;
}

/* The code of a value: 1 with *out set (-1 for null), 0 when not claimable, -1 error. */
static int cat_code(CatDict *d, const Val *v, Py_ssize_t max_bytes, int32_t *out) {
    const char *s = NULL;
    Py_ssize_t n = 0;
    int ascii;
    switch (text_of(v, 1, max_bytes, &s, &n, &ascii)) {
        case 2: *out = -1; return 1;
        case 1: break;
        default: return 0;
    }
    if (d->tab == NULL && cat_resize(d, 16) < 0) return -1;
    uint32_t h = fnv(s, n), k = h & d->mask;
    for (; d->tab[k].n >= 0; k = (k + 1) & d->mask) {
        const CatEntry *e = &d->tab[k];
        if (e->h == h && e->n == n && same_bytes(e->s, s, n)) {
            *out = e->code;
            return 1;
        }
    }
    PyObject *obj = text_object(s, n, ascii); /* first use: the one str of this text */
    if (obj == NULL) return PyErr_Occurred() ? -1 : 0;
    int failed = PyList_Append(d->cats, obj);
    Py_DECREF(obj);
    if (failed) return -1;
    CatEntry *e = &d->tab[k];
    e->s = s;
    e->n = n;
    e->h = h;
    e->code = (int32_t)(PyList_GET_SIZE(d->cats) - 1);
    *out = e->code;
    if (++d->used * 2 > (Py_ssize_t)d->mask + 1 && cat_resize(d, (d->mask + 1) * 2) < 0)
        return -1;
    return 1;
}

/* ------------------------------------------------------------------ catalog models */

enum { NUMERIC = 0, CATEGORICAL = 1 };

typedef struct {
    const char *name;
    Py_ssize_t name_len;
    int n_feats;     /* declared features */
    int n_cols;      /* features + prediction */
    const char **keys;
    Py_ssize_t *key_lens;
    char *kinds;     /* per column (prediction last) */
    int *slot;       /* column -> index among numeric or categorical columns */
    int n_num, n_cat;
    int has_pred;
    /* outputs */
    Buf pos, ts, given;
    Buf *num;          /* n_num */
    CatDict *cat;      /* n_cat: per-batch category codes */
    PyObject *ids;     /* list */
    Py_ssize_t count;
} Model;

static void models_free(Model *m, int n) {
    if (m == NULL) return;
    for (int i = 0; i < n; i++) {
        PyMem_Free(m[i].keys);
        PyMem_Free(m[i].key_lens);
        PyMem_Free(m[i].kinds);
        PyMem_Free(m[i].slot);
        buf_free(&m[i].pos);
        buf_free(&m[i].ts);
        buf_free(&m[i].given);
        if (m[i].num) {
            for (int j = 0; j < m[i].n_num; j++) buf_free(&m[i].num[j]);
            PyMem_Free(m[i].num);
        }
        if (m[i].cat) {
            for (int j = 0; j < m[i].n_cat; j++) cat_free(&m[i].cat[j]);
            PyMem_Free(m[i].cat);
        }
        Py_XDECREF(m[i].ids);
    }
    PyMem_Free(m);
}

/* spec: tuple of (name: bytes, keys: tuple[bytes, ...], kinds: bytes, prediction: int)
 * kinds: one byte per key, 0 numeric / 1 categorical; prediction: -1 none, 0, 1. */
static Model *models_load(PyObject *spec, int *n_out) {
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "spec must be a tuple");
        return NULL;
    }
    int n = (int)PyTuple_GET_SIZE(spec);
    Model *ms = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Model));
    if (ms == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *n_out = n;
    for (int i = 0; i < n; i++) {
        Model *m = &ms[i];
        PyObject *name, *keys, *kinds;
        int pred;
        PyObject *item = PyTuple_GET_ITEM(spec, i);
        if (!PyArg_ParseTuple(item, "O!O!O!i", &PyBytes_Type, &name, &PyTuple_Type, &keys,
                              &PyBytes_Type, &kinds, &pred))
            goto fail;
        int nf = (int)PyTuple_GET_SIZE(keys);
        if (PyBytes_GET_SIZE(kinds) != nf || pred < -1 || pred > 1) {
            PyErr_SetString(PyExc_ValueError, "bad model spec");
            goto fail;
        }
        m->name = PyBytes_AS_STRING(name);
        m->name_len = PyBytes_GET_SIZE(name);
        m->n_feats = nf;
        m->has_pred = pred >= 0;
        m->n_cols = nf + m->has_pred;
        m->keys = PyMem_Calloc((size_t)nf + 1, sizeof(char *));
        m->key_lens = PyMem_Calloc((size_t)nf + 1, sizeof(Py_ssize_t));
        m->kinds = PyMem_Calloc((size_t)m->n_cols + 1, 1);
        m->slot = PyMem_Calloc((size_t)m->n_cols + 1, sizeof(int));
        if (!m->keys || !m->key_lens || !m->kinds || !m->slot) {
            PyErr_NoMemory();
            goto fail;
        }
        for (int j = 0; j < nf; j++) {
            PyObject *k = PyTuple_GET_ITEM(keys, j);
            if (!PyBytes_Check(k)) {
                PyErr_SetString(PyExc_TypeError, "feature keys must be bytes");
                goto fail;
            }
            m->keys[j] = PyBytes_AS_STRING(k);
            m->key_lens[j] = PyBytes_GET_SIZE(k);
            m->kinds[j] = PyBytes_AS_STRING(kinds)[j] ? CATEGORICAL : NUMERIC;
        }
        if (m->has_pred) m->kinds[nf] = (char)pred;
        for (int j = 0; j < m->n_cols; j++)
            m->slot[j] = m->kinds[j] == NUMERIC ? m->n_num++ : m->n_cat++;
        m->num = PyMem_Calloc((size_t)m->n_num + 1, sizeof(Buf));
        m->cat = PyMem_Calloc((size_t)m->n_cat + 1, sizeof(CatDict));
        if (!m->num || !m->cat) {
            PyErr_NoMemory();
            goto fail;
        }
        for (int j = 0; j < m->n_cat; j++)
            if ((m->cat[j].cats = PyList_New(0)) == NULL) goto fail;
        if ((m->ids = PyList_New(0)) == NULL) goto fail;
    }
    return ms;
fail:
    models_free(ms, n);
    return NULL;
}

/* ------------------------------------------------------------------ one record */

typedef struct {
    Val model, ts, id, pred;
    int has_features;
    int n_entries;
    Val keys[MAX_ENTRIES];
    Val vals[MAX_ENTRIES];
} Rec;

enum { K_MODEL = 1, K_TS = 2, K_ID = 4, K_FEATURES = 8, K_PRED = 16 };

static int top_key(const Val *k) {
    switch (k->n) {
        case 2:
            if (k->s[0] == 't' && k->s[1] == 's') return K_TS;
            if (k->s[0] == 'i' && k->s[1] == 'd') return K_ID;
            return 0;
        case 5: return memcmp(k->s, "model", 5) == 0 ? K_MODEL : 0;
        case 8: return memcmp(k->s, "features", 8) == 0 ? K_FEATURES : 0;
        case 10: return memcmp(k->s, "prediction", 10) == 0 ? K_PRED : 0;
        default: return 0;
    }
}

/* Structure of one record into r; 0 when not claimable. */
static int scan_record(const char *p, const char *end, Rec *r) {
    r->model.type = r->ts.type = r->id.type = r->pred.type = V_NONE;
    r->has_features = 0;
    r->n_entries = 0;
    if (p >= end || *p != '{' || end[-1] != '}') return 0;
    p = skip_ws(p + 1, end);
    int seen = 0;
    for (;;) {
        Val key;
        if (p >= end || *p != '"' || (p = scan_string(p, end, &key)) == NULL) return 0;
        int k = top_key(&key);
        if (k == 0 || (seen & k)) return 0;
        seen |= k;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') return 0;
        p = skip_ws(p + 1, end);
        if (k == K_FEATURES) {
            if (p >= end || *p != '{') return 0;
            r->has_features = 1;
            p = skip_ws(p + 1, end);
            if (p < end && *p == '}') {
                p++;
            } else {
                for (;;) {
                    if (r->n_entries >= MAX_ENTRIES) return 0;
                    Val *fk = &r->keys[r->n_entries], *fv = &r->vals[r->n_entries];
                    if (p >= end || *p != '"' || (p = scan_string(p, end, fk)) == NULL) return 0;
                    p = skip_ws(p, end);
                    if (p >= end || *p != ':') return 0;
                    p = skip_ws(p + 1, end);
                    if ((p = scan_scalar(p, end, fv)) == NULL) return 0;
                    r->n_entries++;
                    p = skip_ws(p, end);
                    if (p < end && *p == ',') {
                        p = skip_ws(p + 1, end);
                        continue;
                    }
                    if (p < end && *p == '}') {
                        p++;
                        break;
                    }
                    return 0;
                }
            }
        } else {
            Val *v = k == K_MODEL ? &r->model : k == K_TS ? &r->ts : k == K_ID ? &r->id : &r->pred;
            if ((p = scan_scalar(p, end, v)) == NULL) return 0;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') return p + 1 == end;
        return 0;
    }
}

static int find_model(const Model *ms, int n, const Val *name) {
    if (name->type != V_STR || name->n == 0) return -1;
    for (int i = 0; i < n; i++)
        if (ms[i].name_len == name->n && same_bytes(ms[i].name, name->s, name->n))
            return i;
    return -1;
}

static inline int key_is(const Model *m, int j, const Val *k) {
    return m->key_lens[j] == k->n && same_bytes(m->keys[j], k->s, k->n);
}

/* Values of a scanned record into model m's columns. 1 claimed, 0 not, -1 error. */
static int commit(Model *m, const Rec *r, int64_t position, Py_ssize_t max_value_bytes,
                  const Val **col, double *nums, int32_t *codes, PyObject **objs) {
    for (int j = 0; j < m->n_cols; j++) col[j] = NULL;
    for (int e = 0; e < r->n_entries; e++) {
        const Val *k = &r->keys[e];
        int j = -1;
        if (e < m->n_feats && key_is(m, e, k)) {
            j = e;
        } else {
            for (int c = 0; c < m->n_feats; c++)
                if (key_is(m, c, k)) {
                    j = c;
                    break;
                }
        }
        if (j < 0 || col[j] != NULL) return 0; /* undeclared or duplicate */
        col[j] = &r->vals[e];
    }
    if (m->has_pred) {
        col[m->n_feats] = &r->pred;
    } else if (r->pred.type != V_NONE) {
        return 0;
    }
    /* event time: given (1) or the record timestamp (0, checked by the caller) */
    int64_t ts = 0;
    char given = 1;
    if (r->ts.type == V_NONE || r->ts.type == V_NULL) {
        given = 0;
    } else if (r->ts.type == V_INT) {
        if (!small_int(&r->ts, &ts)) return 0;
    } else if (r->ts.type == V_STR) {
        if (!r->ts.ascii || !iso_ms_c(r->ts.s, r->ts.n, &ts)) return 0;
    } else {
        return 0;
    }
    static const Val none = {NULL, 0, V_NONE, 1, 0, 0, 0, 0, 0};
    int n_obj = 0, status = 0, err = 0;
    for (int j = 0; j < m->n_cols; j++) {
        const Val *v = col[j] ? col[j] : &none;
        if (m->kinds[j] == NUMERIC) {
            if (!numeric_value(v, &nums[m->slot[j]])) goto done;
        } else {
            int c = cat_code(&m->cat[m->slot[j]], v, max_value_bytes, &codes[m->slot[j]]);
            if (c <= 0) {
                status = c;
                goto done;
            }
        }
    }
    if (r->id.type == V_TRUE || r->id.type == V_FALSE) goto done;
    PyObject *id = text_value(&r->id, max_value_bytes, &err);
    if (id == NULL) {
        status = err ? -1 : 0;
        goto done;
    }
    objs[n_obj++] = id;
    /* claimed: append everything */
    if (buf_put(&m->pos, &position, 8) < 0 || buf_put(&m->ts, &ts, 8) < 0 ||
        buf_put(&m->given, &given, 1) < 0) {
        status = -1;
        goto done;
    }
    for (int j = 0; j < m->n_num; j++)
        if (buf_put(&m->num[j], &nums[j], 8) < 0) {
            status = -1;
            goto done;
        }
    for (int j = 0; j < m->n_cat; j++)
        if (buf_put(&m->cat[j].codes, &codes[j], 4) < 0) {
            status = -1;
            goto done;
        }
    if (PyList_Append(m->ids, id) < 0) {
        status = -1;
        goto done;
    }
    m->count++;
    status = 1;
done:
    for (int i = 0; i < n_obj; i++) Py_DECREF(objs[i]);
    return status;
}

/* ------------------------------------------------------------------ entry point */

PyDoc_STRVAR(parse_doc,
"parse(values, spec, max_event_bytes, max_value_bytes) -> (unclaimed, models)\n\n"
"Columns of the records of ``values`` (a list) this module can prove valid.\n"
"``unclaimed``: bytearray of int64 positions left to the Python paths. ``models``: per\n"
"spec model, None or (positions, ts, ts_given, numeric, categorical, ids): bytearrays\n"
"of int64/int64/uint8, a tuple of float64 bytearrays (NaN = null), a tuple of\n"
"(codes, categories) per categorical column (int32 bytearray, -1 = null, else an index\n"
"into the list of the batch's distinct str values, in order of first use), a list of\n"
"str|None; columns in declaration order, prediction last.");

static PyObject *parse(PyObject *self, PyObject *args) {
    PyObject *values, *spec;
    Py_ssize_t max_event_bytes, max_value_bytes;
    if (!PyArg_ParseTuple(args, "O!Onn", &PyList_Type, &values, &spec, &max_event_bytes,
                          &max_value_bytes))
        return NULL;
    int n_models = 0;
    Model *ms = models_load(spec, &n_models);
    if (ms == NULL) return NULL;
    int max_cols = 1;
    for (int i = 0; i < n_models; i++)
        if (ms[i].n_cols + 1 > max_cols) max_cols = ms[i].n_cols + 1;
    Rec *rec = PyMem_Malloc(sizeof(Rec));
    const Val **col = PyMem_Calloc((size_t)max_cols, sizeof(Val *));
    double *nums = PyMem_Calloc((size_t)max_cols, sizeof(double));
    int32_t *codes = PyMem_Calloc((size_t)max_cols, sizeof(int32_t));
    PyObject **objs = PyMem_Calloc((size_t)max_cols + 1, sizeof(PyObject *));
    Buf unclaimed = {NULL, 0, 0};
    PyObject *result = NULL;
    if (!rec || !col || !nums || !codes || !objs) {
        PyErr_NoMemory();
        goto out;
    }
    /* the list cannot change under us: no Python code runs in this loop */
    Py_ssize_t n = PyList_GET_SIZE(values);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
#if defined(__GNUC__)
        /* the values are scattered over the heap: fetch the next ones' bytes early */
        if (i + PREFETCH < n) {
            const char *ahead = (const char *)PyList_GET_ITEM(values, i + PREFETCH);
            for (int line = 0; line < 6; line++) __builtin_prefetch(ahead + 16 + 64 * line);
        }
#endif
        int claimed = 0;
        if (PyBytes_CheckExact(v)) {
            const char *s = PyBytes_AS_STRING(v);
            Py_ssize_t len = PyBytes_GET_SIZE(v);
            if (len > 0 && len <= max_event_bytes && scan_record(s, s + len, rec) &&
                rec->has_features) {
                int mi = find_model(ms, n_models, &rec->model);
                if (mi >= 0) {
                    claimed = commit(&ms[mi], rec, (int64_t)i, max_value_bytes, col, nums, codes, objs);
                    if (claimed < 0) goto out;
                }
            }
        }
        if (!claimed) {
            int64_t pos = (int64_t)i;
            if (buf_put(&unclaimed, &pos, 8) < 0) goto out;
        }
    }
    PyObject *models = PyTuple_New(n_models);
    if (models == NULL) goto out;
    for (int i = 0; i < n_models; i++) {
        Model *m = &ms[i];
        PyObject *item = Py_None;
        if (m->count) {
            PyObject *num = PyTuple_New(m->n_num), *cat = PyTuple_New(m->n_cat);
            if (num == NULL || cat == NULL) {
                Py_XDECREF(num);
                Py_XDECREF(cat);
                Py_DECREF(models);
                goto out;
            }
            for (int j = 0; j < m->n_num; j++) {
                PyObject *b = buf_take(&m->num[j]);
                if (b == NULL) {
                    Py_DECREF(num);
                    Py_DECREF(cat);
                    Py_DECREF(models);
                    goto out;
                }
                PyTuple_SET_ITEM(num, j, b);
            }
            for (int j = 0; j < m->n_cat; j++) {
                PyObject *pair = Py_BuildValue("(NO)", buf_take(&m->cat[j].codes), m->cat[j].cats);
                if (pair == NULL) {
                    Py_DECREF(num);
                    Py_DECREF(cat);
                    Py_DECREF(models);
                    goto out;
                }
                PyTuple_SET_ITEM(cat, j, pair);
            }
            item = Py_BuildValue("(NNNNNO)", buf_take(&m->pos), buf_take(&m->ts),
                                 buf_take(&m->given), num, cat, m->ids);
            if (item == NULL) {
                Py_DECREF(models);
                goto out;
            }
        } else {
            Py_INCREF(item);
        }
        PyTuple_SET_ITEM(models, i, item);
    }
    PyObject *un = buf_take(&unclaimed);
    if (un == NULL) {
        Py_DECREF(models);
        goto out;
    }
    result = Py_BuildValue("(NN)", un, models);
out:
    buf_free(&unclaimed);
    PyMem_Free(rec);
    PyMem_Free(col);
    PyMem_Free(nums);
    PyMem_Free(codes);
    PyMem_Free(objs);
    models_free(ms, n_models);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, parse_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "stream.contract._native",
    "Columnar parse of event JSON (issue 19); see native/fastparse.c.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
