/* shape.c: shape and dtype inference, one rule per op class. It runs as each node
 * is built (so model.lua can read shapes and errors point at the line that made the
 * node) and reports mismatches the way a compiler would: the op, both shapes, and
 * the dims that disagree. Attributes given by the user (dims) are normalized here. */
#include "attncc.h"

#include <string.h>

#define FAIL(...)                                                              \
  do {                                                                         \
    snprintf(msg, len, __VA_ARGS__);                                           \
    return false;                                                              \
  } while (0)

int shape_norm_dim(int dim, int ndim) {
  int d = dim < 0 ? dim + ndim : dim;
  return (d < 0 || d >= ndim) ? -1 : d;
}

bool shape_broadcast(const Shape *a, const Shape *b, Shape *out) {
  Shape r;
  r.ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < r.ndim; i++) {
    int ia = a->ndim - r.ndim + i, ib = b->ndim - r.ndim + i;
    int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return false;
    r.dim[i] = da == 1 ? db : da;
  }
  *out = r;
  return true;
}

/* the first dim (counted from the end, as a negative number) where a and b clash */
static int broadcast_clash(const Shape *a, const Shape *b) {
  for (int k = 1; k <= a->ndim && k <= b->ndim; k++) {
    int64_t da = a->dim[a->ndim - k], db = b->dim[b->ndim - k];
    if (da != db && da != 1 && db != 1)
      return -k;
  }
  return 0;
}

static DType promote(DType a, DType b) { return a > b ? b : a; } /* F32 < I32 < BOOL */

static bool infer_broadcast(Node *n, char *msg, size_t len) {
  Shape s = n->src[0]->shape;
  for (int i = 1; i < n->nsrc; i++) {
    Shape r;
    const Shape *b = &n->src[i]->shape;
    if (!shape_broadcast(&s, b, &r)) {
      char sa[96], sb[96];
      shape_format(&n->src[0]->shape, sa, sizeof sa);
      shape_format(b, sb, sizeof sb);
      int d = broadcast_clash(&s, b);
      FAIL("%s: shapes %s and %s cannot be broadcast (dim %d = %lld vs %lld)", op_names[n->op], sa,
           sb, d, (long long)s.dim[s.ndim + d], (long long)b->dim[b->ndim + d]);
    }
    s = r;
  }
  n->shape = s;
  return true;
}

static bool infer_unary(Node *n, char *msg, size_t len) {
  const Node *a = n->src[0];
  switch (n->op) {
  case OP_CAST:
    n->shape = a->shape;
    return true;
  case OP_EXPAND: {
    Shape r;
    if (!shape_broadcast(&a->shape, &n->shape, &r) || !shape_equal(&r, &n->shape)) {
      char sa[96], sb[96];
      shape_format(&a->shape, sa, sizeof sa);
      shape_format(&n->shape, sb, sizeof sb);
      FAIL("expand: cannot expand shape %s to %s", sa, sb);
    }
    n->dtype = a->dtype;
    return true;
  }
  case OP_NOT:
    n->dtype = DT_BOOL;
    break;
  case OP_NEG:
  case OP_ABS:
  case OP_RELU:
    n->dtype = a->dtype == DT_BOOL ? DT_I32 : a->dtype;
    break;
  default:
    n->dtype = DT_F32;
    break;
  }
  n->shape = a->shape;
  return true;
}

static bool infer_elementwise(Node *n, char *msg, size_t len) {
  if (!infer_broadcast(n, msg, len))
    return false;
  DType a = n->src[0]->dtype, b = n->src[n->nsrc - 1]->dtype;
  switch (op_kinds[n->op]) {
  case OK_COMPARE:
    n->dtype = DT_BOOL;
    break;
  case OK_WHERE:
    n->dtype = promote(n->src[1]->dtype, n->src[2]->dtype);
    break;
  default:
    n->dtype = promote(a, b);
    if (n->dtype == DT_BOOL)
      n->dtype = DT_I32;
    if (n->op == OP_DIV || n->op == OP_POW)
      n->dtype = DT_F32;
    break;
  }
  return true;
}

static bool infer_matmul(Node *n, char *msg, size_t len) {
  const Shape *a = &n->src[0]->shape, *b = &n->src[1]->shape;
  char sa[96], sb[96];
  shape_format(a, sa, sizeof sa);
  shape_format(b, sb, sizeof sb);
  if (n->src[0]->dtype != DT_F32 || n->src[1]->dtype != DT_F32)
    FAIL("matmul: expected float32 operands, got %s and %s", dtype_name(n->src[0]->dtype),
         dtype_name(n->src[1]->dtype));
  if (a->ndim < 2 || b->ndim < 2)
    FAIL("matmul: shapes %s and %s: both operands need at least 2 dims here", sa, sb);
  int64_t k_a = a->dim[a->ndim - 1];
  int kb_axis = n->trans_b ? -1 : -2;
  int64_t k_b = b->dim[b->ndim + kb_axis];
  if (k_a != k_b)
    FAIL("matmul: shapes %s and %s do not match (dim -1 = %lld vs dim %d = %lld)", sa, sb,
         (long long)k_a, kb_axis, (long long)k_b);
  Shape ba = *a, bb = *b, batch;
  ba.ndim -= 2;
  bb.ndim -= 2;
  if (!shape_broadcast(&ba, &bb, &batch)) {
    int d = broadcast_clash(&ba, &bb);
    FAIL("matmul: shapes %s and %s: batch dims cannot be broadcast (dim %d = %lld vs %lld)", sa,
         sb, d - 2, (long long)ba.dim[ba.ndim + d], (long long)bb.dim[bb.ndim + d]);
  }
  n->shape = batch;
  n->shape.dim[n->shape.ndim++] = a->dim[a->ndim - 2];
  n->shape.dim[n->shape.ndim++] = n->trans_b ? b->dim[b->ndim - 2] : b->dim[b->ndim - 1];
  n->dtype = DT_F32;
  return true;
}

static bool infer_reshape(Node *n, char *msg, size_t len) {
  const Shape *a = &n->src[0]->shape;
  int64_t known = 1;
  int infer = -1;
  for (int i = 0; i < n->shape.ndim; i++) {
    if (n->shape.dim[i] == -1 && infer < 0)
      infer = i;
    else if (n->shape.dim[i] < 0)
      FAIL("reshape: invalid size %lld at dim %d", (long long)n->shape.dim[i], i);
    else
      known *= n->shape.dim[i];
  }
  int64_t total = shape_numel(a);
  if (infer >= 0 && known > 0 && total % known == 0)
    n->shape.dim[infer] = total / known;
  char sa[96], sb[96];
  shape_format(a, sa, sizeof sa);
  shape_format(&n->shape, sb, sizeof sb);
  if ((infer >= 0 && (known == 0 || total % known != 0)) || shape_numel(&n->shape) != total)
    FAIL("reshape: cannot view shape %s (%lld elements) as %s", sa, (long long)total, sb);
  n->dtype = n->src[0]->dtype;
  return true;
}

static bool infer_permute(Node *n, char *msg, size_t len) {
  const Shape *a = &n->src[0]->shape;
  bool seen[MAX_DIMS] = {false};
  for (int i = 0; i < a->ndim; i++) {
    int d = shape_norm_dim(n->perm[i], a->ndim);
    if (d < 0 || seen[d]) {
      char sa[96];
      shape_format(a, sa, sizeof sa);
      FAIL("permute: dims are not a permutation of the %d dims of shape %s (dim %d)", a->ndim, sa,
           n->perm[i]);
    }
    seen[d] = true;
    n->perm[i] = d;
    n->shape.dim[i] = a->dim[d];
  }
  n->shape.ndim = a->ndim;
  n->dtype = n->src[0]->dtype;
  return true;
}

static bool norm_axis(Node *n, const Shape *s, char *msg, size_t len) {
  int d = shape_norm_dim(n->axis, s->ndim);
  if (d < 0) {
    char sa[96];
    shape_format(s, sa, sizeof sa);
    FAIL("%s: dim %d is out of range for shape %s (expected %d..%d)", op_names[n->op], n->axis,
         sa, -s->ndim, s->ndim - 1);
  }
  n->axis = d;
  return true;
}

static bool infer_slice(Node *n, char *msg, size_t len) {
  const Shape *a = &n->src[0]->shape;
  if (!norm_axis(n, a, msg, len))
    return false;
  int64_t size = a->dim[n->axis];
  if (n->start < 0 && n->start >= -size)
    n->start += size;
  if (n->len <= 0)
    FAIL("narrow: length %lld, expected a positive length", (long long)n->len);
  if (n->start < 0 || n->start > size || n->len > size - n->start) { /* no overflow */
    char sa[96];
    shape_format(a, sa, sizeof sa);
    if (n->start < 0 || n->start > size || n->len > size)
      FAIL("narrow: start %lld, length %lld is outside dim %d of shape %s", (long long)n->start,
           (long long)n->len, n->axis, sa);
    FAIL("narrow: range [%lld, %lld) is outside dim %d of shape %s", (long long)n->start,
         (long long)(n->start + n->len), n->axis, sa);
  }
  n->shape = *a;
  n->shape.dim[n->axis] = n->len;
  n->dtype = n->src[0]->dtype;
  return true;
}

static bool infer_cat(Node *n, char *msg, size_t len) {
  const Shape *a = &n->src[0]->shape;
  if (!norm_axis(n, a, msg, len))
    return false;
  n->shape = *a;
  n->shape.dim[n->axis] = 0;
  for (int i = 0; i < n->nsrc; i++) {
    const Shape *b = &n->src[i]->shape;
    bool ok = b->ndim == a->ndim;
    for (int d = 0; ok && d < a->ndim; d++)
      ok = d == n->axis || a->dim[d] == b->dim[d];
    if (!ok) {
      char sa[96], sb[96];
      shape_format(a, sa, sizeof sa);
      shape_format(b, sb, sizeof sb);
      FAIL("cat: shapes %s and %s differ outside dim %d", sa, sb, n->axis);
    }
    if (n->src[i]->dtype != n->src[0]->dtype)
      FAIL("cat: tensors have different dtypes (%s and %s)", dtype_name(n->src[0]->dtype),
           dtype_name(n->src[i]->dtype));
    n->shape.dim[n->axis] += b->dim[n->axis];
  }
  n->dtype = n->src[0]->dtype;
  return true;
}

static bool infer_gather(Node *n, char *msg, size_t len) {
  const Shape *t = &n->src[0]->shape, *ix = &n->src[1]->shape;
  if (n->src[1]->dtype == DT_F32)
    FAIL("index: the index tensor must be integer, got float32");
  if (t->ndim < 1)
    FAIL("index: cannot index a 0-dim tensor");
  if (ix->ndim + t->ndim - 1 > MAX_DIMS)
    FAIL("index: result would have more than %d dims", MAX_DIMS);
  n->shape = *ix;
  for (int d = 1; d < t->ndim; d++)
    n->shape.dim[n->shape.ndim++] = t->dim[d];
  n->dtype = n->src[0]->dtype;
  return true;
}

static bool infer_softmax(Node *n, char *msg, size_t len) {
  if (n->src[0]->dtype != DT_F32)
    FAIL("softmax: expected a float32 tensor, got %s", dtype_name(n->src[0]->dtype));
  if (!norm_axis(n, &n->src[0]->shape, msg, len))
    return false;
  n->shape = n->src[0]->shape;
  n->dtype = DT_F32;
  return true;
}

static bool infer_reduce(Node *n, char *msg, size_t len) {
  const Shape *a = &n->src[0]->shape;
  if (!norm_axis(n, a, msg, len))
    return false;
  n->shape = *a;
  if (n->keepdim) {
    n->shape.dim[n->axis] = 1;
  } else {
    memmove(&n->shape.dim[n->axis], &n->shape.dim[n->axis + 1],
            sizeof(int64_t) * (size_t)(a->ndim - n->axis - 1));
    n->shape.ndim--;
  }
  DType t = n->src[0]->dtype;
  n->dtype = n->op == OP_MEAN ? DT_F32 : (t == DT_BOOL ? DT_I32 : t);
  return true;
}

bool shape_infer(Node *n, char *msg, size_t len) {
  for (int i = 0; i < n->nsrc; i++)
    if (shape_numel(&n->src[i]->shape) == 0 && n->op != OP_CAT)
      FAIL("%s: empty tensor operand", op_names[n->op]);
  switch (op_kinds[n->op]) {
  case OK_LEAF:
  case OK_PACK: /* shapes set by the pass that makes them */
  case OK_ATTENTION:
  case OK_SIDE:
  case OK_FUSED:
  case OK_LAYERNORM:
    return true;
  case OK_UNARY:
    return infer_unary(n, msg, len);
  case OK_BINARY:
  case OK_COMPARE:
  case OK_WHERE:
    return infer_elementwise(n, msg, len);
  case OK_MATMUL:
    return infer_matmul(n, msg, len);
  case OK_MOVE:
    switch (n->op) {
    case OP_RESHAPE:
      return infer_reshape(n, msg, len);
    case OP_PERMUTE:
      return infer_permute(n, msg, len);
    case OP_SLICE:
      return infer_slice(n, msg, len);
    default:
      return infer_cat(n, msg, len);
    }
  case OK_GATHER:
    return infer_gather(n, msg, len);
  case OK_SOFTMAX:
    return infer_softmax(n, msg, len);
  case OK_REDUCE:
    return infer_reduce(n, msg, len);
  }
  return true;
}

int64_t shape_bcast_offset(const Shape *out, const Shape *src, int64_t e) {
  int64_t off = 0, stride = 1;
  for (int d = out->ndim - 1; d >= 0; d--) {
    int64_t idx = e % out->dim[d];
    e /= out->dim[d];
    int sd = src->ndim - out->ndim + d;
    if (sd >= 0) {
      if (src->dim[sd] != 1)
        off += idx * stride;
      stride *= src->dim[sd];
    }
  }
  return off;
}
