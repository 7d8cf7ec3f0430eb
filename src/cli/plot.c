/*
 * plot.c - `train --plot`: the loss curve as a small self-contained SVG.
 *
 * Axes with tick marks, labels at "nice" values (1, 2 or 5 times a power of ten) and a light
 * grid. The loss axis is logarithmic when the training loss falls by more than 10x (or with
 * --plot-scale log), with a labelled line at each power of ten (and at 2x and 5x when the
 * range spans three decades or fewer) and unlabelled minor lines between; linear otherwise.
 * The epoch axis has integer ticks. With validation, its loss is a second curve and a legend
 * names both. Non-finite values (and non-positive ones on a log axis) are left out.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

cli_plot_scale cli_plot_scale_parse(const char *s)
{
    if (!s)
        return CLI_PLOT_AUTO;
    if (strcmp(s, "linear") == 0)
        return CLI_PLOT_LINEAR;
    if (strcmp(s, "log") == 0)
        return CLI_PLOT_LOG;
    cli_die(EXIT_USAGE, "--plot-scale: '%s' is not linear or log", s);
}

/* 1, 2 or 5 times a power of ten, the smallest at least x (x > 0). */
static double nice_step(double x)
{
    double p = pow(10, floor(log10(x))), f = x / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* The plot area and the mapping of values to it. */
typedef struct frame {
    FILE *f;
    double x0, x1, y0, y1;     /* pixels: left, right, bottom, top */
    double ex0, ex1;           /* epochs at the left and right edges */
    double v0, v1;             /* axis values (log10 on a log axis) at bottom and top */
    int logy;
} frame;

static double px(const frame *fr, double epoch)
{
    return fr->x0 + (fr->x1 - fr->x0) * (epoch - fr->ex0) / (fr->ex1 - fr->ex0);
}

static double py(const frame *fr, double v)
{
    return fr->y0 - (fr->y0 - fr->y1) * (v - fr->v0) / (fr->v1 - fr->v0);
}

static int usable(const frame *fr, double v)
{
    return isfinite(v) && (!fr->logy || v > 0);
}

/* A horizontal grid line at axis value v, with a tick mark and label when label != NULL. */
static void y_line(const frame *fr, double v, const char *label, int major)
{
    double y = py(fr, v);
    fprintf(fr->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
            fr->x0, y, fr->x1, y, major ? "#d9d9d9" : "#efefef");
    if (!label)
        return;
    fprintf(fr->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
            fr->x0 - 5, y, fr->x0, y);
    fprintf(fr->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", fr->x0 - 8,
            y + 4, label);
}

static void y_ticks(const frame *fr)
{
    char label[32];
    if (fr->logy) {
        int d0 = (int)floor(fr->v0 + 1e-9), d1 = (int)ceil(fr->v1 - 1e-9);
        int decades = d1 - d0, every = decades > 12 ? 3 : decades > 6 ? 2 : 1;
        for (int d = d0; d <= d1; d++) {
            if ((d - d0) % every == 0) {
                snprintf(label, sizeof label, "%g", pow(10, d));
                y_line(fr, d, label, 1);
            }
            for (int k = 2; k <= 9 && d < d1; k++) {
                double v = d + log10(k);
                int named = decades <= 3 && (k == 2 || k == 5);
                if (named)
                    snprintf(label, sizeof label, "%g", k * pow(10, d));
                y_line(fr, v, named ? label : NULL, named);
            }
        }
        return;
    }
    double step = nice_step((fr->v1 - fr->v0) / 6);
    int decimals = step < 1 ? (int)ceil(-log10(step) - 1e-9) : 0;
    for (double k = ceil(fr->v0 / step - 1e-9); k * step <= fr->v1 + 1e-9 * step; k++) {
        snprintf(label, sizeof label, "%.*f", decimals, k * step + 0.0);
        y_line(fr, k * step, label, 1);
    }
}

static void x_ticks(const frame *fr)
{
    double step = nice_step((fr->ex1 - fr->ex0) / 8);
    step = step < 1 ? 1 : step;
    for (double k = ceil(fr->ex0 / step - 1e-9); k * step <= fr->ex1 + 1e-9; k++) {
        double x = px(fr, k * step);
        fprintf(fr->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                       "stroke=\"#d9d9d9\"/>\n", x, fr->y0, x, fr->y1);
        fprintf(fr->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                x, fr->y0, x, fr->y0 + 5);
        fprintf(fr->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", x,
                fr->y0 + 19, k * step);
    }
}

/* One curve: runs of usable points as polylines (a lone point as a dot). */
static void curve(const frame *fr, const double *v, size_t n, int first_epoch, const char *color,
                  const char *dash)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && !usable(fr, v[i]))
            i++;
        size_t j = i;
        while (j < n && usable(fr, v[j]))
            j++;
        if (j == i + 1) {
            fprintf(fr->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                    px(fr, first_epoch + 1.0 + (double)i),
                    py(fr, fr->logy ? log10(v[i]) : v[i]), color);
        } else if (j > i) {
            fprintf(fr->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s "
                           "points=\"", color, dash);
            for (size_t k = i; k < j; k++)
                fprintf(fr->f, "%.1f,%.1f ", px(fr, first_epoch + 1.0 + (double)k),
                        py(fr, fr->logy ? log10(v[k]) : v[k]));
            fprintf(fr->f, "\"/>\n");
        }
        i = j;
    }
}

/* The range of the usable values of both curves; 0 when there are none. */
static int value_range(const frame *fr, const double *loss, const double *val, size_t n,
                       double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 2; c++) {
            double v = c ? (val ? val[i] : NAN) : loss[i];
            if (usable(fr, v)) {
                *lo = fmin(*lo, v);
                *hi = fmax(*hi, v);
            }
        }
    return *lo <= *hi;
}

int cli_plot_write(const char *path, const double *loss, const double *val, size_t n,
                   int first_epoch, cli_plot_scale scale, bnn_error *e)
{
    bnn_outfile o;
    if (bnn_outfile_open(&o, path, e) != 0)
        return -1;
    const double W = 720, H = 440;
    frame fr = {.f = o.fp, .x0 = 80, .x1 = W - 24, .y0 = H - 55, .y1 = 40};
    double lo, hi;
    if (scale != CLI_PLOT_LINEAR) { /* log: when asked, or when the training loss falls >10x */
        fr.logy = 1;
        double tlo, thi;
        int any = value_range(&fr, loss, NULL, n, &tlo, &thi);
        if (scale == CLI_PLOT_AUTO)
            fr.logy = any && thi > 10 * tlo;
        else if (!value_range(&fr, loss, val, n, &lo, &hi))
            fr.logy = 0; /* nothing positive to show on a log axis */
    }
    if (!value_range(&fr, loss, val, n, &lo, &hi)) {
        lo = 0;
        hi = 1;
    }
    if (fr.logy) {
        fr.v0 = floor(log10(lo) + 1e-9);
        fr.v1 = ceil(log10(hi) - 1e-9);
        if (fr.v1 <= fr.v0)
            fr.v1 = fr.v0 + 1;
    } else {
        if (!(hi > lo)) { /* a flat curve: a band around it */
            double pad = lo != 0 ? 0.1 * fabs(lo) : 1;
            lo -= pad;
            hi += pad;
        }
        double step = nice_step((hi - lo) / 6);
        fr.v0 = floor(lo / step + 1e-9) * step;
        fr.v1 = ceil(hi / step - 1e-9) * step;
    }
    fr.ex0 = first_epoch + 1;
    fr.ex1 = first_epoch + (double)(n > 1 ? n : 2);
    FILE *f = o.fp;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%g\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">batchnn "
               "training loss</text>\n", (fr.x0 + fr.x1) / 2);
    y_ticks(&fr);
    x_ticks(&fr);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"black\"/>\n", fr.x0, fr.y1, fr.x1 - fr.x0, fr.y0 - fr.y1);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n",
            (fr.x0 + fr.x1) / 2, H - 12);
    double ym = (fr.y0 + fr.y1) / 2;
    fprintf(f, "<text x=\"18\" y=\"%g\" transform=\"rotate(-90 18 %g)\" "
               "text-anchor=\"middle\">loss C%s</text>\n", ym, ym, fr.logy ? " (log scale)" : "");
    curve(&fr, loss, n, first_epoch, "#1f77b4", "");
    if (val) {
        curve(&fr, val, n, first_epoch, "#ff7f0e", " stroke-dasharray=\"6 3\"");
        double lx = fr.x1 - 150, ly = fr.y1 + 12;
        fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"140\" height=\"42\" fill=\"white\" "
                   "stroke=\"#999\"/>\n", lx, ly);
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#1f77b4\" "
                   "stroke-width=\"1.6\"/>\n<text x=\"%g\" y=\"%g\">training</text>\n",
                lx + 8, ly + 14, lx + 36, ly + 14, lx + 44, ly + 18);
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#ff7f0e\" "
                   "stroke-width=\"1.6\" stroke-dasharray=\"6 3\"/>\n<text x=\"%g\" y=\"%g\">"
                   "validation</text>\n", lx + 8, ly + 31, lx + 36, ly + 31, lx + 44, ly + 35);
    }
    fprintf(f, "</svg>\n");
    return bnn_outfile_commit(&o, e);
}
