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

#define MAX_ENTRIES 256  /* feature entries per record claimed; more -> unclaimed */
#define MAX_NUM_TEXT 63  /* longest number literal claimed */
#define CACHE_SLOTS 64   /* category text cache per categorical column */
#define PREFETCH 6       /* values fetched ahead (each ~6 cache lines) */

/* ------------------------------------------------------------------ growable buffers */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int buf_put(Buf *b, const void *src, Py_ssize_t size) {
    if (b->len + size > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + size) cap *= 2;
        char *p = PyMem_Realloc(b->data, (size_t)cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = p;
        b->cap = cap;
    }
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

/* ------------------------------------------------------------------ catalog models */

enum { NUMERIC = 0, CATEGORICAL = 1 };

typedef struct {
    const char *s;
    Py_ssize_t n;
    PyObject *obj; /* strong ref */
} Slot;

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
    PyObject **cat;    /* n_cat lists */
    Slot *cache;       /* n_cat * CACHE_SLOTS */
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
            for (int j = 0; j < m[i].n_cat; j++) Py_XDECREF(m[i].cat[j]);
            PyMem_Free(m[i].cat);
        }
        if (m[i].cache) {
            for (int j = 0; j < m[i].n_cat * CACHE_SLOTS; j++) Py_XDECREF(m[i].cache[j].obj);
            PyMem_Free(m[i].cache);
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
        m->cat = PyMem_Calloc((size_t)m->n_cat + 1, sizeof(PyObject *));
        m->cache = PyMem_Calloc((size_t)m->n_cat * CACHE_SLOTS + 1, sizeof(Slot));
        if (!m->num || !m->cat || !m->cache) {
            PyErr_NoMemory();
            goto fail;
        }
        for (int j = 0; j < m->n_cat; j++)
            if ((m->cat[j] = PyList_New(0)) == NULL) goto fail;
        if ((m->ids = PyList_New(0)) == NULL) goto fail;
    }
    return ms;
fail:
    models_free(ms, n);
    return NULL;
}

/* ------------------------------------------------------------------ scanning */

enum { V_NONE = 0, V_STR, V_INT, V_FLOAT, V_TRUE, V_FALSE, V_NULL, V_OBJ };

typedef struct {
    const char *s; /* string: contents without quotes; number: the literal */
    Py_ssize_t n;
    int type;
    int ascii;
} Val;

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at the opening quote; returns the byte after the closing quote, or NULL (unclaim). */
static inline const char *scan_string(const char *p, const char *end, Val *v) {
    const char *s = ++p;
    int ascii = 1;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            v->s = s;
            v->n = p - s;
            v->type = V_STR;
            v->ascii = ascii;
            return p + 1;
        }
        if (c == '\\' || c < 0x20) return NULL;
        if (c >= 0x80) ascii = 0;
        p++;
    }
    return NULL;
}

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

/* JSON number grammar exactly: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline const char *scan_number(const char *p, const char *end, Val *v) {
    const char *s = p;
    int is_float = 0;
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) return NULL;
        while (p < end && is_digit(*p)) p++;
        is_float = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return NULL;
        while (p < end && is_digit(*p)) p++;
        is_float = 1;
    }
    v->s = s;
    v->n = p - s;
    v->type = is_float ? V_FLOAT : V_INT;
    return p;
}

static inline const char *scan_word(const char *p, const char *end, const char *w,
                                    Py_ssize_t n, int type, Val *v) {
    if (end - p < n || memcmp(p, w, (size_t)n) != 0) return NULL;
    v->s = p;
    v->n = n;
    v->type = type;
    return p + n;
}

/* One scalar value (no arrays or objects). */
static inline const char *scan_scalar(const char *p, const char *end, Val *v) {
    if (p >= end) return NULL;
    switch (*p) {
        case '"': return scan_string(p, end, v);
        case 't': return scan_word(p, end, "true", 4, V_TRUE, v);
        case 'f': return scan_word(p, end, "false", 5, V_FALSE, v);
        case 'n': return scan_word(p, end, "null", 4, V_NULL, v);
        default:
            if (*p == '-' || is_digit(*p)) return scan_number(p, end, v);
            return NULL;
    }
}

/* ------------------------------------------------------------------ values */

/* Integer literal of at most 18 digits -> int64; 0 when not claimable. */
static inline int small_int(const Val *v, int64_t *out) {
    const char *p = v->s, *e = v->s + v->n;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (e - p > 18) return 0;
    int64_t x = 0;
    for (; p < e; p++) x = x * 10 + (*p - '0');
    *out = neg ? -x : x;
    return 1;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A float literal, correctly rounded; 0 when not claimable (non-finite, subnormal or an
 * underflow to zero, longer than MAX_NUM_TEXT). */
static inline int float_value(const Val *v, double *out) {
    if (v->n > MAX_NUM_TEXT) return 0;
    const char *p = v->s, *e = v->s + v->n;
    int neg = 0, nd = 0, frac = 0;
    int64_t m = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    int started = 0, mantissa_nonzero = 0;
    for (; p < e && (is_digit(*p) || *p == '.'); p++) {
        if (*p == '.') {
            frac = 1;
            continue;
        }
        int d = *p - '0';
        if (d) mantissa_nonzero = 1;
        if (frac) frac++;
        if (!started && d == 0) continue; /* leading zeros carry no significance */
        started = 1;
        if (nd < 16) m = m * 10 + d; /* only nd <= 15 takes the exact path */
        nd++;
    }
    int scale = frac ? frac - 1 : 0; /* digits after the point */
    long exp10 = 0;
    if (p < e) { /* exponent */
        p++;
        int eneg = 0;
        if (*p == '+' || *p == '-') eneg = *p++ == '-';
        for (; p < e; p++) {
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
        }
        if (eneg) exp10 = -exp10;
    }
    double x;
    long e10 = exp10 - scale;
    if (!mantissa_nonzero) {
        x = 0.0;
    } else if (nd <= 15 && e10 >= -22 && e10 <= 22) {
        /* Clinger: m < 10^15 < 2^53 and 10^|e10| are exact; one IEEE operation rounds */
        x = e10 >= 0 ? (double)m * POW10[e10] : (double)m / POW10[-e10];
    } else {
        char text[MAX_NUM_TEXT + 1];
        memcpy(text, v->s, (size_t)v->n);
        text[v->n] = '\0';
        char *stop = NULL;
        x = PyOS_string_to_double(text, &stop, NULL);
        if (x == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        if (stop != text + v->n) return 0;
        x = fabs(x);
    }
    if (!isfinite(x) || (x != 0.0 && x < DBL_MIN) || (x == 0.0 && mantissa_nonzero)) return 0;
    *out = neg ? -x : x;
    return 1;
}

static int numeric_value(const Val *v, double *out) {
    int64_t i;
    switch (v->type) {
        case V_NONE:
        case V_NULL: *out = NAN; return 1;
        case V_INT:
            if (!small_int(v, &i)) return 0;
            *out = (double)i;
            return 1;
        case V_FLOAT: return float_value(v, out);
        default: return 0;
    }
}

static inline uint32_t fnv(const char *s, Py_ssize_t n) {
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* A new reference to the str of these bytes (cached per column when cache != NULL);
 * NULL with no error set when not valid UTF-8; NULL with an error on memory failure. */
static PyObject *text_object(const char *s, Py_ssize_t n, int ascii, Slot *cache) {
    Slot *slot = NULL;
    if (cache != NULL && n <= 64) {
        slot = &cache[fnv(s, n) % CACHE_SLOTS];
        if (slot->obj != NULL && slot->n == n && memcmp(slot->s, s, (size_t)n) == 0) {
            Py_INCREF(slot->obj);
            return slot->obj;
        }
    }
    PyObject *obj;
    if (ascii) {
        obj = PyUnicode_New(n, 127);
        if (obj == NULL) return NULL;
        memcpy(PyUnicode_DATA(obj), s, (size_t)n);
    } else {
        obj = PyUnicode_DecodeUTF8(s, n, "strict");
        if (obj == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) PyErr_Clear();
            return NULL;
        }
    }
    if (slot != NULL) {
        Py_XSETREF(slot->obj, obj);
        Py_INCREF(obj);
        slot->s = s;
        slot->n = n;
    }
    return obj;
}

/* Categorical / id text. Returns a new reference, or NULL: *err says whether an error is
 * set (memory) or the value is just not claimable. */
static PyObject *text_value(const Val *v, int allow_bool, Py_ssize_t max_bytes, Slot *cache,
                            int *err) {
    *err = 0;
    PyObject *obj = NULL;
    switch (v->type) {
        case V_NONE:
        case V_NULL: Py_RETURN_NONE;
        case V_STR:
            if (v->n > max_bytes) return NULL;
            obj = text_object(v->s, v->n, v->ascii, cache);
            break;
        case V_INT:
            if (v->n > max_bytes || (v->s[0] == '-' ? v->n - 1 : v->n) > 18) return NULL;
            if (v->n == 2 && v->s[0] == '-' && v->s[1] == '0') return NULL; /* "-0" -> "0" */
            obj = text_object(v->s, v->n, 1, cache);
            break;
        case V_TRUE:
            if (!allow_bool || 4 > max_bytes) return NULL;
            obj = text_object("true", 4, 1, cache);
            break;
        case V_FALSE:
            if (!allow_bool || 5 > max_bytes) return NULL;
            obj = text_object("false", 5, 1, cache);
            break;
        default: return NULL;
    }
    if (obj == NULL && PyErr_Occurred()) *err = 1;
    return obj;
}

/* ------------------------------------------------------------------ ISO-8601 */

static const int MONTH_DAYS[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static inline int dd(const char *s, int i, int64_t *acc) {
    if (!is_digit(s[i])) return 0;
    *acc = *acc * 10 + (s[i] - '0');
    return 1;
}

/* The shapes and checks of stream/contract/_time.py's _parse_shape, nothing more. */
static int iso_ms_c(const char *s, Py_ssize_t n, int64_t *out) {
    int frac, off;
    switch (n) {
        case 20: frac = 0; off = 0; break;
        case 24: frac = 3; off = 0; break;
        case 27: frac = 6; off = 0; break;
        case 25: frac = 0; off = 1; break;
        case 29: frac = 3; off = 1; break;
        case 32: frac = 6; off = 1; break;
        default: return 0;
    }
    int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, milli = 0;
    if (!(dd(s, 0, &year) && dd(s, 1, &year) && dd(s, 2, &year) && dd(s, 3, &year) &&
          dd(s, 5, &month) && dd(s, 6, &month) && dd(s, 8, &day) && dd(s, 9, &day) &&
          dd(s, 11, &hour) && dd(s, 12, &hour) && dd(s, 14, &minute) && dd(s, 15, &minute) &&
          dd(s, 17, &second) && dd(s, 18, &second)))
        return 0;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return 0;
    if (frac) {
        if (s[19] != '.') return 0;
        for (int i = 20; i < 20 + frac; i++) {
            int64_t ignore = 0;
            if (!dd(s, i, i < 23 ? &milli : &ignore)) return 0;
        }
    }
    int tail = 19 + (frac ? frac + 1 : 0);
    int64_t off_ms = 0;
    if (off) {
        int64_t oh = 0, om = 0;
        char sign = s[tail];
        if (sign != '+' && sign != '-') return 0;
        if (!(dd(s, tail + 1, &oh) && dd(s, tail + 2, &oh) && dd(s, tail + 4, &om) &&
              dd(s, tail + 5, &om)))
            return 0;
        if (s[tail + 3] != ':' || oh > 23 || om > 59) return 0;
        off_ms = (sign == '-' ? -1 : 1) * (oh * 3600000 + om * 60000);
    } else if (s[tail] != 'Z') {
        return 0;
    }
    int leap = (year % 4 == 0) && ((year % 100 != 0) || (year % 400 == 0));
    if (year < 1 || month < 1 || month > 12 || day < 1) return 0;
    if (day > MONTH_DAYS[month] + (month == 2 && leap)) return 0;
    if (hour > 23 || minute > 59 || second > 59) return 0;
    /* days from civil (H. Hinnant); year >= 1 so the divisions are floor divisions */
    int64_t y = year - (month <= 2);
    int64_t era = y / 400, yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = days * 86400000 + (hour * 3600 + minute * 60 + second) * 1000 + milli - off_ms;
    return 1;
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
        if (ms[i].name_len == name->n && memcmp(ms[i].name, name->s, (size_t)name->n) == 0)
            return i;
    return -1;
}

static inline int key_is(const Model *m, int j, const Val *k) {
    return m->key_lens[j] == k->n && memcmp(m->keys[j], k->s, (size_t)k->n) == 0;
}

/* Values of a scanned record into model m's columns. 1 claimed, 0 not, -1 error. */
static int commit(Model *m, const Rec *r, int64_t position, Py_ssize_t max_value_bytes,
                  const Val **col, double *nums, PyObject **objs) {
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
    static const Val none = {NULL, 0, V_NONE, 1};
    int n_obj = 0, status = 0, err = 0;
    for (int j = 0; j < m->n_cols; j++) {
        const Val *v = col[j] ? col[j] : &none;
        if (m->kinds[j] == NUMERIC) {
            if (!numeric_value(v, &nums[m->slot[j]])) goto done;
        } else {
            Slot *cache = &m->cache[m->slot[j] * CACHE_SLOTS];
            PyObject *o = text_value(v, 1, max_value_bytes, cache, &err);
            if (o == NULL) {
                status = err ? -1 : 0;
                goto done;
            }
            objs[n_obj++] = o;
        }
    }
    if (r->id.type == V_TRUE || r->id.type == V_FALSE) goto done;
    PyObject *id = text_value(&r->id, 0, max_value_bytes, NULL, &err);
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
        if (PyList_Append(m->cat[j], objs[j]) < 0) {
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
"of int64/int64/uint8, a tuple of float64 bytearrays (NaN = null), a tuple of lists of\n"
"str|None, a list of str|None; columns in declaration order, prediction last.");

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
    PyObject **objs = PyMem_Calloc((size_t)max_cols + 1, sizeof(PyObject *));
    Buf unclaimed = {NULL, 0, 0};
    PyObject *result = NULL;
    if (!rec || !col || !nums || !objs) {
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
                    claimed = commit(&ms[mi], rec, (int64_t)i, max_value_bytes, col, nums, objs);
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
                Py_INCREF(m->cat[j]);
                PyTuple_SET_ITEM(cat, j, m->cat[j]);
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
