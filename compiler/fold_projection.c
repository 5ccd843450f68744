/* fold_projection.c: a fused attention's key and value projections fold into the
 * constant weights beside them, so two products disappear from the run (seed 001's
 * SelfAttention, where one head_dim x head_dim Linear without bias projects every head's
 * slice of the queries, keys and values). With K = Xk Bk and V = Xv Bv:
 *   Q K^T = Q Bk^T Xk^T, so Q = Xq Bq becomes Xq (Bq Bk^T) and the attention reads Xk;
 *   P V = (P Xv) Bv, and the merged heads' product O Wo becomes (P Xv) (diag(Bv) Wo),
 *   diag(Bv) the block diagonal of one Bv per head_dim columns of O.
 * The new weights are computed in double and rounded once: the result differs from the
 * unfolded graph's by rounding only (another order of the same sums). Taken when
 * - Bk (Bv) is a square constant matrix, the projection has no bias and is read by the
 *   attention alone, and its output's last dim is the attention's feature dim of K (V):
 *   each head's K rows are the projection's rows, read as they are or through a view;
 * - for K: Q is a projection by a constant too, read by the attention alone, its last dim
 *   the queries' feature dim (else folding would move K's product to Q, not remove it);
 * - for V: the attention's result (last dim dv), through reshapes only, is the left
 *   operand of a product by a constant matrix whose rows are whole groups of dv.
 * Skipped for --debug builds (every tensor is compared with the unfolded reference) and
 * where weights are loaded at run time (their values are unknown here). */
#include "attncc.h"

/* B = [K, N] of a product by a constant matrix: weight w stored [K, N], or [N, K] (trans) */
typedef struct {
  const float *w;
  int64_t k, n;
  bool trans;
} Matrix;

static double matrix_at(const Matrix *m, int64_t k, int64_t n) {
  return m->trans ? m->w[n * m->k + k] : m->w[k * m->n + n];
}

/* a product by a constant float matrix known here, with no epilogue yet: its B in *m */
static bool const_product(const Node *mm, Matrix *m) {
  if (mm->op != OP_MATMUL || mm->bias || mm->act || mm->residual || mm->dtype != DT_F32)
    return false;
  const Node *w = mm->src[1];
  if ((w->op != OP_PARAM && w->op != OP_CONST) || !w->data || w->dtype != DT_F32 ||
      w->shape.ndim != 2)
    return false;
  m->w = w->data;
  m->trans = mm->trans_b;
  m->k = mm->trans_b ? w->shape.dim[1] : w->shape.dim[0];
  m->n = mm->trans_b ? w->shape.dim[0] : w->shape.dim[1];
  return true;
}

/* float data of the [k, n] matrix c stored as mm's weight is (transposed when mm's is) */
static float *stored_like(const Node *mm, const double *c, int64_t k, int64_t n) {
  float *out = xalloc(sizeof(float) * (size_t)(k * n));
  for (int64_t r = 0; r < k; r++)
    for (int64_t j = 0; j < n; j++)
      out[mm->trans_b ? j * k + r : r * n + j] = (float)c[r * n + j];
  return out;
}

/* whether attention f reads operand i (0 Q, 1 K, 2 V) with its feature dim (the
 * operand's columns, or its rows when `rows`) along the last dim of its source, every
 * other dim of the read along whole rows of the source */
static bool feature_is_last_dim(const Node *f, int i, bool rows) {
  const Node *x = f->src[i];
  const int64_t n = last_dim(x);
  const SrcView *v = f->views ? &f->views[i] : NULL;
  if (!v || !v->is_view)
    return !rows; /* read as it is: [.., rows, cols] */
  const int fd = v->shape.ndim - 1 - rows;
  if (fd < 0 || v->stride[fd] != 1 || v->shape.dim[fd] != n || v->offset % n)
    return false;
  for (int d = 0; d < v->shape.ndim; d++)
    if (d != fd && v->stride[d] % n)
      return false;
  return true;
}

/* operand i of f: a square projection by a constant read by f alone, f's feature dim
 * (its rows when `rows`) along its last dim; its B in *m */
static bool folding_projection(const Graph *g, const Node *f, int i, bool rows, Matrix *m) {
  const Node *x = f->src[i];
  for (int s = 0; s < (f->attn_probs ? 2 : 3); s++) /* (the weights alone: slot 2 names K) */
    if (s != i && f->src[s] == x)
      return false;
  /* (square: the projection's input has its output's shape) */
  return graph_users(g, x, NULL, 0) == 1 && const_product(x, m) &&
         shape_equal(&x->src[0]->shape, &x->shape) && feature_is_last_dim(f, i, rows);
}

/* Q K^T with K = Xk Bk: Q's weight Bq becomes Bq Bk^T and f reads Xk */
static bool fold_key(Graph *g, Node *f) {
  Matrix bk, bq;
  Node *q = f->src[0]; /* K is [Lk, d] (k_rows) or [d, Lk] */
  if (!folding_projection(g, f, 1, !f->k_rows, &bk) || graph_users(g, q, NULL, 0) != 1 ||
      !const_product(q, &bq) || bq.n != bk.n || !feature_is_last_dim(f, 0, false))
    return false;
  double *c = xalloc(sizeof(double) * (size_t)(bq.k * bk.k));
  for (int64_t r = 0; r < bq.k; r++)
    for (int64_t j = 0; j < bk.k; j++) {
      double sum = 0;
      for (int64_t e = 0; e < bq.n; e++)
        sum += matrix_at(&bq, r, e) * matrix_at(&bk, j, e);
      c[r * bk.k + j] = sum;
    }
  q->src[1] = graph_add_const(g, q->src[1], stored_like(q, c, bq.k, bk.k), q);
  f->src[1] = f->src[1]->src[0];
  if (f->attn_probs) /* its unread V slot names K */
    f->src[2] = f->src[1];
  return true;
}

/* the product that reads f's result through reshapes only, as its left operand */
static Node *merged_heads_product(const Graph *g, const Node *f) {
  Node *users[3], *u = NULL;
  const int count = graph_users(g, f, users, 3);
  if (count < 1 || count > 2)
    return NULL;
  for (int k = 0; k < count; k++)
    if (users[k] != f->probs_out) {
      if (u)
        return NULL;
      u = users[k];
    }
  const Node *x = f;
  while (u && u->op == OP_RESHAPE) {
    x = u;
    u = graph_sole_user(g, u);
  }
  return u && u->op == OP_MATMUL && u->src[0] == x && u->src[1] != x ? u : NULL;
}

/* (P V) Wo with V = Xv Bv: Wo becomes diag(Bv) Wo and f reads Xv */
static bool fold_value(Graph *g, Node *f) {
  Matrix bv, bo;
  Node *o = f->attn_probs ? NULL : merged_heads_product(g, f);
  const int64_t dv = f->dv;
  if (!o || !folding_projection(g, f, 2, false, &bv) || !const_product(o, &bo) || bo.k % dv)
    return false;
  ATTN_ASSERT(last_dim(f) == dv); /* attn_layout keeps the result's last dim */
  double *c = xalloc(sizeof(double) * (size_t)(bo.k * bo.n));
  for (int64_t r = 0; r < bo.k; r++) /* row r = head group h, feature d of Xv */
    for (int64_t j = 0; j < bo.n; j++) {
      const int64_t h = r / dv * dv, d = r % dv;
      double sum = 0;
      for (int64_t e = 0; e < dv; e++)
        sum += matrix_at(&bv, d, e) * matrix_at(&bo, h + e, j);
      c[r * bo.n + j] = sum;
    }
  o->src[1] = graph_add_const(g, o->src[1], stored_like(o, c, bo.k, bo.n), o);
  f->src[2] = f->src[2]->src[0];
  return true;
}

void fold_projections(Graph *g) {
  if (g->debug)
    return;
  graph_prune(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *f = g->nodes[i];
    if (!f->live || f->op != OP_ATTENTION)
      continue;
    bool folded = fold_key(g, f);
    folded |= fold_value(g, f);
    if (folded) {
      graph_prune(g);
      i = f->id; /* the new constants were placed before f */
    }
  }
}
