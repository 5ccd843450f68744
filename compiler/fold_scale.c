/* fold_scale.c: a power-of-two scale of a projection's output moves into its constant
 * weights and bias, so the scaling costs nothing at run time: `q / 8` or `q * 0.25`
 * (an elementwise op on a Linear's output, as nn.MultiheadAttention scales its queries)
 * and the scores' leading `* c` / `/ c` steps of a fused attention (QK^T / 4 before a
 * mask), when Q comes from a Linear with embedded weights. Multiplying by a power of two
 * commutes with every rounding, so the result is bit-identical (the pass checks that no
 * weight or bias underflows or overflows when scaled, else it leaves the graph alone).
 * Between the Linear (with its bias add) and the scaled tensor there may be reshapes,
 * permutes and narrows; one node on the way may feed other narrows too (a fused qkv
 * projection), when they read other output columns than the scaled one: only the
 * columns the scaled tensor reads are scaled. Skipped for --debug builds, whose tensors
 * are compared one by one with the unscaled reference. */
#include <math.h>

#include "attncc.h"

/* a positive, finite power of two */
static bool is_pow2(double v) {
  int e;
  return v > 0 && isfinite(v) && frexp(v, &e) == 0.5;
}

/* float data known at compile time */
static bool const_f32(const Node *n) {
  return n->dtype == DT_F32 && n->data && (n->op == OP_CONST || n->op == OP_PARAM);
}

static bool is_view(const Node *n) {
  return n->op == OP_RESHAPE || n->op == OP_PERMUTE || n->op == OP_SLICE;
}

/* flat index, in view n's source, of n's element i (n: reshape, permute or narrow) */
static int64_t view_source_index(const Node *n, int64_t i) {
  if (n->op == OP_RESHAPE)
    return i;
  const Shape *s = &n->shape, *ss = &n->src[0]->shape;
  int64_t idx[MAX_DIMS], sidx[MAX_DIMS];
  for (int d = s->ndim - 1; d >= 0; d--) {
    idx[d] = i % s->dim[d];
    i /= s->dim[d];
  }
  for (int d = 0; d < s->ndim; d++) {
    if (n->op == OP_PERMUTE)
      sidx[n->perm[d]] = idx[d];
    else
      sidx[d] = idx[d] + (d == n->axis ? n->start : 0);
  }
  int64_t f = 0;
  for (int d = 0; d < ss->ndim; d++)
    f = f * ss->dim[d] + sidx[d];
  return f;
}

/* The producer of a tensor to scale: the matmul, its bias add (or NULL), and the view
 * nodes from the scaled tensor back to them, in that order. */
typedef struct {
  Node *mm, *add, *bias;
  Node *views[64];
  int nviews;
  Node *branch, *branch_user; /* the one node with other users, and its user on our path */
} Producer;

/* the column of the matmul output that view element i of views[from] reads */
static int64_t column_of(const Producer *p, int from, int64_t i) {
  for (int v = from; v < p->nviews; v++)
    i = view_source_index(p->views[v], i);
  return i % last_dim(p->mm);
}

/* walks back from x (read only by `consumer`) to a matmul with constant weights */
static bool find_producer(Graph *g, Node *x, Node *consumer, Producer *p) {
  *p = (Producer){0};
  Node *cur = x, *user = consumer;
  for (;;) {
    Node *users[2];
    int count = graph_users(g, cur, users, 2);
    if (count != 1) {
      if (count < 1 || p->branch)
        return false;
      p->branch = cur;
      p->branch_user = user;
    }
    if (!is_view(cur))
      break;
    if (p->nviews == (int)(sizeof p->views / sizeof p->views[0]))
      return false;
    p->views[p->nviews++] = cur;
    user = cur;
    cur = cur->src[0];
  }
  if (cur->op == OP_ADD) {
    int b = const_f32(cur->src[1]) ? 1 : const_f32(cur->src[0]) ? 0 : -1;
    if (b < 0 || cur->src[1 - b]->op != OP_MATMUL)
      return false;
    p->add = cur;
    p->bias = cur->src[b];
    if (shape_numel(&p->bias->shape) != last_dim(cur) || last_dim(p->bias) != last_dim(cur) ||
        !shape_equal(&cur->shape, &cur->src[1 - b]->shape) ||
        graph_users(g, cur->src[1 - b], NULL, 0) != 1)
      return false;
    cur = cur->src[1 - b];
  }
  if (cur->op != OP_MATMUL || cur->bias || cur->act || cur->residual ||
      !const_f32(cur->src[1]) || cur->src[1]->shape.ndim != 2 || cur->dtype != DT_F32)
    return false;
  p->mm = cur;
  return true;
}

/* marks the output columns the scaled tensor reads; false if another branch reads one */
static bool scaled_columns(Graph *g, const Producer *p, bool *cols) {
  int64_t n = last_dim(p->mm);
  if (!p->branch) { /* one chain: every column that reaches x is x's alone */
    for (int64_t j = 0; j < n; j++)
      cols[j] = true;
    return true;
  }
  int at = 0; /* views index of the branch (nviews: the add or the matmul) */
  while (at < p->nviews && p->views[at] != p->branch)
    at++;
  Node *users[16];
  int count = graph_users(g, p->branch, users, 16);
  if (count > 16)
    return false;
  for (int pass = 0; pass < 2; pass++) /* ours first, then every other one */
    for (int u = 0; u < count; u++) {
      const Node *s = users[u];
      if (s->op != OP_SLICE)
        return false;
      if ((s == p->branch_user) != (pass == 0))
        continue;
      for (int64_t i = 0; i < shape_numel(&s->shape); i++) {
        int64_t j = column_of(p, at, view_source_index(s, i));
        if (pass == 1 && cols[j])
          return false;
        cols[j] = pass == 0 ? true : cols[j];
      }
    }
  return true;
}

/* data * c in the columns cols of a [rows, n] (by_row: [n, rows]) float array, if exact */
static float *scaled_copy(const Node *w, const bool *cols, bool by_row, double c) {
  int64_t numel = shape_numel(&w->shape), n = by_row ? w->shape.dim[0] : last_dim(w);
  int64_t inner = by_row ? numel / n : 1;
  const float *src = w->data;
  float *out = xalloc(sizeof(float) * (size_t)numel);
  for (int64_t i = 0; i < numel; i++) {
    int64_t j = by_row ? i / inner : i % n;
    float v = cols[j] ? (float)(src[i] * c) : src[i];
    if (cols[j] && (!isfinite(v) || (double)v / c != (double)src[i]))
      return NULL; /* over- or underflow: not exact */
    out[i] = v;
  }
  return out;
}

/* scales x (read by consumer) by c through its projection's weights; false: unchanged */
static bool fold_into_weights(Graph *g, Node *x, Node *consumer, double c) {
  Producer p;
  if (!find_producer(g, x, consumer, &p))
    return false;
  int64_t n = last_dim(p.mm);
  bool *cols = xalloc(sizeof(bool) * (size_t)n);
  for (int64_t j = 0; j < n; j++)
    cols[j] = false;
  const Node *w = p.mm->src[1];
  if (!scaled_columns(g, &p, cols) || (p.mm->trans_b ? w->shape.dim[0] : last_dim(w)) != n)
    return false;
  float *wd = scaled_copy(w, cols, p.mm->trans_b, c);
  float *bd = p.bias ? scaled_copy(p.bias, cols, false, c) : NULL;
  if (!wd || (p.bias && !bd))
    return false;
  p.mm->src[1] = graph_add_const(g, w, wd, p.mm);
  if (p.bias) {
    Node *b = graph_add_const(g, p.bias, bd, p.mm);
    for (int s = 0; s < 2; s++)
      if (p.add->src[s] == p.bias)
        p.add->src[s] = b;
  }
  return true;
}

/* x * k, k * x or x / k with k a scalar power-of-two constant (float or integer): the
 * factor, else 0 */
static double scalar_scale(const Node *n, Node **x) {
  if ((n->op != OP_MUL && n->op != OP_DIV) || n->dtype != DT_F32)
    return 0;
  for (int s = n->op == OP_DIV ? 1 : 0; s < 2; s++) {
    const Node *k = n->src[s];
    bool number = k->data && (k->op == OP_CONST || k->op == OP_PARAM) && k->dtype != DT_BOOL;
    if (number && shape_numel(&k->shape) == 1 && shape_equal(&n->shape, &n->src[1 - s]->shape) &&
        n->src[1 - s]->dtype == DT_F32) {
      double v = node_value(k, 0);
      *x = n->src[1 - s];
      return is_pow2(v) ? (n->op == OP_DIV ? 1.0 / v : v) : 0;
    }
  }
  return 0;
}

/* the product of a fused attention's leading literal scale steps; *count: how many */
static double leading_scale(const Node *a, int *count) {
  double c = 1.0;
  int t = 0;
  while (t < a->nsteps && attn_step_scale(&a->steps[t], &c))
    t++;
  *count = t;
  return c;
}

void fold_scale(Graph *g) {
  if (g->debug)
    return;
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i], *x = NULL;
    if (!n->live)
      continue;
    double c = scalar_scale(n, &x);
    if (c != 0 && c != 1 && fold_into_weights(g, x, n, c)) {
      graph_replace_uses(g, n, x);
      n->live = false;
      continue;
    }
    int count = 0;
    if (n->op == OP_ATTENTION && (c = leading_scale(n, &count), count > 0 && is_pow2(c))) {
      bool shared = false; /* Q also read in another role (self-attention without projections) */
      for (int s = 1; s < n->nsrc; s++)
        shared |= n->src[s] == n->src[0];
      if (!shared && fold_into_weights(g, n->src[0], n, c)) {
        memmove(n->steps, n->steps + count, sizeof(AttnStep) * (size_t)(n->nsteps - count));
        n->nsteps -= count;
      }
    }
  }
  graph_prune(g);
}
