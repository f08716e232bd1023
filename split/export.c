/* export.c - device parts as kernels/mcu.c programs, int8 calibration, and the C99 writer
 * (see export.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/half.h"
#include "kernels/ops.h"
#include "nets/sparsity.h"
#include "split/export.h"

/* per op, beside McuOp: the op producing its input (-1: the program input), whether it
 * writes float logits, and for an MCU_ADD the op producing its second input. Where each
 * output lives in the arena is decided at the end (plan) from these. */
typedef struct { int src, logits, src2; } OpInfo;

/* the bookkeeping export.h's McuProgram leaves out, kept in its first owned block */
typedef struct { OpInfo *info; } Extra;

static OpInfo *info_of(const McuProgram *p) { return ((Extra *)p->blocks[0])->info; }

static sei_status finite_check(const float *v, size_t n, const char *path);

/* weights per output channel of a conv or linear op */
static size_t row_len(const McuOp *op) {
    if (op->kind == MCU_LINEAR) return (size_t)(op->sparse ? op->per_row : op->c);
    if (op->sparse == MCU_DENSE) return (size_t)(op->c / op->groups) * (size_t)(op->k * op->k);
    return (size_t)op->per_row * (op->sparse == MCU_SPARSE_CHANNEL ? (size_t)(op->k * op->k) : 1);
}

static void *own(McuProgram *p, size_t bytes) {
    if (p->nblocks == p->capblocks) {
        int c = p->capblocks ? 2 * p->capblocks : 32;
        void **b = realloc(p->blocks, sizeof *b * (size_t)c);
        if (!b) return NULL;
        p->blocks = b, p->capblocks = c;
    }
    void *q = calloc(1, bytes ? bytes : 1);
    if (q) p->blocks[p->nblocks++] = q;
    return q;
}

/* a copy of bytes of constants that p owns and counts */
static void *own_copy(McuProgram *p, const void *src, size_t bytes) {
    void *q = own(p, bytes);
    if (q) memcpy(q, src, bytes), p->const_bytes += bytes;
    return q;
}

static sei_status prog_init(McuProgram *p, int type) {
    memset(p, 0, sizeof *p);
    p->type = type;
    Extra *e = own(p, sizeof *e);
    return e ? SEI_OK : sei_fail(SEI_ERR_NOMEM, "export: out of memory");
}

void export_free(McuProgram *p) {
    if (p->blocks && p->nblocks) free(info_of(p));
    for (int i = 0; i < p->nblocks; i++) free(p->blocks[i]);
    free(p->blocks), free(p->ops), free(p->path);
    memset(p, 0, sizeof *p);
}

static McuOp *add_op(McuProgram *p, int kind, const char *path, OpInfo inf) {
    if (p->nops == p->cap) {
        int c = p->cap ? 2 * p->cap : 32;
        McuOp *o = realloc(p->ops, sizeof *o * (size_t)c);
        char(*pa)[SEI_NAME_LEN] = realloc(p->path, sizeof *pa * (size_t)c);
        if (o) p->ops = o;
        if (pa) p->path = pa;
        OpInfo *in = o && pa ? realloc(info_of(p), sizeof *in * (size_t)c) : NULL;
        if (!in) return NULL;
        ((Extra *)p->blocks[0])->info = in;
        p->cap = c;
    }
    McuOp *op = &p->ops[p->nops];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    snprintf(p->path[p->nops], SEI_NAME_LEN, "%s", path);
    info_of(p)[p->nops] = inf;
    p->nops++;
    return op;
}

/* ---------------------------------------------------------------- lowering */

typedef struct {
    McuProgram *p;
    const Net *net;
    int c, h, w;        /* current activation */
    int cur_op;         /* the op producing it (-1: the program input) */
    int with_exits;
    float tau;
    int wire;           /* a wire layer seen: its MCU_WIRE_* format, else -1 */
} Low;

static const float *pdata(const Net *net, int idx) { return idx >= 0 ? net->params[idx].v.t.data : NULL; }

/* a new op of this sequence reading the current activation and writing [c, h, w] */
static McuOp *emit(Low *L, int kind, const char *path, int oc, int oh, int ow) {
    McuOp *op = add_op(L->p, kind, path, (OpInfo){L->cur_op, 0, -1});
    if (!op) return NULL;
    op->c = L->c, op->h = L->h, op->w = L->w, op->oc = oc, op->oh = oh, op->ow = ow;
    L->c = oc, L->h = oh, L->w = ow, L->cur_op = L->p->nops - 1;
    return op;
}

static sei_status lower_conv(Low *L, const Layer *l, const Layer *bn, int relu) {
    const Net *net = L->net;
    if (l->in_c != L->c)
        return sei_fail(SEI_ERR_SHAPE, "export: %s takes %d channels, gets %d", l->path, l->in_c, L->c);
    const int oh = (L->h + 2 * l->pad - l->k) / l->stride + 1, ow = (L->w + 2 * l->pad - l->k) / l->stride + 1;
    if (oh < 1 || ow < 1) return sei_fail(SEI_ERR_SHAPE, "export: %s: empty output at %dx%d", l->path, L->h, L->w);
    const Param *wp = &net->params[l->w];
    const SparsePattern *sp = wp->sp;
    const int kk = l->k * l->k, cg = l->in_c / l->groups, oc = l->out_c;
    McuOp *op = emit(L, MCU_CONV, l->path, oc, oh, ow);
    if (!op) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    op->k = l->k, op->stride = l->stride, op->pad = l->pad, op->groups = l->groups, op->relu = relu;
    const float *W = wp->v.t.data, *B = pdata(net, l->b);
    int n = cg * kk; /* weights per output channel */
    int32_t *pos = NULL; /* weight-sparse: each kept weight's position in the dense row */
    if (sp && (sp->kind == SPARSE_CHANNEL || sp->kind == SPARSE_WEIGHT)) {
        if (l->groups != 1) return sei_fail(SEI_ERR_ARG, "export: %s: sparse grouped conv", l->path);
        op->sparse = sp->kind == SPARSE_CHANNEL ? MCU_SPARSE_CHANNEL : MCU_SPARSE_WEIGHT;
        op->per_row = sp->per_row;
        n = sp->per_row * (sp->kind == SPARSE_CHANNEL ? kk : 1);
        if ((long)l->in_c * kk > 65535) return sei_fail(SEI_ERR_ARG, "export: %s: indices beyond 16 bits", l->path);
        const long ni = (long)oc * sp->per_row;
        uint16_t *idx = own(L->p, sizeof *idx * (size_t)ni);
        if (!idx) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
        L->p->const_bytes += sizeof *idx * (size_t)ni;
        if (sp->kind == SPARSE_CHANNEL)
            for (long i = 0; i < ni; i++) idx[i] = (uint16_t)sp->index[i];
        else { /* grouped by kernel position: idx the input channels, pos the dense positions */
            uint16_t *tap = own(L->p, sizeof *tap * (size_t)oc * (kk + 1));
            pos = malloc(sizeof *pos * (size_t)ni);
            if (!tap || !pos) return free(pos), sei_fail(SEI_ERR_NOMEM, "export: out of memory");
            L->p->const_bytes += sizeof *tap * (size_t)oc * (kk + 1);
            for (int o = 0; o < oc; o++) {
                const int32_t *pi = sp->index + (long)o * sp->per_row;
                uint16_t *t = tap + (long)o * (kk + 1);
                int m = 0;
                for (int r = 0; r < kk; r++) {
                    t[r] = (uint16_t)m;
                    for (int j = 0; j < sp->per_row; j++)
                        if (pi[j] % kk == r) pos[(long)o * sp->per_row + m] = pi[j], idx[(long)o * sp->per_row + m++] = (uint16_t)(pi[j] / kk);
                }
                t[kk] = (uint16_t)m;
            }
            op->tap = tap;
        }
        op->idx = idx;
        if (sp->kind == SPARSE_WEIGHT && l->in_c <= 256) { /* the channels fit a byte: half the index */
            uint8_t *i8 = own(L->p, (size_t)ni);
            if (!i8) return free(pos), sei_fail(SEI_ERR_NOMEM, "export: out of memory");
            for (long i = 0; i < ni; i++) i8[i] = (uint8_t)idx[i];
            op->idx8 = i8, op->idx = NULL;
            L->p->const_bytes -= sizeof *idx * (size_t)ni - (size_t)ni;
        }
    }
    float *w = own(L->p, sizeof *w * (size_t)oc * n), *b = own(L->p, sizeof *b * (size_t)oc);
    if (!w || !b) return free(pos), sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    for (int o = 0; o < oc; o++) {
        double a = 1, shift = B ? B[o] : 0;
        if (bn) { /* fold: (conv + bias - mean) * gamma / sqrt(var + eps) + beta */
            const float *g = pdata(net, bn->w), *be = pdata(net, bn->b), *rm = pdata(net, bn->rm), *rv = pdata(net, bn->rv);
            a = (g ? g[o] : 1.0) / sqrt((double)rv[o] + bn->eps);
            shift = (shift - rm[o]) * a + (be ? be[o] : 0.0);
        }
        b[o] = (float)shift;
        const float *wo = W + (size_t)o * cg * kk;
        for (int j = 0; j < n; j++) {
            int src = j; /* position in the dense row */
            if (op->sparse == MCU_SPARSE_CHANNEL) src = op->idx[o * op->per_row + j / kk] * kk + j % kk;
            else if (op->sparse == MCU_SPARSE_WEIGHT) src = pos[o * op->per_row + j];
            w[(size_t)o * n + j] = (float)(wo[src] * a);
        }
    }
    free(pos);
    op->weight = w, op->bias = b;
    L->p->const_bytes += sizeof(float) * ((size_t)oc * n + oc);
    sei_status s = finite_check(w, (size_t)oc * n, l->path); /* also after folding batch norm */
    return s ? s : finite_check(b, (size_t)oc, l->path);
}

static sei_status lower_linear(Low *L, const Layer *l, int relu) {
    const int in = L->c * L->h * L->w;
    if (l->in_c != in) return sei_fail(SEI_ERR_SHAPE, "export: %s takes %d features, gets %d", l->path, l->in_c, in);
    const Param *wp = &L->net->params[l->w];
    L->c = in, L->h = L->w = 1;
    McuOp *op = emit(L, MCU_LINEAR, l->path, l->out_c, 1, 1);
    if (!op) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    op->relu = relu;
    int n = in;
    if (wp->sp && wp->sp->kind == SPARSE_BIREGULAR) {
        if (in > 65535) return sei_fail(SEI_ERR_ARG, "export: %s: indices beyond 16 bits", l->path);
        op->sparse = MCU_SPARSE_WEIGHT, op->per_row = n = wp->sp->per_row;
        uint16_t *idx = own(L->p, sizeof *idx * (size_t)l->out_c * n);
        if (!idx) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
        for (long i = 0; i < (long)l->out_c * n; i++) idx[i] = (uint16_t)wp->sp->index[i];
        op->idx = idx;
        L->p->const_bytes += sizeof *idx * (size_t)l->out_c * n;
    }
    float *w = own(L->p, sizeof *w * (size_t)l->out_c * n), *b = own(L->p, sizeof *b * (size_t)l->out_c);
    if (!w || !b) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    const float *W = wp->v.t.data, *B = pdata(L->net, l->b);
    for (int o = 0; o < l->out_c; o++) {
        b[o] = B ? B[o] : 0.0f;
        for (int j = 0; j < n; j++) w[(size_t)o * n + j] = W[(size_t)o * in + (op->sparse ? op->idx[o * n + j] : j)];
    }
    op->weight = w, op->bias = b;
    L->p->const_bytes += sizeof(float) * ((size_t)l->out_c * n + l->out_c);
    sei_status s = finite_check(w, (size_t)l->out_c * n, l->path);
    return s ? s : finite_check(b, (size_t)l->out_c, l->path);
}

static sei_status lower_seq(Low *L, const Layer *ls, int from, int to);

/* a ResNet bottleneck: conv1, conv2, conv3 from its input x, the downsample conv of x if
 * any, then conv3's output += x or the downsample's, and ReLU (in place) */
static sei_status lower_bottleneck(Low *L, const Layer *l) {
    const int x_op = L->cur_op, xc = L->c, xh = L->h, xw = L->w;
    if (l->in_c != L->c)
        return sei_fail(SEI_ERR_SHAPE, "export: %s takes %d channels, gets %d", l->path, l->in_c, L->c);
    sei_status s = lower_conv(L, &l->sub[0], &l->sub[1], 1);
    if (!s) s = lower_conv(L, &l->sub[2], &l->sub[3], 1);
    if (!s) s = lower_conv(L, &l->sub[4], &l->sub[5], 0);
    if (s) return s;
    const int y_op = L->cur_op, c = L->c, h = L->h, w = L->w;
    int id_op = x_op;
    if (l->nsub == 8) {
        L->cur_op = x_op, L->c = xc, L->h = xh, L->w = xw;
        s = lower_conv(L, &l->sub[6], &l->sub[7], 0);
        if (s) return s;
        id_op = L->cur_op;
    }
    if (L->c != c || L->h != h || L->w != w)
        return sei_fail(SEI_ERR_SHAPE, "export: %s: the residual is %dx%dx%d, the block %dx%dx%d", l->path, L->c,
                        L->h, L->w, c, h, w);
    McuOp *op = add_op(L->p, MCU_ADD, l->path, (OpInfo){y_op, 0, id_op});
    if (!op) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    op->c = op->oc = c, op->h = op->oh = h, op->w = op->ow = w, op->relu = 1;
    L->c = c, L->h = h, L->w = w, L->cur_op = L->p->nops - 1;
    return SEI_OK;
}

static sei_status lower_exit(Low *L, const Layer *l) {
    if (!L->with_exits) return SEI_OK;
    Low B = *L; /* the branch starts from the main path's activation, which goes on after it */
    const int at = L->p->nops;
    McuOp *op = add_op(L->p, MCU_EXIT, l->path, (OpInfo){L->cur_op, 0, -1});
    if (!op) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    op->tau = L->tau;
    sei_status s = lower_seq(&B, l->sub, 0, l->nsub);
    if (s) return s;
    McuOp *last = &L->p->ops[L->p->nops - 1];
    if (L->p->nops == at + 1 || last->kind != MCU_LINEAR)
        return sei_fail(SEI_ERR_ARG, "export: exit %s does not end in a linear classifier", l->path);
    info_of(L->p)[L->p->nops - 1].logits = 1;
    L->p->ops[at].nsub = L->p->nops - at - 1;
    L->p->nexits++;
    return SEI_OK;
}

static sei_status lower_seq(Low *L, const Layer *ls, int from, int to) {
    for (int i = from; i < to; i++) {
        const Layer *l = &ls[i];
        sei_status s = SEI_OK;
        switch (l->kind) {
        case L_CONV: {
            const Layer *bn = i + 1 < to && ls[i + 1].kind == L_BN ? &ls[i + 1] : NULL;
            const int r = i + 1 + (bn != NULL);
            const int relu = r < to && ls[r].kind == L_RELU;
            s = lower_conv(L, l, bn, relu);
            i = r - 1 + relu;
            break;
        }
        case L_LINEAR: {
            const int relu = i + 1 < to && ls[i + 1].kind == L_RELU;
            s = lower_linear(L, l, relu);
            i += relu;
            break;
        }
        case L_MAXPOOL: {
            const int oh = (L->h + 2 * l->pad - l->k) / l->stride + 1, ow = (L->w + 2 * l->pad - l->k) / l->stride + 1;
            if (oh < 1 || ow < 1) return sei_fail(SEI_ERR_SHAPE, "export: %s: empty output", l->path);
            McuOp *op = emit(L, MCU_MAXPOOL, l->path, L->c, oh, ow);
            if (!op) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
            op->k = l->k, op->stride = l->stride, op->pad = l->pad;
            break;
        }
        case L_ADAPTIVE_AVGPOOL:
            if (!emit(L, MCU_AVGPOOL, l->path, L->c, l->oh, l->ow)) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
            break;
        case L_FLATTEN:
        case L_DROPOUT: /* eval mode: the identity; [C][H][W] is already flat */
            break;
        case L_EXIT: s = lower_exit(L, l); break;
        case L_BOTTLENECK: s = lower_bottleneck(L, l); break;
        case L_WIRE: L->wire = l->wire == WIRE_FP16 ? MCU_WIRE_FP16 : l->wire == WIRE_INT8 ? MCU_WIRE_INT8 : MCU_WIRE_FP32; break;
        case L_RELU: return sei_fail(SEI_ERR_ARG, "export: %s: a ReLU that follows no conv or linear layer", l->path);
        case L_BN: return sei_fail(SEI_ERR_ARG, "export: %s: a batch norm that follows no conv", l->path);
        default:
            return sei_fail(SEI_ERR_ARG, "export: %s (a transposed conv) is not supported by the C exporter yet (conv, "
                            "batch norm, ReLU, max / adaptive average pool, linear, ResNet bottlenecks, exits and the wire are)",
                            l->path);
        }
        if (s) return s;
    }
    return SEI_OK;
}

/* does op i write an activation into the arena (an exit decides, the wire writes the payload) */
static int writes_arena(const McuOp *op) { return op->kind != MCU_EXIT && op->kind != MCU_WIRE; }

/* Arena offsets from the activations' lifetimes. Each writing op makes a buffer, except an
 * add, which writes into its first input's; a buffer lives from the op that makes it to the
 * last op that reads it (an exit reads its branch's logits). Greedy by size, largest first:
 * each at the lowest offset clear of every placed buffer whose lifetime meets its own. */
static sei_status plan(McuProgram *p) {
    const OpInfo *inf = info_of(p);
    const int n = p->nops;
    int *buf = malloc(sizeof *buf * (size_t)n), *end = malloc(sizeof *end * (size_t)n), *order = malloc(sizeof *order * (size_t)n);
    size_t *bytes = calloc((size_t)n, sizeof *bytes), *off = calloc((size_t)n, sizeof *off);
    if (!buf || !end || !order || !bytes || !off) {
        free(buf), free(end), free(order), free(bytes), free(off);
        return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    }
    for (int i = 0; i < n; i++) {
        const McuOp *op = &p->ops[i];
        buf[i] = !writes_arena(op) ? -1 : op->kind == MCU_ADD && inf[i].src >= 0 ? buf[inf[i].src] : i;
        end[i] = i;
        if (buf[i] >= 0) {
            const size_t es = p->type == MCU_F32 || inf[i].logits ? 4 : 1;
            const size_t b = ((size_t)op->oc * op->oh * op->ow * es + 15) & ~(size_t)15;
            if (b > bytes[buf[i]]) bytes[buf[i]] = b;
        }
    }
    for (int i = 0; i < n; i++) { /* lifetimes: the last reader of each buffer */
        const int r[3] = {inf[i].src, p->ops[i].kind == MCU_ADD ? inf[i].src2 : -1,
                          p->ops[i].kind == MCU_EXIT ? i + p->ops[i].nsub : -1};
        for (int k = 0; k < 3; k++)
            if (r[k] >= 0 && buf[r[k]] >= 0 && end[buf[r[k]]] < i) end[buf[r[k]]] = i;
        if (buf[i] >= 0 && end[buf[i]] < i) end[buf[i]] = i;
    }
    int nb = 0;
    for (int i = 0; i < n; i++)
        if (buf[i] == i) order[nb++] = i;
    for (int a = 1; a < nb; a++) /* largest first (insertion sort: programs are short) */
        for (int b = a; b > 0 && bytes[order[b]] > bytes[order[b - 1]]; b--) {
            const int t = order[b];
            order[b] = order[b - 1], order[b - 1] = t;
        }
    p->arena_bytes = 0;
    for (int a = 0; a < nb; a++) {
        const int u = order[a];
        size_t at = 0;
        for (int moved = 1; moved;) { /* step past every placed buffer it would overlap */
            moved = 0;
            for (int b = 0; b < a; b++) {
                const int v = order[b];
                if (end[v] < u || end[u] < v) continue; /* lifetimes [u, end[u]] and [v, end[v]] apart */
                if (at < off[v] + bytes[v] && off[v] < at + bytes[u]) at = off[v] + bytes[v], moved = 1;
            }
        }
        off[u] = at;
        if (at + bytes[u] > p->arena_bytes) p->arena_bytes = at + bytes[u];
    }
    for (int i = 0; i < n; i++) {
        McuOp *op = &p->ops[i];
        const int s = inf[i].src;
        op->in = s < 0 || buf[s] < 0 ? -1 : (int32_t)off[buf[s]];
        op->out = buf[i] < 0 ? 0 : (int32_t)off[buf[i]];
        if (op->kind == MCU_ADD) op->in2 = inf[i].src2 < 0 ? -1 : (int32_t)off[buf[inf[i].src2]];
    }
    free(buf), free(end), free(order), free(bytes), free(off);
    return SEI_OK;
}

sei_status export_lower(const Net *net, int from, int to, int size, int with_exits, float tau, McuProgram *p) {
    sei_status s = prog_init(p, MCU_F32);
    if (s) return s;
    Low L = {p, net, net->in_ch, size, size, -1, with_exits, tau, -1};
    p->in_c = net->in_ch, p->in_h = p->in_w = size;
    s = lower_seq(&L, net->layers, from, to);
    if (!s && p->nops == 0) s = sei_fail(SEI_ERR_ARG, "export: the part has no layers to run");
    if (!s) {
        McuOp *op = add_op(p, MCU_WIRE, "wire", (OpInfo){L.cur_op, 0, -1});
        if (!op) s = sei_fail(SEI_ERR_NOMEM, "export: out of memory");
        else {
            op->c = op->oc = L.c, op->h = op->oh = L.h, op->w = op->ow = L.w;
            op->wire = L.wire < 0 ? MCU_WIRE_FP32 : L.wire;
            p->out_c = L.c, p->out_h = L.h, p->out_w = L.w, p->wire = op->wire;
        }
    }
    if (!s) s = plan(p);
    if (s) export_free(p);
    return s;
}

/* ---------------------------------------------------------------- int8 */

void export_quantize_input(const float *x, size_t n, float s, int8_t *q) {
    for (size_t i = 0; i < n; i++) {
        float v = s > 0.0f && !isnan(x[i]) ? nearbyintf(x[i] / s) : 0.0f; /* NaN: 0, as on the device */
        q[i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
    }
}

/* m / 2^shift = M, m in [2^30, 2^31), shift in [1, 62]; M too small for that: m = 0 */
static sei_status multiplier(double M, int32_t *m, int8_t *shift, const char *path) {
    if (!(M > 0)) { *m = 0, *shift = 1; return SEI_OK; }
    int e;
    const double f = frexp(M, &e); /* M = f 2^e, f in [0.5, 1) */
    long long q = llround(f * 2147483648.0);
    if (q == 2147483648LL) q /= 2, e++;
    const int sh = 31 - e;
    if (sh > 62) { *m = 0, *shift = 1; return SEI_OK; }
    if (sh < 1) return sei_fail(SEI_ERR_NUMERIC, "export: %s: requantisation factor %g is too large for int8", path, M);
    *m = (int32_t)q, *shift = (int8_t)sh;
    return SEI_OK;
}

static float absmax(const float *x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* quantise op i of f (a conv or linear) into op q->ops[i], input scale si, output so */
static sei_status quantize_weights(const McuProgram *f, int i, float si, float so, McuProgram *q) {
    const McuOp *a = &f->ops[i];
    McuOp *op = &q->ops[i];
    const int logits = info_of(f)[i].logits;
    const size_t n = row_len(a);
    const float *W = a->weight, *B = a->bias;
    int8_t *w = own(q, n * (size_t)a->oc), *sh = own(q, (size_t)a->oc);
    int32_t *b = own(q, sizeof *b * (size_t)a->oc), *m = own(q, sizeof *m * (size_t)a->oc);
    float *deq = logits ? own(q, sizeof *deq * (size_t)a->oc) : NULL;
    if (!w || !sh || !b || !m || (logits && !deq)) return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    sei_status fs = finite_check(W, n * (size_t)a->oc, f->path[i]);
    if (!fs && B) fs = finite_check(B, (size_t)a->oc, f->path[i]);
    if (fs) return fs;
    for (int o = 0; o < a->oc; o++) {
        const float *wo = W + (size_t)o * n;
        float sw = absmax(wo, n) / 127.0f;
        if (!(sw > 0)) sw = 1.0f;
        for (size_t j = 0; j < n; j++) {
            const float v = nearbyintf(wo[j] / sw);
            w[(size_t)o * n + j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        const double acc_scale = (double)si * sw;
        const double bq = B ? nearbyint(B[o] / acc_scale) : 0.0;
        b[o] = (int32_t)(bq > 2147483647.0 ? 2147483647.0 : bq < -2147483647.0 ? -2147483647.0 : bq);
        if (logits) deq[o] = (float)acc_scale, m[o] = 0, sh[o] = 1;
        else {
            sei_status s = multiplier(acc_scale / so, &m[o], &sh[o], f->path[i]);
            if (s) return s;
        }
    }
    op->weight = w, op->bias = b, op->mult = m, op->shift = sh, op->deq = deq;
    q->const_bytes += n * (size_t)a->oc + (size_t)a->oc * (logits ? 8 : 9); /* + bias, mult / deq, shift */
    /* the program owns its copies of the sparse indices */
    const size_t ni = (size_t)a->oc * a->per_row, nt = (size_t)a->oc * (a->k * a->k + 1);
    if ((a->idx && !(op->idx = own_copy(q, a->idx, 2 * ni))) || (a->idx8 && !(op->idx8 = own_copy(q, a->idx8, ni))) ||
        (a->tap && !(op->tap = own_copy(q, a->tap, 2 * nt))))
        return sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    return SEI_OK;
}

/* an int8 add's multipliers: a / so and b / so on one shift (the larger one in [2^30, 2^31)) */
static sei_status add_multipliers(float sa, float sb, float so, McuOp *op, const char *path) {
    const double fa = (double)sa / so, fb = (double)sb / so;
    int32_t m = 0;
    int8_t sh = 1;
    sei_status s = multiplier(fa > fb ? fa : fb, &m, &sh, path);
    if (s) return s;
    op->qshift = sh;
    op->qm[0] = m ? (int32_t)llround(ldexp(fa, sh)) : 0;
    op->qm[1] = m ? (int32_t)llround(ldexp(fb, sh)) : 0;
    return SEI_OK;
}

sei_status export_quantize(const McuProgram *f, const float *calib, int n, McuProgram *q) {
    if (f->type != MCU_F32) return sei_fail(SEI_ERR_ARG, "export: quantising an int8 program");
    if (n < 1) return sei_fail(SEI_ERR_ARG, "export: no calibration images");
    const size_t in_n = (size_t)f->in_c * f->in_h * f->in_w;
    float *amax = calloc((size_t)f->nops, sizeof *amax), *sc = calloc((size_t)f->nops, sizeof *sc);
    float *arena = malloc(f->arena_bytes + 16);
    uint8_t *pay = malloc(export_payload_bytes(f) + 16);
    sei_status s = amax && sc && arena && pay ? SEI_OK : sei_fail(SEI_ERR_NOMEM, "export: out of memory");
    float in_max = 0.0f;
    /* every op on every image, exits' branches included (their decisions are not taken) */
    for (int k = 0; !s && k < n; k++) {
        const float *x = calib + (size_t)k * in_n;
        in_max = fmaxf(in_max, absmax(x, in_n));
        for (int i = 0; i < f->nops; i++) {
            const McuOp *op = &f->ops[i];
            if (op->kind == MCU_EXIT) continue;
            float ps;
            mcu_run(MCU_F32, op, 1, arena, x, pay, &ps);
            if (op->kind != MCU_WIRE)
                amax[i] = fmaxf(amax[i], absmax((const float *)((const char *)arena + op->out), (size_t)op->oc * op->oh * op->ow));
        }
    }
    if (!s) s = prog_init(q, MCU_Q8);
    if (!s) {
        for (int i = 0; !s && i < f->nops; i++)
            if (!add_op(q, f->ops[i].kind, f->path[i], info_of(f)[i])) s = sei_fail(SEI_ERR_NOMEM, "export: out of memory");
            else q->ops[i] = f->ops[i];
        q->in_c = f->in_c, q->in_h = f->in_h, q->in_w = f->in_w, q->out_c = f->out_c, q->out_h = f->out_h;
        q->out_w = f->out_w, q->wire = MCU_WIRE_INT8, q->nexits = f->nexits;
        q->in_scale = in_max > 0 ? in_max / 127.0f : 1.0f;
    }
    for (int i = 0; !s && i < f->nops; i++) {
        const OpInfo *inf = &info_of(f)[i];
        const float si = inf->src < 0 ? q->in_scale : sc[inf->src];
        McuOp *op = &q->ops[i];
        switch (op->kind) {
        case MCU_CONV:
        case MCU_LINEAR:
            sc[i] = amax[i] > 0 ? amax[i] / 127.0f : 1.0f;
            s = quantize_weights(f, i, si, sc[i], q);
            break;
        case MCU_WIRE: op->scale = si; break;
        case MCU_ADD: {
            sc[i] = amax[i] > 0 ? amax[i] / 127.0f : 1.0f;
            s = add_multipliers(si, inf->src2 < 0 ? q->in_scale : sc[inf->src2], sc[i], op, f->path[i]);
            break;
        }
        default: sc[i] = si; break; /* pools keep the scale; an exit has no output */
        }
    }
    free(amax), free(sc), free(arena), free(pay);
    if (!s) s = plan(q);
    if (s) export_free(q);
    return s;
}

/* ---------------------------------------------------------------- running, decoding */

size_t export_payload_bytes(const McuProgram *p) {
    const size_t m = (size_t)p->out_c * p->out_h * p->out_w;
    return p->wire == MCU_WIRE_FP32 ? 4 * m : p->wire == MCU_WIRE_FP16 ? 2 * m : m;
}

int export_run(const McuProgram *p, const float *x, float *arena, uint8_t *payload, float *scale) {
    if (p->type == MCU_F32) return mcu_run(MCU_F32, p->ops, p->nops, arena, x, payload, scale);
    const size_t n = (size_t)p->in_c * p->in_h * p->in_w;
    int8_t *qx = malloc(n);
    if (!qx) return -2;
    export_quantize_input(x, n, p->in_scale, qx);
    const int r = mcu_run(MCU_Q8, p->ops, p->nops, arena, qx, payload, scale);
    free(qx);
    return r;
}

void export_decode(const McuProgram *p, const uint8_t *payload, float scale, float *out) {
    const size_t m = (size_t)p->out_c * p->out_h * p->out_w;
    for (size_t i = 0; i < m; i++) {
        if (p->wire == MCU_WIRE_FP32) memcpy(&out[i], payload + 4 * i, 4);
        else if (p->wire == MCU_WIRE_FP16) {
            uint16_t h;
            memcpy(&h, payload + 2 * i, 2);
            out[i] = sei_half_to_float(h);
        } else out[i] = (float)(int8_t)payload[i] * scale;
    }
}

/* ---------------------------------------------------------------- the C file */

static void put_floats(FILE *o, const char *name, const float *v, size_t n) {
    fprintf(o, "static const float %s[%zu] = {", name, n);
    for (size_t i = 0; i < n; i++) fprintf(o, "%s%af", !i ? "\n    " : i % 8 ? ", " : ",\n    ", (double)v[i]);
    fprintf(o, "\n};\n");
}

static void put_ints(FILE *o, const char *type, const char *name, const void *v, size_t n, int bytes) {
    fprintf(o, "static const %s %s[%zu] = {", type, name, n);
    for (size_t i = 0; i < n; i++) {
        long long x = bytes == 1 ? (type[0] == 'u' ? ((const uint8_t *)v)[i] : ((const int8_t *)v)[i])
                      : bytes == 2 ? ((const uint16_t *)v)[i] : ((const int32_t *)v)[i];
        fprintf(o, "%s%lld", !i ? "\n    " : i % 16 ? ", " : ",\n    ", x);
    }
    fprintf(o, "\n};\n");
}

static sei_status finite_check(const float *v, size_t n, const char *path) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return sei_fail(SEI_ERR_NUMERIC, "export: %s holds a NaN or infinite weight (after folding its batch norm)", path);
    return SEI_OK;
}

void export_upper(const char *name, char *up, size_t cap) {
    size_t k = 0;
    for (; name[k] && k < cap - 1; k++) up[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
    up[k] = 0;
}

static sei_status write_source(const McuProgram *p, FILE *o, const char *name) {
    const int q8 = p->type == MCU_Q8;
    char up[64];
    export_upper(name, up, sizeof up);
    fprintf(o, "/* %s.c - generated by sei export: the device part as a program of kernels/mcu.c ops.\n"
               " * Portable C99, no allocation, no library calls; see %s.h. */\n"
               "#include \"%s.h\"\n#define MCU_API static\n\n", name, name, name);
    fputs(sei_mcu_text, o);
    fprintf(o, "\n/* ---------------------------------------------------------------- %s's constants */\n", name);
    char nm[64];
    for (int i = 0; i < p->nops; i++) {
        const McuOp *op = &p->ops[i];
        if (op->kind != MCU_CONV && op->kind != MCU_LINEAR) continue;
        fprintf(o, "/* op %d: %s */\n", i, p->path[i]);
        const size_t nw = row_len(op) * op->oc;
        if (op->idx) {
            snprintf(nm, sizeof nm, "op%d_idx", i);
            put_ints(o, "uint16_t", nm, op->idx, (size_t)op->oc * op->per_row, 2);
        }
        if (op->idx8) {
            snprintf(nm, sizeof nm, "op%d_idx8", i);
            put_ints(o, "uint8_t", nm, op->idx8, (size_t)op->oc * op->per_row, 1);
        }
        if (op->tap) {
            snprintf(nm, sizeof nm, "op%d_tap", i);
            put_ints(o, "uint16_t", nm, op->tap, (size_t)op->oc * (op->k * op->k + 1), 2);
        }
        snprintf(nm, sizeof nm, "op%d_w", i);
        if (q8) put_ints(o, "int8_t", nm, op->weight, nw, 1);
        else {
            sei_status s = finite_check(op->weight, nw, p->path[i]);
            if (!s) s = finite_check(op->bias, (size_t)op->oc, p->path[i]);
            if (s) return s;
            put_floats(o, nm, op->weight, nw);
        }
        snprintf(nm, sizeof nm, "op%d_b", i);
        if (q8) put_ints(o, "int32_t", nm, op->bias, (size_t)op->oc, 4);
        else put_floats(o, nm, op->bias, (size_t)op->oc);
        if (q8 && op->deq) {
            snprintf(nm, sizeof nm, "op%d_deq", i);
            put_floats(o, nm, op->deq, (size_t)op->oc);
        } else if (q8) {
            snprintf(nm, sizeof nm, "op%d_m", i);
            put_ints(o, "int32_t", nm, op->mult, (size_t)op->oc, 4);
            snprintf(nm, sizeof nm, "op%d_s", i);
            put_ints(o, "int8_t", nm, op->shift, (size_t)op->oc, 1);
        }
    }
    fprintf(o, "\nstatic const McuOp %s_ops[%d] = {\n", name, p->nops);
    static const char *kinds[] = {"MCU_CONV", "MCU_MAXPOOL", "MCU_AVGPOOL", "MCU_LINEAR", "MCU_EXIT", "MCU_WIRE", "MCU_ADD"};
    for (int i = 0; i < p->nops; i++) {
        const McuOp *op = &p->ops[i];
        fprintf(o, "    /* %d: %s */\n    {.kind = %s, .in = %d, .out = %d, .c = %d, .h = %d, .w = %d, .oc = %d, .oh = %d, .ow = %d",
                i, p->path[i], kinds[op->kind], op->in, op->out, op->c, op->h, op->w, op->oc, op->oh, op->ow);
        if (op->kind == MCU_CONV || op->kind == MCU_MAXPOOL)
            fprintf(o, ",\n     .k = %d, .stride = %d, .pad = %d, .groups = %d", op->k, op->stride, op->pad, op->groups);
        if (op->kind == MCU_CONV || op->kind == MCU_LINEAR) {
            fprintf(o, ", .relu = %d, .sparse = %d, .per_row = %d,\n     .weight = op%d_w, .bias = op%d_b", op->relu,
                    op->sparse, op->per_row, i, i);
            if (op->idx) fprintf(o, ", .idx = op%d_idx", i);
            if (op->idx8) fprintf(o, ", .idx8 = op%d_idx8", i);
            if (op->tap) fprintf(o, ", .tap = op%d_tap", i);
            if (q8 && op->deq) fprintf(o, ", .deq = op%d_deq", i);
            else if (q8) fprintf(o, ", .mult = op%d_m, .shift = op%d_s", i, i);
        }
        if (op->kind == MCU_EXIT) fprintf(o, ", .tau = %af, .nsub = %d", (double)op->tau, op->nsub);
        if (op->kind == MCU_WIRE) fprintf(o, ", .wire = %d, .scale = %af", op->wire, (double)op->scale);
        if (op->kind == MCU_ADD) {
            fprintf(o, ", .relu = %d, .in2 = %d", op->relu, op->in2);
            if (q8) fprintf(o, ", .qm = {%d, %d}, .qshift = %d", op->qm[0], op->qm[1], op->qshift);
        }
        fprintf(o, "},\n");
    }
    fprintf(o, "};\n\nstatic float %s_arena[%zu];\n\n", name, p->arena_bytes / 4 + 1);
    fprintf(o, "int %s_run(const %s_input_t *input, uint8_t *payload, float *scale) {\n"
               "    return mcu_run(%s, %s_ops, %d, %s_arena, input, payload, scale);\n}\n",
            name, name, q8 ? "MCU_Q8" : "MCU_F32", name, p->nops, name);
    if (q8)
        fprintf(o, "\nvoid %s_quantize(const float *x, int8_t *q) {\n"
                   "    for (int32_t i = 0; i < %s_IN_C * %s_IN_H * %s_IN_W; i++) {\n"
                   "        int32_t v = mcu_rint(x[i] / %s_INPUT_SCALE);\n"
                   "        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);\n    }\n}\n",
                name, up, up, up, up);
    return SEI_OK;
}

static void write_header(const McuProgram *p, FILE *o, const char *name, const char *about) {
    const int q8 = p->type == MCU_Q8;
    char up[64];
    export_upper(name, up, sizeof up);
    static const char *wn[] = {"fp32", "fp16", "int8"};
    fprintf(o, "/* %s.h - generated by sei export: %s\n *\n", name, about);
    fprintf(o, " * int %s_run(const %s_input_t *input, uint8_t *payload, float *scale) runs the device part\n"
               " * on one image: input [%d][%d][%d] %s. It returns the class when an early exit is\n"
               " * confident enough (max softmax >= its tau; the payload is then not written), or -1 with\n"
               " * the payload written: [%d][%d][%d] %s values, %zu bytes, native byte order%s.\n",
            name, name, p->in_c, p->in_h, p->in_w,
            q8 ? "int8, q = round(x / INPUT_SCALE) of the normalised image (see _quantize)" : "float, normalised as in training",
            p->out_c, p->out_h, p->out_w, wn[p->wire], export_payload_bytes(p),
            p->wire == MCU_WIRE_INT8 ? ", value = q * *scale" : " (*scale = 1)");
    fprintf(o, " * The server side takes it as a sei frame body (split/proto.h) of that dtype and scale.\n"
               " * Memory: %zu bytes of constants (flash), an arena of %zu bytes (RAM, static, in %s.c),\n"
               " * plus the op table (%d entries) and a few hundred bytes of stack. Not reentrant: one\n"
               " * run at a time. No allocation, no library calls; C99, builds with -Wall -Wextra -Werror. */\n",
            p->const_bytes, p->arena_bytes, name, p->nops);
    fprintf(o, "#ifndef SEI_EXPORT_%s_H\n#define SEI_EXPORT_%s_H\n#include <stdint.h>\n\n", up, up);
    fprintf(o, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n", up, p->in_c, up, p->in_h, up, p->in_w);
    fprintf(o, "#define %s_PAYLOAD_C %d\n#define %s_PAYLOAD_H %d\n#define %s_PAYLOAD_W %d\n", up, p->out_c, up,
            p->out_h, up, p->out_w);
    fprintf(o, "#define %s_PAYLOAD_DTYPE \"%s\"\n#define %s_PAYLOAD_BYTES %zu\n", up, wn[p->wire], up, export_payload_bytes(p));
    fprintf(o, "#define %s_ARENA_BYTES %zu\n#define %s_CONST_BYTES %zu\n#define %s_EXITS %d\n", up, p->arena_bytes, up,
            p->const_bytes, up, p->nexits);
    if (q8) fprintf(o, "#define %s_INPUT_SCALE %af\n", up, (double)p->in_scale);
    fprintf(o, "\ntypedef %s %s_input_t;\n\n", q8 ? "int8_t" : "float", name);
    fprintf(o, "int %s_run(const %s_input_t *input, uint8_t *payload, float *scale);\n", name, name);
    if (q8) fprintf(o, "/* the int8 input of a normalised float image (round half to even, clamp to +-127) */\n"
                       "void %s_quantize(const float *x, int8_t *q);\n", name);
    fprintf(o, "\n#endif\n");
}

sei_status export_write_c(const McuProgram *p, const char *dir, const char *name, const char *about) {
    if (!name[0] || strlen(name) > 40) return sei_fail(SEI_ERR_ARG, "export: name '%s' must be 1 to 40 characters", name);
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9' && c != name) || *c == '_'))
            return sei_fail(SEI_ERR_ARG, "export: name '%s' is not a C identifier", name);
    char path[4096], tmp[4200];
    const char *ext[2] = {"h", "c"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext[k]);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *o = fopen(tmp, "w");
        if (!o) return sei_fail(SEI_ERR_IO, "export: cannot write %s: %s", tmp, strerror(errno));
        sei_status s = SEI_OK;
        if (k == 0) write_header(p, o, name, about);
        else s = write_source(p, o, name);
        const int bad = ferror(o);
        if (fclose(o) || bad) s = s ? s : sei_fail(SEI_ERR_IO, "export: writing %s failed", tmp);
        if (!s && rename(tmp, path)) s = sei_fail(SEI_ERR_IO, "export: cannot rename %s: %s", tmp, strerror(errno));
        if (s) { remove(tmp); return s; }
    }
    return SEI_OK;
}
