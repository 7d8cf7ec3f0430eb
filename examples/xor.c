/* xor.c - the xor gate with batchnn's convenience layer: a 2-3-1 sigmoid net, full-batch
 * gradient descent on the four cases, then the four outputs. */
#include <stdio.h>

#include <batchnn.h>

int main(void)
{
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1}; /* 4 samples x 2 inputs, row-major */
    const float y[] = {0, 1, 1, 0};             /* 4 samples x 1 output */
    const int widths[] = {2, 3, 1};
    bnn_error e;
    bnn_net *net = bnn_net_create(2, widths, NULL, 1, &e); /* sigmoid layers, seed 1 */
    if (!net) {
        fprintf(stderr, "xor: %s\n", e.msg);
        return 1;
    }
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = 3000;
    o.lr = 2.0;
    int rc = bnn_net_train(net, x, y, 4, &o, &e);
    for (int i = 0; rc == 0 && i < 4; i++) {
        float out;
        rc = bnn_net_run(net, x + 2 * i, &out, &e);
        if (rc == 0)
            printf("%g xor %g = %.4f\n", x[2 * i], x[2 * i + 1], out);
    }
    if (rc != 0)
        fprintf(stderr, "xor: %s\n", e.msg);
    bnn_net_free(net);
    return rc == 0 ? 0 : 1;
}
