/* fuse_layernorm.c: finds LayerNorm spelled out in ops (nn.LayerNorm's own spelling, or a
 * model's: mean, x - mean, square by multiply, mean, + eps, then * rsqrt or / sqrt;
 * optionally * weight + bias per column) and replaces it by one LAYERNORM node whose
 * kernel does two passes over each row while it is in L1, instead of six loops over the
 * whole tensor. A residual add before it (x = a + r, used only by the norm) is absorbed
 * too: the kernel sums a + r as it reads. Every intermediate must have no other use. */
#include "attncc.h"

#define MAX_USERS 4

static int last_axis(const Node *n) { return n->shape.ndim - 1; }

/* a mean over the last dim that keeps it */
static bool is_row_mean(const Node *m) {
  return m->op == OP_MEAN && m->keepdim && m->src[0]->shape.ndim >= 1 &&
         m->axis == last_axis(m->src[0]) && m->src[0]->dtype == DT_F32;
}

/* the single user of n with op `op`, or NULL */
static Node *only_user(Graph *g, Node *n, OpCode op) {
  Node *u[MAX_USERS];
  return graph_users(g, n, u, MAX_USERS) == 1 && u[0]->op == op ? u[0] : NULL;
}

/* a float [D]-like tensor: one value per column (last dim D), nothing else */
static bool is_column_vector(const Node *b, int64_t d) {
  return b->dtype == DT_F32 && b->shape.ndim >= 1 && b->shape.dim[b->shape.ndim - 1] == d &&
         shape_numel(&b->shape) == d;
}

static Node *other_operand(const Node *u, const Node *n) { return u->src[0] == n ? u->src[1] : u->src[0]; }

typedef struct {
  Node *x, *c, *y;          /* input, x - mean, the normalized result */
  float eps;
  Node *weight, *bias;      /* affine (may be NULL) */
  Node *last;               /* the last node the norm replaces */
} Norm;

/* c = x - m; c's users: c * c (to the variance) and the normalization y */
static bool match_core(Graph *g, Node *m, Norm *nm) {
  Node *x = m->src[0], *c = only_user(g, m, OP_SUB);
  if (!c || c->src[0] != x || c->src[1] != m || !shape_equal(&c->shape, &x->shape))
    return false;
  Node *u[MAX_USERS];
  if (graph_users(g, c, u, MAX_USERS) != 2)
    return false;
  Node *sq = u[0]->op == OP_MUL && u[0]->src[0] == c && u[0]->src[1] == c ? u[0] : u[1];
  Node *y = sq == u[0] ? u[1] : u[0];
  if (sq->op != OP_MUL || sq->src[0] != c || sq->src[1] != c)
    return false;
  Node *v = only_user(g, sq, OP_MEAN);
  if (!v || !v->keepdim || v->axis != last_axis(sq))
    return false;
  Node *ve = only_user(g, v, OP_ADD), *eps = ve ? other_operand(ve, v) : NULL;
  if (!ve || eps == v || eps->op != OP_CONST || shape_numel(&eps->shape) != 1 || eps->dtype != DT_F32)
    return false;
  Node *r = graph_sole_user(g, ve);
  if (!r || r->nsrc != 1 || graph_sole_user(g, r) != y || !shape_equal(&y->shape, &x->shape))
    return false;
  bool mul_rsqrt = r->op == OP_RSQRT && y->op == OP_MUL && other_operand(y, r) == c;
  bool div_sqrt = r->op == OP_SQRT && y->op == OP_DIV && y->src[0] == c && y->src[1] == r;
  if (!mul_rsqrt && !div_sqrt)
    return false;
  nm->x = x;
  nm->c = c;
  nm->y = nm->last = y;
  nm->eps = *(const float *)eps->data;
  return true;
}

/* y * weight (+ bias), per column */
static void match_affine(Graph *g, Norm *nm) {
  int64_t d = nm->x->shape.dim[last_axis(nm->x)];
  Node *mw = graph_sole_user(g, nm->y);
  if (!mw || mw->op != OP_MUL || !shape_equal(&mw->shape, &nm->y->shape))
    return;
  Node *w = other_operand(mw, nm->y);
  if (w == nm->y || !is_column_vector(w, d))
    return;
  nm->weight = w;
  nm->last = mw;
  Node *ab = graph_sole_user(g, mw);
  if (ab && ab->op == OP_ADD && shape_equal(&ab->shape, &mw->shape)) {
    Node *b = other_operand(ab, mw);
    if (b != mw && is_column_vector(b, d)) {
      nm->bias = b;
      nm->last = ab;
    }
  }
}

static void try_fuse(Graph *g, Node *m) {
  Norm nm = {0};
  if (!is_row_mean(m) || !match_core(g, m, &nm))
    return;
  Node *u[MAX_USERS];
  if (graph_users(g, nm.x, u, MAX_USERS) != 2) /* x feeds the mean and x - mean only */
    return;
  match_affine(g, &nm);
  Node *x = nm.x, *res = NULL;
  if (x->op == OP_ADD && x->src[0] != x->src[1] && x->src[0]->dtype == DT_F32 &&
      x->src[1]->dtype == DT_F32 && shape_equal(&x->src[0]->shape, &x->shape) &&
      shape_equal(&x->src[1]->shape, &x->shape)) {
    res = x->src[1];
    x = x->src[0];
  }
  Node *src[4];
  int nsrc = 0;
  src[nsrc++] = x;
  if (res)
    src[nsrc++] = res;
  if (nm.weight)
    src[nsrc++] = nm.weight;
  if (nm.bias)
    src[nsrc++] = nm.bias;
  Node *f = graph_add(g, OP_LAYERNORM, src, nsrc, nm.last->loc, nm.last->path);
  f->shape = nm.last->shape;
  f->dtype = DT_F32;
  f->live = true;
  f->eps = nm.eps;
  f->residual = res;
  f->gamma = nm.weight;
  f->bias = nm.bias;
  graph_insert_before(g, f, nm.last);
  graph_replace_uses(g, nm.last, f);
}

void fuse_layernorm(Graph *g) {
  graph_prune(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->live && n->op == OP_MEAN) {
      try_fuse(g, n);
      graph_prune(g);
    }
  }
}
