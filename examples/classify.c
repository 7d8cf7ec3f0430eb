/* classify.c - classify FILE INPUTS CLASSES: a classifier trained from a data file (rows of
 * INPUTS values then a label 0..CLASSES-1; CSV, .npy, .gz, .npz), 20% held out (stratified). */
#include <stdio.h>
#include <stdlib.h>
#include <batchnn.h>

static int row(void *ctx, const bnn_epoch_stats *s) /* the log row, every 20th epoch */
{
    if (s->epoch % 20 == 0)
        printf("epoch %d loss %.4f val_loss %.4f val_accuracy %.4f\n", s->epoch, s->loss, s->val_loss, s->val_accuracy);
    return ctx != NULL; /* non-zero stops training */
}
int main(int argc, char **argv)
{
    if (argc != 4)
        return fprintf(stderr, "usage: classify FILE INPUTS CLASSES\n"), 2;
    bnn_error e;
    bnn_data_spec spec = {.inputs = atoi(argv[2]), .outputs = atoi(argv[3])};
    const int widths[] = {spec.inputs, 32, spec.outputs};
    const bnn_act acts[] = {BNN_ACT_RELU, BNN_ACT_IDENTITY};
    bnn_dataset *train = NULL, *val = NULL;
    bnn_net *net = NULL;
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = 60, o.lr = 0.05, o.batch = 32, o.loss = BNN_LOSS_CE, o.on_epoch_stats = row;
    double acc = 0;
    int ok = !bnn_data_open(argv[1], &spec, &train, &e) && !bnn_dataset_split(train, 0.2, 1, &val, &e) &&
             (net = bnn_net_create(2, widths, acts, 1, &e)) && !bnn_net_train_data(net, train, val, &o, &e) &&
             !bnn_net_eval_data(net, val, NULL, &acc, &e);
    ok ? printf("validation accuracy %.4f\n", acc) : fprintf(stderr, "classify: %s\n", e.msg);
    bnn_net_free(net), bnn_dataset_free(val), bnn_dataset_free(train);
    return !ok;
}
