/* debug_main.h: what `attncc debug` tells templates/debug_main.c about its two debug
 * builds of one model: the compiled one (model.h, and the check driver's table
 * model_under_check) and the unfused reference (ref.h, its table reference_under_check). */
#ifndef DEBUG_MAIN_H
#define DEBUG_MAIN_H

#include "check_main.h"
#include "model.h"
#include "ref.h"

extern const check_model reference_under_check;

#endif
