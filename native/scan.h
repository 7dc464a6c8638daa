/*
 * Scanner, value conversions and ISO-8601 times of native/fastparse.c (one translation
 * unit: included once, all functions static). The rules are in fastparse.c's header.
 */
#ifndef DRIFTSTREAM_SCAN_H
#define DRIFTSTREAM_SCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_NUM_TEXT 63  /* longest number literal claimed */

/* ------------------------------------------------------------------ scanning */

enum { V_NONE = 0, V_STR, V_INT, V_FLOAT, V_TRUE, V_FALSE, V_NULL, V_OBJ };

typedef struct {
    const char *s; /* string: contents without quotes; number: the literal */
    Py_ssize_t n;
    int type;
    int ascii;
    /* numbers, read while scanning (float_value needs no second pass over the digits):
     * the first 16 significant digits as an integer, how many significant digits there
     * are, how many digits follow the point, whether any digit is non-zero, and the
     * exponent (its magnitude capped at 100000: beyond, it is out of range anyway). */
    int64_t mant;
    int nd, scale, nonzero;
    long exp10;
} Val;

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Bytes of a 64-bit word that stop a string scan: '"', '\\', a control (< 0x20) or
 * a non-ASCII byte (>= 0x80): the high bit of each such byte, exact up to the first one
 * (the lowest; the zero-byte test may flag bytes after a true hit, never before). */
static inline uint64_t string_stops(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t zero_q = (q - ones) & ~q, zero_b = (b - ones) & ~b;
    uint64_t ctrl = (x - ones * 0x20) & ~x; /* bytes < 0x20 (and not >= 0x80) */
    return (zero_q | zero_b | ctrl | x) & high;
}

/* p at the opening quote; returns the byte after the closing quote, or NULL (unclaim).
 * Eight bytes at a time while eight remain (little-endian loads), then byte by byte. */
static inline const char *scan_string(const char *p, const char *end, Val *v) {
    const char *s = ++p;
    int ascii = 1;
    while (p < end) {
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            uint64_t stops = string_stops(x);
            if (!stops) {
                p += 8;
                continue;
            }
            p += __builtin_ctzll(stops) >> 3; /* the first stop byte */
        }
#endif
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

/* memcmp(a, b, n) == 0 for the short texts compared here (keys, model names,
 * categories), inlined: eight bytes at a time, then four, then single bytes. */
static inline int same_bytes(const char *a, const char *b, Py_ssize_t n) {
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
    }
    if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        if (x != y) return 0;
        a += 4, b += 4, n -= 4;
    }
    for (; n > 0; a++, b++, n--)
        if (*a != *b) return 0;
    return 1;
}

#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_DIGITS 1
static const uint32_t POW10_U32[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                     100000000};

/* The run of ASCII digits at the start of the 8 bytes at p (the caller guarantees 8
 * readable bytes): its length k (0..8), its value, and how many of its first digits are
 * '0' (k when all are). Word tests per byte, no carry between bytes; then the k digits
 * moved to the word's top and read as eight (leading zeros) in three multiplications. */
static inline int digits8(const char *p, uint64_t *value, int *zeros) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t ge0 = ((x | high) - ones * 0x30) & high;  /* (b & 0x7f) >= '0' */
    uint64_t gt9 = ((x & ~high) + ones * 0x46) & high; /* (b & 0x7f) > '9' */
    uint64_t stop = ~(ge0 & ~gt9 & ~x) & high;         /* not a digit (or >= 0x80) */
    int k = stop ? __builtin_ctzll(stop) >> 3 : 8;
    if (k == 0) {
        *value = 0;
        *zeros = 0;
        return 0;
    }
    /* digits carry no borrow below the first non-digit; bytes from it up are shifted out */
    uint64_t t = (x - ones * 0x30) << (8 * (8 - k));
    uint64_t y = x ^ (ones * 0x30);                                  /* 0 where '0' */
    uint64_t nz = (((y & ~high) + ~high) | y) & high;                /* bytes != '0' */
    int z = nz ? __builtin_ctzll(nz) >> 3 : 8;
    *zeros = z < k ? z : k;
    t = t * 10 + (t >> 8);
    t = (((t & 0x000000FF000000FFULL) * 0x000F424000000064ULL)
         + (((t >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
    *value = (uint32_t)t;
    return k;
}
#endif

/* JSON number grammar exactly: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline const char *scan_number(const char *p, const char *end, Val *v) {
    const char *s = p;
    int is_float = 0, nd = 0, scale = 0, nonzero = 0;
    int64_t m = 0;
    long exp10 = 0;
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        nonzero = 1;
#ifdef SWAR_DIGITS
        if (end - p >= 8) { /* up to eight digits at once; the loop takes any more */
            uint64_t d;
            int z;
            nd = digits8(p, &d, &z); /* >= 1: *p is a digit */
            m = (int64_t)d;
            p += nd;
        }
#endif
        for (; p < end && is_digit(*p); p++, nd++)
            if (nd < 16) m = m * 10 + (*p - '0');
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) return NULL;
#ifdef SWAR_DIGITS
        if (nd <= 8 && end - p >= 8) { /* nd + k <= 16: every significant digit kept */
            uint64_t d;
            int z, k = digits8(p, &d, &z); /* >= 1 */
            if (nd) { /* after a non-zero integer part every digit is significant */
                m = m * POW10_U32[k] + (int64_t)d;
                nd += k;
            } else if (d) { /* leading zeros skipped, as below */
                m = (int64_t)d;
                nd = k - z;
                nonzero = 1;
            }
            scale += k;
            p += k;
        }
#endif
        for (; p < end && is_digit(*p); p++, scale++) {
            int d = *p - '0';
            if (d) nonzero = 1;
            if (!nd && !d) continue; /* leading zeros carry no significance */
            if (nd < 16) m = m * 10 + d; /* only nd <= 15 takes the exact path */
            nd++;
        }
        is_float = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end || !is_digit(*p)) return NULL;
        for (; p < end && is_digit(*p); p++)
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
        if (eneg) exp10 = -exp10;
        is_float = 1;
    }
    v->s = s;
    v->n = p - s;
    v->type = is_float ? V_FLOAT : V_INT;
    v->mant = m;
    v->nd = nd;
    v->scale = scale;
    v->nonzero = nonzero;
    v->exp10 = exp10;
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
    int neg = v->s[0] == '-', nd = v->nd, mantissa_nonzero = v->nonzero;
    int64_t m = v->mant;
    long exp10 = v->exp10, scale = v->scale;
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

/* A new reference to the str of these bytes; NULL with no error set when not valid
 * UTF-8; NULL with an error on memory failure. */
static PyObject *text_object(const char *s, Py_ssize_t n, int ascii) {
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
    return obj;
}

/* The text of a categorical or id value, as bytes: 1 with (*s, *n, *ascii) set, 2 for
 * null, 0 when not claimable. Integers keep their literal ("-0" is left unclaimed: the
 * contract writes it "0"); booleans (categorical only) are "true"/"false". */
static inline int text_of(const Val *v, int allow_bool, Py_ssize_t max_bytes, const char **s,
                          Py_ssize_t *n, int *ascii) {
    *ascii = 1;
    switch (v->type) {
        case V_NONE:
        case V_NULL: return 2;
        case V_STR:
            if (v->n > max_bytes) return 0;
            *s = v->s;
            *n = v->n;
            *ascii = v->ascii;
            return 1;
        case V_INT:
            if (v->n > max_bytes || (v->s[0] == '-' ? v->n - 1 : v->n) > 18) return 0;
            if (v->n == 2 && v->s[0] == '-' && v->s[1] == '0') return 0; /* "-0" -> "0" */
            *s = v->s;
            *n = v->n;
            return 1;
        case V_TRUE:
            if (!allow_bool || 4 > max_bytes) return 0;
            *s = "true";
            *n = 4;
            return 1;
        case V_FALSE:
            if (!allow_bool || 5 > max_bytes) return 0;
            *s = "false";
            *n = 5;
            return 1;
        default: return 0;
    }
}

/* Id text. Returns a new reference, or NULL: *err says whether an error is set (memory)
 * or the value is just not claimable. */
static PyObject *text_value(const Val *v, Py_ssize_t max_bytes, int *err) {
    const char *s = NULL;
    Py_ssize_t n = 0;
    int ascii;
    *err = 0;
    switch (text_of(v, 0, max_bytes, &s, &n, &ascii)) {
        case 2: Py_RETURN_NONE;
        case 1: break;
        default: return NULL;
    }
    PyObject *obj = text_object(s, n, ascii);
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

#endif
