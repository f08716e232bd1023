/* json.h - a strict, allocation-light JSON parser for file headers (safetensors).
 *
 * json_parse() validates the whole text (RFC 8259 grammar, UTF-8, escapes including
 * surrogate pairs, nesting depth) and produces a flat array of tokens in document order:
 * a container token is followed by its children, an object's children alternating
 * key, value. tok.next is the index just past a value's subtree, so siblings are walked
 * with i = toks[i].next. Strings stay undecoded in the source until json_str_dup().
 * The caller owns the source text; it must outlive the Json.
 * The output side (JsonBuf, jb_*) builds JSON text with correct string escaping. */
#ifndef SEI_JSON_H
#define SEI_JSON_H
#include <stddef.h>
#include <stdint.h>
#include "engine/error.h"

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct {
    JsonType type;
    size_t start, len;  /* source bytes; for strings, the bytes between the quotes */
    size_t n;           /* arrays: items; objects: key/value pairs */
    size_t next;        /* token index just past this value's subtree */
} JsonTok;

typedef struct {
    const char *src;
    JsonTok *toks;
    size_t ntok, cap;
} Json;

#define JSON_MAX_DEPTH 64

/* SEI_ERR_FORMAT with "what is wrong at byte K" written into err, or SEI_ERR_NOMEM.
 * Only trailing whitespace may follow the top-level value. j is zeroed on failure. */
sei_status json_parse(Json *j, const char *src, size_t len, char *err, size_t errlen);
void json_free(Json *j);

/* decoded string token i as a malloc'd NUL-terminated UTF-8 copy (NULL if out of memory);
 * *len (if given) receives its length, which differs from strlen() when it holds \u0000. */
char *json_str_dup(const Json *j, size_t i, size_t *len);
/* 1 and *out if token i is a number written as a plain integer (no fraction or exponent)
 * that fits in int64; 0 otherwise. */
int json_int64(const Json *j, size_t i, int64_t *out);
/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF);
 * writers check names with it so that what they emit parses back */
int json_utf8_valid(const char *s, size_t n);

/* Output side: a growable text buffer. After an allocation failure it stays failed
 * (nomem set, further writes ignored), so callers check once at the end. Free b->p. */
typedef struct {
    char *p;
    size_t len, cap;
    int nomem;
} JsonBuf;
void jb_put(JsonBuf *b, const char *s, size_t n);
void jb_fmt(JsonBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a quoted JSON string: escapes '"', '\\' and control characters, passes UTF-8 through */
void jb_str(JsonBuf *b, const char *s);

#endif
