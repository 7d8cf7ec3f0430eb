/*
 * split.h - what the fast engine (fast.c) and its split mode (split.c: mini-batches spread
 * over the threads) share: split mode's state, its entry points, and the small helpers of a
 * parallel job that both use. Private to src/engine; the rules are at the top of split.c.
 */
#ifndef BNN_ENGINE_SPLIT_H
#define BNN_ENGINE_SPLIT_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BNN_HAVE_MXCSR 1
#endif

#include "engine/engines.h"
#include "bnn_kernels.h"

/* The optimizer step fused into a split-mode batch (bnn_fast_step): each thread runs
 * bnn_optim_step_range with this step's coefficients on the rows it owns right after their
 * gradient, writing next. Set by bnn_split_grad: used 1 (the batch took split mode), apply 0
 * when the batch's loss is not finite (no step taken), ok 0 when a new parameter is not finite. */
typedef struct bnn_split_step {
    const bnn_optim_state *st;
    const bnn_optim_coef *coef;
    float *next;
    int used, apply, ok;
} bnn_split_step;

/* Split mode's plan (fixed at the engine's creation) and its whole-batch workspace. */
typedef struct bnn_split {
    size_t max; /* batches of at most max samples take split mode; 0: off */
    bnn_arch arch;
    int loss; /* bnn_loss */
    int threads;
    size_t maxw;
    double flops; /* per sample, forward and backward (TEAM_MIN_FLOP) */
    const bnn_kernel_table *k;
    /* one workspace for the whole batch, shared by the team */
    float *acts, *delta, *xbuf, *ybuf;
    float *part;       /* two sets of D_{l-1} partials, part_floats each */
    size_t part_floats;
    bnn_split_step *step; /* set by bnn_fast_step for one call, else NULL */
    size_t cap;                     /* samples it holds */
    size_t off[BNN_MAX_LAYERS + 1]; /* offset of A_l in acts */
    bnn_team_clock clock;           /* the choice of team (pick_team in fast.c) */
} bnn_split;

/* Fills the plan (s->max 0 when `on` is 0); allocates nothing. */
/* Floats of one thread's GEMM workspace for `count` samples, as allocated (fast_plan.c): A_l
 * (each rounded to 16 floats), two delta buffers, the input and target buffers. Split mode's
 * whole-batch workspace is this plus its partials. */
size_t bnn_fast_workspace_floats(const bnn_arch *a, size_t count);
void bnn_split_plan(bnn_split *s, const bnn_arch *a, int loss, int threads, double flops,
                    const bnn_kernel_table *k, int on);
void bnn_split_free(bnn_split *s);
/* The gradient (and mean loss, correct decisions) of samples start..start+count-1 of d,
 * count <= s->max: 0, or -1 with e set. */
int bnn_split_grad(bnn_split *s, const float *theta, const bnn_data *d, size_t start,
                   size_t count, float out_scale, float hidden_scale, float *grad,
                   double *cost, double *correct, bnn_error *e);

/* fast.c: the output layer's delta and the summed loss of one piece (D NULL: the loss only) */
double bnn_fast_loss_piece(const bnn_arch *a, int loss, const bnn_kernel_table *k, float *D,
                           const float *A, const bnn_chunk *c, float out_scale,
                           double *correct);

/* Split mode's team: a batch below this FLOP count (forward and backward) runs alone (see
 * the rule above bnn_team_pick in fast.c). */
#define TEAM_MIN_FLOP 4e6

static inline size_t round_up16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static inline size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static inline size_t mul_sat(size_t a, size_t b)
{
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static inline size_t round16_sat(size_t n)
{
    return n > SIZE_MAX - 15 ? SIZE_MAX : round_up16(n);
}

/* A worker thread's entry and exit: flush-to-zero and denormals-are-zero while it runs
 * (saturated sigmoids otherwise produce subnormal deltas, ~100x slower on x86), the caller's
 * MXCSR restored after. */
static inline unsigned int worker_enter(void)
{
#ifdef BNN_HAVE_MXCSR
    const unsigned int saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040); /* FTZ | DAZ */
    return saved;
#else
    return 0;
#endif
}

static inline void worker_leave(unsigned int saved)
{
#ifdef BNN_HAVE_MXCSR
    _mm_setcsr(saved);
#else
    (void)saved;
#endif
}

/* Records the first error of a parallel job (any thread). */
static inline void note_error(int *failed, bnn_error *first, const bnn_error *err)
{
#pragma omp critical(bnn_fast_error)
    if (!*failed) {
        *failed = 1;
        *first = *err;
    }
}

/* A parallel job's outcome: 0, or -1 with its first error in e. */
static inline int job_result(int failed, const bnn_error *first, bnn_error *e)
{
    if (failed && e)
        *e = *first;
    return failed ? -1 : 0;
}

/* The rule of bnn_team_pick (fast.c) on the real clock: the choice for the next call, and
 * its record (seconds: the call's duration, ending now). */
typedef bnn_team_clock team_clock;

static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int pick_team(team_clock *c)
{
    return bnn_team_pick(c, now_seconds());
}

static inline void team_timed(team_clock *c, int which, double seconds, size_t count)
{
    (void)which; /* the clock knows which call it timed */
    const double now = now_seconds();
    bnn_team_timed(c, now - seconds, now, count);
}

#endif
