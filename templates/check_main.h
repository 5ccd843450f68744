/* check_main.h: what the generated check driver (compiler/emit.c, emit_check_driver)
 * tells templates/check_main.c about one model: its inputs and outputs, workspace size,
 * parameters, a call shim and, with --profile, its per-call times. One table per model,
 * so `attncc debug` can link two (debug_main.h) without renaming anything. */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H

#include "attncc_params.h"
#include "tensor_io.h"

#include <stddef.h>

typedef struct {
  const check_tensor *inputs;          /* terminated by a NULL name */
  const check_tensor *outputs;         /* likewise */
  size_t workspace_size;
  const attncc_param_info *param_info; /* NULL with embedded weights */
  int num_params;
  size_t params_size;
  const char *const *buffer_names;
  /* attncc check --profile: the last run's milliseconds per kernel call, what each
   * computes and the FLOPs of its matrix products, or 0 (0 and NULL without it) */
  int num_timed;
  const double *kernel_ms;
  const char *const *kernel_what;
  const double *kernel_flops;
  int (*call)(void *const *in, void *const *out, const void *params, void *ws);
  /* run-time weights: PREFIX_prepare and PREFIX_run_prepared (NULL with embedded ones),
   * the prepared buffer's size and each one's workspace size */
  size_t prepared_size, prepare_workspace_size, run_prepared_workspace_size;
  int (*prepare)(const void *params, void *prepared, void *ws);
  int (*call_prepared)(void *const *in, void *const *out, const void *params,
                       const void *prepared, void *ws);
} check_model;

/* the model `attncc check` builds (in `attncc debug`: the compiled build) */
extern const check_model model_under_check;

#endif
