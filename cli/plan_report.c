/* plan_report.c - sei plan's DIR/report.html: one self-contained page (no scripts, no
 * external files): the summary and recommendation, the charts inlined from the SVG files
 * sei plan wrote, and the ranked table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int inline_file(FILE *out, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char buf[8192];
    size_t n;
    int skip_decl = 1;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        size_t off = 0;
        if (skip_decl && n > 5 && !memcmp(buf, "<?xml", 5)) { /* the XML declaration does not belong inside HTML */
            const char *e = memchr(buf, '>', n);
            if (e) off = (size_t)(e - buf) + 1;
        }
        skip_decl = 0;
        fwrite(buf + off, 1, n - off, out);
    }
    fclose(f);
    return 0;
}

int plan_report(const char *dir, const char *title, const char *summary, const char *const *svgs, int nsvg,
                const char *table_html) {
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/report.html", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n"
               "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
               "h1{font-size:1.4em}table{border-collapse:collapse;font-size:0.85em;margin-top:1em}"
               "td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}"
               "tr.best{background:#dfd}svg{width:100%%;height:auto;border:1px solid #eee;margin:0.5em 0}"
               ".rec{background:#f4f4f4;padding:0.8em;border-left:4px solid #2ca02c}</style></head><body>\n"
               "<h1>%s</h1>\n<p class=\"rec\">%s</p>\n", title, title, summary);
    for (int i = 0; i < nsvg; i++)
        if (inline_file(f, svgs[i])) fprintf(f, "<p>(chart %s missing)</p>\n", svgs[i]);
    fprintf(f, "<h2>Configurations, best first</h2>\n%s<p>Written by sei plan; plan.csv holds every configuration.</p>\n"
               "</body></html>\n", table_html);
    if (fclose(f)) { remove(tmp); return -1; }
    return rename(tmp, path) ? -1 : 0;
}
