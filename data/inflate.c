/* inflate.c - from-scratch gzip decoder for the IDX loader: RFC 1951 inflate (stored, fixed
 * and dynamic Huffman blocks) inside RFC 1952 framing (optional header fields, header CRC,
 * CRC-32 and ISIZE trailer, concatenated members). Whole buffer in, malloc'd buffer out.
 *
 * The input is untrusted: the bit reader feeds zeros once it passes the end and every symbol
 * checks whether it used them (-> "truncated"), so no read leaves the buffer; every other
 * malformation ends in sei_fail(SEI_ERR_FORMAT, "gunzip: ...") naming the problem. Huffman
 * codes decode through a 10-bit lookup table, longer codes by canonical-code comparison.
 * The output grows from the trailer's size hint, but never past deflate's 1032:1 bound. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset.h"

#define FAST_BITS 10
#define MAX_RATIO 1032 /* a 258-byte match costs at least 2 bits */

typedef struct {
    const uint8_t *in;
    size_t n, pos; /* pos may run past n: those bytes read as zero */
    uint64_t bits;
    int cnt;
} Bits;

typedef struct {
    uint16_t fast[1 << FAST_BITS]; /* (length << 9) | symbol for codes <= FAST_BITS, 0 otherwise */
    int first[17], firstsym[17];   /* canonical first code / index into sym of each length */
    uint32_t limit[17];            /* end of the codes of each length, left-aligned to 16 bits */
    uint16_t sym[288];             /* symbols in canonical order */
    int nsym;
} Huff;

typedef struct {
    uint8_t *p;
    size_t n, cap, max;
} Out;

typedef struct {
    Huff lit, dist, fixlit, fixdist;
    uint32_t crc[4][256];
} Ctx;

static const uint16_t LBASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LEXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t DBASE[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                   33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                   1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t DEXTRA[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* ---------------------------------------------------------------- bits and CRC */

static inline void refill(Bits *b) { /* leaves >= 57 bits: one literal/length + distance */
    while (b->cnt <= 56) {
        uint64_t byte = b->pos < b->n ? b->in[b->pos] : 0;
        b->pos++;
        b->bits |= byte << b->cnt;
        b->cnt += 8;
    }
}

static inline uint32_t take(Bits *b, int k) { /* k <= 16, after refill */
    uint32_t v = (uint32_t)(b->bits & ((1u << k) - 1));
    b->bits >>= k;
    b->cnt -= k;
    return v;
}

/* 1 when the bits consumed so far include padding beyond the input */
static inline int overrun(const Bits *b) { return b->pos * 8 - (size_t)b->cnt > b->n * 8; }

static void crc_init(uint32_t t[4][256]) { /* slicing-by-4 tables for the reflected 0xEDB88320 */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (int i = 0; i < 256; i++)
        for (int k = 1; k < 4; k++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
}

static uint32_t crc32_of(const uint32_t t[4][256], const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (; n >= 4; p += 4, n -= 4) {
        c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        c = t[3][c & 0xff] ^ t[2][(c >> 8) & 0xff] ^ t[1][(c >> 16) & 0xff] ^ t[0][c >> 24];
    }
    while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* ---------------------------------------------------------------- Huffman tables */

static sei_status huff_build(Huff *h, const uint8_t *len, int n, const char *what) {
    int count[16] = {0}, next[16], left = 1;
    for (int i = 0; i < n; i++) count[len[i]]++;
    count[0] = 0;
    for (int s = 1; s < 16; s++)
        if ((left = 2 * left - count[s]) < 0)
            return sei_fail(SEI_ERR_FORMAT, "gunzip: invalid code lengths: over-subscribed %s code", what);
    int code = 0, k = 0;
    for (int s = 1; s < 16; s++) {
        next[s] = h->first[s] = code;
        h->firstsym[s] = k;
        code += count[s], k += count[s];
        h->limit[s] = (uint32_t)code << (16 - s);
        code <<= 1;
    }
    h->limit[16] = 0x10000;
    h->nsym = k;
    memset(h->fast, 0, sizeof h->fast);
    for (int i = 0; i < n; i++) {
        int s = len[i];
        if (!s) continue;
        int c = next[s]++, r = 0;
        h->sym[h->firstsym[s] + c - h->first[s]] = (uint16_t)i;
        if (s > FAST_BITS) continue;
        for (int j = 0; j < s; j++) r |= ((c >> j) & 1) << (s - 1 - j); /* codes go in MSB first */
        for (; r < (1 << FAST_BITS); r += 1 << s) h->fast[r] = (uint16_t)(s << 9 | i);
    }
    return SEI_OK;
}

/* next symbol, or -1 for a bit pattern no code has (incomplete code); needs >= 15 bits */
static inline int decode(Bits *b, const Huff *h) {
    int e = h->fast[b->bits & ((1u << FAST_BITS) - 1)];
    if (e) {
        take(b, e >> 9);
        return e & 511;
    }
    uint32_t k = 0, v = (uint32_t)b->bits & 0xffff;
    for (int j = 0; j < 16; j++) k |= ((v >> j) & 1) << (15 - j);
    int s = FAST_BITS + 1;
    while (s < 16 && k >= h->limit[s]) s++;
    if (s == 16) return -1;
    int idx = (int)(k >> (16 - s)) - h->first[s] + h->firstsym[s];
    if (idx < 0 || idx >= h->nsym) return -1;
    take(b, s);
    return h->sym[idx];
}

/* ---------------------------------------------------------------- blocks */

static sei_status out_reserve(Out *o, size_t more) {
    if (o->cap - o->n >= more) return SEI_OK;
    if (more > o->max - o->n)
        return sei_fail(SEI_ERR_FORMAT, "gunzip: output exceeds %zu bytes, impossible for this input size", o->max);
    size_t cap = o->cap > o->max / 2 ? o->max : o->cap * 2;
    if (cap < o->n + more) cap = o->n + more;
    uint8_t *p = realloc(o->p, cap);
    if (!p) return sei_fail(SEI_ERR_NOMEM, "gunzip: out of memory growing the output to %zu bytes", cap);
    o->p = p, o->cap = cap;
    return SEI_OK;
}

static sei_status truncated(void) {
    return sei_fail(SEI_ERR_FORMAT, "gunzip: truncated stream (compressed data ends early)");
}

/* one Huffman-coded block; `start` is where this member's output begins (distances stop there).
 * Works on local copies of the reader and output so the byte stores cannot alias them. */
static sei_status inflate_codes(Bits *bp, Out *op, size_t start, const Huff *lit, const Huff *dist) {
    Bits b = *bp;
    Out o = *op;
    sei_status s = SEI_OK;
    for (;;) {
        refill(&b);
        int sym = decode(&b, lit);
        if (sym < 0) {
            s = sei_fail(SEI_ERR_FORMAT, "gunzip: invalid literal/length code");
            break;
        }
        if (sym < 256) {
            if (o.n == o.cap && (s = out_reserve(&o, 1))) break;
            o.p[o.n++] = (uint8_t)sym;
            if (overrun(&b)) break;
            continue;
        }
        if (sym == 256) break;
        if ((sym -= 257) >= 29) {
            s = sei_fail(SEI_ERR_FORMAT, "gunzip: invalid length symbol %d", sym + 257);
            break;
        }
        size_t len = LBASE[sym] + take(&b, LEXTRA[sym]);
        int ds = decode(&b, dist);
        if (ds < 0 || ds >= 30) {
            s = sei_fail(SEI_ERR_FORMAT, "gunzip: invalid distance code");
            break;
        }
        size_t d = DBASE[ds] + take(&b, DEXTRA[ds]);
        if (overrun(&b)) break;
        if (d > o.n - start) {
            s = sei_fail(SEI_ERR_FORMAT, "gunzip: invalid distance %zu: too far back (only %zu bytes written)", d, o.n - start);
            break;
        }
        if ((s = out_reserve(&o, len))) break;
        uint8_t *q = o.p + o.n;
        const uint8_t *from = q - d;
        if (d >= len) memcpy(q, from, len);
        else if (d == 1) memset(q, *from, len);
        else for (size_t i = 0; i < len; i++) q[i] = from[i]; /* overlapping: repeats the run */
        o.n += len;
    }
    *bp = b, *op = o;
    return s ? s : overrun(&b) ? truncated() : SEI_OK;
}

static sei_status inflate_stored(Bits *b, Out *o) {
    take(b, b->cnt & 7);
    size_t p = b->pos - (size_t)b->cnt / 8; /* first byte not yet consumed */
    if (p > b->n || b->n - p < 4) return truncated();
    unsigned len = b->in[p] | b->in[p + 1] << 8, nlen = b->in[p + 2] | b->in[p + 3] << 8;
    if (len != (~nlen & 0xffff))
        return sei_fail(SEI_ERR_FORMAT, "gunzip: stored block length %u does not match its complement", len);
    p += 4;
    if (b->n - p < len) return truncated();
    sei_status s = out_reserve(o, len);
    if (s) return s;
    memcpy(o->p + o->n, b->in + p, len);
    o->n += len;
    b->pos = p + len, b->bits = 0, b->cnt = 0;
    return SEI_OK;
}

static sei_status read_dynamic(Bits *b, Ctx *c) {
    static const uint8_t ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    uint8_t len[286 + 30] = {0}, cl[19] = {0};
    refill(b);
    int nlit = (int)take(b, 5) + 257, ndist = (int)take(b, 5) + 1, ncl = (int)take(b, 4) + 4;
    if (nlit > 286 || ndist > 30)
        return sei_fail(SEI_ERR_FORMAT, "gunzip: too many length (%d) or distance (%d) symbols", nlit, ndist);
    for (int i = 0; i < ncl; i++) {
        refill(b);
        cl[ORDER[i]] = (uint8_t)take(b, 3);
    }
    sei_status s = huff_build(&c->lit, cl, 19, "code-length");
    if (s) return s;
    for (int i = 0; i < nlit + ndist;) {
        refill(b);
        int sym = decode(b, &c->lit), rep = 0, val = 0;
        if (sym < 0) return sei_fail(SEI_ERR_FORMAT, "gunzip: invalid code-length code");
        if (sym < 16) {
            len[i++] = (uint8_t)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0) return sei_fail(SEI_ERR_FORMAT, "gunzip: invalid code lengths: repeat with no previous length");
            val = len[i - 1], rep = 3 + (int)take(b, 2);
        } else rep = sym == 17 ? 3 + (int)take(b, 3) : 11 + (int)take(b, 7);
        if (rep > nlit + ndist - i) return sei_fail(SEI_ERR_FORMAT, "gunzip: invalid code lengths: repeat past the end");
        while (rep--) len[i++] = (uint8_t)val;
    }
    if (overrun(b)) return truncated();
    if (!len[256]) return sei_fail(SEI_ERR_FORMAT, "gunzip: invalid code lengths: no end-of-block code");
    if ((s = huff_build(&c->lit, len, nlit, "literal/length"))) return s;
    return huff_build(&c->dist, len + nlit, ndist, "distance");
}

static sei_status inflate_stream(Bits *b, Out *o, Ctx *c) {
    size_t start = o->n;
    for (int last = 0; !last;) {
        refill(b);
        last = (int)take(b, 1);
        int type = (int)take(b, 2);
        if (overrun(b)) return truncated();
        sei_status s;
        if (type == 0) s = inflate_stored(b, o);
        else if (type == 1) s = inflate_codes(b, o, start, &c->fixlit, &c->fixdist);
        else if (type == 2) {
            if (!(s = read_dynamic(b, c))) s = inflate_codes(b, o, start, &c->lit, &c->dist);
        } else return sei_fail(SEI_ERR_FORMAT, "gunzip: invalid block type 3");
        if (s == SEI_ERR_FORMAT && overrun(b)) return truncated(); /* garbage decoded from past the end */
        if (s) return s;
    }
    return SEI_OK;
}

/* ---------------------------------------------------------------- gzip framing */

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* one member starting at *pos; on success *pos is just past its trailer */
static sei_status member(const uint8_t *in, size_t n, size_t *pos, Out *o, Ctx *c, int k) {
    size_t p = *pos, start = o->n;
    if (n - p < 18) return sei_fail(SEI_ERR_FORMAT, "gunzip: truncated: member %d has %zu bytes, a gzip member needs at least 18", k, n - p);
    if (in[p] != 0x1f || in[p + 1] != 0x8b) return sei_fail(SEI_ERR_FORMAT, "gunzip: bad magic %02x %02x (not gzip data)", in[p], in[p + 1]);
    if (in[p + 2] != 8) return sei_fail(SEI_ERR_FORMAT, "gunzip: unknown compression method %d (only 8, deflate)", in[p + 2]);
    int flg = in[p + 3];
    if (flg & 0xe0) return sei_fail(SEI_ERR_FORMAT, "gunzip: reserved header flags set (0x%02x)", flg);
    size_t q = p + 10;
    if (flg & 4) { /* FEXTRA */
        if (n - q < 2) goto trunc;
        size_t xlen = in[q] | (size_t)in[q + 1] << 8;
        if (n - q - 2 < xlen) goto trunc;
        q += 2 + xlen;
    }
    for (int f = 8; f <= 16; f += 8) /* FNAME, FCOMMENT: zero-terminated */
        if (flg & f) {
            const uint8_t *z = memchr(in + q, 0, n - q);
            if (!z) goto trunc;
            q = (size_t)(z - in) + 1;
        }
    if (flg & 2) { /* FHCRC: low 16 bits of the CRC-32 of the header so far */
        if (n - q < 2) goto trunc;
        if ((crc32_of(c->crc, in + p, q - p) & 0xffff) != (in[q] | (uint32_t)in[q + 1] << 8))
            return sei_fail(SEI_ERR_FORMAT, "gunzip: header CRC mismatch");
        q += 2;
    }
    Bits b = {in, n, q, 0, 0};
    sei_status s = inflate_stream(&b, o, c);
    if (s) return s;
    take(&b, b.cnt & 7);
    q = b.pos - (size_t)b.cnt / 8;
    if (q > n || n - q < 8) return sei_fail(SEI_ERR_FORMAT, "gunzip: truncated: CRC-32/size trailer missing");
    uint32_t want = le32(in + q), got = crc32_of(c->crc, o->p + start, o->n - start);
    if (want != got)
        return sei_fail(SEI_ERR_FORMAT, "gunzip: CRC-32 mismatch (trailer %08x, data %08x): corrupted data", want, got);
    if (le32(in + q + 4) != (uint32_t)(o->n - start))
        return sei_fail(SEI_ERR_FORMAT, "gunzip: length mismatch: trailer says %u bytes (mod 2^32), decoded %zu",
                        le32(in + q + 4), o->n - start);
    *pos = q + 8;
    return SEI_OK;
trunc:
    return sei_fail(SEI_ERR_FORMAT, "gunzip: truncated gzip header");
}

sei_status gunzip(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n) {
    *out = NULL, *out_n = 0;
    if (n < 18) return sei_fail(SEI_ERR_FORMAT, "gunzip: truncated: %zu bytes, a gzip file needs at least 18", n);
    Ctx *c = malloc(sizeof *c);
    if (!c) return sei_fail(SEI_ERR_NOMEM, "gunzip: out of memory");
    crc_init(c->crc);
    uint8_t len[288]; /* the fixed codes of RFC 1951 3.2.6 */
    for (int i = 0; i < 288; i++) len[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    huff_build(&c->fixlit, len, 288, "fixed");
    memset(len, 5, 30);
    huff_build(&c->fixdist, len, 30, "fixed");
    Out o = {NULL, 0, 0, n > SIZE_MAX / MAX_RATIO - 1024 ? SIZE_MAX : n * MAX_RATIO + 1024};
    size_t hint = le32(in + n - 4); /* the last member's size: a hint, capped */
    if (hint > o.max) hint = o.max;
    if (hint > ((size_t)1 << 28)) hint = (size_t)1 << 28;
    sei_status s = out_reserve(&o, hint < 4096 ? 4096 : hint);
    size_t p = 0;
    for (int k = 1; !s && p < n; k++) {
        s = member(in, n, &p, &o, c, k);
        if (!s && p < n && !(n - p >= 2 && in[p] == 0x1f && in[p + 1] == 0x8b)) {
            while (p < n && in[p] == 0) p++; /* zero padding (tape blocks) is tolerated */
            if (p < n) s = sei_fail(SEI_ERR_FORMAT, "gunzip: %zu bytes of trailing garbage after gzip member %d", n - p, k);
        }
    }
    free(c);
    if (s) {
        free(o.p);
        return s;
    }
    if (o.cap - o.n > o.n / 8 + 4096) { /* an overstated size hint: give the slack back */
        uint8_t *p2 = realloc(o.p, o.n ? o.n : 1);
        if (p2) o.p = p2;
    }
    *out = o.p, *out_n = o.n;
    return SEI_OK;
}

sei_status read_file_maybe_gz(const char *path, uint8_t **out, size_t *out_n) {
    *out = NULL, *out_n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return sei_fail(SEI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = 0, cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    sei_status s = buf ? SEI_OK : sei_fail(SEI_ERR_NOMEM, "%s: out of memory", path);
    while (!s) {
        if (n == cap) {
            uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                s = sei_fail(SEI_ERR_NOMEM, "%s: out of memory reading %zu+ bytes", path, n);
                break;
            }
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0 && ferror(fp)) s = sei_fail(SEI_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        else if (got == 0) break;
    }
    fclose(fp);
    if (s) {
        free(buf);
        return s;
    }
    if (n < 2 || buf[0] != 0x1f || buf[1] != 0x8b) { /* not gzip: the bytes as they are */
        *out = buf, *out_n = n;
        return SEI_OK;
    }
    uint8_t *raw = NULL;
    size_t rn = 0;
    s = gunzip(buf, n, &raw, &rn);
    free(buf);
    if (s) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", sei_last_error());
        return sei_fail(s, "%s: %s", path, msg);
    }
    *out = raw, *out_n = rn;
    return SEI_OK;
}
