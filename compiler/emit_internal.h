/* emit_internal.h: what the emitter's files (emit.c, emit_attention.c) share: how a
 * kernel reads a tensor in a strided loop nest, and the helpers that build those loops.
 * Internal to the emitter; the compiler's interface is attncc.h. */
#ifndef ATTNCC_EMIT_INTERNAL_H
#define ATTNCC_EMIT_INTERNAL_H

#include "attncc.h"

typedef struct {
  const char *ptr;                         /* pointer expression */
  const char *lit;                         /* a scalar constant's literal, used instead of loads */
  DType dtype;
  int64_t offset;                          /* in elements */
  int64_t stride[MAX_DIMS];                /* per iteration dim, in elements; 0 = broadcast */
} Operand;

/* a product or an attention is split between threads from this many FLOPs: a fork and join
 * of the team costs 1-2 us here, a 2 MFLOP product 5-10 us on one core */
#define MIN_PARALLEL_FLOPS 2000000

/* strides of a contiguous tensor of shape s viewed in an iteration space of iter's dims */
void emit_broadcast_strides(const Shape *s, const Shape *iter, int64_t *stride);
/* merges adjacent iteration dims that every operand walks contiguously (in place) */
void emit_collapse(Shape *iter, Operand *ops, int nops);
/* "#pragma omp parallel for" for a loop over threads, when OpenMP is on */
void emit_parallel_for(StrBuf *sb, int threads);

/* emit_attention.c: the body of a fused attention kernel */
void emit_attention(StrBuf *sb, const EmitOptions *o, const Node *n);

#endif
