/* train_mpi.c - data-parallel `sei train` under mpirun (built with make MPI=1): every rank
 * holds a replica, reads the same global batch of N x --batch images (same seed, same
 * order) and trains on its own slice; losses and correct counts are summed and gradients
 * averaged with MPI_Allreduce before each optimizer step. Batch norm in training mode is
 * synchronised (kernels/batchnorm.c, batchnorm_sync): it normalises by the statistics of the
 * whole global batch, so N ranks x batch B train as one process with batch N*B does, to
 * float rounding, and the running statistics stay identical on every rank. Dropout masks
 * are per rank. Rank 0 alone writes the log and checkpoints. Without MPI these are no-ops
 * for one process. */
#include <stdlib.h>
#include "cli/train_mpi.h"
#include "kernels/ops.h"

#ifdef SEI_MPI
#include <mpi.h>

static int g_size = 1, g_on;

static void reduce_loss(double *loss, int *correct, void *ctx) {
    (void)ctx;
    double l = *loss;
    int k = *correct;
    MPI_Allreduce(&l, loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&k, correct, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    *loss /= g_size;
}

static void bn_sum(double *v, int n) { MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); }

static void reduce_grads(Net *net, void *ctx) {
    (void)ctx;
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        if (!p->v.grad) continue;
        const size_t n = tensor_numel(&p->v.t);
        MPI_Allreduce(MPI_IN_PLACE, p->v.grad, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        const float s = 1.0f / (float)g_size;
        for (size_t j = 0; j < n; j++) p->v.grad[j] *= s;
    }
}

int train_mpi_init(int *argc, char ***argv, int *rank, int *size) {
    *rank = 0, *size = 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE")) return 0; /* not under mpirun */
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    g_size = *size, g_on = 1;
    if (*size > 1) train_reduce = (TrainReduce){reduce_loss, reduce_grads, NULL}, batchnorm_sync = bn_sum;
    return 1;
}

int train_mpi_any(int failed) {
    if (!g_on) return failed;
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

void train_mpi_finalize(void) {
    if (g_on) MPI_Finalize();
    g_on = 0;
}
#else
int train_mpi_init(int *argc, char ***argv, int *rank, int *size) {
    (void)argc, (void)argv;
    *rank = 0, *size = 1;
    return 0;
}
int train_mpi_any(int failed) { return failed; }
void train_mpi_finalize(void) {}
#endif
