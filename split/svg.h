/* svg.h - small self-contained SVG charts for the split reports (importance curves, split
 * sweeps): one x axis of named categories (the cut points), a left and an optional right y
 * axis, line series with optional star markers. Non-finite values leave a gap. */
#ifndef SEI_SVG_H
#define SEI_SVG_H
#include "engine/error.h"

typedef struct {
    const char *name;      /* legend entry */
    const double *y;       /* n values, one per x category */
    int axis;              /* 0: left axis, 1: right axis */
    int dashed, thin;      /* line style */
    const int *star;       /* NULL, or nonzero entries get a star marker */
} SvgSeries;

typedef struct {
    const char *title, *ylabel, *y2label;  /* y2label NULL: no right axis */
    const char *const *xnames;             /* nx category names (rotated tick labels) */
    int nx;
    int y2log;                             /* right axis in log10 of the values */
} SvgChart;

/* writes the chart to path (atomically: temp file + rename) */
sei_status svg_line_chart(const char *path, const SvgChart *c, const SvgSeries *s, int ns);

#endif
