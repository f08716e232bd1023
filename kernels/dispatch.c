/* dispatch.c - the sei_kernels_ref switch (kernels/ops.h) and its initialisation from the
 * environment (kernels/dispatch.h). Not thread-safe: set it before kernels run. */
#include <stdlib.h>
#include <string.h>
#include "kernels/dispatch.h"
#include "kernels/ops.h"

int sei_kernels_ref = 0;

/* SEI_REF=1 (any value other than empty or "0") selects the references; unset keeps the
 * current value, so a default set by a test or tool is not clobbered. */
void sei_kernels_init(void) {
    const char *s = getenv("SEI_REF");
    if (s) sei_kernels_ref = (s[0] != 0 && strcmp(s, "0") != 0);
}
