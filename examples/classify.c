/* classify.c FILE INPUTS CLASSES: trains on rows of INPUTS values and a label 0..CLASSES-1. */
#include <stdio.h>
#include <stdlib.h>
#include <batchnn.h>

static int row(void *ctx, const bnn_epoch_stats *s) /* the log row of every 20th epoch */
{
    if (s->epoch % 20 == 0)
        printf("epoch %d val_loss %f val_accuracy %f\n", s->epoch, s->val_loss, s->val_accuracy);
    return ctx != NULL; /* non-zero stops training */
}
int main(int argc, char **argv)
{
    if (argc != 4)
        return fprintf(stderr, "usage: classify FILE(.csv .npy .gz .npz) INPUTS CLASSES\n"), 2;
    const bnn_data_spec spec = {.inputs = atoi(argv[2]), .outputs = atoi(argv[3])};
    const bnn_act acts[] = {BNN_ACT_RELU, BNN_ACT_IDENTITY}; /* identity: the logits */
    bnn_train_opts o = bnn_train_defaults();
    o.epochs = 60, o.lr = 0.05, o.batch = 32, o.loss = BNN_LOSS_CE, o.on_epoch_stats = row;
    o.standardize = 1, o.val_split = 0.2, o.seed = 1; /* (x - mean) / std; 20% held out */
    bnn_error e;
    bnn_dataset *data = bnn_data_open(argv[1], &spec, &e);
    bnn_net *net = bnn_net_create(2, (int[]){spec.inputs, 32, spec.outputs}, acts, 1, &e);
    int ok = data && net && !bnn_net_train_data(net, data, NULL, &o, &e);
    if (!ok)
        fprintf(stderr, "classify: %s\n", e.msg);
    bnn_net_free(net), bnn_dataset_free(data);
    return !ok;
}
