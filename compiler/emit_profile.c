/* emit_profile.c: what `attncc check --profile` adds to the generated code. The run
 * function times each kernel call (C11 timespec_get, no POSIX) into PREFIX_kernel_ms,
 * the last run's milliseconds per call; PREFIX_kernel_what names each call as the
 * comment beside it does (value, op, dtype, shape, model.lua line, module) and
 * PREFIX_kernel_flops counts its matrix products. The check driver hands them to
 * templates/check_main.c, which prints each call's median over the timed runs. Builds
 * without --profile have none of it. */
#include "attncc.h"
#include "emit_internal.h"

/* the FLOPs of node n's matrix products (2 per multiply-add; an attention's QK^T and PV over
 * all its keys, masked or not; QK^T alone when it stops at the probabilities), 0 for other
 * ops */
double profile_flops(const Node *n) {
  double out = (double)shape_numel(&n->shape);
  if (n->op == OP_MATMUL)
    return 2.0 * out * (double)n->src[0]->shape.dim[n->src[0]->shape.ndim - 1];
  if (n->op == OP_ATTENTION && n->attn_probs) /* out = items x lq x lk: QK^T alone */
    return 2.0 * out * (double)n->dh;
  if (n->op == OP_ATTENTION) /* out = items x lq x dv */
    return 2.0 * out / (double)n->dv * (double)n->lk * (double)(n->dh + n->dv);
  return 0.0;
}

/* the definitions before the run function: labels are C string literals, one per call */
void profile_emit_section(StrBuf *sb, const EmitOptions *o, int calls, const char *labels,
                          const char *flops) {
  const char *p = o->prefix;
  int size = calls > 0 ? calls : 1;
  sb_puts(sb, "\n/* ---- per-call times (attncc check --profile) ---- */\n#include <time.h>\n");
  sb_printf(sb, "double %s_kernel_ms[%d];\nconst char *const %s_kernel_what[%d] = {\n%s};\n", p,
            size, p, size, calls > 0 ? labels : "  \"\",\n");
  sb_printf(sb, "const double %s_kernel_flops[%d] = {\n%s};\n", p, size,
            calls > 0 ? flops : "  0,\n");
  if (calls == 0) /* (a model that only copies its inputs) */
    return;
  /* differences of seconds and of nanoseconds apart: as one double of milliseconds since
   * 1970 the time would keep only about a quarter of a microsecond */
  sb_printf(sb, "static double %s_ms_since(const struct timespec *t0) {\n  struct timespec t;\n"
                "  timespec_get(&t, TIME_UTC);\n  return (double)(t.tv_sec - t0->tv_sec) * 1e3 + "
                "(double)(t.tv_nsec - t0->tv_nsec) * 1e-6;\n}\n", p);
  sb_printf(sb, "#define %s_TIMED(i, ...) do { struct timespec t0_; timespec_get(&t0_, TIME_UTC); "
                "__VA_ARGS__; %s_kernel_ms[i] = %s_ms_since(&t0_); } while (0)\n", p, p, p);
}

void profile_emit_header(StrBuf *sb, const EmitOptions *o, const char *upper_prefix, int calls) {
  sb_printf(sb, "\n/* --profile: the last run's milliseconds per kernel call, and what each call\n"
                " * computes */\n#define %s_NUM_TIMED_CALLS %d\n"
                "extern double %s_kernel_ms[];\nextern const char *const %s_kernel_what[];\n"
                "extern const double %s_kernel_flops[]; /* of its matrix products, or 0 */\n",
            upper_prefix, calls, o->prefix, o->prefix, o->prefix);
}

/* the check driver's view of them, the profile fields of its check_model (none without
 * --profile) */
void profile_emit_driver(StrBuf *sb, const EmitOptions *o, int calls) {
  if (o->profile)
    sb_printf(sb, "  %d,\n  %s_kernel_ms,\n  %s_kernel_what,\n  %s_kernel_flops,\n", calls,
              o->prefix, o->prefix, o->prefix);
  else
    sb_puts(sb, "  0, NULL, NULL, NULL, /* no --profile */\n");
}
