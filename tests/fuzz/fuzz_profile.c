/* fuzz_profile.c - the per-layer profile CSV that sei sim --device-profile/--server-profile
 * read (split/cost.c cost_profile_read). */
#include <math.h>
#include "engine/error.h"
#include "split/cost.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_net.h"

FUZZ_TARGET(d, n) {
    const Net *net = fuzz_net();
    double t[128];
    if (net->nlayers > 128) abort();
    if (cost_profile_read(net, fuzz_file(".csv", d, n), t) == SEI_OK)
        for (int i = 0; i < net->nlayers; i++)
            if (!(t[i] >= 0) || !isfinite(t[i])) abort();
    return 0;
}
