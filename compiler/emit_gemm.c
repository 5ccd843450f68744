/* emit_gemm.c: the matrix products' kernels. A product by a packed weight is one GEMM
 * call over all rows of A (split between threads by rows, or by column panels when there
 * are few rows), with its bias, activation and residual as the GEMM's epilogue; a product
 * of two activations packs its right operand per batch item at run time; one by a weight
 * of a few columns is a dot product per output (the skinny kernel). Also the GEMM
 * scratch each weight product needs (pack.c sizes it) and the strip heights the model's
 * products run (PREFIX_GEMM_PARTIAL_ROWS, templates/kernels.c). */
#include "attncc.h"
#include "emit_internal.h"

/* the pointer a gemm call gets for epilogue operand x (bias or residual): NULL without
 * one, else its argument + offset (where one read in place starts, fuse.c) + `plus` */
static const char *epilogue_ptr(const Node *n, const Node *x, int64_t offset, const char *plus) {
  if (!x)
    return "NULL";
  StrBuf sb = {0};
  sb_puts(&sb, emit_kname(n, x));
  if (offset)
    sb_printf(&sb, " + %lld", (long long)offset);
  if (plus)
    sb_printf(&sb, " + %s", plus);
  const char *r = xstrdup(sb.buf);
  sb_free(&sb);
  return r;
}

/* the epilogue arguments of a gemm call: bias, residual (+ res_rows, its first row's
 * offset), its row stride, act */
static const char *epilogue_args(const Node *n, const char *res_rows, int64_t ldr) {
  return xformat("%s, %s, %lld, %d", epilogue_ptr(n, n->bias, n->bias_offset, NULL),
                 epilogue_ptr(n, n->residual, n->res_offset, res_rows), (long long)ldr, n->act);
}

/* the row stride of a weight product's residual: N, or its source's (fuse.c) */
static int64_t residual_ld(const Node *n, int64_t N) { return n->res_ld ? n->res_ld : N; }

#ifndef MIN_ROWS_PER_THREAD
#define MIN_ROWS_PER_THREAD 16 /* split rows when each thread gets this many, else columns */
#endif

/* How a product with a packed weight is split between threads: parts calls (1: one call
 * over everything), each on `chunk` rows (by_rows) or columns (a whole number of panels). */
typedef struct {
  int parts;
  bool by_rows;
  int64_t chunk;
} GemmSplit;

static GemmSplit weight_gemm_split(int nr, int threads, int64_t rows, int64_t N, int64_t K) {
  GemmSplit s = {1, true, rows};
  int64_t panels = (N + nr - 1) / nr;
  bool split_rows = rows >= (int64_t)threads * MIN_ROWS_PER_THREAD;
  if (threads <= 1 || (!split_rows && panels < threads) || 2 * rows * N * K < MIN_PARALLEL_FLOPS)
    return s;
  s.parts = threads;
  s.by_rows = split_rows;
  if (split_rows) {
    s.chunk = (rows + threads - 1) / threads;
    s.chunk = (s.chunk + MIN_ROWS_PER_THREAD - 1) / MIN_ROWS_PER_THREAD * MIN_ROWS_PER_THREAD;
  } else {
    s.chunk = (panels + threads - 1) / threads * nr;
  }
  return s;
}

/* the matmul's rows (every batch dim folded in), columns and depth */
static void weight_gemm_dims(const Node *n, int64_t *rows, int64_t *N, int64_t *K) {
  const Node *a = n->src[0];
  *N = n->shape.dim[n->shape.ndim - 1];
  *K = a->shape.dim[a->shape.ndim - 1];
  *rows = *N > 0 ? shape_numel(&n->shape) / *N : 0;
}

/* floats of packed-A workspace each call of the split gets (target_gemm_ws_floats) */
static int64_t weight_gemm_ws_floats(const Target *t, const GemmSplit *s, int64_t rows, int64_t N,
                                     int64_t K) {
  if (s->parts == 1)
    return target_gemm_ws_floats(t, rows, N, K);
  return s->by_rows ? target_gemm_ws_floats(t, s->chunk, N, K)
                    : target_gemm_ws_floats(t, rows, s->chunk, K);
}

int64_t emit_weight_gemm_scratch(const Node *n, const Target *t, int threads) {
  int64_t rows, N, K;
  weight_gemm_dims(n, &rows, &N, &K);
  GemmSplit s = weight_gemm_split(t->gemm_nr, threads, rows, N, K);
  return weight_gemm_ws_floats(t, &s, rows, N, K) * s.parts * (int64_t)sizeof(float);
}

uint32_t emit_strip_rows_bit(int64_t m, int mr) {
  return m % mr ? 1u << (m % mr) : 0u;
}

/* The strip heights below the tile's that the model's products run (M of every call
 * emit_weight_gemm, emit_matmul and emit_attention write; new code that calls the GEMM
 * adds its M here, or its odd strips run a row at a time: the e2e builds trap on that),
 * for PREFIX_GEMM_PARTIAL_ROWS (templates/kernels.c): other heights' tiles are not compiled. */
uint32_t emit_gemm_partial_rows(const Graph *g, const EmitOptions *o) {
  const int mr = o->target->gemm_mr;
  uint32_t bits = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (!emit_has_kernel(n))
      continue;
    if (op_kinds[n->op] == OK_ATTENTION) {
      bits |= attention_strip_rows(n, mr);
    } else if (op_kinds[n->op] == OK_MATMUL && emit_in_row_group(o, n)) {
      int64_t rows, N, K;
      weight_gemm_dims(n, &rows, &N, &K);
      const int64_t R = n->shape.dim[0], per = rows / R, chunk = emit_row_group_chunk(o, R);
      for (int64_t r0 = 0; r0 < R; r0 += chunk) /* each thread's rows */
        bits |= emit_strip_rows_bit((R - r0 < chunk ? R - r0 : chunk) * per, mr);
    } else if (op_kinds[n->op] == OK_MATMUL && n->src[1]->op == OP_PACK) {
      int64_t rows, N, K;
      weight_gemm_dims(n, &rows, &N, &K);
      GemmSplit s = weight_gemm_split(o->target->gemm_nr, o->threads, rows, N, K);
      if (s.parts == 1 || !s.by_rows)
        bits |= emit_strip_rows_bit(rows, mr);
      else
        for (int64_t m0 = 0; m0 < rows; m0 += s.chunk) /* each thread's rows */
          bits |= emit_strip_rows_bit(rows - m0 < s.chunk ? rows - m0 : s.chunk, mr);
    } else if (op_kinds[n->op] == OK_MATMUL && !pack_skinny(n)) {
      bits |= emit_strip_rows_bit(n->shape.dim[n->shape.ndim - 2], mr);
    }
  }
  return bits;
}

/* the call of gemm function fn (gemm or gemm_ws, whose workspace arguments are ws) on rows
 * [m0, m1) of a product by a packed weight, at indent */
static void put_gemm_rows(StrBuf *sb, const EmitOptions *o, const Node *n, const char *fn,
                          const char *ws, int indent) {
  int64_t rows, N, K;
  weight_gemm_dims(n, &rows, &N, &K);
  const int64_t ldr = residual_ld(n, N);
  sb_printf(sb, "%*sif (m0 < m1)\n%*s  %s_%s(m1 - m0, %lld, %lld, s0 + m0 * %lld, %lld, s1, "
                "y + m0 * %lld, %lld, %s%s);\n", indent, "", indent, "", o->prefix, fn,
            (long long)N, (long long)K, (long long)K, (long long)K, (long long)N, (long long)N,
            epilogue_args(n, xformat("m0 * %lld", (long long)ldr), ldr), ws);
}

/* C = A * W (+ epilogue) for a packed weight W; with threads, rows or column panels
 * are split between them (each thread's part is a smaller GEMM of the same kind). Each
 * call packs A once into its part of the scratch when the target's GEMM wants that. */
static void emit_weight_gemm(StrBuf *sb, const EmitOptions *o, const Node *n) {
  int64_t rows, N, K;
  weight_gemm_dims(n, &rows, &N, &K);
  GemmSplit s = weight_gemm_split(o->target->gemm_nr, o->threads, rows, N, K);
  int64_t wsn = weight_gemm_ws_floats(o->target, &s, rows, N, K), ldr = residual_ld(n, N);
  if (s.parts == 1) {
    if (wsn > 0)
      sb_printf(sb, "  %s_gemm_ws(%lld, %lld, %lld, s0, %lld, s1, y, %lld, %s, scratch, %lld);\n",
                o->prefix, (long long)rows, (long long)N, (long long)K, (long long)K,
                (long long)N, epilogue_args(n, NULL, ldr), (long long)wsn);
    else
      sb_printf(sb, "  %s_gemm(%lld, %lld, %lld, s0, %lld, s1, y, %lld, %s);\n", o->prefix,
                (long long)rows, (long long)N, (long long)K, (long long)K, (long long)N,
                epilogue_args(n, NULL, ldr));
    return;
  }
  const char *ws = wsn > 0 ? xformat(", scratch + t * %lld, %lld", (long long)wsn, (long long)wsn) : "";
  const char *fn = wsn > 0 ? "gemm_ws" : "gemm";
  if (s.by_rows) {
    emit_thread_range(sb, s.parts, s.chunk, rows, "m0", "m1");
    put_gemm_rows(sb, o, n, fn, ws, 4);
  } else { /* few rows: split the column panels */
    emit_thread_range(sb, s.parts, s.chunk, N, "n0", "n1");
    const char *bias = epilogue_ptr(n, n->bias, n->bias_offset, "n0");
    const char *res = epilogue_ptr(n, n->residual, n->res_offset, "n0");
    sb_printf(sb, "    if (n0 < n1)\n      %s_%s(%lld, n1 - n0, %lld, s0, %lld, s1 + n0 * %lld, "
                  "y + n0, %lld, %s, %s, %lld, %d%s);\n", o->prefix, fn, (long long)rows,
              (long long)K, (long long)K, (long long)K, (long long)N, bias, res, (long long)ldr,
              n->act, ws);
  }
  sb_puts(sb, "  }\n");
}

bool emit_in_row_group(const EmitOptions *o, const Node *n) {
  return n->row_group > 0 && !o->profile;
}

int64_t emit_row_group_chunk(const EmitOptions *o, int64_t R) {
  return (R + o->threads - 1) / o->threads;
}

/* C = A * W (+ epilogue) for rows [r0, r1) of dim 0 (a row group's member: row_groups.c
 * made sure the call needs no packed-A workspace) */
void emit_matmul_rows(StrBuf *sb, const EmitOptions *o, const Node *n) {
  int64_t rows, N, K;
  weight_gemm_dims(n, &rows, &N, &K);
  ATTN_ASSERT(n->src[1]->op == OP_PACK && rows % n->shape.dim[0] == 0);
  const long long per = (long long)(rows / n->shape.dim[0]);
  sb_printf(sb, "  const int64_t m0 = r0 * %lld, m1 = r1 * %lld;\n", per, per);
  put_gemm_rows(sb, o, n, "gemm", "", 2);
}

/* C = A * W (+ epilogue) for a weight of a few columns, not packed (pack_skinny): the
 * skinny kernel over all rows of A, split between threads by rows (multiples of its 4) */
static void emit_skinny(StrBuf *sb, const EmitOptions *o, const Node *n) {
  int64_t rows, N, K;
  weight_gemm_dims(n, &rows, &N, &K);
  const int64_t ldr = residual_ld(n, N);
  int parts = o->threads;
  if (parts < 2 || 2 * rows * N * K < MIN_PARALLEL_FLOPS || rows < 8 * parts)
    parts = 1;
  const long long chunk = ((rows + parts - 1) / parts + 3) / 4 * 4;
  if (parts == 1) {
    sb_printf(sb, "  %s_gemm_skinny(%lld, %lld, %lld, s0, %lld, s1, y, %lld, %s);\n", o->prefix,
              (long long)rows, (long long)N, (long long)K, (long long)K, (long long)N,
              epilogue_args(n, NULL, ldr));
    return;
  }
  emit_thread_range(sb, parts, chunk, rows, "m0", "m1");
  sb_printf(sb, "    if (m0 < m1)\n      %s_gemm_skinny(m1 - m0, %lld, %lld, s0 + m0 * %lld, %lld, "
                "s1, y + m0 * %lld, %lld, %s);\n  }\n", o->prefix, (long long)N, (long long)K,
            (long long)K, (long long)K, (long long)N, (long long)N,
            epilogue_args(n, xformat("m0 * %lld", (long long)ldr), ldr));
}

/* A product of two activations: its batch items (every dim but the last two), and the
 * threads it runs on: the items are split between them when there are two or more and
 * enough work. */
static int64_t batched_items(const Node *n) {
  const int64_t mn = n->shape.dim[n->shape.ndim - 2] * n->shape.dim[n->shape.ndim - 1];
  return mn > 0 ? shape_numel(&n->shape) / mn : 0;
}

static int batched_gemm_threads(const Node *n, int threads) {
  const Node *a = n->src[0];
  const int64_t items = batched_items(n), K = a->shape.dim[a->shape.ndim - 1];
  const int64_t flops = 2 * shape_numel(&n->shape) * K;
  if (threads <= 1 || items < 2 || flops < MIN_PARALLEL_FLOPS)
    return 1;
  return items < threads ? (int)items : threads;
}

/* floats of the right operand packed for one product (each thread's own, on whole cache
 * lines, when it is split) */
static int64_t batched_pack_floats(const Node *n, int nr, int parts) {
  const Node *a = n->src[0];
  const int64_t f = pack_floats(a->shape.dim[a->shape.ndim - 1], n->shape.dim[n->shape.ndim - 1], nr);
  return parts > 1 ? (f + 15) / 16 * 16 : f;
}

int64_t emit_batched_gemm_scratch(const Node *n, int nr, int threads) {
  const int parts = batched_gemm_threads(n, threads);
  return (int64_t)sizeof(float) * batched_pack_floats(n, nr, parts) * parts;
}

void emit_matmul(StrBuf *sb, const EmitOptions *o, const Node *n) {
  const Node *a = n->src[0], *b = n->src[1];
  int64_t M = n->shape.dim[n->shape.ndim - 2], N = n->shape.dim[n->shape.ndim - 1];
  int64_t K = a->shape.dim[a->shape.ndim - 1];
  Shape batch = n->shape;
  batch.ndim -= 2;
  Shape ba = a->shape;
  ba.ndim -= 2;
  if (pack_skinny(n)) { /* a weight of a few columns, as it is */
    ATTN_ASSERT(shape_numel(&ba) == shape_numel(&batch));
    emit_skinny(sb, o, n);
    return;
  }
  if (b->op == OP_PACK) { /* a weight: one product over all rows of A */
    ATTN_ASSERT(shape_numel(&ba) == shape_numel(&batch));
    emit_weight_gemm(sb, o, n);
    return;
  }
  Shape bb = b->shape;
  bb.ndim -= 2;
  int64_t sa[MAX_DIMS], sbs[MAX_DIMS], sc[MAX_DIMS];
  emit_broadcast_strides(&ba, &batch, sa);
  emit_broadcast_strides(&bb, &batch, sbs);
  shape_dense_strides(&batch, sc);
  Operand ops[3] = {{"y", NULL, DT_F32, 0, {0}}, {"s0", NULL, DT_F32, 0, {0}},
                    {"s1", NULL, DT_F32, 0, {0}}};
  for (int d = 0; d < batch.ndim; d++) {
    ops[0].stride[d] = sc[d] * M * N;
    ops[1].stride[d] = sa[d] * M * K;
    ops[2].stride[d] = sbs[d] * K * N;
  }
  emit_collapse(&batch, ops, 3);
  const int parts = batched_gemm_threads(n, o->threads);
  int ind = 2 * batch.ndim + 2;
  const char *packed = "scratch";
  if (parts == 1) {
    for (int d = 0; d < batch.ndim; d++)
      sb_printf(sb, "%*sfor (int64_t i%d = 0; i%d < %lld; i%d++) {\n", 2 * d + 2, "", d, d,
                (long long)batch.dim[d], d);
  } else { /* thread t: its chunk of the batch items b, each its indices i0, i1, ... */
    const int64_t items = batched_items(n);
    emit_thread_range(sb, parts, (items + parts - 1) / parts, items, "b0", "b1");
    sb_printf(sb, "    float *const pb = scratch + t * %lld;\n",
              (long long)batched_pack_floats(n, o->target->gemm_nr, parts));
    sb_puts(sb, "    for (int64_t b = b0; b < b1; b++) {\n");
    for (int d = 0; d < batch.ndim; d++)
      sb_printf(sb, "      const int64_t i%d = %s;\n", d, emit_flat_index(&batch, d, "b"));
    packed = "pb";
    ind = 6;
  }
  /* B(k, n) of a [K, N] matrix, or of [N, K] read transposed */
  int64_t ldb_k = n->trans_b ? 1 : N, ldb_n = n->trans_b ? K : 1;
  sb_printf(sb, "%*s%s_pack_b(%lld, %lld, s1 + %s, %lld, %lld, %s);\n", ind, "", o->prefix,
            (long long)K, (long long)N, emit_index_expr(&ops[2], batch.ndim), (long long)ldb_k,
            (long long)ldb_n, packed);
  const char *coff = emit_index_expr(&ops[0], batch.ndim);
  sb_printf(sb, "%*s%s_gemm(%lld, %lld, %lld, s0 + %s, %lld, %s, y + %s, %lld, %s);\n", ind,
            "", o->prefix, (long long)M, (long long)N, (long long)K,
            emit_index_expr(&ops[1], batch.ndim), (long long)K, packed, coff, (long long)N,
            epilogue_args(n, coff, N));
  if (parts > 1) {
    sb_puts(sb, "    }\n  }\n");
    return;
  }
  for (int d = batch.ndim - 1; d >= 0; d--)
    sb_printf(sb, "%*s}\n", 2 * d + 2, "");
}
