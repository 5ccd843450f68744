/* fuse.c: epilogue fusion. A matmul whose only consumer adds a per-column bias,
 * then applies ReLU or GELU, then adds a tensor of its own shape (a residual),
 * absorbs those consumers: the GEMM kernel applies them as it stores each output
 * tile, so the intermediate tensors are never written. The fused matmul moves to
 * the position of the last op it absorbed, which keeps the order topological (the
 * bias or residual may be computed after the matmul in model order). A bias or residual
 * that is a slice of rows evenly spaced in a bigger tensor is read there in place. */
#include "attncc.h"

/* the operand of binary node u that is not n */
static Node *other_operand(Node *u, Node *n) { return u->src[0] == n ? u->src[1] : u->src[0]; }

/* a float tensor holding one value per output column: [N], [1, N], ... */
static bool is_column_vector(const Node *b, int64_t n) {
  return b->dtype == DT_F32 && b->shape.ndim >= 1 && b->shape.dim[b->shape.ndim - 1] == n &&
         shape_numel(&b->shape) == n;
}

static void add_src(Node *n, Node *s) {
  Node **src = xalloc(sizeof(Node *) * (size_t)(n->nsrc + 1));
  for (int i = 0; i < n->nsrc; i++)
    src[i] = n->src[i];
  src[n->nsrc++] = s;
  n->src = src;
}

/* n takes over u: u's users read n, and n runs where u ran */
static void absorb(Graph *g, Node *n, Node *u) {
  graph_replace_uses(g, u, n);
  u->live = false;
  graph_move_after(g, n, u);
}

/* A bias or residual that is a slice keeping the last dim whole, with its rows evenly
 * spaced in the slice's source (step t of an LSTM's input projection, [B, L, 4H] ->
 * [B, 1, 4H]; a bias when B is 1), is read in place: returns the source and sets the
 * rows' offset and stride there (ld may be NULL for one row). Otherwise returns r itself. */
static Node *slice_in_place(Node *r, int64_t *offset, int64_t *ld) {
  Node *s = r; /* the slice, maybe under a reshape that keeps the rows ([B,1,N] -> [B,N]) */
  if (s->op == OP_RESHAPE && s->src[0]->op == OP_SLICE)
    s = s->src[0];
  int nd = s->shape.ndim;
  if (s->op != OP_SLICE || s->axis == nd - 1 ||
      s->shape.dim[nd - 1] != r->shape.dim[r->shape.ndim - 1])
    return r;
  SrcView v = {0};
  Node *x = graph_view_of(s, &v);
  int64_t row = 0, next = 0; /* the innermost row dim's stride; the next one's if dense */
  for (int d = nd - 2; d >= 0; d--) {
    if (s->shape.dim[d] == 1)
      continue;
    if (row && v.stride[d] != next)
      return r;
    if (!row)
      row = v.stride[d];
    next = v.stride[d] * s->shape.dim[d];
  }
  *offset = v.offset;
  if (ld)
    *ld = row ? row : s->shape.dim[nd - 1];
  return x;
}

/* B is a weight the GEMM reads packed (pack.c), so the product is one call over all rows */
static bool weight_operand(const Node *b) {
  return (b->op == OP_PARAM || b->op == OP_CONST) && b->shape.ndim == 2 && b->dtype == DT_F32;
}

static void fuse_one(Graph *g, Node *n) {
  int64_t cols = n->shape.dim[n->shape.ndim - 1];
  Node *u = graph_sole_user(g, n);
  if (u && u->op == OP_ADD && shape_equal(&u->shape, &n->shape)) {
    Node *b = other_operand(u, n);
    if (b != n && is_column_vector(b, cols)) {
      if (weight_operand(n->src[1]))
        b = slice_in_place(b, &n->bias_offset, NULL);
      n->bias = b;
      add_src(n, b);
      absorb(g, n, u);
      u = graph_sole_user(g, n);
    }
  }
  if (u && (u->op == OP_RELU || u->op == OP_GELU)) {
    n->act = u->op == OP_RELU ? 1 : 2;
    absorb(g, n, u);
    u = graph_sole_user(g, n);
  }
  if (u && u->op == OP_ADD && shape_equal(&u->shape, &n->shape)) {
    Node *r = other_operand(u, n);
    if (r != n && r->dtype == DT_F32 && shape_equal(&r->shape, &n->shape)) {
      if (weight_operand(n->src[1]))
        r = slice_in_place(r, &n->res_offset, &n->res_ld);
      n->residual = r;
      add_src(n, r);
      absorb(g, n, u);
    }
  }
}

void fuse_epilogues(Graph *g) {
  graph_prune(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->live && n->op == OP_MATMUL && !n->bias && !n->act && !n->residual) {
      fuse_one(g, n);
      if (n->id != i)
        i--; /* n moved later: the node now at i has not been visited */
    }
  }
  graph_prune(g);
}
