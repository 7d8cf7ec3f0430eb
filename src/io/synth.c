/*
 * synth.c - synthetic data sets, synth:NAME. Sample i is a pure function of (seed, i), drawn
 * from a counter-based hash, so a set is the same whatever the chunking or the thread count,
 * and a set too large for memory is generated chunk by chunk on demand instead of stored.
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

#include "bnn_internal.h"

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

static int synth_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                      float *out, size_t ldo, bnn_error *e)
{
    (void)e;
    const synth *s = t->ctx;
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
        return bnn_fail(e, "synth:%s: --samples must be at least 1", sets[k].name);
    if (sets[k].nin > 0 && ((nin > 0 && nin != sets[k].nin) || (nout > 0 && nout != sets[k].nout)))
        return bnn_fail(e, "synth:%s has %lld input(s) and %lld output(s), but the model has "
                           "%lld and %lld", sets[k].name, (long long)sets[k].nin,
                        (long long)sets[k].nout, (long long)nin, (long long)nout);
    if (sets[k].nin > 0) {
        nin = sets[k].nin;
        nout = sets[k].nout;
    }
    if (nin < 1 || nout < 1 || nin > BNN_MAX_WIDTH || nout > BNN_MAX_WIDTH)
        return bnn_fail(e, "synth:%s takes its widths from --arch", sets[k].name);
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
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
            for (size_t i = 0; i < n; i++)
                gen_row(s, i, store + i * cols);
            t->f32 = store;
            t->ld = cols;
            t->read = NULL;
        }
    }
    return 0;
}
