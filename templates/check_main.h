/* check_main.h: what the generated check driver tells templates/check_main.c about
 * one model: its inputs and outputs, workspace size, parameters, a call shim and, with
 * --profile, its per-call times. */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H

#include "attncc_params.h"
#include "tensor_io.h"

#include <stddef.h>

extern const check_tensor check_inputs[];  /* terminated by a NULL name */
extern const check_tensor check_outputs[];
extern const size_t check_workspace_size;
extern const attncc_param_info *check_param_info; /* NULL with embedded weights */
extern const int check_num_params;
extern const size_t check_params_size;
extern const char *const *check_buffer_names;
/* attncc check --profile: the last run's milliseconds per kernel call and what each computes
 * (0 and NULL without it) */
extern const int check_num_timed;
extern const double *const check_kernel_ms;
extern const char *const *const check_kernel_what;
extern const double *const check_kernel_flops; /* of the call's matrix products, or 0 */
int check_call(void *const *in, void *const *out, const void *params, void *ws);

#endif
