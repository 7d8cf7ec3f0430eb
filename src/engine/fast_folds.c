/*
 * fast_folds.c - the fast engine's shards between its workers (fast.c, run): the claims a
 * worker takes its shards from and steals another's with, the stacks its gradient partials
 * are folded on (reserved per call layout within the memory limit), and the reduction of the
 * stacks along the fixed tree (src/dist/tree.h). fast.c's header says why and how.
 */
#include <stdlib.h>
#include <string.h>

#include "fast_impl.h"

/* ---- claiming shards: each worker takes its own range in order; one that runs out takes the
 * back half of another's remaining shards (work stealing) ---- */

uint64_t bnn_claim_pack(int next, int end)
{
    return (uint64_t)(uint32_t)next | (uint64_t)(uint32_t)end << 32;
}

static int claim_next(uint64_t v)
{
    return (int)(uint32_t)v;
}

static int claim_end(uint64_t v)
{
    return (int)(uint32_t)(v >> 32);
}

/* The next shard of a claim (the owner's), -1 when none is left. Relaxed: a claim hands over
 * an index, no data (the shards' inputs are read-only, their results go to places of their
 * own, and the team's closing barrier orders those). */
int bnn_claim_one(claim_word *c)
{
    uint64_t v = atomic_load_explicit(&c->v, memory_order_relaxed);
    for (;;) {
        const int next = claim_next(v), end = claim_end(v);
        if (next >= end)
            return -1;
        if (atomic_compare_exchange_weak_explicit(&c->v, &v, bnn_claim_pack(next + 1, end),
                                                  memory_order_relaxed, memory_order_relaxed))
            return next;
    }
}

/* Worker me of `workers` has run out: lower the end of the claim with the most shards left
 * to its middle and return the first shard of the back half taken, *end its end; -1 when no
 * other worker has a shard left. The victim keeps the front half (at least one shard less
 * than it had: with one shard left, the thief takes it, since the victim is busy with
 * another). cap >= 0 (gradient calls): the back half is shrunk until its fold needs at most
 * cap stack entries (bnn_tree_need), the thief's stealing stack. */
int bnn_claim_steal(claim_word *claim, int workers, int me, int shards, int cap, int *end)
{
    for (;;) {
        int victim = -1, most = 0;
        uint64_t seen = 0;
        for (int u = 0; u < workers; u++) {
            const uint64_t v = atomic_load_explicit(&claim[u].v, memory_order_relaxed);
            const int left = claim_end(v) - claim_next(v);
            if (u != me && left > most) {
                most = left;
                victim = u;
                seen = v;
            }
        }
        if (victim < 0)
            return -1;
        const int next = claim_next(seen), e = claim_end(seen);
        int m = next + (e - next) / 2;
        while (cap >= 0 && m < e && bnn_tree_need(shards, m, e) > cap)
            m += (e - m + 1) / 2;
        if (m >= e)
            return -1;
        if (atomic_compare_exchange_strong_explicit(&claim[victim].v, &seen, bnn_claim_pack(next, m),
                                                    memory_order_relaxed,
                                                    memory_order_relaxed)) {
            *end = e;
            return m;
        }
    }
}

/* The per-shard doubles and sample bounds of a call of `shards` shards: 0 or -1. */
int bnn_fast_reserve_vals(bnn_fast_engine *f, int shards, bnn_error *e)
{
    if (f->vals_cap >= (size_t)shards)
        return 0;
    double *v = realloc(f->vals, 2 * (size_t)shards * sizeof *v);
    if (v)
        f->vals = v;
    size_t *b = realloc(f->bounds, ((size_t)shards + 1) * sizeof *b);
    if (b)
        f->bounds = b;
    if (!v || !b)
        return bnn_fail(e, "fast engine: out of memory for %d shards", shards);
    f->vals_cap = (size_t)shards;
    return 0;
}

/* The first slot of worker t's stack for its k-th stolen run (after its own stack). */
int bnn_fast_steal_base(const bnn_fast_engine *f, int t, int k)
{
    return f->slot0[t + 1] - (f->nsteal - k) * f->scap[t];
}

/* The slots of `workers` workers' stacks over [lo, hi), each with nsteal more for stolen
 * shards, each as large as its own (scap), laid out in slot0. */
static size_t lay_slots(bnn_fast_engine *f, int shards, int lo, int hi, int workers, int nsteal)
{
    size_t slots = 0;
    for (int t = 0; t < workers; t++) {
        int a, b;
        bnn_tree_split(lo, hi, workers, t, &a, &b);
        const int own = bnn_tree_need(shards, a, b);
        f->slot0[t] = (int)slots;
        f->scap[t] = nsteal ? own : 0;
        slots += (size_t)own * (size_t)(1 + nsteal);
    }
    f->slot0[workers] = (int)slots;
    f->nsteal = nsteal;
    return slots;
}

/* The workers' stacks for a gradient call of `shards` shards, this rank's [lo, hi) in
 * `workers` workers (bnn_tree_split): worker t needs bnn_tree_need of its range, at most
 * 2 log2 S + 1 partials, and when two or more work as many again for each run of shards it
 * steals (run): STEALS_MAX runs while those stacks take at most STEAL_STACKS_BYTES a worker
 * (narrow nets, small ones), else one, and none when the memory limit does not allow them
 * (the workers then keep their own ranges). The partials grow when needed and are checked
 * against the memory limit like bnn_fast_create's plan: 0 or -1. */
int bnn_fast_reserve_folds(bnn_fast_engine *f, int shards, int lo, int hi, int workers,
                           bnn_error *e)
{
    if (f->lay_shards == shards && f->lay_lo == lo && f->lay_hi == hi &&
        f->lay_workers == workers)
        return 0;
    f->lay_shards = 0; /* slot0 and scap change below: no layout is cached until one fits */
    size_t slots = lay_slots(f, shards, lo, hi, workers, 0);
    const size_t own_bytes = mul_sat(mul_sat(slots, f->pstride), sizeof(float));
    int nsteal = workers < 2 ? 0 : own_bytes * STEALS_MAX <= STEAL_STACKS_BYTES * (size_t)workers
                             ? STEALS_MAX : 1;
    bnn_memory_limit lim;
    bnn_memory_limit_get(&lim);
    for (; nsteal > 0; nsteal = nsteal > 1 ? 1 : 0) {
        slots = lay_slots(f, shards, lo, hi, workers, nsteal);
        if (slots <= f->pslots || !lim.bytes || bnn_fast_planned_bytes(f, slots) <= lim.bytes)
            break;
    }
    if (nsteal == 0)
        slots = lay_slots(f, shards, lo, hi, workers, 0);
    if (slots > f->pslots || (bnn_dist_size() > 1 && !f->recv)) {
        const size_t need = bnn_fast_planned_bytes(f, slots);
        if (lim.bytes && need > lim.bytes) {
            char sn[32], sp[32], sl[32];
            bnn_format_bytes(need, sn, sizeof sn);
            bnn_format_bytes(f->pstride * sizeof(float), sp, sizeof sp);
            bnn_format_bytes(lim.bytes, sl, sizeof sl);
            return bnn_fail(e, "fast engine: %d shards over %d threads need %s of working "
                               "memory (%zu gradient partials of %s with the workspaces), but "
                               "this process may use %s (%s)", shards, workers, sn, slots, sp,
                            sl, lim.what);
        }
        bnn_free(f->partials);
        free(f->stack);
        free(f->merged);
        f->pslots = 0;
        /* a rank without shards (K > S) needs none of its own, only the receive buffer */
        f->partials = slots ? bnn_alloc(mul_sat(slots, f->pstride), sizeof(float)) : NULL;
        f->stack = slots ? malloc(slots * sizeof *f->stack) : NULL;
        f->merged = slots ? malloc(slots * sizeof *f->merged) : NULL;
        if (bnn_dist_size() > 1 && !f->recv)
            f->recv = bnn_alloc(f->pstride, sizeof(float));
        if ((slots && (!f->partials || !f->stack || !f->merged)) ||
            (bnn_dist_size() > 1 && !f->recv))
            return bnn_fail(e, "fast engine: cannot allocate %zu gradient partials", slots);
        f->pslots = slots;
    }
    f->lay_shards = shards;
    f->lay_lo = lo;
    f->lay_hi = hi;
    f->lay_workers = workers;
    return 0;
}

/* The reduction step, after the workers' folds: g = the sum of the shards' partials along the
 * fixed tree (src/dist/tree.h). The workers' stacks (their own shards', and those they stole)
 * are disjoint runs of shards; their maximal nodes, in shard order, are folded on into this
 * rank's (the same tree: a node both of whose children are here is summed here), then the
 * ranks exchange theirs (dist.c). Under FTZ/DAZ like the workers' own folds, so that a node's
 * sum has the same bits wherever it is taken. */
int bnn_fast_reduce_folds(bnn_fast_engine *f, const bnn_kernel_table *k, int shards, int lo,
                          int hi, int workers, float *g, bnn_error *e)
{
    const unsigned int saved_csr = worker_enter();
    bnn_tree_fold m = {shards, f->nparams, k->axpy, 0, f->merged};
    /* the stacks (at most 1 + STEALS_MAX a worker) cover this rank's shards in runs: push the
     * one that starts where the last ended (a few threads: a scan each is nothing) */
    int pos = lo;
    for (int found = 1; pos < hi && found;) {
        found = 0;
        for (int t = 0; t < workers && !found; t++)
            for (int r = -1; r < f->nsteal && !found; r++) { /* own, then stolen runs */
                const int n = r < 0 ? f->depth[t] : f->sdepth[t * STEALS_MAX + r];
                const int base = r < 0 ? f->slot0[t] : bnn_fast_steal_base(f, t, r);
                const bnn_tree_part *p = &f->stack[base];
                if (n == 0 || p->lo != pos)
                    continue;
                for (int i = 0; i < n; i++)
                    bnn_tree_push(&m, p[i].lo, p[i].hi, p[i].p);
                pos = p[n - 1].hi;
                found = 1;
            }
    }
    if (pos != hi) { /* cannot happen: every shard was claimed by exactly one worker */
        worker_leave(saved_csr);
        return bnn_fail(e, "fast engine: internal error: shards %d to %d were not summed", pos,
                        hi - 1);
    }
    const int rc = bnn_dist_tree_sum_parts(m.e, m.depth, shards, f->nparams, k->axpy, f->recv,
                                           g, e);
    worker_leave(saved_csr);
    return rc;
}

