/* fold.c: constant folding. A node whose sources are all known at compile time
 * (constants, and parameters when the weights are embedded) is evaluated here and
 * becomes a constant: index tables built with arange, the relative position bias
 * gathered from its table, constant masks. Values are computed with the same float
 * and int32 arithmetic the generated code would use. */
#include "attncc.h"

#include <math.h>
#include <string.h>

static bool known(const Node *n) {
  return n->op == OP_CONST || (n->op == OP_PARAM && n->data != NULL);
}

static void put(Node *n, int64_t i, double v) {
  switch (n->dtype) {
  case DT_F32: ((float *)n->data)[i] = (float)v; break;
  case DT_I32: ((int32_t *)n->data)[i] = (int32_t)v; break;
  case DT_BOOL: ((uint8_t *)n->data)[i] = v != 0; break;
  }
}

/* the same value the generated code computes; f: compute in float */
static double unary(OpCode op, double a, bool f) {
  switch (op) {
  case OP_NEG: return -a;
  case OP_EXP: return expf((float)a);
  case OP_LOG: return logf((float)a);
  case OP_SQRT: return sqrtf((float)a);
  case OP_RSQRT: return 1.0f / sqrtf((float)a);
  case OP_TANH: return tanhf((float)a);
  case OP_SIGMOID: return 1.0f / (1.0f + expf(-(float)a));
  case OP_RELU: return a < 0 ? 0 : a;
  case OP_GELU: return 0.5f * (float)a * (1.0f + erff((float)a * 0.70710678118654752f));
  case OP_ERF: return erff((float)a);
  case OP_ABS: return f ? fabsf((float)a) : fabs(a);
  case OP_NOT: return !a;
  default: return a; /* cast, expand */
  }
}

static double binary(OpCode op, double a, double b, bool f) {
  if (f) { /* float arithmetic, as in the generated code */
    a = (float)a;
    b = (float)b;
  }
  switch (op) {
  case OP_ADD: return f ? (float)(a + b) : a + b;
  case OP_SUB: return f ? (float)(a - b) : a - b;
  case OP_MUL: return f ? (float)(a * b) : a * b;
  case OP_DIV: return (float)a / (float)b;
  case OP_POW: return powf((float)a, (float)b);
  case OP_MAXIMUM: return (a != a || a > b) ? a : b;
  case OP_MINIMUM: return (a != a || a < b) ? a : b;
  case OP_EQ: return a == b;
  case OP_NE: return a != b;
  case OP_LT: return a < b;
  case OP_LE: return a <= b;
  case OP_GT: return a > b;
  case OP_GE: return a >= b;
  case OP_AND: return a && b;
  case OP_OR: return a || b;
  default: return 0;
  }
}

static void eval_elementwise(Node *n) {
  int64_t total = shape_numel(&n->shape);
  bool f = n->dtype == DT_F32;
  if (op_kinds[n->op] == OK_COMPARE)
    f = n->src[0]->dtype == DT_F32 || n->src[1]->dtype == DT_F32;
  for (int64_t e = 0; e < total; e++) {
    double v[3];
    for (int s = 0; s < n->nsrc; s++)
      v[s] = node_value(n->src[s], shape_bcast_offset(&n->shape, &n->src[s]->shape, e));
    double r;
    if (n->op == OP_WHERE)
      r = v[0] ? v[1] : v[2];
    else if (n->nsrc == 1)
      r = unary(n->op, v[0], f);
    else
      r = binary(n->op, v[0], v[1], f);
    put(n, e, r);
  }
}

/* out element e of a permute or slice, read through the source's strides */
static void eval_strided(Node *n) {
  const Shape *in = &n->src[0]->shape;
  int64_t in_stride[MAX_DIMS], st = 1;
  for (int d = in->ndim - 1; d >= 0; d--) {
    in_stride[d] = st;
    st *= in->dim[d];
  }
  int64_t total = shape_numel(&n->shape);
  for (int64_t e = 0; e < total; e++) {
    int64_t rest = e, off = 0;
    for (int d = n->shape.ndim - 1; d >= 0; d--) {
      int64_t idx = rest % n->shape.dim[d];
      rest /= n->shape.dim[d];
      if (n->op == OP_PERMUTE)
        off += idx * in_stride[n->perm[d]];
      else
        off += (d == n->axis ? idx + n->start : idx) * in_stride[d];
    }
    put(n, e, node_value(n->src[0], off));
  }
}

static void eval_cat(Node *n) {
  int64_t outer = 1;
  for (int d = 0; d < n->axis; d++)
    outer *= n->shape.dim[d];
  int64_t at = 0, row = shape_numel(&n->shape) / outer;
  for (int s = 0; s < n->nsrc; s++) {
    const Node *x = n->src[s];
    int64_t chunk = shape_numel(&x->shape) / outer;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < chunk; i++)
        put(n, o * row + at + i, node_value(x, o * chunk + i));
    at += chunk;
  }
}

/* rows of a table by index; false when an index is out of range (left to run time) */
static bool eval_gather(Node *n) {
  const Node *t = n->src[0], *ix = n->src[1];
  int64_t rows = t->shape.dim[0], rowlen = shape_numel(&t->shape) / rows;
  for (int64_t r = 0; r < shape_numel(&ix->shape); r++) {
    int64_t k = (int64_t)node_value(ix, r);
    if (k < 0)
      k += rows;
    if (k < 0 || k >= rows)
      return false;
    for (int64_t i = 0; i < rowlen; i++)
      put(n, r * rowlen + i, node_value(t, k * rowlen + i));
  }
  return true;
}

static bool eval(Node *n) {
  switch (op_kinds[n->op]) {
  case OK_UNARY:
  case OK_BINARY:
  case OK_COMPARE:
  case OK_WHERE:
    eval_elementwise(n);
    return true;
  case OK_MOVE:
    if (n->op == OP_RESHAPE)
      memcpy(n->data, n->src[0]->data, (size_t)shape_numel(&n->shape) * dtype_size(n->dtype));
    else if (n->op == OP_CAT)
      eval_cat(n);
    else
      eval_strided(n);
    return true;
  case OK_GATHER:
    return eval_gather(n);
  default:
    return false; /* matmul, softmax, reductions stay in the generated code */
  }
}

void fold_constants(Graph *g) {
  graph_prune(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (!n->live || n->op == OP_CONST || n->nsrc == 0)
      continue;
    bool all = true;
    for (int s = 0; s < n->nsrc && all; s++)
      all = known(n->src[s]);
    if (!all)
      continue;
    n->data = xalloc(dtype_size(n->dtype) * (size_t)shape_numel(&n->shape));
    if (!eval(n)) {
      n->data = NULL;
      continue;
    }
    n->op = OP_CONST;
    n->nsrc = 0;
  }
  graph_prune(g);
}
