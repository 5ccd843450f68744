/* model_data.h: deterministic inputs, run-time parameters, outputs and a workspace for
 * any generated model, through the check driver attncc writes (check_main.h's
 * model_under_check: its inputs, outputs, parameters and call). Used by the sanitizer run
 * and the thread determinism test. */
#ifndef MODEL_DATA_H
#define MODEL_DATA_H

#include <stddef.h>

typedef struct {
  int nin, nout;
  void **in;     /* filled from a fixed seed: floats in [-1, 1], integers 1, bools 1 0 1 1 ... */
  void *params;  /* the model's params struct, every parameter random in [-0.25, 0.25] */
  float *param_storage;
} ModelData;

void data_init(ModelData *d);
void data_free(ModelData *d);

/* output buffers for one call (each exactly its size, so ASan sees any overrun) */
void **outputs_new(const ModelData *d);
void outputs_free(const ModelData *d, void **out);
size_t output_bytes(int k);

/* a workspace of exactly the model's size, 64-byte aligned; NULL when it needs none */
void *workspace_new(void);
size_t workspace_bytes(void);

/* a buffer of exactly the model's PREPARED_SIZE, 64-byte aligned; NULL when the model has
 * no prepared variant (embedded weights) */
void *prepared_new(void);

/* runs the model; prints a message and returns its status when that is not 0 */
int run_model(const ModelData *d, void **out, void *ws);
/* prepares into `prepared`, then runs the prepared variant, each in a workspace of exactly
 * the size the header gives it (PREFIX_PREPARE_WORKSPACE_SIZE and
 * PREFIX_RUN_PREPARED_WORKSPACE_SIZE); likewise */
int run_prepared_model(const ModelData *d, void **out, void *prepared);

#endif
