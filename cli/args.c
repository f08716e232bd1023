/* args.c - see args.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/args.h"

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sei %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

Flag *args_flag(Command *c, const char *name) {
    for (int i = 0; i < c->nflags; i++)
        if (strcmp(c->flags[i].name, name) == 0) return &c->flags[i];
    return NULL;
}

void args_help(const Command *c) {
    printf("usage: sei %s %s\n\n%s\n\noptions:\n", c->cmd, c->usage, c->summary);
    for (int i = 0; i < c->nflags; i++) {
        const Flag *f = &c->flags[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->metavar ? " " : "",
                 f->metavar ? f->metavar : "");
        printf("  %-26s %s", left, f->help);
        if (f->def) printf(" (default: %s)", f->def);
        printf("\n");
    }
    printf("  %-26s %s\n", "-h, --help", "show this help");
}

int args_parse(Command *c, int argc, char **argv) {
    for (int i = 0; i < c->nflags; i++) {
        c->flags[i].val = c->flags[i].def;
        c->flags[i].set = 0;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { args_help(c); return 1; }
        if (strncmp(a, "--", 2) != 0) {
            cli_error(c->cmd, "unexpected argument '%s' (see sei %s --help)", a, c->cmd);
            return -1;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a + 2, len);
        name[len] = 0;
        Flag *f = args_flag(c, name);
        if (!f) {
            cli_error(c->cmd, "unknown option '--%s' (see sei %s --help)", name, c->cmd);
            return -1;
        }
        if (f->set) {
            cli_error(c->cmd, "option '--%s' given twice", name);
            return -1;
        }
        f->set = 1;
        if (!f->metavar) {
            if (eq) { cli_error(c->cmd, "option '--%s' takes no value", name); return -1; }
            f->val = "1";
        } else if (eq) {
            f->val = eq + 1;
        } else if (i + 1 < argc) {
            f->val = argv[++i];
        } else {
            cli_error(c->cmd, "option '--%s' needs a value %s", name, f->metavar);
            return -1;
        }
    }
    return 0;
}

const char *args_str(Command *c, const char *name) {
    Flag *f = args_flag(c, name);
    return f ? f->val : NULL;
}

int args_bool(Command *c, const char *name) {
    Flag *f = args_flag(c, name);
    return f && f->set;
}

int args_int(Command *c, const char *name, int lo, int hi, int *out) {
    const char *s = args_str(c, name);
    if (!s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error(c->cmd, "--%s: '%s' is not an integer in [%d, %d]", name, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int args_float(Command *c, const char *name, double lo, double hi, float *out) {
    const char *s = args_str(c, name);
    if (!s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        cli_error(c->cmd, "--%s: '%s' is not a number in [%g, %g]", name, s, lo, hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}
