/* emit_internal.h: what the emitter's files (emit.c, emit_loops.c, emit_gemm.c,
 * emit_attention.c, emit_profile.c) share:
 * how a kernel reads a tensor in a strided loop nest, the helpers that build those loops,
 * and the kernels each file emits for the others.
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


/* emit_loops.c: */
/* strides of a contiguous tensor of shape s viewed in an iteration space of iter's dims */
void emit_broadcast_strides(const Shape *s, const Shape *iter, int64_t *stride);
/* the name of operand x inside the kernel of node n: y for the result, s<i> for src i */
const char *emit_kname(const Node *n, const Node *x);
/* op's element index in a loop nest of ndim dims: offset + i0 * stride0 + ... */
const char *emit_index_expr(const Operand *op, int ndim);
/* merges adjacent iteration dims that every operand walks contiguously (in place) */
void emit_collapse(Shape *iter, Operand *ops, int nops);
/* "#pragma omp parallel for" for a loop over threads, when OpenMP is on */
void emit_parallel_for(StrBuf *sb, int threads);
/* index k of shape s at the row-major flat index `flat` (code): ((flat / below) % dim),
 * without what is not needed */
const char *emit_flat_index(const Shape *s, int k, const char *flat);
/* "#pragma omp parallel for", "for (int t = 0; t < parts; t++) {" and thread t's range
 * [lo, hi) of `total` items in chunks of `chunk`; the caller writes the body and the brace */
void emit_thread_range(StrBuf *sb, int parts, int64_t chunk, int64_t total, const char *lo,
                       const char *hi);
/* the threads argument of the loop-nest kernels for a member of a row group
 * (row_groups.c): the kernel runs rows [r0, r1) of its dim 0, two more parameters */
#define EMIT_ROW_RANGE (-1)
/* the kernels that are one strided loop nest (several, for a concatenation) */
void emit_elementwise(StrBuf *sb, const Node *n, int threads);
void emit_fused(StrBuf *sb, const Node *n, int threads);
void emit_permute(StrBuf *sb, const Node *n, int threads);
void emit_slice(StrBuf *sb, const Node *n, int threads);
void emit_cat(StrBuf *sb, const Node *n, int threads);

/* emit.c: how many kernel calls the run function makes */
int emit_kernel_calls(const Graph *g);

/* emit_gemm.c: the body of a matmul kernel (a GEMM with its epilogue) */
void emit_matmul(StrBuf *sb, const EmitOptions *o, const Node *n);
/* the same for a product by a packed weight in a row group: rows [r0, r1) of dim 0 */
void emit_matmul_rows(StrBuf *sb, const EmitOptions *o, const Node *n);
/* does node n run in a row group (not with --profile, which times each kernel)? */
bool emit_in_row_group(const EmitOptions *o, const Node *n);
/* the rows of dim 0 (of R) each thread runs in a row group: thread t [t * chunk, ...) */
int64_t emit_row_group_chunk(const EmitOptions *o, int64_t R);
/* bit r (0 < r < mr) when an M-row product has a last strip of r rows (tile height mr) */
uint32_t emit_strip_rows_bit(int64_t m, int mr);
/* PREFIX_GEMM_PARTIAL_ROWS: the strip heights below the tile's every product of g runs */
uint32_t emit_gemm_partial_rows(const Graph *g, const EmitOptions *o);

/* emit_profile.c (check --profile): the timing definitions before the run function (labels
 * and flops: one C string literal and one number per call, each followed by ",\n"), the
 * header's declarations of them, and the check driver's view of them (also without
 * --profile: none) */
void profile_emit_section(StrBuf *sb, const EmitOptions *o, int calls, const char *labels,
                          const char *flops);
double profile_flops(const Node *n); /* of n's matrix products, 0 for other ops */
void profile_emit_header(StrBuf *sb, const EmitOptions *o, const char *upper_prefix, int calls);
void profile_emit_driver(StrBuf *sb, const EmitOptions *o, int calls);

/* emit_attention.c: the body of a fused attention kernel */
void emit_attention(StrBuf *sb, const EmitOptions *o, const Node *n);
/* bit r (0 < r < mr): the kernel runs a strip of r query rows (tile height mr) */
uint32_t attention_strip_rows(const Node *n, int mr);

#endif
