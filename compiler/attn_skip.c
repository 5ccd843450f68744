/* attn_skip.c: which key blocks a fused attention may skip. A score chain step that masks
 * with a constant (a causal tril mask, a sliding window, ... folded at compile time):
 *   masked_fill / where(constant condition, fill <= MASK_FILL_MAX), or
 *   + a constant whose masked entries are <= MASK_FILL_MAX (e.g. -inf),
 * followed only by steps that keep masked scores far below any real score, gives every
 * masked score a softmax weight of exactly 0 (e^(fill - max) underflows), provided its
 * row keeps at least one unmasked key. A key block whose keys are all masked for every
 * query of a query block then adds nothing, and the kernel does not visit it; within a
 * visited block, a strip of the GEMM's MR query rows stops after the last key any of its
 * rows keeps (a causal mask's diagonal block: the strips above the diagonal skip the rest),
 * and when the chain is only such masks, a strip whose keys hold no masked one for any of
 * its rows skips the chain. */
#include "attncc.h"

#include <math.h>

#define MASK_FILL_MAX -1e6  /* a constant this low (or -inf) masks */
#define MASKED_BOUND -1e5   /* masked scores must stay below this after the later steps */
#define ANALYSIS_LIMIT 64000000 /* rows x keys evaluated at most (compile time) */

static bool is_const(const Node *x) { return x->op == OP_CONST && x->data != NULL; }

/* largest value of a constant */
static double const_max(const Node *x) {
  double m = -INFINITY;
  for (int64_t i = 0; i < shape_numel(&x->shape); i++) {
    double v = node_value(x, i);
    m = v > m || v != v ? v : m;
  }
  return m;
}

/* Bound on masked scores after step st, given the bound before it; NAN when the step may
 * unmask (a step that could raise a masked score towards real ones). */
static double bound_after(const Node *n, const AttnStep *st, double bound) {
  double lit = st->operand < 0 ? st->literal : NAN;
  switch (st->op) {
  case OP_MUL:
    return st->operand < 0 && lit > 0 ? bound * lit : NAN;
  case OP_DIV:
    return st->operand < 0 && st->score_first && lit > 0 ? bound / lit : NAN;
  case OP_ADD:
    if (st->operand < 0)
      return bound + lit;
    return is_const(n->src[st->operand]) ? bound + const_max(n->src[st->operand]) : NAN;
  case OP_SUB:
    return st->operand < 0 && st->score_first ? bound - lit : NAN;
  case OP_WHERE: /* a fill this low keeps everything it writes masked */
    return st->operand < 0 && st->literal <= MASK_FILL_MAX ? fmax(bound, st->literal) : NAN;
  }
  return NAN;
}

/* Does step st mask with a constant? Sets the bound of what it writes. */
static bool masking_step(const Node *n, const AttnStep *st, double *bound) {
  if (st->op == OP_WHERE && is_const(n->src[st->cond]) && st->operand < 0 &&
      st->literal <= MASK_FILL_MAX) {
    *bound = st->literal;
    return true;
  }
  if (st->op == OP_ADD && st->operand >= 0 && is_const(n->src[st->operand])) {
    *bound = MASK_FILL_MAX;
    return true;
  }
  return false;
}

/* is score (row r, key j) masked by step st (a masking step)? */
static bool masked_by(const Node *n, const AttnStep *st, int64_t r, int64_t j) {
  int64_t e = r * n->lk + j;
  if (st->op == OP_WHERE) {
    const Node *c = n->src[st->cond];
    bool cond = node_value(c, shape_bcast_offset(&st->shape, &c->shape, e)) != 0;
    return cond != st->score_first; /* the fill is taken */
  }
  const Node *x = n->src[st->operand];
  return node_value(x, shape_bcast_offset(&st->shape, &x->shape, e)) <= MASK_FILL_MAX;
}

/* the chain steps that mask with a constant and whose masked scores stay masked (up to 16) */
static int masking_steps(const Node *n, const AttnStep **mask) {
  int nmask = 0;
  for (int t = 0; t < n->nsteps && nmask < 16; t++) {
    double bound;
    if (!masking_step(n, &n->steps[t], &bound))
      continue;
    for (int u = t + 1; u < n->nsteps && bound == bound; u++)
      bound = bound_after(n, &n->steps[u], bound);
    if (bound <= MASKED_BOUND)
      mask[nmask++] = &n->steps[t];
  }
  return nmask;
}

bool attention_has_constant_mask(const Node *n) {
  const AttnStep *mask[16];
  return masking_steps(n, mask) > 0;
}

bool attention_mask_only(const Node *n, int first, int nsteps) {
  for (int t = first; t < nsteps; t++) {
    double bound;
    if (n->steps[t].op != OP_WHERE || !masking_step(n, &n->steps[t], &bound))
      return false;
  }
  return nsteps > first;
}

bool attention_key_blocks(const Node *n, int64_t qblock, int64_t kblock, AttnSkip *sk) {
  const AttnStep *mask[16];
  const int nmask = masking_steps(n, mask);
  int64_t rows = shape_numel(&n->shape) / n->dv, nqb = (n->lq + qblock - 1) / qblock;
  int64_t nkb = (n->lk + kblock - 1) / kblock;
  if (nmask == 0 || rows * n->lk > ANALYSIS_LIMIT)
    return false;
  for (int64_t qb = 0; qb < nqb; qb++) {
    sk->lo[qb] = (int32_t)nkb;
    sk->hi[qb] = 0;
  }
  for (int64_t q = 0; q < n->lq; q++) {
    sk->key_end[q] = 0;
    sk->mask_start[q] = (int32_t)n->lk;
  }
  for (int64_t r = 0; r < rows; r++) {
    int64_t q = r % n->lq, qb = q / qblock, first = -1, last = -1;
    for (int64_t j = 0; j < n->lk; j++) {
      bool m = false;
      for (int k = 0; k < nmask && !m; k++)
        m = masked_by(n, mask[k], r, j);
      if (!m) {
        first = first < 0 ? j : first;
        last = j;
      } else if (j < sk->mask_start[q]) {
        sk->mask_start[q] = (int32_t)j;
      }
    }
    if (first < 0) { /* a row that masks every key: its query block visits every block */
      sk->lo[qb] = 0;
      sk->hi[qb] = (int32_t)nkb;
      sk->key_end[q] = (int32_t)n->lk;
      continue;
    }
    sk->lo[qb] = (int32_t)(first / kblock < sk->lo[qb] ? first / kblock : sk->lo[qb]);
    sk->hi[qb] = (int32_t)(last / kblock + 1 > sk->hi[qb] ? last / kblock + 1 : sk->hi[qb]);
    sk->key_end[q] = (int32_t)(last + 1 > sk->key_end[q] ? last + 1 : sk->key_end[q]);
  }
  /* keys the queries would compute without and with their ends: blocks from lo on */
  int64_t visited = 0, full = 0, kept = 0;
  for (int64_t qb = 0; qb < nqb; qb++)
    visited += sk->hi[qb] - sk->lo[qb];
  for (int64_t q = 0; q < n->lq; q++) {
    const int64_t qb = q / qblock, j0 = sk->lo[qb] * kblock;
    const int64_t j1 = sk->hi[qb] * kblock < n->lk ? sk->hi[qb] * kblock : n->lk;
    full += j1 > j0 ? j1 - j0 : 0;
    kept += sk->key_end[q] > j0 ? (sk->key_end[q] < j1 ? sk->key_end[q] : j1) - j0 : 0;
  }
  return visited < nqb * nkb || kept < full;
}
