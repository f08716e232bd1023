/* fuzz_safetensors.c - the safetensors reader: header JSON, dtypes, shapes, data offsets, and
 * every tensor read back (engine/safetensors.c, engine/json.c). */
#include "engine/safetensors.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    StFile f;
    if (st_open(&f, fuzz_file(".safetensors", d, n)) != SEI_OK) return 0;
    (void)st_meta(&f, "net");
    for (int i = 0; i < f.n; i++) {
        Tensor t = {0};
        if (f.entries[i].dtype == ST_F32 && st_load_tensor(&f, f.entries[i].name, &t) == SEI_OK) sei_free(t.data);
    }
    st_close(&f);
    return 0;
}
