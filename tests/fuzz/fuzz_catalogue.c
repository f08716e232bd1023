/* fuzz_catalogue.c - the device / link preset catalogue files of sei sim and sei plan
 * (sim/presets.c, --presets FILE). */
#include "sim/sim.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    SimCatalogue c;
    sim_catalogue_load(&c, fuzz_file(".presets", d, n));
    sim_catalogue_free(&c);
    return 0;
}
