/*
 * loss.c - the losses' names and the architecture they need (the formulas: batchnn.h and
 * kernels/loss_loops.h for the fast engine, reference.c for the reference engine).
 */
#include <string.h>

#include "engine/engines.h"

static const char *const loss_names[] = {"mse", "cross-entropy", "bce"};
static const bnn_name_alias loss_aliases[] = {{"ce", BNN_LOSS_CE}, {NULL, 0}};
static const bnn_names losses = {loss_names, 3, loss_aliases};

const char *bnn_loss_name(bnn_loss l)
{
    return bnn_names_of(&losses, (int)l);
}

int bnn_loss_parse(const char *s, bnn_loss *l)
{
    const int i = bnn_names_find(&losses, s);
    if (i >= 0)
        *l = (bnn_loss)i;
    return i >= 0 ? 0 : -1;
}

int bnn_loss_check(const bnn_arch *a, bnn_loss l, bnn_error *e)
{
    if ((unsigned)l > BNN_LOSS_BCE)
        return bnn_fail(e, "loss %d is unknown", (int)l);
    if (l == BNN_LOSS_MSE)
        return 0;
    const bnn_act last = a->act[a->nlayers - 1];
    if (last != BNN_ACT_IDENTITY)
        return bnn_fail(e, "loss %s needs an identity last layer (logits), not %s (e.g. activations "
                           "sigmoid,identity)", bnn_loss_name(l), bnn_act_name(last));
    if (l == BNN_LOSS_CE && a->width[a->nlayers] < 2)
        return bnn_fail(e, "loss cross-entropy needs at least 2 outputs, the last layer has "
                           "%lld (bce is the loss for one output)",
                        (long long)a->width[a->nlayers]);
    return 0;
}

int64_t bnn_loss_decisions(const bnn_arch *a, bnn_loss l)
{
    return l == BNN_LOSS_BCE ? a->width[a->nlayers] : 1;
}
