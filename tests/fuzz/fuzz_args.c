/* fuzz_args.c - command-line parsing (cli/args.c) with the network and data flags every
 * command shares: the input is split at NUL bytes into argv, then every typed getter runs. */
#include "cli/args.h"
#include "cli/common.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    Flag flags[] = {NET_FLAGS, DATA_FLAGS, {"quiet", NULL, "", NULL, NULL, 0}, {"rate", "F", "", "1", NULL, 0}};
    Command c = {"fuzz", "", "", flags, (int)(sizeof flags / sizeof *flags)};
    char *buf = malloc(n + 1), *argv[64];
    if (!buf) return 0;
    memcpy(buf, d, n);
    buf[n] = 0;
    int argc = 0;
    argv[argc++] = "sei";
    for (size_t i = 0; i < n && argc < 63;) {
        argv[argc++] = buf + i;
        while (i < n && buf[i]) i++;
        i++;
    }
    argv[argc] = NULL;
    FILE *keep = stdout;
    if (args_parse(&c, argc, argv) == 0) {
        int x;
        float f;
        args_int(&c, "classes", 1, 1000, &x), args_int(&c, "limit", 0, 1 << 30, &x);
        args_float(&c, "width-mult", 0.001, 16, &f), args_float(&c, "rate", 0, 1e9, &f);
        (void)args_bool(&c, "quiet"), (void)args_str(&c, "data");
    }
    (void)keep;
    free(buf);
    return 0;
}
