/*
 * stream.core.sketch._native: one pass over a batch of float64 values for
 * NumericSketch.update (issue 19). It returns exactly what the vectorised numpy path
 * computes (stream/core/sketch/numeric.py, _moments.py), which stays the definition:
 *
 *   scan(x)   -> (neg_inf, nans, pos_inf, zeros, count, min, max,
 *                 neg_small, neg_big, pos_small, pos_big, s1_pos, s1_neg, s2)
 *       count: finite values (zeros included); min/max over them (+0.0 for a zero
 *       extreme, whatever its sign); *_small and *_big: least and largest magnitude of the
 *       finite non-zero values of each sign (nan when none); s1_pos, s1_neg, s2: the
 *       exact sums Σ M·2^g over positive / negative values and Σ M²·2^(2g) over all
 *       (x·2^1126 = ±M·2^g, M < 2^53 from frexp, g = e + 1073 >= 0), as little-endian
 *       unsigned bytes (the caller turns them into Python ints).
 *   buckets(x, edges, lo, inv_log_gamma, negative, out)
 *       adds, for every finite non-zero value of the sign, 1 to out[i] where i is the
 *       number of edges strictly below its magnitude (np.searchsorted(edges, |v|,
 *       "left")): its bucket's key is lo + i. The log only guesses i; exact float
 *       comparisons with the edges decide, as in the numpy path.
 *
 * Sums are kept per exponent in 128-bit integers (M < 2^53, M² < 2^106: 2^20 values per
 * chunk cannot overflow) and added into limb arrays once per chunk, so they are exact
 * integers whatever the order: the same multiset gives the same bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

#define N_EXP 2098           /* g = e + 1073 in [0, 2097] for finite non-zero doubles */
#define E_OFF 1073
#define CHUNK (1 << 20)      /* values per fold: Σ of 2^20 M² < 2^126 */
#define S1_LIMBS 40          /* 2097 + 53 + 64 bits, rounded up */
#define S2_LIMBS 72          /* 2·2097 + 106 + 64 bits, rounded up */
#define MAX_COLS 256         /* JointSketch's MAX_JOINT_COLUMNS */

/* The GIL is held throughout (no Py_BEGIN_ALLOW_THREADS): static scratch is safe. */
/* Two banks, alternating by value: consecutive values of one exponent do not wait on
 * each other's read-modify-write of the same accumulator. */
static u128 acc_s1[2][2][N_EXP], acc_sq[2][N_EXP]; /* [sign][bank][g], [bank][g] */

static void add_shifted(uint64_t *limbs, int n, u128 v, int bit) {
    int w = bit >> 6, s = bit & 63;
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);
    uint64_t part[3];
    part[0] = lo << s;
    part[1] = s ? (lo >> (64 - s)) | (hi << s) : hi;
    part[2] = s ? hi >> (64 - s) : 0;
    uint64_t carry = 0;
    for (int i = 0; i < 3 && w + i < n; i++) {
        uint64_t a = limbs[w + i];
        uint64_t t = a + part[i];
        uint64_t c1 = t < a;
        uint64_t u = t + carry;
        uint64_t c2 = u < t;
        limbs[w + i] = u;
        carry = c1 + c2;
    }
    for (int i = w + 3; carry && i < n; i++) {
        limbs[i] += 1;
        carry = limbs[i] == 0;
    }
}

static PyObject *limbs_bytes(const uint64_t *limbs, int n) {
    int top = n;
    while (top > 0 && limbs[top - 1] == 0) top--;
    unsigned char buf[S2_LIMBS * 8];
    for (int i = 0; i < top; i++)
        for (int b = 0; b < 8; b++) buf[8 * i + b] = (unsigned char)(limbs[i] >> (8 * b));
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)top * 8);
}

static int get_doubles(PyObject *obj, Py_buffer *view, int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->itemsize != 8 || view->format == NULL || strcmp(view->format, "d") != 0) {
        PyErr_SetString(PyExc_TypeError, "expected a contiguous float64 buffer");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* One sign's kept bucket span, for scan_span: counts[i - 1] is bucket lo + i for
 * i = 1..len, edges[i] (i = 0..len) is the upper edge of bucket lo + i, so a magnitude m
 * is in the span iff edges[0] < m <= edges[len]. ok turns 0 at the first value outside. */
typedef struct {
    const double *edges;
    int64_t *counts;
    Py_ssize_t len;
    double lo;   /* the key of edges[0], as a double (the guess's origin) */
    int ok;
} Span;

static double log2_top[1024]; /* log2(1 + (i + 0.5) / 1024), filled at import */

/* The bucket of a finite non-zero magnitude within a span (see Span); 0 once one falls
 * outside (then that sign's counts are not used). The log only guesses; exact
 * comparisons with the edges decide, as buckets() and the numpy path's searchsorted. */
static inline void span_add(Span *sp, double mag, double inv) {
    uint64_t bits;
    memcpy(&bits, &mag, 8);
    unsigned biased = (unsigned)(bits >> 52);
    /* inv here is 1/log2(γ) (the caller's 1/ln γ times ln 2): the guess in key units */
    double lg = biased ? ((double)biased - 1023.0 + log2_top[(bits >> 42) & 1023]) * inv
                       : log2(mag) * inv;
    double t = lg - sp->lo; /* the key guess relative to edges[0]: ceil(t), or about */
    Py_ssize_t ne = sp->len + 1;
    Py_ssize_t k = t <= 0 ? 0 : t >= (double)(ne - 1) ? ne : (Py_ssize_t)t + 1;
    const double *edges = sp->edges;
    while (k < ne && mag > edges[k]) k++;
    while (k > 0 && mag <= edges[k - 1]) k--;
    if (k == 0 || k > sp->len) {
        sp->ok = 0;
        return;
    }
    sp->counts[k - 1] += 1;
}

/* scan()'s pass; when pos/neg are given, each finite non-zero value of that sign also
 * goes to its bucket in the span (see Span). */
static PyObject *scan_pass(PyObject *obj, Span *pos_span, Span *neg_span, double inv) {
    Py_buffer view;
    if (get_doubles(obj, &view, 0) < 0) return NULL;
    const double *x = (const double *)view.buf;
    Py_ssize_t n = view.len / 8;
    long long neg_inf = 0, nans = 0, pos_inf = 0, zeros = 0, count = 0;
    /* Extremes start at ±inf (no finite value reaches them, the first one replaces
     * them, as the strict comparisons below keep the first of equal values) and become
     * nan at the end when nothing was seen. Index 0: positive, 1: negative. */
    double mn = INFINITY, mx = -INFINITY;
    double small[2] = {INFINITY, INFINITY}, big[2] = {-INFINITY, -INFINITY};
    Span *spans[2] = {pos_span, neg_span};
    uint64_t s1p[S1_LIMBS] = {0}, s1n[S1_LIMBS] = {0}, s2[S2_LIMBS] = {0};
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t stop = start + CHUNK < n ? start + CHUNK : n;
        int glo = N_EXP, ghi = -1;
        for (Py_ssize_t i = start; i < stop; i++) {
            double v = x[i];
            uint64_t bits;
            memcpy(&bits, &v, 8);
            unsigned biased = (unsigned)(bits >> 52) & 0x7ffu;
            if (biased == 0x7ffu) { /* nan or ±inf */
                if (v != v) nans++;
                else if (v > 0) pos_inf++;
                else neg_inf++;
                continue;
            }
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
            count++;
            if ((bits << 1) == 0) { /* ±0.0 */
                zeros++;
                continue;
            }
            /* frexp by bits: v = ±M·2^(g-1126), M the 53-bit significand (normal
             * numbers: implicit bit set, g = biased exponent + 51; subnormals:
             * frexp, whose exponent e gives g = e + 1073). */
            uint64_t M;
            int g;
            if (biased) {
                M = (bits & 0xfffffffffffffULL) | (1ULL << 52);
                g = (int)biased + 51;
            } else {
                int e;
                double m = frexp(v, &e);
                M = (uint64_t)(fabs(m) * 9007199254740992.0); /* exact: 53-bit mantissa */
                g = e + E_OFF;
            }
            int sign = (int)(bits >> 63), bank = (int)(i & 1);
            if (g < glo) glo = g;
            if (g > ghi) ghi = g;
            acc_sq[bank][g] += (u128)M * M;
            acc_s1[sign][bank][g] += M;
            double mag = fabs(v);
            small[sign] = mag < small[sign] ? mag : small[sign];
            big[sign] = mag > big[sign] ? mag : big[sign];
            Span *sp = spans[sign];
            if (sp && sp->ok) span_add(sp, mag, inv);
        }
        for (int g = glo; g <= ghi; g++) {
            /* each bank's sums stay below 2^126 (2^20 values per chunk): both fit */
            u128 sp = acc_s1[0][0][g] + acc_s1[0][1][g], sn = acc_s1[1][0][g] + acc_s1[1][1][g];
            u128 sq = acc_sq[0][g] + acc_sq[1][g];
            if (sp) add_shifted(s1p, S1_LIMBS, sp, g);
            if (sn) add_shifted(s1n, S1_LIMBS, sn, g);
            if (sq) add_shifted(s2, S2_LIMBS, sq, 2 * g);
            acc_s1[0][0][g] = acc_s1[0][1][g] = acc_s1[1][0][g] = acc_s1[1][1][g] = 0;
            acc_sq[0][g] = acc_sq[1][g] = 0;
        }
    }
    if (!count) mn = mx = NAN;
    double pos_small = NAN, pos_big = NAN, neg_small = NAN, neg_big = NAN;
    if (big[0] > 0) pos_small = small[0], pos_big = big[0];
    if (big[1] > 0) neg_small = small[1], neg_big = big[1];
    PyBuffer_Release(&view);
    if (count) { /* +0.0 turns a -0.0 extreme into 0.0 (the numpy path does the same) */
        mn += 0.0;
        mx += 0.0;
    }
    PyObject *b1 = limbs_bytes(s1p, S1_LIMBS), *b2 = limbs_bytes(s1n, S1_LIMBS);
    PyObject *b3 = limbs_bytes(s2, S2_LIMBS);
    if (b1 == NULL || b2 == NULL || b3 == NULL) {
        Py_XDECREF(b1);
        Py_XDECREF(b2);
        Py_XDECREF(b3);
        return NULL;
    }
    return Py_BuildValue("(LLLLLddddddNNN)", neg_inf, nans, pos_inf, zeros, count, mn, mx,
                         neg_small, neg_big, pos_small, pos_big, b1, b2, b3);
}

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *obj;
    if (!PyArg_ParseTuple(args, "O", &obj)) return NULL;
    return scan_pass(obj, NULL, NULL, 0.0);
}

/* A span from (edges, lo, counts) or None; 1 set, 0 None, -1 error (views to release). */
static int span_of(PyObject *edges, long long lo, PyObject *counts, Span *sp, Py_buffer *ev,
                   Py_buffer *cv) {
    if (edges == Py_None) return 0;
    if (get_doubles(edges, ev, 0) < 0) return -1;
    if (PyObject_GetBuffer(counts, cv, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(ev);
        return -1;
    }
    if (cv->itemsize != 8 || cv->format == NULL || (strcmp(cv->format, "q") && strcmp(cv->format, "l"))
        || ev->len / 8 != cv->len / 8 + 1 || cv->len == 0) {
        PyErr_SetString(PyExc_TypeError, "scan_span: counts must be int64 of len(edges) - 1 >= 1");
        PyBuffer_Release(ev);
        PyBuffer_Release(cv);
        return -1;
    }
    sp->edges = (const double *)ev->buf;
    sp->counts = (int64_t *)cv->buf;
    sp->len = cv->len / 8;
    sp->lo = (double)lo;
    sp->ok = 1;
    return 1;
}

static const char scan_span_doc[] =
    "scan_span(x, inv_log_gamma, pos_edges, pos_lo, pos_counts, neg_edges, neg_lo, neg_counts)\n"
    "-> scan(x) + (pos_ok, neg_ok): scan(x), and in the same pass each finite non-zero\n"
    "value of a sign whose edges are given (else None) counted in that sign's span:\n"
    "counts[i - 1] += 1 for the bucket pos_lo + i (1 <= i <= len(counts), edges[i] its\n"
    "upper edge). *_ok is False when a value of that sign fell outside the span (its\n"
    "counts are then partial: the caller discards them) or no span was given.";

static PyObject *scan_span(PyObject *self, PyObject *args) {
    PyObject *obj, *pe, *pc, *ne, *nc;
    long long plo, nlo;
    double inv;
    if (!PyArg_ParseTuple(args, "OdOLOOLO", &obj, &inv, &pe, &plo, &pc, &ne, &nlo, &nc))
        return NULL;
    Span ps, ns;
    Py_buffer pev, pcv, nev, ncv;
    int hp = span_of(pe, plo, pc, &ps, &pev, &pcv);
    if (hp < 0) return NULL;
    int hn = span_of(ne, nlo, nc, &ns, &nev, &ncv);
    if (hn < 0) {
        if (hp) {
            PyBuffer_Release(&pev);
            PyBuffer_Release(&pcv);
        }
        return NULL;
    }
    PyObject *r = scan_pass(obj, hp ? &ps : NULL, hn ? &ns : NULL, inv * M_LN2);
    if (hp) {
        PyBuffer_Release(&pev);
        PyBuffer_Release(&pcv);
    }
    if (hn) {
        PyBuffer_Release(&nev);
        PyBuffer_Release(&ncv);
    }
    if (r == NULL) return NULL;
    PyObject *out = Py_BuildValue("(NOO)", r, (hp && ps.ok) ? Py_True : Py_False,
                                  (hn && ns.ok) ? Py_True : Py_False);
    return out;
}


static PyObject *buckets(PyObject *self, PyObject *args) {
    PyObject *xobj, *eobj, *oobj;
    long long lo;
    double inv;
    int negative;
    if (!PyArg_ParseTuple(args, "OOLdpO", &xobj, &eobj, &lo, &inv, &negative, &oobj))
        return NULL;
    Py_buffer xv, ev, ov;
    if (get_doubles(xobj, &xv, 0) < 0) return NULL;
    if (get_doubles(eobj, &ev, 0) < 0) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    if (PyObject_GetBuffer(oobj, &ov, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&xv);
        PyBuffer_Release(&ev);
        return NULL;
    }
    Py_ssize_t ne = ev.len / 8;
    if (ov.itemsize != 8 || ov.format == NULL || (strcmp(ov.format, "q") && strcmp(ov.format, "l"))
        || ov.len / 8 != ne + 1) {
        PyErr_SetString(PyExc_TypeError, "out must be a contiguous int64 buffer of len(edges)+1");
        PyBuffer_Release(&xv);
        PyBuffer_Release(&ev);
        PyBuffer_Release(&ov);
        return NULL;
    }
    const double *x = (const double *)xv.buf, *edges = (const double *)ev.buf;
    int64_t *out = (int64_t *)ov.buf;
    Py_ssize_t n = xv.len / 8;
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = x[i];
        if (v != v || isinf(v) || v == 0.0 || (v < 0) != (negative != 0)) continue;
        double mag = fabs(v);
        /* ln|v| guessed from the bits: exponent + a table of log2 of the top mantissa
         * bits (within ~0.002 of log2, a small fraction of a bucket); subnormals: log. */
        uint64_t bits;
        memcpy(&bits, &mag, 8);
        unsigned biased = (unsigned)(bits >> 52);
        double ln = biased ? ((double)biased - 1023.0 + log2_top[(bits >> 42) & 1023]) * M_LN2
                           : log(mag);
        double guess = ceil(ln * inv) - (double)lo;
        Py_ssize_t k = guess <= 0 ? 0 : guess >= (double)ne ? ne : (Py_ssize_t)guess;
        while (k < ne && mag > edges[k]) k++;
        while (k > 0 && mag <= edges[k - 1]) k--;
        out[k] += 1;
    }
    PyBuffer_Release(&xv);
    PyBuffer_Release(&ev);
    PyBuffer_Release(&ov);
    Py_RETURN_NONE;
}


/* ------------------------------------------------------------------ joint co-moments */

static void add_signed(uint64_t *pos, uint64_t *neg, int n, __int128 v, int bit) {
    if (v >= 0) add_shifted(pos, n, (u128)v, bit);
    else add_shifted(neg, n, (u128)(-v), bit);
}

/* Unsigned little-endian limbs as a Python int (top zero limbs skipped). */
static PyObject *limbs_long(const uint64_t *limbs, int n) {
    unsigned char buf[S2_LIMBS * 8];
    while (n > 0 && limbs[n - 1] == 0) n--;
    if (n == 0) return PyLong_FromLong(0);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) buf[8 * i + k] = (unsigned char)(limbs[i] >> (8 * k));
    return _PyLong_FromByteArray(buf, (size_t)n * 8, 1, 0);
}

/* pos - neg as a Python int. */
static PyObject *limbs_int(const uint64_t *pos, const uint64_t *neg, int n) {
    PyObject *a = limbs_long(pos, n), *b, *out;
    int any_neg = 0;
    for (int i = 0; i < n && !any_neg; i++) any_neg = neg[i] != 0;
    if (a == NULL || !any_neg) return a;
    b = limbs_long(neg, n);
    if (b == NULL) {
        Py_DECREF(a);
        return NULL;
    }
    out = PyNumber_Subtract(a, b);
    Py_DECREF(a);
    Py_DECREF(b);
    return out;
}

#define ALIGN_SPAN 5 /* a column's exponent span for the aligned path: |A| < 2^58 */
#define ALIGN_ROWS 1024 /* rows per partial sum: 2^10 products below 2^116 stay < 2^126 */

/* Adds the signed 192-bit value hi·2^128 + lo (two's complement) at bit into pos/neg. */
static void add_signed192(uint64_t *pos, uint64_t *neg, int n, u128 lo, int64_t hi, int bit) {
    uint64_t *to = pos;
    if (hi < 0) { /* negate: the magnitude goes to neg */
        lo = ~lo + 1;
        hi = (int64_t)(~(uint64_t)hi + (lo == 0));
        to = neg;
    }
    if (lo) add_shifted(to, n, lo, bit);
    if (hi) add_shifted(to, n, (u128)(uint64_t)hi, bit + 128);
}

/* comoments' sums for batches whose every column spans at most ALIGN_SPAN binary
 * exponents (the usual case): each value as one integer A = ±M·2^(g - gmin) (< 2^58),
 * so a pair's Σ A_i·A_j is one signed 128-bit partial sum per ALIGN_ROWS rows, added
 * into a 192-bit total (a carry and a sign into the top word), instead of a bin per
 * exponent offset. The same exact
 * integers: A_i·A_j·2^(gmin_i + gmin_j) = M_i·M_j·2^(g_i + g_j). */
static PyObject *aligned_comoments(int64_t *mant, const int16_t *ex, Py_ssize_t rows,
                                   Py_ssize_t k, const int *gmin, const int *gmax) {
    Py_ssize_t npairs = k * (k + 1) / 2, total = rows * k;
    PyObject *result = NULL, *sums = NULL, *prods = NULL;
    u128 *acc = PyMem_Calloc((size_t)npairs, sizeof(u128));
    int64_t *top = PyMem_Calloc((size_t)npairs, sizeof(int64_t));
    __int128 *ssum = PyMem_Calloc((size_t)k, sizeof(__int128));
    __int128 *part = PyMem_Calloc((size_t)npairs, sizeof(__int128));
    if (!acc || !top || !ssum || !part) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0, i = 0; r < rows; r++)
        for (Py_ssize_t c = 0; c < k; c++, i++)
            if (mant[i]) mant[i] *= (int64_t)1 << (ex[i] - gmin[c]);
    (void)total;
    for (Py_ssize_t start = 0; start < rows; start += ALIGN_ROWS) {
        Py_ssize_t stop = start + ALIGN_ROWS < rows ? start + ALIGN_ROWS : rows;
        for (Py_ssize_t r = start; r < stop; r++) {
            const int64_t *ar = mant + r * k;
            Py_ssize_t q = 0;
            for (Py_ssize_t i = 0; i < k; i++) {
                int64_t ai = ar[i];
                if (!ai) {
                    q += k - i;
                    continue;
                }
                ssum[i] += ai;
                for (Py_ssize_t j = i; j < k; j++, q++) part[q] += (__int128)ai * ar[j];
            }
        }
        for (Py_ssize_t q = 0; q < npairs; q++) { /* into the 192-bit sums */
            u128 old = acc[q], sum = old + (u128)part[q];
            top[q] += (int64_t)(part[q] >> 127) + (int64_t)(sum < old);
            acc[q] = sum;
            part[q] = 0;
        }
    }
    sums = PyList_New(k);
    prods = PyList_New(npairs);
    if (!sums || !prods) goto done;
    for (Py_ssize_t c = 0; c < k; c++) {
        uint64_t pos[S1_LIMBS] = {0}, neg[S1_LIMBS] = {0};
        if (gmax[c] >= 0 && ssum[c]) add_signed(pos, neg, S1_LIMBS, ssum[c], gmin[c]);
        PyObject *v = limbs_int(pos, neg, S1_LIMBS);
        if (!v) goto done;
        PyList_SET_ITEM(sums, c, v);
    }
    Py_ssize_t p = 0;
    for (Py_ssize_t i = 0; i < k; i++)
        for (Py_ssize_t j = i; j < k; j++, p++) {
            uint64_t pos[S2_LIMBS] = {0}, neg[S2_LIMBS] = {0};
            if (gmax[i] >= 0 && gmax[j] >= 0)
                add_signed192(pos, neg, S2_LIMBS, acc[p], top[p], gmin[i] + gmin[j]);
            PyObject *v = limbs_int(pos, neg, S2_LIMBS);
            if (!v) goto done;
            PyList_SET_ITEM(prods, p, v);
        }
    result = PyTuple_Pack(2, sums, prods);
done:
    Py_XDECREF(sums);
    Py_XDECREF(prods);
    PyMem_Free(acc);
    PyMem_Free(top);
    PyMem_Free(ssum);
    PyMem_Free(part);
    return result;
}

#define MAX_BINS (1 << 20) /* 16 MiB of bins at most; beyond, the caller's numpy path */

static const char comoments_doc[] =
    "comoments(x, k, aligned=True) -> (sums, products) | None: exact Σx per column and\n"
    "Σx_i·x_j (i <= j, row-major upper triangle) of a C-contiguous rows x k float64\n"
    "matrix whose values are all finite, in units of 2^-1126 and 2^-2252 (JointSketch's).\n"
    "None when the columns' exponent spans need more than MAX_BINS bins. Columns each\n"
    "within ALIGN_SPAN binary exponents take one accumulator per pair (aligned=False:\n"
    "the bins anyway; the same integers).";

static PyObject *comoments(PyObject *self, PyObject *args) {
    PyObject *xobj;
    Py_ssize_t k;
    int use_aligned = 1; /* 0: always the bins (tests compare both) */
    if (!PyArg_ParseTuple(args, "On|p", &xobj, &k, &use_aligned)) return NULL;
    Py_buffer xv;
    if (get_doubles(xobj, &xv, 0) < 0) return NULL;
    Py_ssize_t total = xv.len / 8;
    if (k < 1 || total % k) {
        PyBuffer_Release(&xv);
        PyErr_SetString(PyExc_ValueError, "comoments: buffer is not rows x k");
        return NULL;
    }
    Py_ssize_t rows = total / k, npairs = k * (k + 1) / 2;
    const double *x = (const double *)xv.buf;
    PyObject *result = NULL, *sums = NULL, *prods = NULL;
    int64_t *mant = PyMem_Malloc(sizeof(int64_t) * (size_t)(total ? total : 1));
    int16_t *ex = PyMem_Malloc(sizeof(int16_t) * (size_t)(total ? total : 1));
    int *gmin = PyMem_Malloc(sizeof(int) * (size_t)k), *gmax = PyMem_Malloc(sizeof(int) * (size_t)k);
    Py_ssize_t *base = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)npairs);
    __int128 *bins = NULL, *sbins = NULL;
    if (!mant || !ex || !gmin || !gmax || !base) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t c = 0; c < k; c++) gmin[c] = N_EXP, gmax[c] = -1;
    /* rows then columns: no i % k per value (a 64-bit division each, most of the
     * pass's time before session 7) */
    for (Py_ssize_t r = 0, i = 0; r < rows; r++)
        for (Py_ssize_t c = 0; c < k; c++, i++) {
            double v = x[i];
            uint64_t bits;
            memcpy(&bits, &v, 8);
            unsigned biased = (unsigned)(bits >> 52) & 0x7ffu;
            int64_t M;
            int g;
            if (v == 0.0) {
                mant[i] = 0;
                ex[i] = 0;
                continue;
            }
            if (biased == 0x7ffu) {
                PyErr_SetString(PyExc_ValueError, "comoments: non-finite value");
                goto done;
            }
            if (biased) {
                M = (int64_t)((bits & 0xfffffffffffffULL) | (1ULL << 52));
                g = (int)biased + 51;
            } else {
                int e;
                double m = frexp(v, &e);
                M = (int64_t)(fabs(m) * 9007199254740992.0);
                g = e + E_OFF;
            }
            mant[i] = v < 0 ? -M : M;
            if (g < gmin[c]) gmin[c] = g;
            if (g > gmax[c]) gmax[c] = g;
            ex[i] = (int16_t)g;
        }
    /* exponents relative to the column's least: bins of a pair are (g_i - gmin_i) +
     * (g_j - gmin_j); a column with no non-zero value has span 0 and adds nothing. */
    Py_ssize_t nbins = 0, p = 0;
    for (Py_ssize_t i = 0; i < k; i++)
        for (Py_ssize_t j = i; j < k; j++, p++) {
            base[p] = nbins;
            if (gmax[i] >= 0 && gmax[j] >= 0)
                nbins += (gmax[i] - gmin[i]) + (gmax[j] - gmin[j]) + 1;
        }
    Py_ssize_t nsbins = 0;
    for (Py_ssize_t c = 0; c < k; c++)
        if (gmax[c] >= 0) nsbins += gmax[c] - gmin[c] + 1;
    {
        int narrow = 1;
        for (Py_ssize_t c = 0; c < k; c++)
            if (gmax[c] >= 0 && gmax[c] - gmin[c] > ALIGN_SPAN) narrow = 0;
        if (narrow && use_aligned) {
            result = aligned_comoments(mant, ex, rows, k, gmin, gmax);
            goto done;
        }
    }
    if (nbins > MAX_BINS) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    bins = PyMem_Calloc((size_t)(nbins ? nbins : 1), sizeof(__int128));
    sbins = PyMem_Calloc((size_t)(nsbins ? nsbins : 1), sizeof(__int128));
    if (!bins || !sbins) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0, i = 0; r < rows; r++)
        for (Py_ssize_t c = 0; c < k; c++, i++) ex[i] = mant[i] ? (int16_t)(ex[i] - gmin[c]) : 0;
    Py_ssize_t sbase[MAX_COLS];
    if (k > MAX_COLS) {
        PyErr_SetString(PyExc_ValueError, "comoments: too many columns");
        goto done;
    }
    {
        Py_ssize_t acc = 0;
        for (Py_ssize_t c = 0; c < k; c++) {
            sbase[c] = acc;
            if (gmax[c] >= 0) acc += gmax[c] - gmin[c] + 1;
        }
    }
    for (Py_ssize_t start = 0; start < rows; start += CHUNK) {
        Py_ssize_t stop = start + CHUNK < rows ? start + CHUNK : rows;
        for (Py_ssize_t r = start; r < stop; r++) {
            const int64_t *mr = mant + r * k;
            const int16_t *er = ex + r * k;
            Py_ssize_t q = 0;
            for (Py_ssize_t i = 0; i < k; i++) {
                int64_t mi = mr[i];
                if (!mi) {
                    q += k - i;
                    continue;
                }
                int ei = er[i];
                sbins[sbase[i] + ei] += mi;
                for (Py_ssize_t j = i; j < k; j++, q++) {
                    int64_t mj = mr[j];
                    if (mj) bins[base[q] + ei + er[j]] += (__int128)mi * mj;
                }
            }
        }
        /* Σ of 2^20 products below 2^106 stays below 2^126: fold per chunk is only
         * needed past CHUNK rows, and the bins keep accumulating into the limbs below. */
        if (stop < rows) {
            PyErr_SetString(PyExc_ValueError, "comoments: more rows than one chunk");
            goto done;
        }
    }
    sums = PyList_New(k);
    prods = PyList_New(npairs);
    if (!sums || !prods) goto done;
    for (Py_ssize_t c = 0; c < k; c++) {
        uint64_t pos[S1_LIMBS] = {0}, neg[S1_LIMBS] = {0};
        if (gmax[c] >= 0)
            for (int b = 0; b <= gmax[c] - gmin[c]; b++)
                if (sbins[sbase[c] + b]) add_signed(pos, neg, S1_LIMBS, sbins[sbase[c] + b], gmin[c] + b);
        PyObject *v = limbs_int(pos, neg, S1_LIMBS);
        if (!v) goto done;
        PyList_SET_ITEM(sums, c, v);
    }
    p = 0;
    for (Py_ssize_t i = 0; i < k; i++)
        for (Py_ssize_t j = i; j < k; j++, p++) {
            uint64_t pos[S2_LIMBS] = {0}, neg[S2_LIMBS] = {0};
            if (gmax[i] >= 0 && gmax[j] >= 0) {
                int span = (gmax[i] - gmin[i]) + (gmax[j] - gmin[j]);
                for (int b = 0; b <= span; b++)
                    if (bins[base[p] + b])
                        add_signed(pos, neg, S2_LIMBS, bins[base[p] + b], gmin[i] + gmin[j] + b);
            }
            PyObject *v = limbs_int(pos, neg, S2_LIMBS);
            if (!v) goto done;
            PyList_SET_ITEM(prods, p, v);
        }
    result = PyTuple_Pack(2, sums, prods);
done:
    Py_XDECREF(sums);
    Py_XDECREF(prods);
    PyMem_Free(mant);
    PyMem_Free(ex);
    PyMem_Free(gmin);
    PyMem_Free(gmax);
    PyMem_Free(base);
    PyMem_Free(bins);
    PyMem_Free(sbins);
    PyBuffer_Release(&xv);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Counts, extremes and exact sums of a float64 batch."},
    {"scan_span", scan_span, METH_VARARGS, scan_span_doc},
    {"buckets", buckets, METH_VARARGS, "Add one sign's values to per-bucket counts."},
    {"comoments", comoments, METH_VARARGS, comoments_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "stream.core.sketch._native",
    "One-pass numeric sketch update (issue 19); see native/sketchscan.c.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    for (int i = 0; i < 1024; i++) log2_top[i] = log2(1.0 + (i + 0.5) / 1024.0);
    return PyModule_Create(&module);
}
