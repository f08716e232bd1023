/* fuzz_json.c - the JSON parser on its own (engine/json.c). */
#include "engine/json.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    Json j;
    char err[128];
    if (json_parse(&j, (const char *)d, n, err, sizeof err) == SEI_OK) json_free(&j);
    return 0;
}
