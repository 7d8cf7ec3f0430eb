/* regression.c - a small regression with batchnn's convenience layer: y = x^3 - x on
 * [-1.5, 1.5] by a 1-32-32-1 tanh net, shuffled mini-batches of 64 and Adam; prints the cost
 * as it falls, saves the net, loads it back and runs a batch of points forward.
 * Usage: regression [MODEL.safetensors]   (default regression.safetensors) */
#include <stdio.h>

#include <batchnn.h>

#define N 2048

static int show(void *ctx, int epoch, double loss, double seconds)
{
    (void)ctx, (void)seconds;
    if (epoch % 50 == 0)
        printf("epoch %3d  cost %.6f\n", epoch, loss);
    return 0; /* non-zero would stop training */
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "regression.safetensors";
    static float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = -1.5f + 3.0f * (float)i / (N - 1);
        y[i] = x[i] * x[i] * x[i] - x[i];
    }
    const int widths[] = {1, 32, 32, 1};
    const bnn_act acts[] = {BNN_ACT_TANH, BNN_ACT_TANH, BNN_ACT_IDENTITY};
    bnn_error e;
    bnn_net *net = bnn_net_create(3, widths, acts, 42, &e), *back = NULL;
    if (!net)
        goto fail;

    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = 200;
    o.batch = 64;
    o.lr = 0.01;
    o.optim.kind = BNN_OPT_ADAM; /* betas 0.9, 0.999, eps 1e-8 by default */
    o.shuffle = 1;
    o.seed = 7;
    o.on_epoch = show;
    double cost, cost_back;
    if (bnn_net_train(net, x, y, N, &o, &e) != 0 || bnn_net_cost(net, x, y, N, &cost, NULL, &e) != 0)
        goto fail;
    printf("final cost %.6f\n", cost);

    /* save, load back: the same net, the same cost */
    if (bnn_net_save(net, path, &e) != 0 || !(back = bnn_net_load(path, &e)) ||
        bnn_net_cost(back, x, y, N, &cost_back, NULL, &e) != 0)
        goto fail;
    printf("loaded %s: cost %.6f (%s)\n", path, cost_back, cost_back == cost ? "same" : "DIFFERENT");

    const float probe[] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f};
    float out[5];
    if (bnn_net_run_batch(back, probe, 5, out, &e) != 0)
        goto fail;
    for (int i = 0; i < 5; i++)
        printf("f(%+.1f) = %+.4f (exact %+.4f)\n", probe[i], out[i],
               probe[i] * probe[i] * probe[i] - probe[i]);
    bnn_net_free(back);
    bnn_net_free(net);
    return cost_back == cost ? 0 : 1;
fail:
    fprintf(stderr, "regression: %s\n", e.msg);
    bnn_net_free(back);
    bnn_net_free(net);
    return 1;
}
