/* args.h - declarative flag parsing for the sei subcommands.
 *
 * Each command declares a table of Flags; args_parse accepts `--name value`, `--name=value`
 * and boolean `--name`, rejects unknown flags, missing values and stray arguments with a
 * one-line error, and prints the command's help for -h/--help. Typed getters validate the
 * value and name the flag in their error. */
#ifndef SEI_ARGS_H
#define SEI_ARGS_H

typedef struct {
    const char *name;     /* without the leading "--" */
    const char *metavar;  /* NULL for a boolean flag */
    const char *help;
    const char *def;      /* default value shown in help, or NULL */
    const char *val;      /* parsed value (or def) */
    int set;              /* given on the command line */
} Flag;

typedef struct {
    const char *cmd;      /* "forward" */
    const char *summary;  /* one line */
    const char *usage;    /* after "sei CMD " */
    Flag *flags;
    int nflags;
} Command;

/* 0: ok; 1: help printed (exit 0); -1: error printed (exit 2) */
int args_parse(Command *c, int argc, char **argv);
void args_help(const Command *c);
Flag *args_flag(Command *c, const char *name);
const char *args_str(Command *c, const char *name);          /* NULL if unset and no default */
int args_bool(Command *c, const char *name);
/* these print "sei CMD: --flag: ..." and return -1 on bad values, 0 on success */
int args_int(Command *c, const char *name, int lo, int hi, int *out);
int args_float(Command *c, const char *name, double lo, double hi, float *out);
/* error helper: prints "sei CMD: message" to stderr, returns 2 (exit status) */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
