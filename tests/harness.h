/* harness.h - the tiny test framework every tests/test_*.c uses.
 *
 *   static void test_something(void) { EXPECT(x == 1, "x was %d", x); }
 *   int main(void) { RUN(test_something); return test_summary(); }
 *
 * Each RUN prints one line: "ok NAME", "FAIL NAME" (after the failing checks) or
 * "SKIP NAME: reason"; tests/run.sh counts them. A binary exits non-zero on any failure. */
#ifndef SEI_HARNESS_H
#define SEI_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int t_failed_, t_npass_, t_nfail_, t_nskip_;
static char t_skip_[256];
static const char *t_name_;

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stdout, "  %s:%d: %s: ", __FILE__, __LINE__, t_name_);  \
            fprintf(stdout, __VA_ARGS__);                                   \
            fputc('\n', stdout);                                            \
            t_failed_ = 1;                                                  \
        }                                                                   \
    } while (0)

/* stop the current test as skipped, with a reason */
#define SKIP(...)                                                           \
    do {                                                                    \
        snprintf(t_skip_, sizeof t_skip_, __VA_ARGS__);                     \
        return;                                                             \
    } while (0)

#define RUN(fn) t_run_(#fn, fn)

static void t_run_(const char *name, void (*fn)(void)) {
    t_failed_ = 0;
    t_skip_[0] = 0;
    t_name_ = name;
    fn();
    if (t_failed_) { printf("FAIL %s\n", name); t_nfail_++; }
    else if (t_skip_[0]) { printf("SKIP %s: %s\n", name, t_skip_); t_nskip_++; }
    else { printf("ok %s\n", name); t_npass_++; }
    fflush(stdout);
}

static inline int test_summary(void) { return t_nfail_ ? 1 : 0; }

/* max |a-b| / max(max|b|, floor): error relative to the reference's largest magnitude */
static inline double rel_err(const float *a, const float *b, size_t n, double floor_) {
    double m = floor_, e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d) return INFINITY;
        if (d > e) e = d;
        if (fabs((double)b[i]) > m) m = fabs((double)b[i]);
    }
    return e / m;
}

#endif
