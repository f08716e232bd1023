/* cmd_mpi.c - `sei mpi-run` (built with `make MPI=1`, run under mpirun): a network
 * partitioned into consecutive parts, one per MPI rank, from a mapping file (AutoDiCE's
 * setting: a network spread over several edge devices). Rank 0 reads the data and runs the
 * first part; each rank passes its activation to the next with non-blocking sends (two
 * buffers, so it computes batch k+1 while batch k travels); the last rank turns logits into
 * predictions. With --input X --out Y it writes the logits file `sei forward` writes (the
 * same bytes: the tests compare them); with --data it reports accuracy and images per second.
 *
 * Mapping file: one line per rank, in rank order: "RANK LAST_LAYER THREADS", LAST_LAYER a cut
 * point (the part ends after it) or "end" for the last rank; '#' comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "engine/threads.h"

#ifdef SEI_MPI
#include <mpi.h>

static Flag mpi_flags[] = {
    {"weights", "CKPT", "the whole network (every rank loads it and runs its part)", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"map", "FILE", "the partition: lines 'RANK LAST_LAYER THREADS' (LAST_LAYER a cut point, or end)", NULL, NULL, 0},
    {"input", "X", "run on tensor 'input' of this file and write the logits to --out", NULL, NULL, 0},
    {"out", "Y", "with --input: where the last rank writes 'logits'", NULL, NULL, 0},
    {"split", "NAME", "with --data: the split to run on", "test", NULL, 0},
    {"batch", "B", "with --data: images per batch", "16", NULL, 0},
    {"normalize", "M/S", "override the checkpoint's normalisation", NULL, NULL, 0},
};

enum { TAG_SHAPE = 1, TAG_DATA = 2, TAG_LABELS = 3, TAG_DONE = 4 };

int cmd_mpi(int argc, char **argv) {
    Command c = {"mpi-run", "Run a network partitioned over MPI ranks (mpirun -np N sei mpi-run --map FILE ...).",
                 "--weights CKPT --map FILE (--input X --out Y | --data SPEC [--limit N])", mpi_flags,
                 (int)(sizeof mpi_flags / sizeof mpi_flags[0])};
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rc = args_parse(&c, argc, argv);
    if (rc) { MPI_Finalize(); return rc > 0 ? 0 : 2; }
    const char *w = args_str(&c, "weights"), *map = args_str(&c, "map"), *xin = args_str(&c, "input"), *yout = args_str(&c, "out");
    if (!w || !map) rc = cli_error(c.cmd, "--weights and --map are required");
    else if (!!xin != !!yout) rc = cli_error(c.cmd, "--input and --out go together");
    int batch = 16;
    if (!rc && args_int(&c, "batch", 1, 65536, &batch)) rc = 2;
    StFile f;
    Net net;
    int have_net = 0, from[256], to[256], threads[256];
    if (!rc && size > 256) rc = cli_error(c.cmd, "at most 256 ranks");
    if (!rc && st_open(&f, w) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
    else if (!rc) {
        rc = cli_open_net(&c, &net, &f);
        have_net = !rc;
        if (!rc && part_map_read(&net, map, size, from, to, threads) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
    }
    /* every rank must agree to go on */
    int bad = rc != 0, anybad = 0;
    MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (anybad) {
        if (have_net) net_free(&net);
        if (w && !rc) st_close(&f);
        MPI_Finalize();
        return rc ? rc : 2;
    }
    sei_set_threads(threads[rank]);
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    const int last = size - 1, K = net.classes;
    Dataset d = {0};
    DataConfig dc;
    BatchConfig bc = {.batch = batch};
    Batcher b;
    Tensor X = {0};
    int have_b = 0;
    if (rank == 0) {
        if (xin) {
            StFile xf;
            if (st_open(&xf, xin) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
            else {
                rc = cli_read_tensor(&c, &xf, "input", 4, &X);
                st_close(&xf);
            }
        } else {
            rc = cli_eval_data(&c, &net, &f, args_str(&c, "split"), &dc, &d, &bc);
            if (!rc && batcher_init(&b, &d, &bc) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
            have_b = !rc;
            if (have_b) batcher_epoch(&b, 0);
        }
    }
    st_close(&f);
    /* rank 0's failure stops everyone: it sends an empty shape */
    float *sbuf[2] = {NULL, NULL};
    int32_t *labels[2] = {NULL, NULL};
    size_t scap[2] = {0, 0};
    MPI_Request rq[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL}, rl[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    int shapes[2][5];
    long seen = 0, right = 0;
    float *all_logits = NULL;
    long nlog = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int k = 0;; k++) {
        const int s = k % 2;
        Value *in = NULL, *out = NULL;
        int shape[5] = {0, 0, 0, 0, 0}, n = 0;
        const int32_t *y = NULL;
        tape_reset(&t);
        if (rank == 0) {
            const float *x = NULL;
            if (!rc && xin && k == 0) {
                Tensor xt = X;
                in = tape_wrap(&t, &xt, 0), n = X.shape[0];
            } else if (!rc && !xin && have_b && (n = batcher_next(&b, &x, &y)) > 0) {
                Tensor xt = {.ndim = 4, .shape = {n, net.in_ch, bc.size, bc.size}, .data = (float *)x};
                in = tape_wrap(&t, &xt, 0);
            }
        } else {
            MPI_Recv(shape, 5, MPI_INT, rank - 1, TAG_SHAPE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (shape[0] > 0) {
                Value *v = tape_value(&t, shape[0], shape + 1);
                MPI_Recv(v->t.data, (int)tensor_numel(&v->t), MPI_FLOAT, rank - 1, TAG_DATA, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                in = v, n = shape[1];
            }
            if (rank == last && shape[0] > 0 && !xin) {
                labels[s] = realloc(labels[s], (size_t)n * sizeof(int32_t));
                MPI_Recv(labels[s], n, MPI_INT, 0, TAG_LABELS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                y = labels[s];
            }
        }
        if (in) {
            out = net_forward(&net, &t, in, from[rank], to[rank], NULL);
            if (!out) { rc = cli_error(c.cmd, "rank %d: %s", rank, sei_last_error()); in = NULL; }
        }
        if (rank != last) { /* pass it on: wait for the send that used this buffer two batches ago */
            MPI_Wait(&rq[s], MPI_STATUS_IGNORE);
            shapes[s][0] = out ? out->t.ndim : 0;
            for (int i = 0; i < 4; i++) shapes[s][1 + i] = out && i < out->t.ndim ? out->t.shape[i] : 0;
            MPI_Send(shapes[s], 5, MPI_INT, rank + 1, TAG_SHAPE, MPI_COMM_WORLD);
            if (out) {
                const size_t m = tensor_numel(&out->t);
                if (scap[s] < m) { free(sbuf[s]); sbuf[s] = malloc(m * sizeof(float)); scap[s] = m; }
                memcpy(sbuf[s], out->t.data, m * sizeof(float));
                MPI_Isend(sbuf[s], (int)m, MPI_FLOAT, rank + 1, TAG_DATA, MPI_COMM_WORLD, &rq[s]);
                if (rank == 0 && y) {
                    MPI_Wait(&rl[s], MPI_STATUS_IGNORE);
                    labels[s] = realloc(labels[s], (size_t)n * sizeof(int32_t));
                    memcpy(labels[s], y, (size_t)n * sizeof(int32_t));
                    MPI_Isend(labels[s], n, MPI_INT, last, TAG_LABELS, MPI_COMM_WORLD, &rl[s]);
                }
            }
        } else if (out) { /* the last rank: predictions */
            for (int i = 0; i < n && y; i++) {
                const float *l = out->t.data + (size_t)i * K;
                int best = 0;
                for (int j = 1; j < K; j++)
                    if (l[j] > l[best]) best = j;
                right += best == y[i];
            }
            if (xin) {
                all_logits = realloc(all_logits, (size_t)(nlog + n) * K * sizeof(float));
                memcpy(all_logits + (size_t)nlog * K, out->t.data, (size_t)n * K * sizeof(float));
                nlog += n;
            }
            seen += n;
        }
        if (!out) break;
        if (xin && rank == 0) { /* one batch: then the end marker */
            MPI_Wait(&rq[(k + 1) % 2], MPI_STATUS_IGNORE);
            int z[5] = {0, 0, 0, 0, 0};
            if (rank != last) MPI_Send(z, 5, MPI_INT, rank + 1, TAG_SHAPE, MPI_COMM_WORLD);
            break;
        }
    }
    for (int s = 0; s < 2; s++) MPI_Wait(&rq[s], MPI_STATUS_IGNORE), MPI_Wait(&rl[s], MPI_STATUS_IGNORE);
    const double secs = MPI_Wtime() - t0;
    int err = rc != 0, anyerr = 0;
    MPI_Allreduce(&err, &anyerr, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == last && !anyerr) {
        if (xin) {
            StWriter sw;
            st_writer_init(&sw);
            sei_status st = st_add(&sw, "logits", ST_F32, 2, (int64_t[]){nlog, K}, all_logits);
            if (!st) st = st_add_meta(&sw, "net", net.name);
            if (!st) st = st_write(&sw, yout);
            st_writer_free(&sw);
            if (st) rc = cli_error(c.cmd, "%s", sei_last_error());
        } else {
            printf("%d ranks:", size);
            for (int r = 0; r < size; r++) printf(" [%d,%d)x%dt", from[r], to[r], threads[r]);
            printf("\n%ld images in %.3f s: %.1f images/s, accuracy %.2f%%\n", seen, secs, seen / secs,
                   seen ? 100.0 * right / seen : 0.0);
        }
    }
    free(all_logits), free(sbuf[0]), free(sbuf[1]), free(labels[0]), free(labels[1]);
    sei_free(X.data);
    if (have_b) batcher_free(&b);
    ds_free(&d);
    tape_free(&t);
    net_free(&net);
    MPI_Finalize();
    return rc ? rc : anyerr ? 2 : 0;
}
#else
int cmd_mpi(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "sei mpi-run: this sei was built without MPI (make MPI=1, with OpenMPI's mpicc)\n");
    return 2;
}
#endif
