/* debug_main.h: what `attncc debug` tells templates/debug_main.c about its two debug
 * builds of one model: the compiled one (model.h, and the check driver's check_*
 * tables) and the unfused reference (ref.h, the same tables named ref_check_*). */
#ifndef DEBUG_MAIN_H
#define DEBUG_MAIN_H

#include "check_main.h"
#include "model.h"
#include "ref.h"

extern const size_t ref_check_workspace_size;
extern const attncc_param_info *ref_check_param_info; /* NULL with embedded weights */
extern const int ref_check_num_params;
extern const size_t ref_check_params_size;
extern const char *const *ref_check_buffer_names;
int ref_check_call(void *const *in, void *const *out, const void *params, void *ws);

#endif
