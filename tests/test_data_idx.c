/* test_data_idx.c - the gzip decoder (data/inflate.c) and the IDX loader (data/idx.c):
 * hand-built gzip members (stored blocks with every optional header field, fixed-Huffman
 * blocks with overlapping matches, concatenated members), files made by the system gzip,
 * pixel/label round trips, each malformed-input error (message checked, Dataset untouched),
 * every truncation point, a random byte-flip loop (meant for the SAN=1 build), and the real
 * Fashion-MNIST files when Debian's dataset-fashion-mnist is installed (with gunzip MB/s).
 * Files go to a fresh directory under /tmp that is removed at the end. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data/dataset.h"
#include "engine/clock.h"
#include "tests/harness.h"
#include "tests/scratch.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static uint8_t *read_bytes(const char *p, size_t *n) {
    FILE *fp = fopen(p, "rb");
    *n = 0;
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    rewind(fp);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && len > 0) *n = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    return b;
}

static int have_gzip(void) { return system("command -v gzip >/dev/null 2>&1") == 0; }

/* gzip -c -n SRC > DST with the system tool; 0 on success */
static int sys_gzip(const char *src, const char *dst, int level) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gzip -%d -c -n '%s' > '%s'", level, src, dst);
    return system(cmd);
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

/* ------------------------------------------------------------ hand-built gzip */

static uint32_t crc32_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

typedef struct {
    uint8_t *p;
    size_t n;
    uint32_t acc;
    int nacc;
} Buf;

static void put(Buf *b, uint8_t v) {
    b->p = realloc(b->p, b->n + 1);
    b->p[b->n++] = v;
}
static void put_le(Buf *b, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) put(b, (uint8_t)(v >> (8 * i)));
}
static void put_bits(Buf *b, uint32_t v, int k) { /* LSB first, as deflate packs fields */
    for (int i = 0; i < k; i++) {
        b->acc |= ((v >> i) & 1) << b->nacc;
        if (++b->nacc == 8) put(b, (uint8_t)b->acc), b->acc = 0, b->nacc = 0;
    }
}
static void put_code(Buf *b, uint32_t code, int len) { /* Huffman codes go MSB first */
    for (int i = len - 1; i >= 0; i--) put_bits(b, (code >> i) & 1, 1);
}
static void flush_bits(Buf *b) {
    if (b->nacc) put(b, (uint8_t)b->acc), b->acc = 0, b->nacc = 0;
}

/* gzip header with the given FLG bits (FEXTRA 4, FNAME 8, FCOMMENT 16, FHCRC 2) */
static void gz_header(Buf *b, int flg) {
    size_t h0 = b->n;
    const uint8_t head[10] = {0x1f, 0x8b, 8, (uint8_t)flg, 1, 2, 3, 4, 0, 3};
    for (int i = 0; i < 10; i++) put(b, head[i]);
    if (flg & 4) {
        put_le(b, 5, 2);
        for (int i = 0; i < 5; i++) put(b, (uint8_t)('x' + i));
    }
    if (flg & 8)
        for (const char *s = "data.idx"; ; s++) { put(b, (uint8_t)*s); if (!*s) break; }
    if (flg & 16)
        for (const char *s = "a comment"; ; s++) { put(b, (uint8_t)*s); if (!*s) break; }
    if (flg & 2) put_le(b, crc32_bitwise(b->p + h0, b->n - h0) & 0xffff, 2);
}

/* one gzip member of stored blocks of at most `block` bytes */
static void gz_stored(Buf *b, const uint8_t *data, size_t n, int flg, size_t block) {
    gz_header(b, flg);
    size_t off = 0;
    do {
        size_t len = n - off < block ? n - off : block;
        put(b, off + len == n ? 1 : 0); /* BFINAL, BTYPE 00, then byte-aligned */
        put_le(b, (uint32_t)len, 2);
        put_le(b, (uint32_t)~len & 0xffff, 2);
        for (size_t i = 0; i < len; i++) put(b, data[off + i]);
        off += len;
    } while (off < n);
    put_le(b, crc32_bitwise(data, n), 4);
    put_le(b, (uint32_t)n, 4);
}

static void fixed_lit(Buf *b, int v) {
    if (v < 144) put_code(b, 0x30 + v, 8);
    else if (v < 256) put_code(b, 0x190 + v - 144, 9);
    else if (v < 280) put_code(b, v - 256, 7);
    else put_code(b, 0xC0 + v - 280, 8);
}

/* "abc" + match(9, dist 3) + "x" + match(20, dist 1) = "abcabcabcabcx" + 20 x's, as one
 * fixed-Huffman block; far=1 makes the first distance 4 (before any output exists) */
static void gz_fixed(Buf *b, int far, uint8_t *expect, size_t *n) {
    gz_header(b, 0);
    put_bits(b, 1, 1), put_bits(b, 1, 2);
    fixed_lit(b, 'a'), fixed_lit(b, 'b'), fixed_lit(b, 'c');
    fixed_lit(b, 263), put_code(b, far ? 3 : 2, 5);              /* length 9, distance 3 (or 4) */
    fixed_lit(b, 'x');
    fixed_lit(b, 269), put_bits(b, 1, 2), put_code(b, 0, 5);      /* length 19+1, distance 1 */
    fixed_lit(b, 256);
    flush_bits(b);
    *n = 0;
    for (int i = 0; i < 12; i++) expect[(*n)++] = (uint8_t)("abc"[i % 3]);
    for (int i = 0; i < 21; i++) expect[(*n)++] = 'x';
    put_le(b, crc32_bitwise(expect, *n), 4);
    put_le(b, (uint32_t)*n, 4);
}

/* gunzip must fail with FORMAT and a message containing `want` */
static void expect_gz_error(const uint8_t *in, size_t n, const char *want, const char *what) {
    uint8_t *out = (uint8_t *)1;
    size_t on = 1;
    sei_status s = gunzip(in, n, &out, &on);
    EXPECT(s == SEI_ERR_FORMAT, "%s: status %d", what, (int)s);
    EXPECT(strstr(sei_last_error(), want), "%s: message '%s' lacks '%s'", what, sei_last_error(), want);
    EXPECT(!out && on == 0, "%s: output not cleared", what);
    if (s == SEI_OK) free(out);
}

static void test_gunzip_stored_headers(void) {
    uint8_t data[3000];
    for (int i = 0; i < 3000; i++) data[i] = (uint8_t)(i * 7 + i / 100);
    const int flags[] = {0, 2, 4, 8, 16, 4 | 8 | 16 | 2};
    for (int f = 0; f < 6; f++) {
        Buf b = {0};
        gz_stored(&b, data, sizeof data, flags[f], f == 0 ? 65535 : 700);
        uint8_t *out = NULL;
        size_t on = 0;
        sei_status s = gunzip(b.p, b.n, &out, &on);
        EXPECT(s == SEI_OK, "flags %d: %s", flags[f], sei_last_error());
        EXPECT(on == sizeof data && out && !memcmp(out, data, on), "flags %d: %zu bytes differ", flags[f], on);
        free(out);
        if (flags[f] & 2) { /* break the header CRC */
            b.p[4] ^= 0x40; /* an MTIME byte: covered by FHCRC */
            expect_gz_error(b.p, b.n, "header CRC", "FHCRC");
        }
        free(b.p);
    }
    /* empty member, and two members concatenated (+ zero padding) decode to the concatenation */
    Buf b = {0};
    gz_stored(&b, data, 0, 0, 100);
    gz_stored(&b, data, 1000, 8, 300);
    gz_stored(&b, data + 1000, 2000, 0, 65535);
    for (int i = 0; i < 16; i++) put(&b, 0);
    uint8_t *out = NULL;
    size_t on = 0;
    EXPECT(gunzip(b.p, b.n, &out, &on) == SEI_OK, "members: %s", sei_last_error());
    EXPECT(on == 3000 && out && !memcmp(out, data, on), "members: %zu bytes", on);
    free(out);
    put(&b, 'x');
    expect_gz_error(b.p, b.n, "trailing garbage", "garbage after members");
    free(b.p);
}

static void test_gunzip_fixed_huffman(void) {
    uint8_t expect[64];
    size_t n;
    Buf b = {0};
    gz_fixed(&b, 0, expect, &n);
    uint8_t *out = NULL;
    size_t on = 0;
    EXPECT(gunzip(b.p, b.n, &out, &on) == SEI_OK, "%s", sei_last_error());
    EXPECT(on == n && out && !memcmp(out, expect, n), "decoded %zu bytes: '%.*s'", on, (int)on, out ? (char *)out : "");
    free(out);
    free(b.p);
    Buf f = {0};
    gz_fixed(&f, 1, expect, &n);
    expect_gz_error(f.p, f.n, "too far back", "distance before the start");
    free(f.p);
    Buf two = {0}; /* distances may not reach into an earlier member either */
    gz_stored(&two, (const uint8_t *)"0123456789", 10, 0, 100);
    gz_fixed(&two, 1, expect, &n);
    expect_gz_error(two.p, two.n, "too far back", "distance into the previous member");
    free(two.p);
}

static void test_gunzip_malformed(void) {
    uint8_t data[500];
    for (int i = 0; i < 500; i++) data[i] = (uint8_t)(i % 13);
    Buf g = {0};
    gz_stored(&g, data, sizeof data, 0, 65535);
    uint8_t *m = malloc(g.n);
#define MUTATE(stmt, want, what) do { memcpy(m, g.p, g.n); stmt; expect_gz_error(m, g.n, want, what); } while (0)
    MUTATE(m[0] = 0x1e, "magic", "bad magic");
    MUTATE(m[2] = 7, "method", "bad method");
    MUTATE(m[3] = 0x80, "reserved", "reserved flag");
    MUTATE((m[3] = 4, m[10] = m[11] = 0xff), "truncated gzip header", "FEXTRA past the end");
    MUTATE(m[11] ^= 1, "complement", "stored LEN/NLEN");
    MUTATE(m[g.n - 8] ^= 1, "CRC", "CRC-32");
    MUTATE(m[g.n - 4] ^= 1, "length mismatch", "ISIZE");
    MUTATE(m[10] = 7, "block type", "block type 3");
#undef MUTATE
    free(m);
    free(g.p);
    expect_gz_error(data, 0, "truncated", "empty input");
    /* dynamic block whose 19 code-length codes all have length 1 */
    Buf d = {0};
    gz_header(&d, 0);
    put_bits(&d, 1, 1), put_bits(&d, 2, 2), put_bits(&d, 0, 5), put_bits(&d, 0, 5), put_bits(&d, 15, 4);
    for (int i = 0; i < 19; i++) put_bits(&d, 1, 3);
    flush_bits(&d);
    put_le(&d, 0, 4), put_le(&d, 0, 4);
    expect_gz_error(d.p, d.n, "over-subscribed", "over-subscribed code");
    free(d.p);
    /* dynamic block: HLIT 287 symbols */
    Buf h = {0};
    gz_header(&h, 0);
    put_bits(&h, 1, 1), put_bits(&h, 2, 2), put_bits(&h, 30, 5), put_bits(&h, 0, 5), put_bits(&h, 0, 4);
    flush_bits(&h);
    put_le(&h, 0, 4), put_le(&h, 0, 4);
    expect_gz_error(h.p, h.n, "too many", "HLIT 287");
    free(h.p);
}

/* `gzip -9 -n` of fmnist_text(): one dynamic-Huffman block, so that path is covered even
 * where no gzip tool is installed */
static const uint8_t DYN_GZ[180] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x6d, 0xd0,
    0x5b, 0x0a, 0x42, 0x21, 0x10, 0xc6, 0xf1, 0xf7, 0x56, 0x31, 0x1b, 0x88,
    0x9a, 0xe9, 0x3e, 0x6f, 0x5d, 0x16, 0x10, 0xd4, 0x06, 0x3c, 0x24, 0x15,
    0x67, 0xd0, 0x50, 0x4f, 0xeb, 0xcf, 0xc2, 0x0e, 0x78, 0x79, 0xfc, 0x7f,
    0xa0, 0xfe, 0x50, 0x54, 0xa7, 0x05, 0xe6, 0x0c, 0xd7, 0xa9, 0x7f, 0x3c,
    0x5d, 0x98, 0x05, 0xfb, 0x9a, 0xc8, 0x6f, 0xc4, 0x38, 0x3a, 0x3b, 0x78,
    0xed, 0xd2, 0x40, 0x0c, 0xe7, 0x41, 0xc4, 0xbe, 0xc7, 0x65, 0xc1, 0x70,
    0x72, 0xda, 0xfb, 0x94, 0x4b, 0x86, 0xa3, 0x55, 0x21, 0xd5, 0x8a, 0xe1,
    0xa2, 0xcc, 0x4d, 0x49, 0xea, 0x75, 0xec, 0xef, 0x13, 0x29, 0x37, 0x31,
    0x8d, 0x56, 0xfd, 0x78, 0xd9, 0x96, 0xe1, 0xa0, 0xee, 0x29, 0x76, 0x0c,
    0x7b, 0xd3, 0x8b, 0x86, 0xce, 0xda, 0xff, 0x09, 0x6c, 0x33, 0x2b, 0x27,
    0xd6, 0x50, 0x2c, 0xa4, 0x98, 0x53, 0xb1, 0xb4, 0x62, 0x81, 0xc5, 0x4a,
    0x8b, 0x19, 0x17, 0x5b, 0x5e, 0x6a, 0x7a, 0xa9, 0xfe, 0xd7, 0xda, 0x4b,
    0x85, 0x97, 0x72, 0x2f, 0x95, 0x5e, 0x2a, 0xbc, 0x54, 0x79, 0x29, 0xf3,
    0x52, 0xee, 0xfd, 0x00, 0xf8, 0x40, 0x01, 0xad, 0x06, 0x02, 0x00, 0x00};

static size_t fmnist_text(char *t) {
    static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    size_t n = 0;
    for (int i = 0; i < 30; i++) n += (size_t)sprintf(t + n, "label %d: %s\n", i, names[i % 10]);
    return n;
}

static void test_gunzip_dynamic_huffman(void) {
    char text[1024];
    size_t n = fmnist_text(text), on = 0;
    uint8_t *out = NULL;
    EXPECT(((DYN_GZ[10] >> 1) & 3) == 2, "blob's first block is not dynamic");
    EXPECT(gunzip(DYN_GZ, sizeof DYN_GZ, &out, &on) == SEI_OK, "%s", sei_last_error());
    EXPECT(on == n && out && !memcmp(out, text, n), "decoded %zu bytes, want %zu", on, n);
    free(out);
}

/* every proper prefix of a member is reported as truncated */
static void test_gunzip_every_truncation(void) {
    uint8_t data[2000], expect[64];
    for (int i = 0; i < 2000; i++) data[i] = (uint8_t)("the quick brown fox "[i % 20] + i / 400);
    Buf files[4] = {{0}, {0}, {0}, {0}};
    size_t n;
    gz_stored(&files[0], data, 300, 4 | 8 | 16 | 2, 100);
    gz_fixed(&files[1], 0, expect, &n);
    for (size_t i = 0; i < sizeof DYN_GZ; i++) put(&files[2], DYN_GZ[i]);
    int nf = 3;
    if (have_gzip()) {
        write_bytes(tpath("fox"), data, sizeof data);
        if (sys_gzip(tpath("fox"), tpath("fox.gz"), 9) == 0) {
            files[3].p = read_bytes(tpath("fox.gz"), &files[3].n);
            nf = 4;
        }
    }
    for (int f = 0; f < nf; f++) {
        int bad = 0;
        for (size_t cut = 0; cut < files[f].n && bad < 3; cut++) {
            uint8_t *cp = malloc(cut ? cut : 1), *out = NULL;
            memcpy(cp, files[f].p, cut);
            size_t on = 0;
            sei_status s = gunzip(cp, cut, &out, &on);
            if (s != SEI_ERR_FORMAT || !strstr(sei_last_error(), "truncated")) {
                bad++;
                EXPECT(0, "file %d cut at %zu/%zu: status %d, '%s'", f, cut, files[f].n, (int)s, sei_last_error());
            }
            if (!s) free(out);
            free(cp);
        }
        free(files[f].p);
    }
}

/* flip random bytes of a real gzip of ~100 KB of structured data: decode or fail cleanly */
static void test_gunzip_corruption_loop(void) {
    if (!have_gzip()) SKIP("gzip not installed");
    size_t n = 100 * 1024;
    uint8_t *src = malloc(n);
    size_t k = 0;
    for (int img = 0; k < n; img++) { /* text records interleaved with image-like ramps */
        k += (size_t)snprintf((char *)src + k, n - k, "image %d label %d size 28x28\n", img, img % 10);
        for (int y = 0; y < 28 && k < n; y++)
            for (int x = 0; x < 28 && k < n; x++) src[k++] = (uint8_t)((x - 14) * (x - 14) + (y - 14) * (y - 14) < 40 + img % 50 ? 200 + (x ^ y) % 50 : 0);
    }
    write_bytes(tpath("struct"), src, n);
    EXPECT(sys_gzip(tpath("struct"), tpath("struct.gz"), 6) == 0, "gzip failed");
    size_t gn = 0;
    uint8_t *gz = read_bytes(tpath("struct.gz"), &gn), *work = malloc(gn);
    uint8_t *out = NULL;
    size_t on = 0;
    EXPECT(gz && gunzip(gz, gn, &out, &on) == SEI_OK && on == n && !memcmp(out, src, n), "clean decode: %s", sei_last_error());
    free(out);
    int ok = 0, failed = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(work, gz, gn);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++) work[rnd() % gn] ^= (uint8_t)(1 + rnd() % 255);
        size_t len = it % 5 == 4 ? rnd() % gn : gn;
        out = NULL;
        sei_status s = gunzip(work, len, &out, &on);
        if (s == SEI_OK) ok++, free(out);
        else failed++;
        EXPECT(s == SEI_OK || (s == SEI_ERR_FORMAT && !strncmp(sei_last_error(), "gunzip: ", 8) && !out),
               "iteration %d: status %d '%s'", it, (int)s, sei_last_error());
    }
    printf("  info: corruption loop: %d decoded (flips only in unchecked header bytes), %d rejected cleanly\n", ok, failed);
    free(work);
    free(gz);
    free(src);
}

/* ------------------------------------------------------------ IDX files */

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint8_t pixel(int i, int y, int x) { return (uint8_t)(i * 7 + y * 31 + x * 5); }

/* NAME-images / NAME-labels: n images of r x c, labels i % k; images file cut to `img_bytes`
 * when nonzero; labels file holds `nlab` labels (header says so too) */
static void make_idx(const char *name, int n, int r, int c, int k, size_t img_bytes, int nlab,
                     uint32_t magic) {
    size_t sz = 16 + (size_t)n * r * c;
    uint8_t *b = malloc(sz), *l = malloc(8 + (size_t)nlab);
    put_be32(b, magic), put_be32(b + 4, (uint32_t)n), put_be32(b + 8, (uint32_t)r), put_be32(b + 12, (uint32_t)c);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < r; y++)
            for (int x = 0; x < c; x++) b[16 + ((size_t)i * r + y) * c + x] = pixel(i, y, x);
    put_be32(l, 0x801), put_be32(l + 4, (uint32_t)nlab);
    for (int i = 0; i < nlab; i++) l[8 + i] = (uint8_t)(i % k);
    char p[128];
    snprintf(p, sizeof p, "%s-images", name);
    write_bytes(tpath(p), b, img_bytes ? img_bytes : sz);
    snprintf(p, sizeof p, "%s-labels", name);
    write_bytes(tpath(p), l, 8 + (size_t)nlab);
    free(b);
    free(l);
}

static sei_status load(Dataset *d, const char *img, const char *lab, int limit) {
    char ip[256], lp[256];
    snprintf(ip, sizeof ip, "%s", tpath(img));
    snprintf(lp, sizeof lp, "%s", tpath(lab));
    return idx_load(d, ip, lp, limit);
}

/* images [from, from+count) of make_idx's pattern sit at d's [at, at+count) */
static int matches(const Dataset *d, int at, int from, int count, int k) {
    for (int i = 0; i < count; i++) {
        if (d->labels[at + i] != (from + i) % k) return 0;
        for (int y = 0; y < d->h; y++)
            for (int x = 0; x < d->w; x++)
                if (d->pix[((size_t)(at + i) * d->h + y) * d->w + x] != pixel(from + i, y, x)) return 0;
    }
    return 1;
}

static void test_idx_plain(void) {
    make_idx("a", 23, 5, 7, 6, 0, 23, 0x803);
    Dataset d;
    ds_init(&d, 1, 5, 7);
    sei_status s = load(&d, "a-images", "a-labels", 0);
    EXPECT(s == SEI_OK, "%s", sei_last_error());
    EXPECT(d.n == 23 && d.nclasses == 6, "n %d classes %d", d.n, d.nclasses);
    EXPECT(d.nclasses == 6 && !strcmp(d.class_names[0], "0") && !strcmp(d.class_names[5], "5"), "class names");
    EXPECT(matches(&d, 0, 0, 23, 6), "pixels or labels differ");
    s = load(&d, "a-images", "a-labels", 4); /* appends; limit stops after 4 */
    EXPECT(s == SEI_OK && d.n == 27 && matches(&d, 23, 0, 4, 6), "limit: n %d: %s", d.n, sei_last_error());
    ds_free(&d);
    /* classes come from the whole file even under a limit; preset classes are kept */
    ds_init(&d, 1, 5, 7);
    EXPECT(load(&d, "a-images", "a-labels", 2) == SEI_OK && d.nclasses == 6, "limit classes %d", d.nclasses);
    ds_free(&d);
    ds_init(&d, 1, 5, 7);
    ds_set_classes(&d, 8, NULL);
    EXPECT(load(&d, "a-images", "a-labels", 0) == SEI_OK && d.nclasses == 8, "preset classes %d", d.nclasses);
    ds_free(&d);
    ds_init(&d, 1, 5, 7);
    ds_set_classes(&d, 4, NULL);
    s = load(&d, "a-images", "a-labels", 0);
    EXPECT(s == SEI_ERR_FORMAT && strstr(sei_last_error(), "classes") && d.n == 0, "label 5 of 4 classes: %d %s", (int)s, sei_last_error());
    EXPECT(load(&d, "a-images", "a-labels", 4) == SEI_OK && d.n == 4, "labels 0..3 fit: %s", sei_last_error());
    ds_free(&d);
    /* a colour data set replicates the grey plane */
    ds_init(&d, 3, 5, 7);
    EXPECT(load(&d, "a-images", "a-labels", 3) == SEI_OK && d.n == 3, "rgb: %s", sei_last_error());
    EXPECT(d.n == 3 && d.pix[2 * 35 + 3] == pixel(0, 0, 3) && d.pix[3 * 35 + 35 + 7] == pixel(1, 1, 0), "rgb pixels");
    ds_free(&d);
}

static void test_idx_gz_system(void) {
    if (!have_gzip()) SKIP("gzip not installed");
    make_idx("b", 40, 9, 4, 10, 0, 40, 0x803);
    EXPECT(sys_gzip(tpath("b-images"), tpath("b-images.gz"), 9) == 0, "gzip");
    EXPECT(sys_gzip(tpath("b-labels"), tpath("b-labels.gz"), 1) == 0, "gzip");
    Dataset d;
    ds_init(&d, 1, 9, 4);
    sei_status s = load(&d, "b-images.gz", "b-labels.gz", 0);
    EXPECT(s == SEI_OK && d.n == 40 && d.nclasses == 10 && matches(&d, 0, 0, 40, 10), "gz: n %d: %s", d.n, sei_last_error());
    s = load(&d, "b-images.gz", "b-labels", 0); /* mixed plain and gz */
    EXPECT(s == SEI_OK && d.n == 80 && matches(&d, 40, 0, 40, 10), "mixed: %s", sei_last_error());
    ds_free(&d);
    /* a system-gzip member followed by a hand-built one */
    size_t n1, n2;
    uint8_t *gz = read_bytes(tpath("b-images.gz"), &n1), *raw = read_bytes(tpath("b-images"), &n2);
    Buf b = {0};
    for (size_t i = 0; i < n1; i++) put(&b, gz[i]);
    gz_stored(&b, raw, n2, 8, 1000);
    uint8_t *out = NULL;
    size_t on = 0;
    EXPECT(gunzip(b.p, b.n, &out, &on) == SEI_OK && on == 2 * n2 && !memcmp(out, raw, n2) && !memcmp(out + n2, raw, n2),
           "system + stored members: %zu bytes: %s", on, sei_last_error());
    free(out);
    free(b.p);
    free(gz);
    free(raw);
}

static void test_idx_gz_stored(void) {
    make_idx("c", 30, 6, 6, 3, 0, 30, 0x803);
    const char *names[2] = {"c-images", "c-labels"};
    for (int f = 0; f < 2; f++) {
        size_t n;
        uint8_t *raw = read_bytes(tpath(names[f]), &n);
        Buf b = {0};
        gz_stored(&b, raw, n, 4 | 8 | 16 | 2, 333);
        char p[64];
        snprintf(p, sizeof p, "%s.gz", names[f]);
        write_bytes(tpath(p), b.p, b.n);
        free(b.p);
        free(raw);
    }
    Dataset d;
    ds_init(&d, 1, 6, 6);
    sei_status s = load(&d, "c-images.gz", "c-labels.gz", 0);
    EXPECT(s == SEI_OK && d.n == 30 && d.nclasses == 3 && matches(&d, 0, 0, 30, 3), "stored gz: %s", sei_last_error());
    ds_free(&d);
}

/* idx_load must fail with `code` and a message containing `want`, leaving d->n alone */
static void expect_load_error(Dataset *d, const char *img, const char *lab, sei_status code,
                              const char *want) {
    int n0 = d->n;
    sei_status s = load(d, img, lab, 0);
    EXPECT(s == code, "%s/%s: status %d, '%s'", img, lab, (int)s, sei_last_error());
    EXPECT(strstr(sei_last_error(), want), "%s/%s: message '%s' lacks '%s'", img, lab, sei_last_error(), want);
    EXPECT(d->n == n0, "%s/%s: d->n %d, was %d", img, lab, d->n, n0);
}

static void test_idx_errors(void) {
    make_idx("g", 12, 4, 4, 10, 0, 12, 0x803);
    make_idx("t", 12, 4, 4, 10, 16 + 5 * 16 + 3, 12, 0x803); /* 5 whole images + 3 bytes */
    make_idx("m", 12, 4, 4, 10, 0, 12, 0x801);
    make_idx("l", 12, 4, 4, 10, 0, 11, 0x803);
    make_idx("e", 12, 4, 4, 10, 0, 12, 0x803);
    uint8_t extra[16 + 12 * 16 + 2] = {0};
    size_t n;
    uint8_t *good = read_bytes(tpath("g-images"), &n);
    memcpy(extra, good, n);
    write_bytes(tpath("e-images"), extra, sizeof extra);
    write_bytes(tpath("short-images"), good, 10);
    Buf b = {0};
    gz_stored(&b, good, n, 0, 50);
    write_bytes(tpath("cut.gz"), b.p, b.n / 2);
    b.p[b.n - 6] ^= 0x10; /* CRC-32 field */
    write_bytes(tpath("crc.gz"), b.p, b.n);
    free(b.p);
    free(good);
    Dataset d;
    ds_init(&d, 1, 4, 4);
    EXPECT(load(&d, "g-images", "g-labels", 5) == SEI_OK && d.n == 5, "good: %s", sei_last_error());
    expect_load_error(&d, "t-images", "t-labels", SEI_ERR_FORMAT, "truncated: header says 12 images of 4x4");
    EXPECT(strstr(sei_last_error(), "5 whole images"), "'%s'", sei_last_error());
    expect_load_error(&d, "short-images", "g-labels", SEI_ERR_FORMAT, "truncated");
    expect_load_error(&d, "m-images", "m-labels", SEI_ERR_FORMAT, "magic");
    expect_load_error(&d, "g-labels", "g-labels", SEI_ERR_FORMAT, "magic");
    expect_load_error(&d, "g-images", "g-images", SEI_ERR_FORMAT, "magic");
    expect_load_error(&d, "l-images", "l-labels", SEI_ERR_FORMAT, "11 labels");
    expect_load_error(&d, "e-images", "e-labels", SEI_ERR_FORMAT, "2 bytes after");
    expect_load_error(&d, "cut.gz", "g-labels", SEI_ERR_FORMAT, "truncated");
    expect_load_error(&d, "crc.gz", "g-labels", SEI_ERR_FORMAT, "CRC");
    EXPECT(strstr(sei_last_error(), "crc.gz"), "message names the file: '%s'", sei_last_error());
    expect_load_error(&d, "nonexistent", "g-labels", SEI_ERR_IO, "No such file");
    expect_load_error(&d, "g-images", "nonexistent", SEI_ERR_IO, "nonexistent");
    EXPECT(matches(&d, 0, 0, 5, 10), "earlier images disturbed");
    ds_free(&d);
}

static void test_fashion_mnist(void) {
    struct stat sb;
    if (stat(FMNIST "t10k-images-idx3-ubyte.gz", &sb) != 0) SKIP("dataset-fashion-mnist not installed");
    Dataset d;
    ds_init(&d, 1, 28, 28);
    sei_status s = idx_load(&d, FMNIST "t10k-images-idx3-ubyte.gz", FMNIST "t10k-labels-idx1-ubyte.gz", 0);
    EXPECT(s == SEI_OK, "%s", sei_last_error());
    EXPECT(d.n == 10000 && d.nclasses == 10, "n %d classes %d", d.n, d.nclasses);
    int hist[10] = {0}, bad = 0;
    for (int i = 0; i < d.n; i++)
        if (d.labels[i] >= 0 && d.labels[i] < 10) hist[d.labels[i]]++;
        else bad++;
    for (int k = 0; k < 10; k++) EXPECT(hist[k] == 1000, "class %d has %d images", k, hist[k]);
    EXPECT(!bad, "%d labels out of range", bad);
    ds_free(&d);
    size_t n = 0, on = 0;
    uint8_t *gz = read_bytes(FMNIST "train-images-idx3-ubyte.gz", &n), *out = NULL;
    if (!gz || !n) return;
    double t0 = sei_now();
    s = gunzip(gz, n, &out, &on);
    double dt = sei_now() - t0;
    EXPECT(s == SEI_OK && on == 16 + 60000u * 784, "train images: %zu bytes: %s", on, sei_last_error());
    printf("  info: gunzip train-images-idx3-ubyte.gz: %.1f MB -> %.1f MB in %.3f s = %.0f MB/s (output)\n",
           n / 1e6, on / 1e6, dt, on / 1e6 / dt);
    free(out);
    free(gz);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/sei_idx_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_gunzip_stored_headers);
    RUN(test_gunzip_fixed_huffman);
    RUN(test_gunzip_dynamic_huffman);
    RUN(test_gunzip_malformed);
    RUN(test_gunzip_every_truncation);
    RUN(test_gunzip_corruption_loop);
    RUN(test_idx_plain);
    RUN(test_idx_gz_system);
    RUN(test_idx_gz_stored);
    RUN(test_idx_errors);
    RUN(test_fashion_mnist);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_summary();
}
