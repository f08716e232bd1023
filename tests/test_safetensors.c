/* test_safetensors.c - safetensors reader/writer: round trips of every dtype, escaped names,
 * exact half-precision decoding, each malformed-header error, a deterministic corruption
 * loop (meant for the SAN=1 build) and the writer's atomic tmp+rename behaviour.
 * Files go to a fresh directory under /tmp that is removed at the end. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/safetensors.h"
#include "tests/harness.h"
#include "tests/scratch.h"

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* whole file into a malloc'd buffer; *n its size */
static unsigned char *read_bytes(const char *p, size_t *n) {
    FILE *fp = fopen(p, "rb");
    *n = 0;
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b) *n = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    return b;
}

/* [u64 N = hlen_override or strlen(hdr)][hdr][ndata zero bytes] */
static void make_file(const char *p, const char *hdr, size_t ndata, uint64_t hlen_override) {
    size_t h = strlen(hdr);
    uint64_t n = hlen_override ? hlen_override : h;
    unsigned char *b = calloc(8 + h + ndata + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, hdr, h);
    write_bytes(p, b, 8 + h + ndata);
    free(b);
}

static void test_dtype_table(void) {
    const char *names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    const size_t sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
    for (int d = 0; d < 10; d++) {
        EXPECT(!strcmp(st_dtype_name((StDtype)d), names[d]), "dtype %d name %s", d, st_dtype_name((StDtype)d));
        EXPECT(st_dtype_size((StDtype)d) == sizes[d], "dtype %s size", names[d]);
    }
    EXPECT(st_dtype_size((StDtype)99) == 0, "bad dtype has size 0");
}

static void test_roundtrip_all_dtypes(void) {
    /* values every dtype can hold exactly: small integers and a few halves */
    const double vals[6] = {0, 1, -2, 3, 100, -1};
    float f32[6]; double f64[6]; uint16_t f16[6], bf16[6];
    int64_t i64[6]; int32_t i32[6]; int16_t i16[6]; int8_t i8[6]; uint8_t u8[6], b8[6];
    const uint16_t half_bits[6] = {0x0000, 0x3c00, 0xc000, 0x4200, 0x5640, 0xbc00};
    for (int i = 0; i < 6; i++) {
        f32[i] = (float)vals[i]; f64[i] = vals[i]; f16[i] = half_bits[i];
        uint32_t fb; memcpy(&fb, &f32[i], 4); bf16[i] = (uint16_t)(fb >> 16);
        i64[i] = (int64_t)vals[i]; i32[i] = (int32_t)vals[i]; i16[i] = (int16_t)vals[i];
        i8[i] = (int8_t)vals[i]; u8[i] = (uint8_t)(vals[i] < 0 ? 200 : vals[i]); b8[i] = vals[i] != 0;
    }
    const void *data[10] = {f32, f16, bf16, f64, i64, i32, i16, i8, u8, b8};
    const char *names[10] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool"};
    int64_t shape[2] = {2, 3};
    StWriter w;
    st_writer_init(&w);
    for (int d = 0; d < 10; d++)
        EXPECT(st_add(&w, names[d], (StDtype)d, 2, shape, data[d]) == SEI_OK, "add %s: %s", names[d], sei_last_error());
    EXPECT(st_add_meta(&w, "format", "pt") == SEI_OK, "meta");
    EXPECT(st_add_meta(&w, "note", "x\"y\\z\n\xc3\xa9") == SEI_OK, "meta");
    EXPECT(st_add_meta(&w, "format", "sei") == SEI_OK, "meta overwrite");
    const char *p = tpath("all.safetensors");
    EXPECT(st_write(&w, p) == SEI_OK, "write: %s", sei_last_error());
    st_writer_free(&w);
    size_t nb;
    unsigned char *raw = read_bytes(p, &nb);
    uint64_t hl = 0;
    for (int i = 7; raw && nb >= 8 && i >= 0; i--) hl = (hl << 8) | raw[i];
    EXPECT(hl % 8 == 0 && raw && raw[8] == '{', "header padded to 8 (len %llu)", (unsigned long long)hl);
    free(raw);

    StFile f;
    EXPECT(st_open(&f, p) == SEI_OK, "open: %s", sei_last_error());
    EXPECT(f.n == 10 && f.nmeta == 2, "n %d nmeta %d", f.n, f.nmeta);
    EXPECT(st_meta(&f, "format") && !strcmp(st_meta(&f, "format"), "sei"), "meta format");
    EXPECT(st_meta(&f, "note") && !strcmp(st_meta(&f, "note"), "x\"y\\z\n\xc3\xa9"), "meta note");
    EXPECT(st_meta(&f, "nope") == NULL, "absent meta");
    for (int d = 0; d < 10; d++) {
        const StEntry *e = st_find(&f, names[d]);
        EXPECT(e && e->dtype == (StDtype)d && e->ndim == 2 && e->shape[0] == 2 && e->shape[1] == 3, "%s entry", names[d]);
        if (!e) continue;
        EXPECT(st_numel(e) == 6 && e->nbytes == 6 * st_dtype_size((StDtype)d), "%s size", names[d]);
        EXPECT(!memcmp(f.data + e->offset, data[d], e->nbytes), "%s raw bytes", names[d]);
        float got[6];
        int64_t gi[6];
        EXPECT(st_read_f32(&f, e, got, 6) == SEI_OK, "%s read_f32", names[d]);
        EXPECT(st_read_i64(&f, e, gi, 6) == SEI_OK, "%s read_i64: %s", names[d], sei_last_error());
        for (int i = 0; i < 6; i++) {
            double want = d == ST_U8 ? (vals[i] < 0 ? 200 : vals[i]) : d == ST_BOOL ? (vals[i] != 0) : vals[i];
            EXPECT(got[i] == (float)want && gi[i] == (int64_t)want, "%s[%d] = %g / %lld, want %g", names[d], i,
                   got[i], (long long)gi[i], want);
        }
        EXPECT(st_read_f32(&f, e, got, 5) == SEI_ERR_ARG, "%s wrong n", names[d]);
    }
    float back[6];
    EXPECT(st_read_f32(&f, st_find(&f, "f64"), back, 6) == SEI_OK && rel_err(back, f32, 6, 1) == 0, "f64 -> f32");
    EXPECT(st_find(&f, "nope") == NULL, "absent tensor");
    st_close(&f);
}

static void test_escaped_names(void) {
    const char *names[] = {"a\"b", "back\\slash", "caf\xc3\xa9", "emoji \xf0\x9f\x98\x80", "tab\tnl\n",
                           "/slash", "", "\x7f"};
    const int n = (int)(sizeof names / sizeof names[0]);
    float v[8];
    StWriter w;
    st_writer_init(&w);
    for (int i = 0; i < n; i++) {
        v[i] = (float)i;
        EXPECT(st_add(&w, names[i], ST_F32, 0, NULL, &v[i]) == SEI_OK, "add %d: %s", i, sei_last_error());
    }
    const char *p = tpath("names.safetensors");
    EXPECT(st_write(&w, p) == SEI_OK, "write: %s", sei_last_error());
    st_writer_free(&w);
    StFile f;
    EXPECT(st_open(&f, p) == SEI_OK, "open: %s", sei_last_error());
    for (int i = 0; i < n; i++) {
        const StEntry *e = st_find(&f, names[i]);
        float x = -1;
        EXPECT(e && st_read_f32(&f, e, &x, 1) == SEI_OK && x == (float)i, "name %d round trip", i);
    }
    st_close(&f);
    /* escapes the writer never emits: \u with surrogate pair, \/ and uppercase hex */
    make_file(p, "{\"\\ud83d\\ude00\\u00E9\\/\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, 0);
    EXPECT(st_open(&f, p) == SEI_OK, "open escapes: %s", sei_last_error());
    EXPECT(st_find(&f, "\xf0\x9f\x98\x80\xc3\xa9/") != NULL, "surrogate pair decoded to UTF-8");
    st_close(&f);
}

static void test_scalar_and_empty(void) {
    float s = 3.5f, dummy = 0;
    int64_t sh0[2] = {0, 3}, sh1[3] = {4, 0, 2};
    StWriter w;
    st_writer_init(&w);
    EXPECT(st_add(&w, "scalar", ST_F32, 0, NULL, &s) == SEI_OK, "scalar");
    EXPECT(st_add(&w, "empty", ST_F32, 2, sh0, NULL) == SEI_OK, "empty: %s", sei_last_error());
    EXPECT(st_add(&w, "empty2", ST_I64, 3, sh1, &dummy) == SEI_OK, "empty2");
    const char *p = tpath("scalar.safetensors");
    EXPECT(st_write(&w, p) == SEI_OK, "write: %s", sei_last_error());
    st_writer_free(&w);
    StFile f;
    EXPECT(st_open(&f, p) == SEI_OK, "open: %s", sei_last_error());
    const StEntry *e = st_find(&f, "scalar");
    float x = 0;
    EXPECT(e && e->ndim == 0 && st_numel(e) == 1 && st_read_f32(&f, e, &x, 1) == SEI_OK && x == 3.5f, "scalar");
    e = st_find(&f, "empty");
    EXPECT(e && e->ndim == 2 && st_numel(e) == 0 && e->nbytes == 0 && st_read_f32(&f, e, NULL, 0) == SEI_OK, "empty");
    Tensor t;
    memset(&t, 0, sizeof t);
    t.data = &x;
    x = 0;
    EXPECT(st_load_tensor(&f, "scalar", &t) == SEI_OK && x == 3.5f, "load scalar: %s", sei_last_error());
    e = st_find(&f, "empty2");
    EXPECT(e && st_numel(e) == 0 && st_read_i64(&f, e, NULL, 0) == SEI_OK, "empty2");
    st_close(&f);
    /* a file with no tensors at all */
    st_writer_init(&w);
    EXPECT(st_write(&w, p) == SEI_OK && st_open(&f, p) == SEI_OK && f.n == 0, "empty file");
    st_close(&f);
}

/* reference half decoding by arithmetic, independent of the bit tricks under test */
static double half_ref(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double s = (h & 0x8000) ? -1 : 1;
    if (e == 31) return m ? NAN : s * INFINITY;
    return e ? s * ldexp(1024 + m, e - 25) : s * ldexp(m, -24);
}

static void test_f16_exact(void) {
    static uint16_t all[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    int64_t sh = 65536;
    StWriter w;
    st_writer_init(&w);
    st_add(&w, "h", ST_F16, 1, &sh, all);
    const char *p = tpath("f16.safetensors");
    EXPECT(st_write(&w, p) == SEI_OK, "write");
    st_writer_free(&w);
    StFile f;
    EXPECT(st_open(&f, p) == SEI_OK, "open: %s", sei_last_error());
    static float got[65536];
    const StEntry *e = st_find(&f, "h");
    EXPECT(e && st_read_f32(&f, e, got, 65536) == SEI_OK, "read");
    int bad = 0;
    for (int i = 0; i < 65536 && e; i++) {
        double r = half_ref((uint16_t)i);
        int same = isnan(r) ? isnan(got[i]) : (got[i] == r && !signbit(got[i]) == !signbit(r));
        if (!same && bad++ < 5) EXPECT(0, "half 0x%04x -> %.9g, want %.9g", i, got[i], r);
    }
    /* spot values written out, in case the reference shares a mistake */
    struct { uint16_t h; float v; } tab[] = {
        {0x0001, 0x1p-24f}, {0x03ff, 1023 * 0x1p-24f}, {0x0400, 0x1p-14f}, {0x3c00, 1.0f}, {0xc000, -2.0f},
        {0x7bff, 65504.0f}, {0x3555, 0.333251953125f}, {0x8001, -0x1p-24f}, {0x3bff, 0.99951171875f}};
    for (size_t i = 0; e && i < sizeof tab / sizeof tab[0]; i++)
        EXPECT(got[tab[i].h] == tab[i].v, "half 0x%04x -> %.9g, want %.9g", tab[i].h, got[tab[i].h], tab[i].v);
    EXPECT(e && isinf(got[0x7c00]) && got[0x7c00] > 0 && isinf(got[0xfc00]) && got[0xfc00] < 0, "inf");
    EXPECT(e && isnan(got[0x7e00]) && isnan(got[0x7c01]) && isnan(got[0xfe00]), "nan");
    EXPECT(e && got[0x8000] == 0 && signbit(got[0x8000]) && !signbit(got[0]), "-0");
    st_close(&f);
}

static void test_read_i64_floats(void) {
    float v[4] = {1, -3, 1e10f, 0.5f}, nan1 = NAN, big = 1e19f;
    int64_t sh = 3, one = 1;
    StWriter w;
    st_writer_init(&w);
    st_add(&w, "ok", ST_F32, 1, &sh, v);
    st_add(&w, "half", ST_F32, 1, &one, &v[3]);
    st_add(&w, "nan", ST_F32, 1, &one, &nan1);
    st_add(&w, "big", ST_F32, 1, &one, &big);
    const char *p = tpath("i64.safetensors");
    EXPECT(st_write(&w, p) == SEI_OK, "write");
    st_writer_free(&w);
    StFile f;
    EXPECT(st_open(&f, p) == SEI_OK, "open");
    int64_t out[3];
    EXPECT(st_read_i64(&f, st_find(&f, "ok"), out, 3) == SEI_OK && out[0] == 1 && out[1] == -3 &&
               out[2] == 10000000000LL, "integral floats");
    EXPECT(st_read_i64(&f, st_find(&f, "half"), out, 1) == SEI_ERR_NUMERIC, "0.5 rejected");
    EXPECT(strstr(sei_last_error(), "'half'") != NULL, "message names tensor: %s", sei_last_error());
    EXPECT(st_read_i64(&f, st_find(&f, "nan"), out, 1) == SEI_ERR_NUMERIC, "nan rejected");
    EXPECT(st_read_i64(&f, st_find(&f, "big"), out, 1) == SEI_ERR_NUMERIC, "1e19 rejected");
    EXPECT(st_read_i64(&f, NULL, out, 1) == SEI_ERR_ARG, "NULL entry");
    st_close(&f);
}

static void test_load_tensor(void) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {0};
    Tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "layer.w");
    int shape[2] = {2, 3};
    tensor_set_shape(&t, 2, shape);
    t.data = a;
    StWriter w;
    st_writer_init(&w);
    EXPECT(st_add_tensor(&w, &t) == SEI_OK, "add_tensor");
    const char *p = tpath("load.safetensors");
    EXPECT(st_write(&w, p) == SEI_OK, "write");
    st_writer_free(&w);
    StFile f;
    EXPECT(st_open(&f, p) == SEI_OK, "open");
    t.data = b;
    EXPECT(st_load_tensor(&f, "layer.w", &t) == SEI_OK && !memcmp(a, b, sizeof a), "load");
    char want[512];
    snprintf(want, sizeof want, "%s: tensor 'nope' is missing", p);
    EXPECT(st_load_tensor(&f, "nope", &t) == SEI_ERR_MISSING && !strcmp(sei_last_error(), want), "missing: %s",
           sei_last_error());
    int s2[2] = {3, 2};
    tensor_set_shape(&t, 2, s2);
    snprintf(want, sizeof want, "%s: tensor 'layer.w' has shape [2,3], expected [3,2]", p);
    EXPECT(st_load_tensor(&f, "layer.w", &t) == SEI_ERR_SHAPE && !strcmp(sei_last_error(), want), "shape: %s",
           sei_last_error());
    int s3[3] = {2, 3, 1};
    tensor_set_shape(&t, 3, s3);
    EXPECT(st_load_tensor(&f, "layer.w", &t) == SEI_ERR_SHAPE, "ndim mismatch");
    st_close(&f);
}

static void test_malformed(void) {
    struct { const char *hdr; size_t ndata; uint64_t hlen; sei_status st; const char *msg; } cases[] = {
        {"{}", 0, 1u << 20, SEI_ERR_FORMAT, "exceeds the file size"},
        {"{}", 0, (uint64_t)1 << 60, SEI_ERR_FORMAT, "not plausible"},
        {"{\"a\":1", 0, 0, SEI_ERR_FORMAT, "not valid JSON"},
        {"{\"a\":{},}", 0, 0, SEI_ERR_FORMAT, "not valid JSON"},
        {"{\"a\\q\":{}}", 0, 0, SEI_ERR_FORMAT, "invalid escape"},
        {"{\"\\ud800x\":{}}", 0, 0, SEI_ERR_FORMAT, "surrogate"},
        {"{\"\\udc00\":{}}", 0, 0, SEI_ERR_FORMAT, "surrogate"},
        {"{\"\xc3\x28\":{}}", 0, 0, SEI_ERR_FORMAT, "UTF-8"},
        {"{\"\xc0\xaf\":{}}", 0, 0, SEI_ERR_FORMAT, "UTF-8"},
        {"{\"a\nb\":{}}", 0, 0, SEI_ERR_FORMAT, "control character"},
        {"{} x", 0, 0, SEI_ERR_FORMAT, "trailing"},
        {"{\"a\":01}", 0, 0, SEI_ERR_FORMAT, "not valid JSON"},
        {"[1,2]", 0, 0, SEI_ERR_FORMAT, "not a JSON object"},
        {"{\"w1\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, SEI_ERR_FORMAT, "'w1': unknown dtype F8"},
        {"{\"w2\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0, SEI_ERR_FORMAT, "'w2': shape entry 0"},
        {"{\"w3\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, 0, SEI_ERR_FORMAT, "'w3': shape"},
        {"{\"w4\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 0, SEI_ERR_FORMAT, "'w4': shape has 9 dims"},
        {"{\"w5\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, 0, SEI_ERR_FORMAT, "'w5': data_offsets [0, 8] outside"},
        {"{\"w6\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0, SEI_ERR_FORMAT, "'w6': data_offsets"},
        {"{\"w7\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0, SEI_ERR_FORMAT, "'w7': 8 bytes of data"},
        {"{\"w8\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, 0, SEI_ERR_FORMAT, "'w8'"},
        {"{\"w9\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4, 0, SEI_ERR_FORMAT, "'w9': data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, SEI_ERR_FORMAT, "'a' and 'b' overlap"},
        {"{\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, SEI_ERR_FORMAT, "duplicate tensor name 'd'"},
        {"{\"__metadata__\":{\"k1\":3}}", 0, 0, SEI_ERR_FORMAT, "metadata 'k1' is not a string"},
        {"{\"__metadata__\":[]}", 0, 0, SEI_ERR_FORMAT, "__metadata__ is not an object"},
        {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, 0, SEI_ERR_FORMAT, "duplicate metadata key 'k'"},
        {"{\"m1\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, SEI_ERR_FORMAT, "'m1': missing dtype"},
        {"{\"m2\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, 0, SEI_ERR_FORMAT, "'m2': unknown key 'x'"},
        {"{\"m3\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, SEI_ERR_FORMAT, "'m3': duplicate key"},
        {"{\"m4\":[]}", 0, 0, SEI_ERR_FORMAT, "'m4': entry is not an object"},
        {"{\"m5\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, 0, SEI_ERR_FORMAT, "'m5': data_offsets"},
        {"{\"n\\u0000x\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, 0, SEI_ERR_FORMAT, "NUL"},
        {"{\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
         "\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, 0, SEI_OK, ""},
    };
    const char *p = tpath("bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_file(p, cases[i].hdr, cases[i].ndata, cases[i].hlen);
        StFile f;
        sei_status st = st_open(&f, p);
        EXPECT(st == cases[i].st, "case %zu: status %s, want %s (%s)", i, sei_status_name(st),
               sei_status_name(cases[i].st), st ? sei_last_error() : "");
        if (st) {
            EXPECT(strstr(sei_last_error(), cases[i].msg) && strstr(sei_last_error(), p) && !strchr(sei_last_error(), '\n'),
                   "case %zu: message '%s' lacks '%s'", i, sei_last_error(), cases[i].msg);
            EXPECT(f.n == 0 && f.mem_ == NULL && f.entries == NULL, "case %zu: StFile not cleared", i);
        }
        st_close(&f);
    }
    /* a zero header length and a file shorter than the length prefix */
    make_file(p, "", 16, 0);
    StFile f;
    EXPECT(st_open(&f, p) == SEI_ERR_FORMAT && strstr(sei_last_error(), "not plausible"), "N == 0: %s", sei_last_error());
    write_bytes(p, "\x02\0\0", 3);
    EXPECT(st_open(&f, p) == SEI_ERR_FORMAT && strstr(sei_last_error(), "too short"), "short: %s", sei_last_error());
    EXPECT(st_open(&f, tpath("does-not-exist")) == SEI_ERR_IO && strstr(sei_last_error(), "does-not-exist"), "missing file");
    EXPECT(st_open(&f, g_dir) == SEI_ERR_IO, "directory: %s", sei_last_error());
    EXPECT(st_open(NULL, p) == SEI_ERR_ARG && st_open(&f, NULL) == SEI_ERR_ARG, "NULL args");
    st_close(&f);
    st_close(&f); /* twice is harmless */
    StFile z;
    memset(&z, 0, sizeof z);
    st_close(&z);
    st_close(NULL);
}

/* opens whatever is at p and, if it parses, reads every tensor both ways */
static void open_and_read_all(const char *p) {
    StFile f;
    if (st_open(&f, p) != SEI_OK) {
        EXPECT(f.mem_ == NULL && f.n == 0, "failed open left state behind");
        return;
    }
    for (int i = 0; i < f.n; i++) {
        size_t n = st_numel(&f.entries[i]);
        float *a = malloc((n ? n : 1) * sizeof *a);
        int64_t *b = malloc((n ? n : 1) * sizeof *b);
        EXPECT(st_read_f32(&f, &f.entries[i], a, n) == SEI_OK, "read_f32 of a valid entry");
        st_read_i64(&f, &f.entries[i], b, n);
        free(a);
        free(b);
    }
    st_close(&f);
}

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void test_corruption_loop(void) {
    int64_t s1[2] = {3, 2}, s2 = 4, s0 = 0;
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[4] = {0x3c00, 0x7c00, 0x0001, 0xfe00};
    int64_t q[4] = {-1, 0, 1, 1LL << 40};
    StWriter w;
    st_writer_init(&w);
    st_add(&w, "w\"\\\xc3\xa9", ST_F32, 2, s1, a);
    st_add(&w, "h", ST_F16, 1, &s2, h);
    st_add(&w, "q", ST_I64, 1, &s2, q);
    st_add(&w, "e", ST_U8, 1, &s0, NULL);
    st_add_meta(&w, "k", "v");
    const char *good = tpath("good.safetensors"), *p = tpath("corrupt.safetensors");
    EXPECT(st_write(&w, good) == SEI_OK, "write");
    st_writer_free(&w);
    size_t n;
    unsigned char *orig = read_bytes(good, &n), *buf = malloc(n + 64);
    if (!orig || !buf) { free(orig); free(buf); SKIP("cannot read back"); }
    const unsigned char pats[] = {0x01, 0x80, 0xff, 0x20};
    const char repl[] = "\"}]{[,:0-9e\\u";
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof pats; k++) {
            memcpy(buf, orig, n);
            buf[i] ^= pats[k];
            write_bytes(p, buf, n);
            open_and_read_all(p);
        }
        for (size_t k = 0; k < sizeof repl - 1; k++) {
            if (i < 8 || orig[i] == (unsigned char)repl[k]) continue;
            memcpy(buf, orig, n);
            buf[i] = (unsigned char)repl[k];
            write_bytes(p, buf, n);
            open_and_read_all(p);
        }
        write_bytes(p, orig, i); /* truncated at i */
        open_and_read_all(p);
    }
    /* random headers from a JSON-heavy alphabet, with true and false lengths */
    const char alpha[] = "{}[]\",:0123456789-.eE\\u tnrfalsdypFI8BOL_";
    uint32_t seed = 12345;
    for (int it = 0; it < 3000; it++) {
        size_t hl = 1 + lcg(&seed) % 60, dl = lcg(&seed) % 16;
        uint64_t N = (it % 4 == 0) ? lcg(&seed) % 80 : hl;
        for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(N >> (8 * i));
        for (size_t i = 0; i < hl + dl && 8 + i < n + 64; i++)
            buf[8 + i] = (unsigned char)(it % 3 == 0 ? lcg(&seed) : (uint32_t)alpha[lcg(&seed) % (sizeof alpha - 1)]);
        write_bytes(p, buf, 8 + hl + dl < n + 64 ? 8 + hl + dl : n + 64);
        open_and_read_all(p);
    }
    free(orig);
    free(buf);
}

/* bytes laid out as Python's json.dumps + struct.pack('<Q') produce them: ", " and ": "
 * separators, \u escapes for non-ASCII, space padding, metadata last */
static void test_python_layout(void) {
    static const char hdr[] =
        "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, "
        "\"h\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [16, 22]}, "
        "\"caf\\u00e9\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [22, 30]}, "
        "\"__metadata__\": {\"format\": \"pt\"}}";
    static const unsigned char data[30] = {
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0xc0, /* 1 2 3 -4 */
        0x00, 0x38, 0x00, 0x7c, 0x01, 0x00,                                                             /* .5 inf 2^-24 */
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};                                                /* -2 */
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    unsigned char *b = malloc(8 + padded + sizeof data);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, hdr, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    memcpy(b + 8 + padded, data, sizeof data);
    const char *p = tpath("python.safetensors");
    write_bytes(p, b, 8 + padded + sizeof data);
    free(b);
    StFile f;
    EXPECT(st_open(&f, p) == SEI_OK, "open: %s", sei_last_error());
    float w[4], h[3];
    int64_t c = 0;
    EXPECT(st_read_f32(&f, st_find(&f, "w"), w, 4) == SEI_OK && w[0] == 1 && w[1] == 2 && w[2] == 3 && w[3] == -4, "w");
    EXPECT(st_read_f32(&f, st_find(&f, "h"), h, 3) == SEI_OK && h[0] == 0.5f && isinf(h[1]) && h[2] == 0x1p-24f, "h");
    EXPECT(st_read_i64(&f, st_find(&f, "caf\xc3\xa9"), &c, 1) == SEI_OK && c == -2, "caf\\u00e9");
    EXPECT(st_meta(&f, "format") && !strcmp(st_meta(&f, "format"), "pt"), "metadata");
    st_close(&f);
}

static void test_writer_args(void) {
    StWriter w;
    st_writer_init(&w);
    float x = 0;
    int64_t neg = -1, big[2] = {INT64_MAX, 4};
    EXPECT(st_add(&w, NULL, ST_F32, 0, NULL, &x) == SEI_ERR_ARG, "NULL name");
    EXPECT(st_add(&w, "a", (StDtype)42, 0, NULL, &x) == SEI_ERR_ARG, "bad dtype");
    EXPECT(st_add(&w, "a", ST_F32, 9, big, &x) == SEI_ERR_ARG, "ndim 9");
    EXPECT(st_add(&w, "a", ST_F32, 1, &neg, &x) == SEI_ERR_ARG, "negative dim");
    EXPECT(st_add(&w, "a", ST_F32, 2, big, &x) == SEI_ERR_ARG, "size overflow");
    EXPECT(st_add(&w, "a", ST_F32, 0, NULL, NULL) == SEI_ERR_ARG, "NULL data");
    EXPECT(st_add(&w, "__metadata__", ST_F32, 0, NULL, &x) == SEI_ERR_ARG, "reserved name");
    EXPECT(st_add(&w, "bad\xff", ST_F32, 0, NULL, &x) == SEI_ERR_ARG, "invalid UTF-8 name");
    EXPECT(st_add(&w, "a", ST_F32, 0, NULL, &x) == SEI_OK, "first a");
    EXPECT(st_add(&w, "a", ST_F32, 0, NULL, &x) == SEI_ERR_ARG && strstr(sei_last_error(), "'a'"), "duplicate");
    EXPECT(st_add_meta(&w, "k", NULL) == SEI_ERR_ARG, "NULL meta value");
    Tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = 5;
    EXPECT(st_add_tensor(&w, &t) == SEI_ERR_ARG, "tensor ndim 5");
    memset(t.name, 'n', sizeof t.name); /* no terminator: must not overrun */
    t.ndim = 0;
    t.data = &x;
    EXPECT(st_add_tensor(&w, &t) == SEI_OK && w.n == 2 && strlen(w.entries[1].name) == SEI_NAME_LEN, "long name");
    for (int i = 0; i < 100; i++) { /* growth past the first capacity */
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        EXPECT(st_add(&w, name, ST_F32, 0, NULL, &x) == SEI_OK, "add %d", i);
        EXPECT(st_add_meta(&w, name, "v") == SEI_OK, "meta %d", i);
    }
    EXPECT(w.n == 102 && w.nmeta == 100, "counts");
    st_writer_free(&w);
    st_writer_free(&w);
    EXPECT(st_write(NULL, "x") == SEI_ERR_ARG, "NULL writer");
}

static void test_writer_failures(void) {
    float x = 1, y = 2;
    StWriter w;
    st_writer_init(&w);
    st_add(&w, "x", ST_F32, 0, NULL, &x);
    char p[300];
    snprintf(p, sizeof p, "%s/no/such/dir/out.safetensors", g_dir);
    EXPECT(st_write(&w, p) == SEI_ERR_IO && strstr(sei_last_error(), p), "missing dir: %s", sei_last_error());
    snprintf(p, sizeof p, "%s/no/such/dir/out.safetensors.tmp", g_dir);
    EXPECT(!exists(p), "no tmp left");
    /* rename onto a directory fails after the tmp was fully written */
    const char *d = tpath("adir");
    mkdir(d, 0755);
    EXPECT(st_write(&w, d) == SEI_ERR_IO, "rename over a directory");
    snprintf(p, sizeof p, "%s.tmp", d);
    EXPECT(!exists(p), "tmp removed after failed rename");
    rmdir(d);
    /* overwrite: new content, no tmp */
    const char *out = tpath("over.safetensors");
    EXPECT(st_write(&w, out) == SEI_OK, "first write");
    st_writer_free(&w);
    st_writer_init(&w);
    st_add(&w, "y", ST_F32, 0, NULL, &y);
    EXPECT(st_write(&w, out) == SEI_OK, "overwrite");
    st_writer_free(&w);
    snprintf(p, sizeof p, "%s.tmp", out);
    StFile f;
    EXPECT(!exists(p) && st_open(&f, out) == SEI_OK && st_find(&f, "y") && !st_find(&f, "x"), "new content");
    st_close(&f);
    /* a write that runs out of space (file size limit) leaves the old file intact */
    static float big[1 << 16];
    int64_t n = 1 << 16;
    st_writer_init(&w);
    st_add(&w, "big", ST_F32, 1, &n, big);
    struct rlimit old, lim;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) { st_writer_free(&w); SKIP("getrlimit"); }
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        sei_status st = st_write(&w, out);
        setrlimit(RLIMIT_FSIZE, &old);
        EXPECT(st == SEI_ERR_IO && strstr(sei_last_error(), out), "disk full: %s", sei_last_error());
        EXPECT(!exists(p), "tmp removed after failed write");
        EXPECT(st_open(&f, out) == SEI_OK && st_find(&f, "y") && f.n == 1, "old file intact");
        st_close(&f);
    }
    signal(SIGXFSZ, prev);
    st_writer_free(&w);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/sei_st_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_dtype_table);
    RUN(test_roundtrip_all_dtypes);
    RUN(test_escaped_names);
    RUN(test_scalar_and_empty);
    RUN(test_f16_exact);
    RUN(test_read_i64_floats);
    RUN(test_load_tensor);
    RUN(test_malformed);
    RUN(test_corruption_loop);
    RUN(test_python_layout);
    RUN(test_writer_args);
    RUN(test_writer_failures);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_summary();
}
