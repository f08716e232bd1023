/* train_mpi.h - data-parallel sei train under mpirun (train_mpi.c). */
#ifndef SEI_TRAIN_MPI_H
#define SEI_TRAIN_MPI_H
#include "nets/train.h"

/* under mpirun (and built with MPI): MPI_Init, the rank and size, the reducing hooks (gradients,
 * losses, synchronised batch norm); 1 if on */
int train_mpi_init(int *argc, char ***argv, int *rank, int *size);
/* whether any rank failed (every rank must call it) */
int train_mpi_any(int failed);
void train_mpi_finalize(void);

#endif
