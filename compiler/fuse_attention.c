/* fuse_attention.c: finds attention, whatever the DSL spelling, and replaces it by
 * one ATTENTION node whose kernel streams over blocks of keys with an online
 * softmax, so the Lq x Lk score matrix is never stored. The pattern, from the end:
 *   out = matmul(P', V)          P' = P or a reshape of it keeping the last dim
 *   P   = softmax(X, -1)
 *   X   = a chain of score steps: * c, / c, + bias, - c, masked_fill / where,
 *         and reshapes that keep the last dim (einsum, d2l's masked_softmax)
 *   S   = matmul(Q, K^T)         K read transposed (trans_b) or given as [.., d, Lk]
 * Every intermediate must have no other use. Q, K and V must not broadcast over the
 * batch dims; the chain's operands may (a [B,1,1,Lk] mask, an [Lq,Lk] bias).
 * When P has other uses (the model outputs its attention weights), the kernel writes P too,
 * into an ATTN_PROBS node after it (probs_out) that those uses read. Where it cannot (no
 * such product, or P read before V is computed) the node stops at the softmax instead
 * (attn_probs): it computes P, written once, and the P V product stays a matmul reading it;
 * the steps between, each a pass over the Lq x Lk scores, are gone.
 * Later passes fold a power-of-two scale into the query weights (fold_scale.c) and let
 * each attention read Q, K, V and write its result through the permutes around it
 * (attn_layout.c). */
#include <math.h>

#include "attncc.h"

#include <string.h>

#define MAX_STEPS 8

typedef struct {
  Graph *g;
  int *uses;                               /* live uses per node id (outputs count) */
} Ctx;

static void count_uses(Ctx *c) {
  Graph *g = c->g;
  c->uses = xalloc(sizeof(int) * (size_t)g->nnodes);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (!n->live)
      continue;
    for (int s = 0; s < n->nsrc; s++)
      c->uses[n->src[s]->id]++;
  }
  for (int k = 0; k < g->noutputs; k++)
    c->uses[g->outputs[k].node->id]++;
}

/* the rows before the last dim (a 0-dim tensor is one row of one) */
static int64_t rows_of(const Node *n) { return shape_numel(&n->shape) / last_dim(n); }

/* the single user of n (NULL when n has another use or is an output) */
static Node *single_user(Ctx *c, Node *n) {
  if (c->uses[n->id] != 1)
    return NULL;
  for (int i = n->id + 1; i < c->g->nnodes; i++) {
    Node *m = c->g->nodes[i];
    if (!m->live)
      continue;
    for (int s = 0; s < m->nsrc; s++)
      if (m->src[s] == n)
        return m;
  }
  return NULL; /* used by an output only */
}

static bool is_scalar_const(const Node *n) {
  return n->op == OP_CONST && shape_numel(&n->shape) == 1;
}

static float scalar_value(const Node *n) {
  if (n->dtype == DT_F32)
    return *(const float *)n->data;
  if (n->dtype == DT_I32)
    return (float)*(const int32_t *)n->data;
  return (float)*(const uint8_t *)n->data;
}

typedef struct {
  AttnStep steps[MAX_STEPS];
  int nsteps;
  Node *operands[2 * MAX_STEPS];           /* tensors the steps read, in src order after Q,K,V */
  int noperands;
} Chain;

static int add_operand(Chain *ch, Node *n) {
  ch->operands[ch->noperands] = n;
  return 3 + ch->noperands++;
}

/* records the value v (literal or tensor) into step st */
static void set_value(Chain *ch, AttnStep *st, Node *v) {
  if (is_scalar_const(v)) {
    st->operand = -1;
    st->literal = scalar_value(v);
  } else {
    st->operand = add_operand(ch, v);
  }
}

/* One score step: node x combines the chain value `prev` with something else. */
static bool take_step(Chain *ch, Node *x, Node *prev) {
  if (ch->nsteps == MAX_STEPS || x->dtype != DT_F32 || last_dim(x) != last_dim(prev) ||
      rows_of(x) != rows_of(prev))
    return false; /* a step may not broadcast the scores themselves */
  AttnStep st = {0};
  st.op = x->op;
  st.shape = x->shape;
  st.cond = -1;
  switch (x->op) {
  case OP_ADD:
  case OP_SUB:
  case OP_MUL:
  case OP_DIV: {
    Node *other = x->src[0] == prev ? x->src[1] : x->src[0];
    if (other == prev || other->dtype == DT_BOOL)
      return false;
    st.score_first = x->src[0] == prev;
    set_value(ch, &st, other);
    break;
  }
  case OP_WHERE: {
    if (x->src[0] == prev || (x->src[1] == prev) == (x->src[2] == prev))
      return false;
    st.score_first = x->src[1] == prev;
    st.cond = add_operand(ch, x->src[0]);
    set_value(ch, &st, st.score_first ? x->src[2] : x->src[1]);
    break;
  }
  default:
    return false;
  }
  ch->steps[ch->nsteps++] = st;
  return true;
}

/* A reshape that only regroups rows: same last dim, so the flat layout is the same. */
static bool is_row_reshape(const Node *n) {
  return n->op == OP_RESHAPE && last_dim(n) == last_dim(n->src[0]);
}

static bool is_step_op(const Node *x) {
  return x->op == OP_ADD || x->op == OP_SUB || x->op == OP_MUL || x->op == OP_DIV ||
         x->op == OP_WHERE;
}

/* the sources of step x through which the scores may flow */
static bool score_candidate(Ctx *c, const Node *x, int s) {
  const Node *cand = x->src[s];
  return !(x->op == OP_WHERE && s == 0) && cand->dtype == DT_F32 &&
         rows_of(cand) == rows_of(x) && last_dim(cand) == last_dim(x) && c->uses[cand->id] == 1;
}

/* Follows the scores back from x to the Q K^T matmul through steps and row reshapes;
 * fills path[] (x first) and returns the matmul, or NULL. */
static Node *find_scores(Ctx *c, Node *x, Node **path, int *n) {
  if (x->op == OP_MATMUL)
    return x;
  if (*n == 3 * MAX_STEPS || c->uses[x->id] != 1 || !(is_row_reshape(x) || is_step_op(x)))
    return NULL;
  int at = (*n)++;
  path[at] = x;
  for (int s = 0; s < x->nsrc; s++) {
    if (!is_row_reshape(x) && !score_candidate(c, x, s))
      continue;
    Node *m = find_scores(c, x->src[s], path, n);
    if (m)
      return m;
    *n = at + 1;
  }
  *n = at;
  return NULL;
}

/* Walks back from the softmax input to the QK^T matmul; returns it, or NULL. */
static Node *walk_chain(Ctx *c, Chain *ch, Node *sm) {
  Node *path[3 * MAX_STEPS];
  int n = 0;
  Node *x = find_scores(c, sm->src[0], path, &n);
  if (!x || c->uses[x->id] != 1 || x->bias || x->act || x->residual ||
      x->src[1]->op == OP_PACK)
    return NULL;
  /* record the steps in evaluation order: from the matmul towards the softmax */
  Node *prev = x;
  for (int i = n - 1; i >= 0; i--) {
    if (!is_row_reshape(path[i]) && !take_step(ch, path[i], prev))
      return NULL;
    prev = path[i];
  }
  return x;
}

/* A positive literal scale of the queries, (Q * c) K^T or (Q / c) K^T (nn.MultiheadAttention
 * scales q by 1 / sqrt(head dim)), becomes the chain's first step, as if it scaled the scores:
 * the kernel applies it as it copies the queries (emit_attention.c), instead of a pass over
 * Q that also copied it out of its heads' permute. Returns the unscaled queries, or q. */
static Node *absorb_query_scale(Ctx *c, Chain *ch, Node *q, const Node *scores) {
  if ((q->op != OP_MUL && q->op != OP_DIV) || c->uses[q->id] != 1 || ch->nsteps == MAX_STEPS)
    return q;
  int t = q->op == OP_MUL && is_scalar_const(q->src[0]) ? 1 : 0; /* the tensor's src index */
  Node *x = q->src[t], *v = q->src[1 - t];
  if (!is_scalar_const(v) || is_scalar_const(x) || x->dtype != DT_F32 ||
      !shape_equal(&x->shape, &q->shape) || !(scalar_value(v) > 0) || !isfinite(scalar_value(v)))
    return q;
  memmove(ch->steps + 1, ch->steps, sizeof(AttnStep) * (size_t)ch->nsteps);
  ch->steps[0] = (AttnStep){.op = q->op, .operand = -1, .literal = scalar_value(v), .cond = -1,
                            .score_first = true, .shape = scores->shape};
  ch->nsteps++;
  return x;
}

/* Q, K, V: dense per batch item, no batch broadcasting */
static bool plain_batched(const Node *t, int64_t batch, int64_t rows, int64_t cols) {
  return t->dtype == DT_F32 && t->shape.ndim >= 2 && t->shape.dim[t->shape.ndim - 2] == rows &&
         last_dim(t) == cols && shape_numel(&t->shape) == batch * rows * cols;
}

/* The P V product after softmax sm: matmul(P', V), P' = P or row reshapes of it used by
 * nothing else; *p is P'. With sm used elsewhere too (*shared), the first such among its
 * users. NULL when there is none. */
static Node *find_pv(Ctx *c, Node *sm, Node **p, Node **via, bool *shared) {
  Node *users[8];
  int nu = graph_readers(c->g, sm, users, 8);
  *shared = c->uses[sm->id] > 1;
  for (int u = 0; u < nu && u < 8; u++) {
    Node *mm2 = users[u];
    *p = sm;
    *via = mm2; /* the user of sm on the way to the product */
    while (mm2 && is_row_reshape(mm2)) {
      *p = mm2;
      mm2 = single_user(c, mm2);
    }
    if (mm2 && mm2->op == OP_MATMUL && mm2->src[0] == *p && mm2->src[1] != *p && !mm2->trans_b &&
        !mm2->bias && !mm2->act && !mm2->residual && mm2->src[1]->op != OP_PACK)
      return mm2;
  }
  return NULL;
}

/* Where an attention that also writes P (sm's users other than `via`, the way to the P V
 * product mm2, read it) can go: before sm when V is computed by then, else before mm2 when
 * none of sm's other users comes earlier; NULL when neither holds. */
static Node *probs_anchor(Ctx *c, Node *sm, Node *via, Node *mm2) {
  if (mm2->src[1]->id < sm->id)
    return sm;
  Node *users[64];
  int nu = graph_readers(c->g, sm, users, 64);
  if (nu > 64)
    return NULL;
  for (int u = 0; u < nu; u++)
    if (users[u]->id < mm2->id && users[u] != via)
      return NULL;
  return mm2;
}

static void try_fuse(Ctx *c, Node *sm) {
  Graph *g = c->g;
  if (sm->log || sm->axis != sm->shape.ndim - 1)
    return;
  /* forward: softmax -> (row reshapes) -> matmul(P, V); P may have other uses (the model
   * outputs its attention weights): the kernel then writes P too, or, with no such
   * product, computes the probabilities alone */
  Node *p = sm, *via = NULL;
  bool shared = false;
  Node *mm2 = find_pv(c, sm, &p, &via, &shared);
  Chain ch = {0};
  Node *mm1 = walk_chain(c, &ch, sm);
  if (!mm1)
    return;
  Node *q = absorb_query_scale(c, &ch, mm1->src[0], mm1), *k = mm1->src[1];
  int64_t lq = mm1->shape.dim[mm1->shape.ndim - 2], lk = last_dim(mm1);
  int64_t batch = shape_numel(&mm1->shape) / (lq * lk);
  int64_t dh = last_dim(q);
  if (!plain_batched(q, batch, lq, dh) ||
      !(mm1->trans_b ? plain_batched(k, batch, lk, dh) : plain_batched(k, batch, dh, lk)))
    return;
  if (mm2 && !(p->shape.dim[p->shape.ndim - 2] == lq && last_dim(p) == lk &&
               shape_numel(&mm2->shape) == batch * lq * last_dim(mm2->src[1]) &&
               plain_batched(mm2->src[1], batch, lk, last_dim(mm2->src[1])))) {
    if (!shared)
      return;
    mm2 = NULL; /* P used elsewhere: the probabilities alone, the product stays */
  }
  Node *anchor = mm2 && shared ? probs_anchor(c, sm, via, mm2) : NULL;
  if (shared && !anchor) /* P's other users come first: P alone, the product after it */
    mm2 = NULL;
  Node *v = mm2 ? mm2->src[1] : k;
  int64_t dv = mm2 ? last_dim(v) : lk;
  Node *out = mm2 ? mm2 : sm; /* the node the fused one replaces */
  Node **src = xalloc(sizeof(Node *) * (size_t)(3 + ch.noperands));
  src[0] = q;
  src[1] = k;
  src[2] = v;
  for (int i = 0; i < ch.noperands; i++)
    src[3 + i] = ch.operands[i];
  Node *f = graph_add(g, OP_ATTENTION, src, 3 + ch.noperands, out->loc, out->path);
  f->shape = out->shape;
  f->dtype = DT_F32;
  f->live = true;
  f->steps = xalloc(sizeof(AttnStep) * (size_t)(ch.nsteps + 1));
  memcpy(f->steps, ch.steps, sizeof(AttnStep) * (size_t)ch.nsteps);
  f->nsteps = ch.nsteps;
  f->lq = lq;
  f->lk = lk;
  f->dh = dh;
  f->dv = dv;
  f->k_rows = mm1->trans_b;
  f->attn_probs = mm2 == NULL;
  graph_insert_before(g, f, anchor ? anchor : out);
  graph_replace_uses(g, out, f);
  if (anchor) { /* P, written by f too: a node of its own right after it */
    Node *pn = graph_add(g, OP_ATTN_PROBS, &f, 1, sm->loc, sm->path);
    pn->shape = sm->shape;
    pn->dtype = DT_F32;
    pn->live = true;
    f->probs_out = pn;
    graph_insert_before(g, pn, g->nodes[f->id + 1]);
    graph_replace_uses(g, sm, pn);
  }
}

void fuse_attention(Graph *g) {
  graph_prune(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->live && n->op == OP_SOFTMAX) {
      Ctx c = {g, NULL};
      count_uses(&c);
      try_fuse(&c, n);
      graph_prune(g);
    }
  }
}

bool attn_step_scale(const AttnStep *st, double *c) {
  if (st->operand >= 0 || !(st->literal > 0) || !isfinite(st->literal))
    return false;
  if (st->op == OP_MUL)
    *c *= st->literal;
  else if (st->op == OP_DIV && st->score_first)
    *c /= st->literal;
  else
    return false;
  return true;
}
