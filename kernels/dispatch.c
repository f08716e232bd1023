/* dispatch.c - the sei_kernels_ref switch (kernels/ops.h) and its initialisation from the
 * environment (kernels/dispatch.h). Not thread-safe: set it before kernels run. */
#include <stdlib.h>
#include <string.h>
#include "kernels/dispatch.h"
#include "kernels/ops.h"

int sei_kernels_ref = 0;
int sei_sparse_kernels = 1;

/* SEI_REF=1 (any value other than empty or "0") selects the references; unset keeps the
 * current value, so a default set by a test or tool is not clobbered. */
void sei_kernels_init(void) {
    const char *s = getenv("SEI_REF");
    if (s) sei_kernels_ref = (s[0] != 0 && strcmp(s, "0") != 0);
    /* SEI_DENSE=1: sparse layers on the dense kernels; SEI_SPARSE=1: on the sparse kernels
     * even where they measured slower (see conv2d_sparse_pays) */
    const char *dn = getenv("SEI_DENSE"), *sp = getenv("SEI_SPARSE");
    if (sp && sp[0] && strcmp(sp, "0")) sei_sparse_kernels = 2;
    if (dn && dn[0] && strcmp(dn, "0")) sei_sparse_kernels = 0;
}
