/* emit_loops.c: the strided-loop generator and the kernels made of it. A kernel reads each
 * operand through per-dim strides (0 for a broadcast dim) over one iteration space; adjacent
 * dims every operand walks contiguously merge, and the outer dim splits between threads.
 * Elementwise ops, fused elementwise chains, permutes, slices and concatenations are such
 * loops; the other kernels (emit.c, emit_attention.c) use its helpers. */
#include "attncc.h"
#include "emit_internal.h"

#include <string.h>

/* ---- strided loops (the operand type: emit_internal.h) ---- */

/* strides of a contiguous tensor of shape s viewed in an iteration space of ndim dims */
void emit_broadcast_strides(const Shape *s, const Shape *iter, int64_t *stride) {
  int64_t st = 1;
  for (int i = iter->ndim - 1; i >= 0; i--) {
    int j = s->ndim - iter->ndim + i;
    if (j < 0 || s->dim[j] == 1) {
      stride[i] = 0;
    } else {
      stride[i] = st;
    }
    if (j >= 0)
      st *= s->dim[j];
  }
}

/* the name of operand x inside the kernel of node n: y for the result, s<i> for src i */
const char *emit_kname(const Node *n, const Node *x) {
  if (x == n)
    return "y";
  for (int i = 0; i < n->nsrc; i++)
    if (n->src[i] == x)
      return xformat("s%d", i);
  internal_error(__FILE__, __LINE__, "operand is not a source");
}

static const char *literal(const Node *c) {
  if (c->dtype == DT_F32) {
    StrBuf sb = {0};
    emit_float_literal(&sb, *(const float *)c->data);
    const char *r = xstrdup(sb.buf);
    sb_free(&sb);
    return r;
  }
  if (c->dtype == DT_I32)
    return xformat("%d", (int)*(const int32_t *)c->data);
  return xformat("%d", (int)*(const uint8_t *)c->data);
}

static bool is_scalar_const(const Node *x) {
  return x->op == OP_CONST && shape_numel(&x->shape) == 1;
}

static Operand operand_of(const Node *n, const Node *x, const Shape *iter) {
  Operand op = {emit_kname(n, x), NULL, x->dtype, 0, {0}};
  if (is_scalar_const(x) && x != n)
    op.lit = literal(x);
  emit_broadcast_strides(&x->shape, iter, op.stride);
  return op;
}

/* Merges iteration dims where every operand is contiguous across them; drops 1s. */
void emit_collapse(Shape *iter, Operand *ops, int nops) {
  Shape s = {0, {0}};
  int64_t st[8][MAX_DIMS];
  for (int d = 0; d < iter->ndim; d++) {
    if (iter->dim[d] == 1)
      continue;
    bool merge = s.ndim > 0;
    for (int k = 0; merge && k < nops; k++)
      merge = st[k][s.ndim - 1] == ops[k].stride[d] * iter->dim[d];
    if (merge) {
      s.dim[s.ndim - 1] *= iter->dim[d];
      for (int k = 0; k < nops; k++)
        st[k][s.ndim - 1] = ops[k].stride[d];
    } else {
      for (int k = 0; k < nops; k++)
        st[k][s.ndim] = ops[k].stride[d];
      s.dim[s.ndim++] = iter->dim[d];
    }
  }
  for (int k = 0; k < nops; k++)
    memcpy(ops[k].stride, st[k], sizeof(int64_t) * (size_t)s.ndim);
  *iter = s;
}

const char *emit_index_expr(const Operand *op, int ndim) {
  StrBuf sb = {0};
  sb_printf(&sb, "%lld", (long long)op->offset);
  for (int d = 0; d < ndim; d++) {
    if (op->stride[d] == 1)
      sb_printf(&sb, " + i%d", d);
    else if (op->stride[d])
      sb_printf(&sb, " + i%d * %lld", d, (long long)op->stride[d]);
  }
  const char *r = xstrdup(sb.buf);
  sb_free(&sb);
  return r;
}

static const char *compute_type_expr(const char *load, DType from, DType to) {
  if (from == to)
    return load;
  if (to == DT_BOOL)
    return xformat("(%s != 0)", load);
  return xformat("(%s)%s", dtype_ctype(to), load);
}

typedef const char *(*ExprFn)(const Node *n, const char **v, DType ct);

/* "#pragma omp parallel for" for a loop over threads, when OpenMP is on */
void emit_parallel_for(StrBuf *sb, int threads) {
  sb_printf(sb, "#if defined(_OPENMP)\n#pragma omp parallel for num_threads(%d) schedule(static)\n"
                "#endif\n", threads);
}

/* "#pragma omp parallel for", "for (int t = 0; t < parts; t++) {" and thread t's range
 * [lo, hi) of `total` items in chunks of `chunk`; the caller writes the body and the brace */
void emit_thread_range(StrBuf *sb, int parts, int64_t chunk, int64_t total, const char *lo,
                       const char *hi) {
  emit_parallel_for(sb, parts);
  sb_printf(sb, "  for (int t = 0; t < %d; t++) {\n", parts);
  sb_printf(sb, "    const int64_t %s = t * %lld, %s = %s + %lld < %lld ? %s + %lld : %lld;\n", lo,
            (long long)chunk, hi, lo, (long long)chunk, (long long)total, lo, (long long)chunk,
            (long long)total);
}

/* index k of shape s at the row-major flat index `flat` (code) */
const char *emit_flat_index(const Shape *s, int k, const char *flat) {
  int64_t below = 1;
  for (int j = k + 1; j < s->ndim; j++)
    below *= s->dim[j];
  const char *ix = below > 1 ? xformat("%s / %lld", flat, (long long)below) : flat;
  if (k > 0)
    ix = xformat("%s %% %lld", ix, (long long)s->dim[k]);
  return k > 0 || below > 1 ? xformat("(%s)", ix) : ix;
}

/* The loop headers over a (collapsed) iteration shape: for (i0..) for (i1..). With
 * threads, when the loop is big enough, the outer dim is split in equal chunks, thread t
 * taking chunk t: the same rows a row-split GEMM gives thread t (ceil(rows / threads)
 * each), so an elementwise step after such a product reads what its own core wrote. */
static void put_loop_nest(StrBuf *sb, const Shape *iter, int threads, int64_t rows) {
  int64_t d0 = iter->ndim ? iter->dim[0] : 1;
  if (threads == EMIT_ROW_RANGE) { /* rows [r0, r1) of the node's dim 0, merged with the
                                     dims after it when the collapse did so */
    ATTN_ASSERT(iter->ndim > 0 && rows > 0 && d0 % rows == 0);
    const long long per = (long long)(d0 / rows);
    if (per == 1)
      sb_puts(sb, "  for (int64_t i0 = r0; i0 < r1; i0++)\n");
    else
      sb_printf(sb, "  for (int64_t i0 = r0 * %lld; i0 < r1 * %lld; i0++)\n", per, per);
    for (int d = 1; d < iter->ndim; d++)
      sb_printf(sb, "%*sfor (int64_t i%d = 0; i%d < %lld; i%d++)\n", 2 * d + 2, "", d, d,
                (long long)iter->dim[d], d);
    return;
  }
  int t = threads;
  if (t > 1 && (d0 < 2 * t || shape_numel(iter) < MIN_PARALLEL_ELEMENTS))
    t = 1;
  for (int d = 0; d < iter->ndim; d++) {
    if (d == 0 && t > 1) {
      long long chunk = (long long)((d0 + t - 1) / t);
      emit_parallel_for(sb, t);
      sb_printf(sb, "  for (int t = 0; t < %d; t++) /* each thread: its chunk of i0 */\n", t);
      sb_printf(sb, "  for (int64_t i0 = t * %lld, e0 = i0 + %lld < %lld ? i0 + %lld : %lld; "
                    "i0 < e0; i0++)\n", chunk, chunk, (long long)d0, chunk, (long long)d0);
      continue;
    }
    sb_printf(sb, "%*sfor (int64_t i%d = 0; i%d < %lld; i%d++)\n", 2 * d + 2, "", d, d,
              (long long)iter->dim[d], d);
  }
}

/* for (i0..) for (i1..) dst[...] = expr(srcs[...]) */
static void emit_loops(StrBuf *sb, const Node *n, Shape iter, Operand *ops, int nops, ExprFn fn,
                       DType ct, int threads) {
  emit_collapse(&iter, ops, nops);
  put_loop_nest(sb, &iter, threads, n->shape.ndim ? n->shape.dim[0] : 1);
  const char *v[8];
  for (int k = 1; k < nops; k++) {
    const char *load =
        ops[k].lit ? ops[k].lit
                   : xformat("%s[%s]", ops[k].ptr, emit_index_expr(&ops[k], iter.ndim));
    v[k - 1] = compute_type_expr(load, ops[k].dtype, ct);
  }
  const char *value = fn(n, v, ct);
  if (ct != ops[0].dtype)
    value = compute_type_expr(value, ct, ops[0].dtype);
  sb_printf(sb, "%*s%s[%s] = %s;\n", 2 * iter.ndim + 2, "", ops[0].ptr,
            emit_index_expr(&ops[0], iter.ndim), value);
}

/* ---- elementwise expressions ---- */

static const char *expr_elementwise(const Node *n, const char **v, DType ct) {
  bool f = ct == DT_F32;
  switch (n->op) {
  case OP_NEG: return xformat("(-%s)", v[0]);
  case OP_EXP: return xformat("PREFIX_exp(%s)", v[0]);
  case OP_LOG: return xformat("logf(%s)", v[0]);
  case OP_SQRT: return xformat("sqrtf(%s)", v[0]);
  case OP_RSQRT: return xformat("(1.0f / sqrtf(%s))", v[0]);
  case OP_TANH: return xformat("PREFIX_tanh(%s)", v[0]);
  case OP_SIGMOID: return xformat("PREFIX_sigmoid(%s)", v[0]);
  case OP_RELU: return xformat("(%s < 0 ? 0 : %s)", v[0], v[0]);
  case OP_GELU: return xformat("(0.5f * %s * (1.0f + PREFIX_erf(%s * 0.70710678118654752f)))", v[0], v[0]);
  case OP_ERF: return xformat("PREFIX_erf(%s)", v[0]);
  case OP_ABS: return f ? xformat("fabsf(%s)", v[0]) : xformat("(%s < 0 ? -%s : %s)", v[0], v[0], v[0]);
  case OP_NOT: return xformat("(uint8_t)!%s", v[0]);
  case OP_CAST:
  case OP_EXPAND: return v[0];
  case OP_ADD: return xformat("(%s + %s)", v[0], v[1]);
  case OP_SUB: return xformat("(%s - %s)", v[0], v[1]);
  case OP_MUL: return xformat("(%s * %s)", v[0], v[1]);
  case OP_DIV: return xformat("(%s / %s)", v[0], v[1]);
  case OP_POW: return xformat("powf(%s, %s)", v[0], v[1]);
  case OP_MAXIMUM: return xformat("((%s != %s || %s > %s) ? %s : %s)", v[0], v[0], v[0], v[1], v[0], v[1]);
  case OP_MINIMUM: return xformat("((%s != %s || %s < %s) ? %s : %s)", v[0], v[0], v[0], v[1], v[0], v[1]);
  case OP_EQ: return xformat("(uint8_t)(%s == %s)", v[0], v[1]);
  case OP_NE: return xformat("(uint8_t)(%s != %s)", v[0], v[1]);
  case OP_LT: return xformat("(uint8_t)(%s < %s)", v[0], v[1]);
  case OP_LE: return xformat("(uint8_t)(%s <= %s)", v[0], v[1]);
  case OP_GT: return xformat("(uint8_t)(%s > %s)", v[0], v[1]);
  case OP_GE: return xformat("(uint8_t)(%s >= %s)", v[0], v[1]);
  case OP_AND: return xformat("(uint8_t)(%s && %s)", v[0], v[1]);
  case OP_OR: return xformat("(uint8_t)(%s || %s)", v[0], v[1]);
  case OP_WHERE: return xformat("(%s ? %s : %s)", v[0], v[1], v[2]);
  default: break;
  }
  internal_error(__FILE__, __LINE__, "not an elementwise op");
}

/* the type an elementwise op computes in (its result for arithmetic) */
static DType compute_type(const Node *n) {
  switch (op_kinds[n->op]) {
  case OK_COMPARE: {
    if (n->op == OP_AND || n->op == OP_OR)
      return DT_BOOL;
    DType a = n->src[0]->dtype, b = n->src[1]->dtype;
    DType t = a < b ? a : b;
    return t == DT_BOOL ? DT_I32 : t;
  }
  default:
    return n->dtype;
  }
}

void emit_elementwise(StrBuf *sb, const Node *n, int threads) {
  Operand ops[4];
  ops[0] = operand_of(n, n, &n->shape);
  for (int s = 0; s < n->nsrc; s++) {
    ops[s + 1] = operand_of(n, n->src[s], &n->shape);
    ops[s + 1].ptr = xformat("s%d", s);
  }
  emit_loops(sb, n, n->shape, ops, n->nsrc + 1, expr_elementwise, compute_type(n), threads);
}

/* the type a fused step computes in, from its arguments' types */
static DType step_compute_type(const Node *n, const EwStep *st) {
  DType t[3];
  for (int i = 0; i < st->nargs; i++)
    t[i] = st->arg[i] >= 0 ? (DType)n->ew[st->arg[i]].dtype : n->src[-1 - st->arg[i]]->dtype;
  if (op_kinds[st->op] == OK_COMPARE) {
    if (st->op == OP_AND || st->op == OP_OR)
      return DT_BOOL;
    DType p = t[0] < t[1] ? t[0] : t[1];
    return p == DT_BOOL ? DT_I32 : p;
  }
  return (DType)st->dtype;
}

/* one loop over the node's shape computing the whole tree per element */
void emit_fused(StrBuf *sb, const Node *n, int threads) {
  Operand ops[1 + 8];
  ATTN_ASSERT(n->nsrc <= 8);
  ops[0] = operand_of(n, n, &n->shape);
  for (int i = 0; i < n->nsrc; i++) {
    const SrcView *v = &n->views[i];
    if (v->is_view) {
      Operand op = {xformat("s%d", i), NULL, n->src[i]->dtype, 0, {0}};
      for (int d = 0; d < n->shape.ndim; d++) {
        int j = v->shape.ndim - n->shape.ndim + d;
        op.stride[d] = (j >= 0 && v->shape.dim[j] != 1) ? v->stride[j] : 0;
      }
      ops[i + 1] = op;
    } else {
      ops[i + 1] = operand_of(n, n->src[i], &n->shape);
      ops[i + 1].ptr = xformat("s%d", i);
    }
  }
  Shape iter = n->shape;
  emit_collapse(&iter, ops, n->nsrc + 1);
  put_loop_nest(sb, &iter, threads, n->shape.ndim ? n->shape.dim[0] : 1);
  int ind = 2 * iter.ndim + 2;
  sb_printf(sb, "%*s{\n", ind, "");
  for (int i = 0; i < n->nsrc; i++) /* each leaf loaded once */
    sb_printf(sb, "%*s  const %s l%d = %s;\n", ind, "", dtype_ctype(n->src[i]->dtype), i,
              ops[i + 1].lit
                  ? ops[i + 1].lit
                  : xformat("%s[%s]", ops[i + 1].ptr, emit_index_expr(&ops[i + 1], iter.ndim)));
  const char **val = xalloc(sizeof(char *) * (size_t)n->nfused);
  DType *ct = xalloc(sizeof(DType) * (size_t)n->nfused);
  for (int k = 0; k < n->nfused; k++) {
    const EwStep *st = &n->ew[k];
    ct[k] = step_compute_type(n, st);
    const char *v[3];
    for (int a = 0; a < st->nargs; a++) {
      int arg = st->arg[a];
      const char *x = arg >= 0 ? val[arg] : xformat("l%d", -1 - arg);
      DType from = arg >= 0 ? (DType)n->ew[arg].dtype : n->src[-1 - arg]->dtype;
      v[a] = compute_type_expr(x, from, ct[k]);
    }
    Node tmp = {0};
    tmp.op = st->op;
    const char *e = expr_elementwise(&tmp, v, ct[k]);
    /* each step's value as a variable in its result type */
    sb_printf(sb, "%*s  const %s v%d = %s;\n", ind, "", dtype_ctype((DType)st->dtype), k,
              compute_type_expr(e, ct[k], (DType)st->dtype));
    val[k] = xformat("v%d", k);
  }
  sb_printf(sb, "%*s  %s[%s] = v%d;\n%*s}\n", ind, "", ops[0].ptr,
            emit_index_expr(&ops[0], iter.ndim), n->nfused - 1, ind, "");
}

static const char *expr_copy(const Node *n, const char **v, DType ct) {
  (void)n;
  (void)ct;
  return v[0];
}

/* dst = src, where both are described by strides over an iteration shape */
static void emit_copy(StrBuf *sb, const Node *n, Shape iter, Operand dst, Operand src,
                      int threads) {
  Operand ops[2] = {dst, src};
  emit_loops(sb, n, iter, ops, 2, expr_copy, dst.dtype, threads);
}

void emit_permute(StrBuf *sb, const Node *n, int threads) {
  Operand dst = operand_of(n, n, &n->shape);
  Operand src = {"s0", NULL, n->src[0]->dtype, 0, {0}};
  int64_t in_stride[MAX_DIMS];
  shape_dense_strides(&n->src[0]->shape, in_stride);
  for (int d = 0; d < n->shape.ndim; d++)
    src.stride[d] = in_stride[n->perm[d]];
  emit_copy(sb, n, n->shape, dst, src, threads);
}

void emit_slice(StrBuf *sb, const Node *n, int threads) {
  Operand dst = operand_of(n, n, &n->shape);
  Operand src = {"s0", NULL, n->src[0]->dtype, 0, {0}};
  shape_dense_strides(&n->src[0]->shape, src.stride); /* the start is in the argument */
  emit_copy(sb, n, n->shape, dst, src, threads);
}

void emit_cat(StrBuf *sb, const Node *n, int threads) {
  int64_t out_stride[MAX_DIMS];
  shape_dense_strides(&n->shape, out_stride);
  int64_t at = 0;
  for (int s = 0; s < n->nsrc; s++) {
    const Node *in = n->src[s];
    Operand dst = {"y", NULL, n->dtype, at * out_stride[n->axis], {0}};
    memcpy(dst.stride, out_stride, sizeof out_stride);
    Operand src = operand_of(n, in, &in->shape);
    src.ptr = xformat("s%d", s);
    emit_copy(sb, n, in->shape, dst, src, threads);
    at += in->shape.dim[n->axis];
  }
}
