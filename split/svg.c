/* svg.c - line charts as plain SVG text (see svg.h). Layout in user units: a 960 x 540
 * canvas, the plot area inset for the axes, the rotated cut-point names and the legend. Each
 * axis spans its series' finite range with 5% margins, ticks at 5 even steps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "split/svg.h"

#define W 960.0
#define H 560.0
#define L 80.0   /* plot area: left, right, top, bottom edges */
#define R 880.0
#define T 50.0
#define B 400.0

static const char *const k_colors[] = {"#000000", "#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                       "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                                       "#7f7f7f", "#aec7e8"};

static void xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* finite range of every series on one axis; [0, 1] when there is none */
static void axis_range(const SvgChart *c, const SvgSeries *s, int ns, int axis, double *lo,
                       double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int k = 0; k < ns; k++) {
        if (s[k].axis != axis) continue;
        for (int i = 0; i < c->nx; i++) {
            double v = s[k].y[i];
            if (axis == 1 && c->y2log) v = v > 0 ? log10(v) : NAN;
            if (!isfinite(v)) continue;
            *lo = fmin(*lo, v), *hi = fmax(*hi, v);
        }
    }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12) *lo -= 0.5, *hi += 0.5;
    double m = 0.05 * (*hi - *lo);
    *lo -= m, *hi += m;
}

static double px(const SvgChart *c, int i) {
    return c->nx > 1 ? L + (R - L) * i / (c->nx - 1) : 0.5 * (L + R);
}

sei_status svg_line_chart(const char *path, const SvgChart *c, const SvgSeries *s, int ns) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return sei_fail(SEI_ERR_ARG, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return sei_fail(SEI_ERR_IO, "%s: cannot write", tmp);
    double lo[2], hi[2];
    axis_range(c, s, ns, 0, &lo[0], &hi[0]);
    axis_range(c, s, ns, 1, &lo[1], &hi[1]);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    fprintf(f, "<text x=\"%g\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    xml_text(f, c->title);
    fprintf(f, "</text>\n<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
               "stroke=\"#444\"/>\n", L, T, R - L, B - T);
    for (int a = 0; a < 2; a++) { /* ticks, grid (left only), axis labels */
        if (a == 1 && !c->y2label) break;
        for (int t = 0; t <= 5; t++) {
            double v = lo[a] + (hi[a] - lo[a]) * t / 5, y = B - (B - T) * t / 5;
            if (a == 0)
                fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                           "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                        L, y, R, y, L - 6, y + 4, v);
            else if (c->y2log)
                fprintf(f, "<text x=\"%g\" y=\"%.1f\">%.3g</text>\n", R + 6, y + 4, pow(10, v));
            else
                fprintf(f, "<text x=\"%g\" y=\"%.1f\">%.3g</text>\n", R + 6, y + 4, v);
        }
        double x = a == 0 ? 18 : W - 12;
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 %g %g)\">",
                x, (T + B) / 2, x, (T + B) / 2);
        xml_text(f, a == 0 ? c->ylabel : c->y2label);
        fprintf(f, "</text>\n");
    }
    for (int i = 0; i < c->nx; i++) { /* category names, rotated */
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"end\" transform=\"rotate(-60 %.1f %g)\">",
                px(c, i), B + 12, px(c, i), B + 12);
        xml_text(f, c->xnames[i]);
        fprintf(f, "</text>\n");
    }
    for (int k = 0; k < ns; k++) {
        const char *col = k_colors[k % (int)(sizeof k_colors / sizeof k_colors[0])];
        const int a = s[k].axis;
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s d=\"", col,
                s[k].thin ? "1" : "2", s[k].dashed ? " stroke-dasharray=\"6,4\"" : "");
        int pen = 0;
        for (int i = 0; i < c->nx; i++) {
            double v = s[k].y[i];
            if (a == 1 && c->y2log) v = v > 0 ? log10(v) : NAN;
            if (!isfinite(v)) { pen = 0; continue; }
            double y = B - (B - T) * (v - lo[a]) / (hi[a] - lo[a]);
            fprintf(f, "%s%.1f %.1f ", pen ? "L" : "M", px(c, i), y);
            pen = 1;
        }
        fprintf(f, "\"/>\n");
        for (int i = 0; s[k].star && i < c->nx; i++) {
            double v = s[k].y[i];
            if (!s[k].star[i] || !isfinite(v) || (a == 1 && c->y2log)) continue;
            double y = B - (B - T) * (v - lo[a]) / (hi[a] - lo[a]);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"18\" "
                       "fill=\"%s\">&#9733;</text>\n", px(c, i), y + 6, col);
        }
        /* legend, three columns under the axis names */
        double lx = L + (k % 3) * 300, ly = H - 50 + (k / 3) * 14;
        if (ly > H - 4) continue;
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                   "<text x=\"%g\" y=\"%g\">", lx, ly - 4, lx + 24, ly - 4, col,
                s[k].dashed ? " stroke-dasharray=\"6,4\"" : "", lx + 30, ly);
        xml_text(f, s[k].name);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    int bad = ferror(f);
    if (fclose(f) || bad || rename(tmp, path)) {
        remove(tmp);
        return sei_fail(SEI_ERR_IO, "%s: write failed", path);
    }
    return SEI_OK;
}
