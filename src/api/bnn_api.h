/* bnn_api.h - the convenience layer (src/api/): what its files share. Above training. */
#ifndef BNN_API_H
#define BNN_API_H

#include "train/bnn_train_internal.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif

/* The samples of a public data set (src/api/data.c). */
const bnn_data *bnn_dataset_data(const bnn_dataset *d);

#ifdef __cplusplus
}
#endif
#endif /* BNN_API_H */
