/* json.c - strict recursive-descent JSON parser into a flat token array, and a small
 * growable buffer for emitting JSON (see json.h).
 *
 * Validation happens entirely in json_parse, so the accessors can decode without error
 * paths: json_str_dup trusts that every escape and UTF-8 sequence was checked. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/json.h"

typedef struct {
    Json *j;
    const unsigned char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    int nomem;
} Parser;

static int fail(Parser *p, const char *what) {
    if (p->errlen) snprintf(p->err, p->errlen, "%s at byte %zu", what, p->pos);
    return 0;
}

static void skip_ws(Parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* appends a token and returns its index, or (size_t)-1 when out of memory */
static size_t push(Parser *p, JsonType type, size_t start) {
    Json *j = p->j;
    if (j->ntok == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 64;
        JsonTok *t = cap > SIZE_MAX / sizeof *t ? NULL : realloc(j->toks, cap * sizeof *t);
        if (!t) { p->nomem = 1; return (size_t)-1; }
        j->toks = t;
        j->cap = cap;
    }
    JsonTok *t = &j->toks[j->ntok];
    t->type = type;
    t->start = start;
    t->len = 0;
    t->n = 0;
    t->next = j->ntok + 1;
    return j->ntok++;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* the 4 hex digits at s (caller checked that 4 bytes exist), or -1 */
static long hex4(const unsigned char *s) {
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* length of the well-formed UTF-8 sequence at s (at most n bytes), 0 if malformed:
 * rejects overlong forms, UTF-16 surrogates and code points above U+10FFFF */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < k) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

static int parse_string(Parser *p) {
    size_t ti = push(p, JSON_STRING, p->pos + 1);
    if (ti == (size_t)-1) return 0;
    p->pos++; /* opening quote */
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->j->toks[ti].len = p->pos - p->j->toks[ti].start;
            p->pos++;
            return 1;
        }
        if (c < 0x20) return fail(p, "control character in string");
        if (c == '\\') {
            if (p->pos + 1 >= p->len) break;
            unsigned char e = p->s[p->pos + 1];
            if (strchr("\"\\/bfnrt", e) && e) { p->pos += 2; continue; }
            if (e != 'u') return fail(p, "invalid escape in string");
            if (p->len - p->pos < 6) break;
            long u = hex4(p->s + p->pos + 2);
            if (u < 0) return fail(p, "invalid \\u escape");
            if (u >= 0xDC00 && u <= 0xDFFF) return fail(p, "unpaired low surrogate");
            if (u >= 0xD800 && u <= 0xDBFF) {
                /* a high surrogate must be followed by \uDC00..\uDFFF */
                if (p->len - p->pos < 12 || p->s[p->pos + 6] != '\\' || p->s[p->pos + 7] != 'u')
                    return fail(p, "unpaired high surrogate");
                long v = hex4(p->s + p->pos + 8);
                if (v < 0xDC00 || v > 0xDFFF) return fail(p, "unpaired high surrogate");
                p->pos += 12;
            } else p->pos += 6;
            continue;
        }
        size_t k = utf8_len(p->s + p->pos, p->len - p->pos);
        if (!k) return fail(p, "invalid UTF-8 in string");
        p->pos += k;
    }
    return fail(p, "unterminated string");
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int parse_number(Parser *p) {
    size_t start = p->pos;
    const unsigned char *s = p->s;
    if (p->pos < p->len && s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len || !is_digit(s[p->pos])) return fail(p, "invalid number");
    if (s[p->pos] == '0') p->pos++;
    else while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) return fail(p, "invalid number");
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) return fail(p, "invalid number");
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    size_t ti = push(p, JSON_NUMBER, start);
    if (ti == (size_t)-1) return 0;
    p->j->toks[ti].len = p->pos - start;
    return 1;
}

static int parse_literal(Parser *p, const char *word, JsonType type) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return fail(p, "unexpected character");
    if (push(p, type, p->pos) == (size_t)-1) return 0;
    p->j->toks[p->j->ntok - 1].len = n;
    p->pos += n;
    return 1;
}

static int parse_value(Parser *p, int depth);

/* arrays and objects share the comma/close logic; objects read "key": before each value */
static int parse_container(Parser *p, int depth, int is_obj) {
    if (depth >= JSON_MAX_DEPTH) return fail(p, "nesting too deep");
    size_t ti = push(p, is_obj ? JSON_OBJECT : JSON_ARRAY, p->pos);
    if (ti == (size_t)-1) return 0;
    char close = is_obj ? '}' : ']';
    size_t n = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            if (is_obj) {
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected string key");
                if (!parse_string(p)) return 0;
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':'");
                p->pos++;
            }
            if (!parse_value(p, depth + 1)) return 0;
            n++;
            skip_ws(p);
            if (p->pos >= p->len) return fail(p, "unexpected end of input");
            if (p->s[p->pos] == close) { p->pos++; break; }
            if (p->s[p->pos] != ',') return fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
            p->pos++;
        }
    }
    JsonTok *t = &p->j->toks[ti];
    t->n = n;
    t->len = p->pos - t->start;
    t->next = p->j->ntok;
    return 1;
}

static int parse_value(Parser *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end of input");
    switch (p->s[p->pos]) {
    case '{': return parse_container(p, depth, 1);
    case '[': return parse_container(p, depth, 0);
    case '"': return parse_string(p);
    case 't': return parse_literal(p, "true", JSON_TRUE);
    case 'f': return parse_literal(p, "false", JSON_FALSE);
    case 'n': return parse_literal(p, "null", JSON_NULL);
    default: return parse_number(p);
    }
}

sei_status json_parse(Json *j, const char *src, size_t len, char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    if (!j) return SEI_ERR_ARG;
    memset(j, 0, sizeof *j);
    if (!src) return SEI_ERR_ARG;
    j->src = src;
    Parser p = {j, (const unsigned char *)src, len, 0, err, errlen, 0};
    int ok = parse_value(&p, 0);
    if (ok) {
        skip_ws(&p);
        if (p.pos != len) ok = fail(&p, "trailing characters after JSON value");
    }
    if (ok) return SEI_OK;
    json_free(j);
    if (p.nomem) {
        if (errlen) snprintf(err, errlen, "out of memory");
        return SEI_ERR_NOMEM;
    }
    return SEI_ERR_FORMAT;
}

void json_free(Json *j) {
    if (!j) return;
    free(j->toks);
    memset(j, 0, sizeof *j);
}

static size_t put_utf8(char *d, unsigned long cp) {
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

char *json_str_dup(const Json *j, size_t i, size_t *len) {
    if (!j || i >= j->ntok || j->toks[i].type != JSON_STRING) return NULL;
    const JsonTok *t = &j->toks[i];
    const unsigned char *s = (const unsigned char *)j->src + t->start;
    /* decoding never lengthens: \uXXXX (6 bytes) is at most 3 UTF-8 bytes, a pair 12 -> 4 */
    char *out = malloc(t->len + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t q = 0; q < t->len;) {
        if (s[q] != '\\') { out[k++] = (char)s[q++]; continue; }
        unsigned char e = s[q + 1];
        q += 2;
        switch (e) {
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'u': {
            unsigned long cp = (unsigned long)hex4(s + q);
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned long lo = (unsigned long)hex4(s + q + 2);
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            k += put_utf8(out + k, cp);
            break;
        }
        default: out[k++] = (char)e; break; /* \" \\ \/ */
        }
    }
    out[k] = 0;
    if (len) *len = k;
    return out;
}

int json_int64(const Json *j, size_t i, int64_t *out) {
    if (!j || i >= j->ntok || j->toks[i].type != JSON_NUMBER) return 0;
    const JsonTok *t = &j->toks[i];
    const char *s = j->src + t->start;
    size_t q = 0;
    int neg = 0;
    if (s[0] == '-') { neg = 1; q = 1; }
    /* accumulate as a negative number so INT64_MIN is representable */
    int64_t v = 0;
    for (; q < t->len; q++) {
        if (!is_digit((unsigned char)s[q])) return 0; /* fraction or exponent */
        int d = s[q] - '0';
        if (v < (INT64_MIN + d) / 10) return 0;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN) return 0;
        v = -v;
    }
    *out = v;
    return 1;
}

int json_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(u + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

void jb_put(JsonBuf *b, const char *s, size_t n) {
    if (b->nomem) return;
    if (n > SIZE_MAX / 4 - b->len) { b->nomem = 1; return; }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n) nc *= 2;
        char *p = realloc(b->p, nc);
        if (!p) { b->nomem = 1; return; }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void jb_fmt(JsonBuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) b->nomem = 1; /* callers only format short pieces */
    else jb_put(b, tmp, (size_t)k);
}

void jb_str(JsonBuf *b, const char *s) {
    jb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') jb_fmt(b, "\\%c", c);
        else if (c < 0x20) jb_fmt(b, "\\u%04x", c);
        else jb_put(b, s, 1);
    }
    jb_put(b, "\"", 1);
}
