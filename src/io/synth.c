/*
 * synth.c - synthetic data sets, synth:NAME. Sample i is a pure function of (seed, i), drawn
 * from a counter-based hash (bnn_u01_at: value j of sample i is u01(seed, i * (nin + nout) + j)),
 * so a set is the same whatever the chunking, the thread count or the rank, and a set too
 * large for memory is generated chunk by chunk on demand, inside the engine's parallel
 * region, instead of stored. uniform and linear (the benchmark sets) are generated on the
 * kernel table's SIMD u01_run, only the columns a reader asks for.
 *
 *   linear   1 -> 1   x ~ U[0,1), y = 2x + noise, noise ~ U(-0.001, 0.001) (the notes' y = 2x)
 *   or, and, nand, xor   2 -> 1   the gate's truth table, rows cycling (0,0) (0,1) (1,0) (1,1)
 *   uniform  any      inputs and targets U[0,1) with the widths of --arch (benchmarks)
 *   teacher  any      x ~ U[0,1), y_j = sigmoid(sum_k T_jk (x_k - 1/2) * 6 / sqrt(in)) with a
 *                     fixed random teacher T ~ U(-1,1) from the seed: learnable at any width
 *   circle   2 -> 1   x ~ U[0,1)^2, y = 1 inside the circle of radius 0.3 about (0.5, 0.5)
 *   sine     1 -> 1   x ~ U[0,1), y = 0.5 + 0.4 sin(2 pi x)
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnn_io.h"
#include "bnn_kernels.h"

typedef enum { S_LINEAR, S_OR, S_AND, S_NAND, S_XOR, S_UNIFORM, S_TEACHER, S_CIRCLE, S_SINE,
               S_COUNT } synth_kind;

static const struct {
    const char *name;
    int64_t nin, nout; /* -1: from --arch */
} sets[S_COUNT] = {
    {"linear", 1, 1}, {"or", 2, 1},       {"and", 2, 1},       {"nand", 2, 1}, {"xor", 2, 1},
    {"uniform", -1, -1}, {"teacher", -1, -1}, {"circle", 2, 1}, {"sine", 1, 1},
};

typedef struct synth {
    synth_kind kind;
    uint64_t seed;
    size_t nin, nout;
    float *teacher; /* nout x nin for S_TEACHER */
    float *store;   /* rows x (nin + nout) when kept in memory */
} synth;

static int find(const char *name, bnn_error *e)
{
    if (strncmp(name, "synth:", 6) == 0)
        name += 6;
    for (int k = 0; k < S_COUNT; k++)
        if (strcmp(name, sets[k].name) == 0)
            return k;
    bnn_fail(e, "synth:%s: unknown synthetic set (known: %s)", name, bnn_synth_names());
    return -1;
}

const char *bnn_synth_names(void)
{
    return "linear, or, and, nand, xor, uniform, teacher, circle, sine";
}

int bnn_synth_widths(const char *name, int64_t *nin, int64_t *nout, bnn_error *e)
{
    int k = find(name, e);
    if (k < 0)
        return -1;
    *nin = sets[k].nin;
    *nout = sets[k].nout;
    return 0;
}

/* Writes the nin inputs then nout targets of sample i. */
static void gen_row(const synth *s, uint64_t i, float *row)
{
    const uint64_t stride = (uint64_t)(s->nin + s->nout);
    const uint64_t key = i * stride;
    switch (s->kind) {
    case S_LINEAR: {
        float x = bnn_hash_u01(s->seed, key);
        float noise = (bnn_hash_u01(s->seed, key + 1) - 0.5f) * 0.002f;
        row[0] = x;
        row[1] = 2.0f * x + noise;
        break;
    }
    case S_OR:
    case S_AND:
    case S_NAND:
    case S_XOR: {
        int a = (int)((i >> 1) & 1), b = (int)(i & 1);
        int y = s->kind == S_OR ? (a | b) : s->kind == S_AND ? (a & b)
              : s->kind == S_NAND ? !(a & b) : (a ^ b);
        row[0] = (float)a;
        row[1] = (float)b;
        row[2] = (float)y;
        break;
    }
    case S_UNIFORM:
        for (uint64_t j = 0; j < stride; j++)
            row[j] = bnn_hash_u01(s->seed, key + j);
        break;
    case S_TEACHER: {
        for (size_t j = 0; j < s->nin; j++)
            row[j] = bnn_hash_u01(s->seed, key + j);
        double gain = 6.0 / sqrt((double)s->nin);
        for (size_t o = 0; o < s->nout; o++) {
            double z = 0;
            for (size_t j = 0; j < s->nin; j++)
                z += (double)s->teacher[o * s->nin + j] * ((double)row[j] - 0.5);
            row[s->nin + o] = (float)(1.0 / (1.0 + exp(-gain * z)));
        }
        break;
    }
    case S_CIRCLE: {
        float x = bnn_hash_u01(s->seed, key), y = bnn_hash_u01(s->seed, key + 1);
        float dx = x - 0.5f, dy = y - 0.5f;
        row[0] = x;
        row[1] = y;
        row[2] = dx * dx + dy * dy < 0.09f ? 1.0f : 0.0f;
        break;
    }
    case S_SINE: {
        float x = bnn_hash_u01(s->seed, key);
        row[0] = x;
        row[1] = (float)(0.5 + 0.4 * sin(2.0 * M_PI * (double)x));
        break;
    }
    default:
        break;
    }
}

/* out[t] = u01(seed, key0 + t * step), t < n, on the kernel table's u01_run: split where
 * key >> 32 changes (once in 2^32 / step keys), since a run shares one (a, b). */
static void u01_keys(const synth *s, float *out, size_t n, uint64_t key0, uint64_t step)
{
    const bnn_kernel_table *kt = bnn_kernels();
    while (n > 0) {
        const uint64_t hi = key0 >> 32;
        const uint64_t room = (((hi + 1) << 32) - key0 + step - 1) / step; /* keys left in hi */
        const size_t m = room < n ? (size_t)room : n;
        const bnn_u01_key k = bnn_u01_key_of(s->seed, hi);
        kt->u01_run(out, m, (uint32_t)key0, (uint32_t)step, k.a, k.b);
        out += m;
        n -= m;
        key0 += (uint64_t)m * step;
    }
}

/* Rows a piece of the fast path handles at once (its buffers on the stack). */
#define PIECE 512

/* The fast path of uniform and linear (the benchmark sets): only the columns asked for are
 * generated, a column (or a row) at a time on the SIMD generator; the values are bitwise
 * gen_row's. Returns 0 when the set has no fast path. */
static int read_fast(const synth *s, size_t row0, size_t nrows, size_t col0, size_t ncols,
                     float *out, size_t ldo)
{
    const uint64_t stride = (uint64_t)(s->nin + s->nout);
    float a[PIECE], b[PIECE];
    if (s->kind == S_UNIFORM && ncols == stride && ldo == stride) { /* whole rows: one run */
        u01_keys(s, out, nrows * (size_t)stride, (uint64_t)row0 * stride, 1);
        return 1;
    }
    if (s->kind == S_UNIFORM && ncols >= 16) { /* long rows: a run per row */
        for (size_t r = 0; r < nrows; r++)
            u01_keys(s, out + r * ldo, ncols, (uint64_t)(row0 + r) * stride + col0, 1);
        return 1;
    }
    if (s->kind == S_UNIFORM) { /* short rows: a run per column, every stride-th key */
        for (size_t r0 = 0; r0 < nrows; r0 += PIECE) {
            const size_t m = nrows - r0 < PIECE ? nrows - r0 : PIECE;
            for (size_t j = 0; j < ncols; j++) {
                float *dst = ldo == 1 && ncols == 1 ? out + r0 : a;
                u01_keys(s, dst, m, (uint64_t)(row0 + r0) * stride + col0 + j, stride);
                if (dst == a)
                    for (size_t r = 0; r < m; r++)
                        out[(r0 + r) * ldo + j] = a[r];
            }
        }
        return 1;
    }
    if (s->kind != S_LINEAR)
        return 0;
    if (col0 == 0 && ncols == 2 && ldo == 2) { /* whole rows: (x, noise) pairs in one run */
        u01_keys(s, out, 2 * nrows, 2 * (uint64_t)row0, 1);
        bnn_kernels()->linear_pairs(out, nrows);
        return 1;
    }
    for (size_t r0 = 0; r0 < nrows; r0 += PIECE) { /* x = u(2i), noise from u(2i + 1) */
        const size_t m = nrows - r0 < PIECE ? nrows - r0 : PIECE;
        u01_keys(s, a, m, 2 * (uint64_t)(row0 + r0), 2);
        if (col0 + ncols > 1)
            u01_keys(s, b, m, 2 * (uint64_t)(row0 + r0) + 1, 2);
        for (size_t r = 0; r < m; r++) {
            float *row = out + (r0 + r) * ldo - col0;
            if (col0 == 0)
                row[0] = a[r];
            if (col0 + ncols > 1)
                row[1] = 2.0f * a[r] + (b[r] - 0.5f) * 0.002f;
        }
    }
    return 1;
}

static int synth_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                      float *out, size_t ldo, bnn_error *e)
{
    (void)e;
    const synth *s = t->ctx;
    if (read_fast(s, row0, nrows, col0, ncols, out, ldo))
        return 0;
    size_t stride = s->nin + s->nout;
    float local[1024];
    float *row = stride <= 1024 ? local : malloc(stride * sizeof(float));
    if (!row)
        return bnn_fail(e, "%s: out of memory", t->name);
    for (size_t r = 0; r < nrows; r++) {
        gen_row(s, row0 + r, row);
        memcpy(out + r * ldo, row + col0, ncols * sizeof(float));
    }
    if (row != local)
        free(row);
    return 0;
}

static void synth_close(bnn_table *t)
{
    synth *s = t->ctx;
    if (!s)
        return;
    free(s->teacher);
    bnn_free(s->store);
    free(s);
}

int bnn_synth_open(bnn_table *t, const char *name, size_t n, int64_t nin, int64_t nout,
                   uint64_t seed, size_t mem_budget, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    int k = find(name, e);
    if (k < 0)
        return -1;
    if (n == 0)
        return bnn_fail(e, "synth:%s: n (samples) must be at least 1", sets[k].name);
    if (sets[k].nin > 0 && ((nin > 0 && nin != sets[k].nin) || (nout > 0 && nout != sets[k].nout)))
        return bnn_fail(e, "synth:%s has %lld input(s) and %lld output(s), but the model has "
                           "%lld and %lld", sets[k].name, (long long)sets[k].nin,
                        (long long)sets[k].nout, (long long)nin, (long long)nout);
    if (sets[k].nin > 0) {
        nin = sets[k].nin;
        nout = sets[k].nout;
    }
    if (nin < 1 || nout < 1 || nin > BNN_MAX_WIDTH || nout > BNN_MAX_WIDTH)
        return bnn_fail(e, "synth:%s takes its widths from nin and nout (at least 1 each)", sets[k].name);
    size_t cols = (size_t)(nin + nout);
    synth *s = calloc(1, sizeof *s);
    if (!s)
        return bnn_fail(e, "synth:%s: out of memory", sets[k].name);
    s->kind = (synth_kind)k;
    s->seed = seed;
    s->nin = (size_t)nin;
    s->nout = (size_t)nout;
    t->ctx = s;
    t->close = synth_close;
    t->rows = n;
    t->cols = cols;
    t->read = synth_read;
    snprintf(t->name, sizeof t->name, "synth:%s", sets[k].name);
    /* What this process may use (0: unknown). With overcommit a block beyond it is granted
     * and the process killed when it fills it, so the decisions below go by it, not by what
     * malloc says. */
    bnn_memory_limit lim;
    bnn_memory_limit_get(&lim);
    if (s->kind == S_TEACHER) {
        /* nin x nout can be far larger than the model (100000,1,100000): refuse a teacher
         * beyond a quarter of the budget, as the data sets' stores are limited */
        size_t tbytes = (size_t)nin > SIZE_MAX / sizeof(float) / (size_t)nout
                      ? SIZE_MAX : (size_t)nin * (size_t)nout * sizeof(float);
        if (lim.bytes && tbytes > lim.bytes / 4) {
            char need[32], have[32];
            bnn_table_close(t);
            return bnn_fail(e, "synth:teacher: the %lld x %lld teacher needs %s, more than a "
                               "quarter of the %s this process may use (%s)", (long long)nout,
                            (long long)nin, bnn_format_bytes(tbytes, need, sizeof need),
                            bnn_format_bytes(lim.bytes, have, sizeof have), lim.what);
        }
        if (tbytes == SIZE_MAX || !(s->teacher = malloc(tbytes))) {
            bnn_table_close(t);
            return bnn_fail(e, "synth:teacher: out of memory");
        }
        uint64_t tseed = bnn_hash64(seed, 0x7465616368657221ULL);
        for (size_t i = 0; i < (size_t)(nin * nout); i++)
            s->teacher[i] = 2.0f * bnn_hash_u01(tseed, i) - 1.0f;
    }
    /* Keep the set in memory when it fits the caller's budget, and never beyond half of what
     * this process may use whatever the caller says (a stored set is filled at once: too big,
     * it gets the process killed, not an error): an epoch then streams plain floats. Stored
     * or generated, the samples are the same. */
    if (lim.bytes && mem_budget > lim.bytes / 2)
        mem_budget = lim.bytes / 2;
    if (n <= mem_budget / sizeof(float) / cols) {
        s->store = bnn_alloc(n * cols, sizeof(float));
        if (s->store) {
            float *store = s->store;
            /* every region names its team: the caller's default (the command sets it from
             * --threads), at most the CPUs this process may use, so OMP_NUM_THREADS=100000
             * (which crashed the process here) cannot start 100000 threads; each row is the
             * same whatever the team */
            int team = omp_get_max_threads();
            if (team > omp_get_num_procs())
                team = omp_get_num_procs();
            const size_t pieces = (n + PIECE - 1) / PIECE;
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
            for (size_t p = 0; p < pieces; p++) {
                const size_t r0 = p * PIECE, m = n - r0 < PIECE ? n - r0 : PIECE;
                if (!read_fast(s, r0, m, 0, cols, store + r0 * cols, cols))
                    for (size_t i = r0; i < r0 + m; i++)
                        gen_row(s, i, store + i * cols);
            }
            t->f32 = store;
            t->ld = cols;
            t->read = NULL;
        }
    }
    return 0;
}
