/* attn_layout.c: a fused attention reads Q, K and V where they already are and writes
 * its result where its user wants it, so the head split and merge of multi-head
 * attention copy nothing. An operand that is a permute or slice (possibly under
 * reshapes) whose last two dims are the operand's rows and columns is read through its
 * source's strides: batch item b is the row-major index over the view's leading dims.
 * A result whose only user is a permute (after reshapes) keeping the last dim is
 * written in that permute's layout: the attention takes the permute's place and value.
 * A bypassed copy dies unless something else reads it. Each matrix keeps a contiguous
 * dim: Q and the result their columns (rows are copied or stored with a stride), K and
 * V either one (pack_b reads any strides). */
#include "attncc.h"

/* rows x cols of operand i (0 Q, 1 K, 2 V) or of the result (3), per batch item */
static void matrix_dims(const Node *f, int i, int64_t *rows, int64_t *cols) {
  int64_t r[4] = {f->lq, f->k_rows ? f->lk : f->dh, f->lk, f->lq};
  int64_t c[4] = {f->dh, f->k_rows ? f->dh : f->lk, f->dv, f->dv};
  *rows = r[i];
  *cols = c[i];
}

/* ends with rows x cols: the flat order of a tensor ending so, read as [batch, rows, cols] */
static bool ends_with(const Node *n, int64_t rows, int64_t cols) {
  int d = n->shape.ndim;
  return d >= 2 && n->shape.dim[d - 2] == rows && n->shape.dim[d - 1] == cols;
}

/* operand i of attention f read through a permute or slice under its reshapes */
static void read_through_view(Node *f, int i) {
  int64_t rows, cols;
  matrix_dims(f, i, &rows, &cols);
  Node *p = f->src[i];
  while (p->op == OP_RESHAPE) /* reshapes keep the flat order */
    p = p->src[0];
  if ((p->op != OP_PERMUTE && p->op != OP_SLICE) || !ends_with(p, rows, cols))
    return;
  SrcView v = {0};
  Node *x = graph_view_of(p, &v);
  int d = v.shape.ndim;
  if (!(v.stride[d - 1] == 1 || (i != 0 && v.stride[d - 2] == 1)))
    return;
  f->views[i] = v;
  f->src[i] = x;
}

/* the one user of attention f's result (its weights' node, probs_out, is not one), else NULL */
static Node *result_user(const Graph *g, const Node *f) {
  Node *users[2];
  int n = graph_users(g, f, users, 2);
  if (f->probs_out && n == 2)
    return users[users[0] == f->probs_out];
  return n == 1 && users[0] != f->probs_out ? users[0] : NULL;
}

/* the result of f written as its only user, a permute after reshapes, lays it out */
static void write_through_permute(Graph *g, Node *f) {
  Node *x = f, *u = result_user(g, f);
  while (u && u->op == OP_RESHAPE) {
    x = u;
    u = graph_sole_user(g, u);
  }
  int d = x->shape.ndim;
  if (!u || u->op != OP_PERMUTE || !ends_with(x, f->lq, f->dv) || u->perm[d - 1] != d - 1)
    return;
  SrcView v = {0};
  int64_t us[MAX_DIMS];
  shape_dense_strides(&u->shape, us);
  v.is_view = true;
  v.shape = x->shape;
  for (int k = 0; k < d; k++) /* dim perm[k] of x is dim k of u */
    v.stride[u->perm[k]] = us[k];
  f->views[3] = v;
  f->shape = u->shape;
  graph_replace_uses(g, u, f);
  graph_prune(g);
}

void attention_layouts(Graph *g) {
  graph_prune(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *f = g->nodes[i];
    if (!f->live || f->op != OP_ATTENTION)
      continue;
    f->views = xalloc(sizeof(SrcView) * 4);
    for (int k = 0; k < (f->attn_probs ? 2 : 3); k++) /* (the probabilities read no V) */
      read_through_view(f, k);
    if (f->attn_probs) /* the unread V slot names K, as read now: it keeps nothing alive */
      f->src[2] = f->src[1];
    write_through_permute(g, f);
  }
  graph_prune(g);
}
