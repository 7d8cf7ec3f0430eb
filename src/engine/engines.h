/* engines.h - the engines themselves (src/engine/reference.c, notes.c, fast.c), private to
 * the engine layer (and the unit tests): everything above calls them through the engine
 * interface (bnn_engine.h: bnn_engine_*). The command never includes this header.
 */
#ifndef BNN_ENGINES_H
#define BNN_ENGINES_H

#include <stddef.h>
#include <stdint.h>

#include "engine/bnn_engine.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif


/* Reference engine (src/engine/reference.c): double precision, one sample at a time.
 * theta is a double vector with the layout above. Samples [start, start + count). */
/* One sample forward: 0, or -1 when out of memory (no message: bnn_engine_predict reports it). */
int bnn_ref_forward(const bnn_arch *a, const double *theta, const double *x, double *out);
int bnn_ref_cost(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, double *cost, bnn_error *e);
/* exact or seed gradient, averaged over the samples; cost may be NULL. */
int bnn_ref_grad(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, bnn_gradient mode, double *grad, double *cost, bnn_error *e);
/* The same for any loss; correct (may be NULL) receives the count of correct decisions. */
int bnn_ref_grad_loss(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, bnn_loss loss, double *grad,
                      double *cost, double *correct, bnn_error *e);
/* Finite differences of the loss's cost: order 2 (central) or 4 (five-point), as below. */
int bnn_fd_grad_loss(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                     size_t count, double eps, int order, bnn_loss loss, double *grad,
                     bnn_error *e);
/* Central differences (C(t + h) - C(t - h)) / 2h per parameter, h = eps * max(1, |t|),
 * costs by the reference engine. */
int bnn_fd_grad(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                size_t count, double eps, double *grad, bnn_error *e);
/* The five-point central stencil (-C(t+2h) + 8C(t+h) - 8C(t-h) + C(t-2h)) / 12h, truncation
 * error O(h^4): the oracle of gradcheck (h = eps * max(1, |t|), eps 0: 1e-3). */
int bnn_fd_grad4(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, double eps, double *grad, bnn_error *e);

/* The notes' closed forms (src/engine/notes.c), transcribed equation by equation. x, y: n samples. */
double bnn_notes_linear_cost(double w, const double *x, const double *y, size_t n);
double bnn_notes_linear_dw(double w, const double *x, const double *y, size_t n);
/* One sigmoid neuron, inputs (x1, x2), target z: grad = {dw1, dw2, db}. */
void bnn_notes_neuron_grad(const double w[2], double b, const double *x1, const double *x2,
                           const double *z, size_t n, double grad[3]);
/* Two neurons 1 -> 1 -> 1: grad = {dw1, db1, dw2, db2} (the notes' C^(1), C^(2)). */
void bnn_notes_chain2_grad(const double w[2], const double b[2], const double *x,
                           const double *y, size_t n, double grad[4]);
/* m-layer chain of single sigmoid neurons: dw[l], db[l] for l = 0..m-1. */
void bnn_notes_chain_grad(int m, const double *w, const double *b, const double *x,
                          const double *y, size_t n, double *dw, double *db);

/* Fast engine (src/engine/fast.c): float32, chunked column-major batches, OpenBLAS sgemm. */
typedef struct bnn_fast_engine bnn_fast_engine;
typedef struct bnn_fast_opts {
    int threads;   /* <= 0: OpenMP's default team (omp_get_max_threads) */
    size_t chunk;  /* samples per chunk; 0: chosen from the widths */
    int loss;      /* bnn_loss (0: mse) */
} bnn_fast_opts;
int bnn_fast_create(bnn_fast_engine **f, const bnn_arch *a, const bnn_fast_opts *o, bnn_error *e);
void bnn_fast_free(bnn_fast_engine *f);
size_t bnn_fast_chunk(const bnn_fast_engine *f);
int bnn_fast_threads(const bnn_fast_engine *f);
/* The shards a call of `count` samples is cut into (when not in split mode): ceil(count /
 * min_shard), past 32 of them max(32, ceil(count / big_shard)) (fast.c: shard_count), a
 * function of count and the architecture (and an explicit chunk) only. */
int bnn_fast_shards(const bnn_fast_engine *f, size_t count);
/* Shards that a worker took from another's range in the last call (work stealing, fast.c:
 * a worker that runs out takes the back half of the fullest other's remaining shards; the
 * results stay bitwise those of the ranges as cut). Tests: bnn_fast_test_hold(f, 1) makes
 * worker 0 wait after its first shard until the others have run out and tried to steal, so
 * that a call of 2 or more shards a worker steals for certain when its team runs at once. */
int bnn_fast_stolen(const bnn_fast_engine *f);
void bnn_fast_test_hold(bnn_fast_engine *f, int on);
/* The pieces a gradient of `count` samples is cut into when it is a GEMM-path mini-batch of
 * at least 2 pieces (fast.c: piece_count), else 0 (split mode, or shards). */
int bnn_fast_pieces(const bnn_fast_engine *f, size_t count);
/* The largest mini-batch the fast engine computes whole (split mode) for this net and loss
 * (0: none): under mpirun such a batch is computed whole by every rank. *piece: the samples
 * per piece at least of the mini-batches above it that are cut into pieces (0: none are). */
size_t bnn_fast_whole_max(const bnn_arch *a, int loss, size_t *piece);
/* bnn_engine_step's fused gradient and optimizer step on the fast engine. */
int bnn_fast_step(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, bnn_optim_state *s, double lr,
                  float *next, double *cost, double *correct, int *finite, bnn_error *e);
/* exact or seed gradient averaged over samples [start, start + count); cost may be NULL.
 * The result is bitwise the same for any thread count, and under mpirun (bnn_dist_init
 * called) for any number of ranks: every rank must make the same calls; each computes its
 * shards and gets the whole gradient and cost. */
int bnn_fast_grad(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, double *cost, bnn_error *e);
int bnn_fast_cost(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, bnn_error *e);
/* Outputs of samples [start, start + count): out is row-major count x nout (under mpirun:
 * on rank 0; the other ranks' out holds only their own shards' rows). */
int bnn_fast_predict(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                     size_t count, float *out, bnn_error *e);
/* bnn_fast_grad that also counts correct classifications (see bnn_loss; correct may be
 * NULL), and the cost and count without a gradient. */
int bnn_fast_grad_acc(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, float *grad, double *cost,
                      double *correct, bnn_error *e);
int bnn_fast_eval(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, double *correct, bnn_error *e);
/* The fast engine's choice of team for small jobs (fast.c, bnn_team_pick: the rule and its
 * constants), a function of the wall-clock times it is given (seconds), so tests can drive it.
 * Zero-initialised; bnn_team_pick says whether the next call runs with the whole team (1) or
 * alone (0), bnn_team_timed records that call, started at t0 and ended at now on count
 * samples. */
typedef struct bnn_team_clock {
    double next, wait, rate[2], secs[2];
    int probe, team, against;
} bnn_team_clock;
int bnn_team_pick(bnn_team_clock *c, double now);
void bnn_team_timed(bnn_team_clock *c, double t0, double now, size_t count);

/* The fast engine keeps one thread's workspace (activations, deltas, input and target
 * buffers) within this many bytes: the chunk shrinks below 256 samples for nets wide enough
 * to need it. */
#define BNN_FAST_WORKSPACE_MAX ((size_t)64 << 20)
/* Bytes bnn_fast_create(a, {threads, chunk 0}) plans: the per-thread workspaces and two
 * gradient partials per thread (threads <= 0: OpenMP's default team); a call of S shards
 * grows the partials to at most 2 log2 S + 1 per thread, and as many again per run of shards
 * a thread may steal where the memory limit allows (fast.c). 0 when a is invalid.
 * bnn_fast_create refuses, before allocating, when this exceeds bnn_memory_budget(). */
size_t bnn_fast_memory(const bnn_arch *a, int threads);
#include "batchnn.h"

#ifdef __cplusplus
}
#endif
#endif /* BNN_ENGINES_H */
