/* fold_projection.c: a fused attention's key and value projections fold into the
 * constant weights beside them, so two products disappear from the run (seed 001's
 * SelfAttention, where one head_dim x head_dim Linear without bias projects every head's
 * slice of the queries, keys and values). With K = Xk Bk and V = Xv Bv:
 *   Q K^T = Q Bk^T Xk^T, so Q = Xq Bq becomes Xq (Bq Bk^T) and the attention reads Xk;
 *   P V = (P Xv) Bv, and the merged heads' product O Wo becomes (P Xv) (diag(Bv) Wo),
 *   diag(Bv) the block diagonal of one Bv per head_dim columns of O.
 * With embedded weights the new weights are computed here, in double, and rounded once: the
 * result differs from the unfolded graph's by rounding only (another order of the same
 * sums). With weights loaded at run time the pass adds the nodes that compute them from
 * the parameters (Bq Bk^T, and diag(Bv) Wo as one product of Wo's rows by Bv^T), which
 * depend on parameters alone: PREFIX_prepare computes them once (prepare.c), PREFIX_run on
 * every call, as it packs the weights. Taken when
 * - Bk (Bv) is a square constant matrix, the projection has no bias and is read by the
 *   attention alone, and its output's last dim is the attention's feature dim of K (V):
 *   each head's K rows are the projection's rows, read as they are or through a view;
 * - for K: Q is a projection by a constant too, read by the attention alone, its last dim
 *   the queries' feature dim (else folding would move K's product to Q, not remove it);
 * - for V: the attention's result (last dim dv), through reshapes only, is the left
 *   operand of a product by a constant matrix whose rows are whole groups of dv.
 * Skipped for --debug builds (every tensor is compared with the unfolded reference). */
#include "attncc.h"

/* B = [K, N] of a product by a weight matrix: node stored [K, N], or [N, K] (trans); w its
 * values when known here (embedded), else NULL (loaded at run time) */
typedef struct {
  Node *node;
  const float *w;
  int64_t k, n;
  bool trans;
} Matrix;

static double matrix_at(const Matrix *m, int64_t k, int64_t n) {
  return m->trans ? m->w[n * m->k + k] : m->w[k * m->n + n];
}

/* a product by a float weight matrix (a parameter or a constant), with no epilogue yet: its
 * B in *m */
static bool weight_product(const Node *mm, Matrix *m) {
  if (mm->op != OP_MATMUL || mm->bias || mm->act || mm->residual || mm->dtype != DT_F32)
    return false;
  Node *w = mm->src[1];
  if ((w->op != OP_PARAM && w->op != OP_CONST) || w->dtype != DT_F32 || w->shape.ndim != 2)
    return false;
  m->node = w;
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

/* Nodes computing folded weights at run time, placed before `before` (its source line) */
static Node *derived(Graph *g, const Node *proto, Node **src, int nsrc, Node *before) {
  Node *n = graph_add(g, proto->op, src, nsrc, before->loc, before->path);
  n->trans_b = proto->trans_b;
  memcpy(n->perm, proto->perm, sizeof n->perm);
  n->shape = proto->shape;
  char msg[256];
  const bool inferred = shape_infer(n, msg, sizeof msg);
  ATTN_ASSERT(inferred);
  n->live = true;
  graph_insert_before(g, n, before);
  return n;
}

static Node *product(Graph *g, Node *a, Node *b, bool trans_b, Node *before) {
  Node proto = {.op = OP_MATMUL, .trans_b = trans_b}, *src[2] = {a, b};
  return derived(g, &proto, src, 2, before);
}

static Node *reshaped(Graph *g, Node *x, int64_t rows, int64_t cols, Node *before) {
  Node proto = {.op = OP_RESHAPE, .shape = {2, {rows, cols}}};
  return derived(g, &proto, &x, 1, before);
}

static Node *transposed(Graph *g, Node *x, Node *before) {
  Node proto = {.op = OP_PERMUTE, .perm = {1, 0}};
  return derived(g, &proto, &x, 1, before);
}

/* m's B as a node stored [K, N] */
static Node *stored_kn(Graph *g, const Matrix *m, Node *before) {
  return m->trans ? transposed(g, m->node, before) : m->node;
}

/* m's B^T, stored [N, K] */
static Node *stored_nk(Graph *g, const Matrix *m, Node *before) {
  return m->trans ? m->node : transposed(g, m->node, before);
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

/* operand i of f: a square projection by a weight read by f alone, f's feature dim
 * (its rows when `rows`) along its last dim; its B in *m */
static bool folding_projection(const Graph *g, const Node *f, int i, bool rows, Matrix *m) {
  const Node *x = f->src[i];
  for (int s = 0; s < (f->attn_probs ? 2 : 3); s++) /* (the weights alone: slot 2 names K) */
    if (s != i && f->src[s] == x)
      return false;
  /* (square: the projection's input has its output's shape) */
  return graph_users(g, x, NULL, 0) == 1 && weight_product(x, m) &&
         shape_equal(&x->src[0]->shape, &x->shape) && feature_is_last_dim(f, i, rows);
}

/* Bq Bk^T of weights known here, stored as q's weight is */
static float *folded_key(const Node *q, const Matrix *bq, const Matrix *bk) {
  double *c = xalloc(sizeof(double) * (size_t)(bq->k * bk->k));
  for (int64_t r = 0; r < bq->k; r++)
    for (int64_t j = 0; j < bk->k; j++) {
      double sum = 0;
      for (int64_t e = 0; e < bq->n; e++)
        sum += matrix_at(bq, r, e) * matrix_at(bk, j, e);
      c[r * bk->k + j] = sum;
    }
  return stored_like(q, c, bq->k, bk->k);
}

/* Q K^T with K = Xk Bk: Q's weight Bq becomes Bq Bk^T and f reads Xk */
static bool fold_key(Graph *g, Node *f) {
  Matrix bk, bq;
  Node *q = f->src[0]; /* K is [Lk, d] (k_rows) or [d, Lk] */
  if (!folding_projection(g, f, 1, !f->k_rows, &bk) || graph_users(g, q, NULL, 0) != 1 ||
      !weight_product(q, &bq) || bq.n != bk.n || !feature_is_last_dim(f, 0, false))
    return false;
  if (bq.w && bk.w)
    q->src[1] = graph_add_const(g, q->src[1], folded_key(q, &bq, &bk), q);
  else { /* at run time: matmul(Bq, Bk^T), Bk^T being Bk's weight or its transpose */
    q->src[1] = product(g, stored_kn(g, &bq, q), bk.node, !bk.trans, q);
    q->trans_b = false;
  }
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

/* diag(Bv) Wo of weights known here, stored as o's weight is */
static float *folded_value(const Node *o, const Matrix *bv, const Matrix *bo, int64_t dv) {
  double *c = xalloc(sizeof(double) * (size_t)(bo->k * bo->n));
  for (int64_t r = 0; r < bo->k; r++) /* row r = head group h, feature d of Xv */
    for (int64_t j = 0; j < bo->n; j++) {
      const int64_t h = r / dv * dv, d = r % dv;
      double sum = 0;
      for (int64_t e = 0; e < dv; e++)
        sum += matrix_at(bv, d, e) * matrix_at(bo, h + e, j);
      c[r * bo->n + j] = sum;
    }
  return stored_like(o, c, bo->k, bo->n);
}

/* (P V) Wo with V = Xv Bv: Wo becomes diag(Bv) Wo and f reads Xv */
static bool fold_value(Graph *g, Node *f) {
  Matrix bv, bo;
  Node *o = f->attn_probs ? NULL : merged_heads_product(g, f);
  const int64_t dv = f->dv;
  if (!o || !folding_projection(g, f, 2, false, &bv) || !weight_product(o, &bo) || bo.k % dv)
    return false;
  ATTN_ASSERT(last_dim(f) == dv); /* attn_layout keeps the result's last dim */
  if (bv.w && bo.w)
    o->src[1] = graph_add_const(g, o->src[1], folded_value(o, &bv, &bo, dv), o);
  else { /* at run time, (diag(Bv) Wo)^T: row (j, h) of Wo^T [N, K] as [N * K / dv, dv], by Bv^T */
    Node *rows = reshaped(g, stored_nk(g, &bo, o), bo.n * (bo.k / dv), dv, o);
    Node *c = product(g, rows, bv.node, !bv.trans, o);
    o->src[1] = reshaped(g, c, bo.n, bo.k, o);
    o->trans_b = true;
  }
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
