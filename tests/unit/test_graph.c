/* test_graph.c: pruning, input dependence, the transpose-into-matmul rewrite, views read
 * through chains of permutes and slices, and the memory planner (no two buffers alive at
 * once share bytes; reuse does happen; a product written over its dying residual), and what
 * PREFIX_prepare computes once with run-time weights (prepare.c), and the kernels threads
 * run through by rows (row_groups.c). */
#include "builders.h"

static void test_prune(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(1, 4), DT_F32);
  Node *dead = b_op1(g, OP_EXP, x);
  Node *y = b_op1(g, OP_TANH, x);
  graph_add_output(g, "y", y);
  graph_prune(g);
  assert_true(y->live);
  assert_true(x->live);
  assert_false(dead->live);
  assert_int_equal(x->nuses, 1);
  assert_true(graph_depends_on_input(g, y));
  Node *c = b_op1(g, OP_EXP, b_scalar(g, 1.0f));
  assert_false(graph_depends_on_input(g, c));
}

static void test_simplify_transpose(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(3, 2, 5, 8), DT_F32);
  Node *w = b_param(g, "w", shp(2, 6, 8));
  Node p = {0};
  p.op = OP_PERMUTE;
  p.perm[0] = 1;
  p.perm[1] = 0;
  Node *wt = node(g, p, &w, 1);
  Node *y = b_op2(g, OP_MATMUL, x, wt);
  graph_add_output(g, "y", y);
  simplify_run(g);
  graph_prune(g);
  assert_true(y->trans_b);
  assert_ptr_equal(y->src[1], w);
  assert_false(wt->live);
}

/* a view read through a chain: ViT's qkv split, q = qkv.reshape(B, N, 3, H, D)
 * .permute(2, 0, 3, 1, 4)[1:2] (here a 1 x 5 x 24 product, 3 x 2 heads x 4), is a strided
 * view of the product itself: neither the permute nor the reshape is copied */
static void test_view_through_chain(void **state) {
  (void)state;
  Node *m = b_input(g, "qkv", shp(3, 1, 5, 24), DT_F32);
  Node *r = reshape(m, shp(5, 1, 5, 3, 2, 4));
  Node p = {0};
  p.op = OP_PERMUTE;
  const int perm[5] = {2, 0, 3, 1, 4};
  memcpy(p.perm, perm, sizeof perm);
  Node *pm = node(g, p, &r, 1); /* [3, 1, 2, 5, 4] */
  Node sl = {0};
  sl.op = OP_SLICE;
  sl.axis = 0;
  sl.start = 1;
  sl.len = 1;
  Node *k = node(g, sl, &pm, 1); /* [1, 1, 2, 5, 4]: the keys */
  SrcView v = {0};
  assert_ptr_equal(graph_view_of(k, &v), m);
  assert_true(v.is_view);
  /* dims of the reshape [1, 5, 3, 2, 4] have dense strides 120, 24, 8, 4, 1 */
  const int64_t want[5] = {8, 120, 4, 24, 1};
  for (int d = 0; d < 5; d++)
    assert_int_equal(v.stride[d], want[d]);
  assert_int_equal(v.offset, 8); /* the keys start at column 8 of each row */
  assert_int_equal(v.shape.dim[3], 5);
  /* a permute of a permute composes; a slice's start moves with its dim */
  Node *x = b_input(g, "x", shp(3, 2, 3, 4), DT_F32);
  Node q = {0};
  q.op = OP_PERMUTE;
  q.perm[0] = 2, q.perm[1] = 0, q.perm[2] = 1;
  Node *x1 = node(g, q, &x, 1); /* [4, 2, 3] */
  Node sl2 = {0};
  sl2.op = OP_SLICE;
  sl2.axis = 2;
  sl2.start = 1;
  sl2.len = 2;
  Node *x2 = node(g, sl2, &x1, 1); /* [4, 2, 2]: x's dim 1 from 1 on */
  q.perm[0] = 1, q.perm[1] = 2, q.perm[2] = 0;
  Node *x3 = node(g, q, &x2, 1); /* [2, 2, 4] */
  SrcView w = {0};
  assert_ptr_equal(graph_view_of(x3, &w), x);
  assert_int_equal(w.stride[0], 12); /* x's dim 0 */
  assert_int_equal(w.stride[1], 4);  /* x's dim 1 */
  assert_int_equal(w.stride[2], 1);  /* x's dim 2 */
  assert_int_equal(w.offset, 4);
}

/* a chain of elementwise ops and a diamond: buffers alive together never overlap */
static void test_memplan_disjoint(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(2, 16, 16), DT_F32);
  Node *a = b_op1(g, OP_EXP, x);
  Node *b = b_op1(g, OP_TANH, a);
  Node *c = b_op1(g, OP_SIGMOID, b);
  Node *d = b_op2(g, OP_ADD, a, c); /* a lives until here */
  Node *e = b_op1(g, OP_RELU, d);
  Node *f = b_op1(g, OP_NEG, e);
  graph_add_output(g, "f", f);
  memplan_run(g);
  Node *work[] = {a, b, c, d, e};
  int first[] = {1, 2, 3, 4, 5}, last[] = {4, 3, 4, 5, 6};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(work[i]->storage, ST_WORK);
    assert_int_equal(work[i]->offset % 64, 0);
    for (int j = i + 1; j < 5; j++) {
      bool overlap_time = first[i] <= last[j] && first[j] <= last[i];
      int64_t si = 16 * 16 * 4, sj = si;
      bool overlap_bytes = work[i]->offset < work[j]->offset + sj &&
                           work[j]->offset < work[i]->offset + si;
      if (overlap_time && overlap_bytes)
        fail_msg("%%%d and %%%d are alive together and share bytes", work[i]->id, work[j]->id);
    }
  }
  assert_int_equal(f->storage, ST_OUTPUT);
  /* five 1 KiB intermediates, at most three alive at once */
  assert_true(g->workspace_size <= 3 * 1024);
  assert_true(g->workspace_size >= 2 * 1024);
}

static void test_reshape_aliases(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(2, 4, 4), DT_F32);
  Node *a = b_op1(g, OP_EXP, x);
  Node p = {0};
  p.op = OP_RESHAPE;
  p.shape = shp(1, 16);
  Node *r = node(g, p, &a, 1);
  Node *y = b_op1(g, OP_TANH, r);
  graph_add_output(g, "y", y);
  memplan_run(g);
  assert_int_equal(r->storage, ST_ALIAS);
  assert_ptr_equal(r->alias_of, a);
}

/* (relu)(h W^T + b) + r for h = e^x, W n x 8 and a computed r: the product (r its
 * residual) is planned over r's bytes when r dies there and nothing else it reads is r;
 * not when r is read later, is an input, or a packed product has an activation (the GEMM
 * would then keep its tiles on the stack; the skinny kernel, n <= 8, takes any) */
static Node *residual_product(int n, bool r_input, bool r_read_later, int act) {
  g->target = target_find("generic");
  Node *x = b_input(g, "x", shp(2, 5, 8), DT_F32);
  Node *r0 = b_input(g, "r", shp(2, 5, n), DT_F32);
  Node *r = r_input ? r0 : b_op1(g, OP_EXP, r0);
  Node *y = b_op2(g, OP_ADD, matmul(b_op1(g, OP_EXP, x), b_param(g, "w", shp(2, n, 8)), true),
                  b_param(g, "b", shp(1, n)));
  if (act)
    y = b_op1(g, OP_RELU, y);
  y = b_op2(g, OP_ADD, y, r);
  graph_add_output(g, "y", b_op1(g, OP_TANH, y));
  if (r_read_later)
    graph_add_output(g, "r2", b_op1(g, OP_NEG, r));
  fuse_epilogues(g);
  pack_weights(g);
  memplan_run(g);
  Node *m = g->outputs[0].node->src[0];
  assert_int_equal(m->op, OP_MATMUL);
  assert_ptr_equal(m->residual, r);
  assert_int_equal(m->act, act);
  return m;
}

static void test_memplan_residual_in_place(void **state) {
  (void)state;
  Node *m = residual_product(40, false, false, 0);
  assert_true(m->res_in_place);
  assert_int_equal(m->src[1]->op, OP_PACK);
  assert_int_equal(m->storage, ST_WORK);
  assert_int_equal(m->offset, m->residual->offset);
  /* every other buffer alive with the product stays clear of it */
  const int64_t bytes = shape_numel(&m->shape) * 4;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (n != m && n != m->residual && n->live && n->storage == ST_WORK && i >= m->id - 2)
      assert_true(n->offset >= m->offset + bytes ||
                  n->offset + shape_numel(&n->shape) * 4 <= m->offset);
  }
}

static void test_memplan_residual_kept(void **state) {
  (void)state;
  Node *m = residual_product(40, false, true, 0); /* r read after the product */
  assert_false(m->res_in_place);
  assert_true(m->offset != m->residual->offset);
  teardown(state);
  setup(state);
  assert_false(residual_product(40, true, false, 0)->res_in_place); /* the caller's input */
  teardown(state);
  setup(state);
  assert_false(residual_product(40, false, false, 1)->res_in_place); /* relu before + r */
  teardown(state);
  setup(state);
  assert_true(residual_product(6, false, false, 1)->res_in_place); /* skinny: relu too */
  teardown(state);
  setup(state);
  /* t W^T + t: the residual is the left operand too, which the product reads to its end */
  g->target = target_find("generic");
  Node *t = b_op1(g, OP_TANH, b_input(g, "x", shp(2, 5, 40), DT_F32));
  Node *y = b_op2(g, OP_ADD, matmul(t, b_param(g, "w", shp(2, 40, 40)), true), t);
  graph_add_output(g, "y", b_op1(g, OP_TANH, y));
  fuse_epilogues(g);
  pack_weights(g);
  memplan_run(g);
  m = g->outputs[0].node->src[0];
  assert_ptr_equal(m->residual, t);
  assert_ptr_equal(m->src[0], t);
  assert_false(m->res_in_place);
  assert_true(m->offset != t->offset);
}

/* the workspace in two regions: what PREFIX_run_prepared runs (results and scratch) below
 * run_prepared_workspace_size, the prepared nodes' slots above it, within workspace_size */
static void assert_regions_apart(void) {
  assert_int_equal(g->workspace_size,
                   g->run_prepared_workspace_size + g->prepare_workspace_size);
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (!n->live)
      continue;
    if (n->scratch_bytes > 0) {
      assert_false(n->prep_hoisted);
      assert_true(n->scratch_offset + n->scratch_bytes <= g->run_prepared_workspace_size);
    }
    if (n->storage != ST_WORK)
      continue;
    const int64_t end = n->offset + shape_numel(&n->shape) * (int64_t)dtype_size(n->dtype);
    if (n->prep_hoisted)
      assert_true(n->offset >= g->run_prepared_workspace_size && end <= g->workspace_size);
    else
      assert_true(end <= g->run_prepared_workspace_size);
  }
}

/* with run-time weights: what depends on parameters alone is computed once, kept where the
 * run reads it, a temporary of PREFIX_prepare where only other prepared nodes do; the
 * workspace in two regions */
static void test_prepare_plan(void **state) {
  (void)state;
  g->target = target_find("generic");
  Node *x = b_input(g, "x", shp(2, 5, 40), DT_F32);
  Node *w = b_param(g, "w", shp(2, 40, 40));
  Node *q = b_op1(g, OP_TANH, b_param(g, "q", shp(2, 40, 40))); /* only packed: temporary */
  Node *c = b_op1(g, OP_EXP, b_param(g, "c", shp(1, 40)));      /* read by the run: kept */
  Node *h = b_op1(g, OP_TANH, matmul(x, w, true));
  Node *y = b_op2(g, OP_ADD, matmul(h, q, true), c);
  Node *e = b_op1(g, OP_EXP, x); /* the input's: never */
  graph_add_output(g, "y", b_op2(g, OP_MUL, y, e));
  pack_weights(g);
  memplan_run(g);
  prepare_plan(g);
  Node *pw = h->src[0]->src[1], *pq = y->src[0]->src[1];
  assert_int_equal(pw->op, OP_PACK);
  assert_int_equal(pq->op, OP_PACK);
  assert_ptr_equal(pq->src[0], q);
  assert_true(q->prep_hoisted);
  assert_false(q->prep_kept);
  assert_true(c->prep_kept);
  assert_true(pw->prep_kept && pq->prep_kept);
  assert_false(h->prep_hoisted || y->prep_hoisted || e->prep_hoisted);
  assert_false(h->src[0]->prep_hoisted || y->src[0]->prep_hoisted);
  const Node *kept[3] = {pw, pq, c};
  int64_t total = 0;
  for (int i = 0; i < 3; i++) { /* disjoint, aligned, within prepared_size */
    int64_t bytes = shape_numel(&kept[i]->shape) * 4;
    total += (bytes + 63) / 64 * 64;
    assert_int_equal(kept[i]->prep_offset % 64, 0);
    assert_true(kept[i]->prep_offset + bytes <= g->prepared_size);
    for (int j = 0; j < i; j++)
      assert_true(kept[i]->prep_offset >= kept[j]->prep_offset + shape_numel(&kept[j]->shape) * 4 ||
                  kept[j]->prep_offset >= kept[i]->prep_offset + bytes);
  }
  assert_int_equal(g->prepared_size, total);
  assert_true(g->prepare_workspace_size > 0);
  assert_regions_apart();
}

/* a parameter-derived residual that a product is written over stays with the run (the
 * prepared buffer is not written by the run), and so does what reads it */
static void test_prepare_plan_residual(void **state) {
  (void)state;
  g->target = target_find("generic");
  Node *x = b_input(g, "x", shp(2, 5, 8), DT_F32);
  Node *r = b_op1(g, OP_EXP, b_param(g, "p", shp(2, 5, 40)));
  Node *y = b_op2(g, OP_ADD, matmul(b_op1(g, OP_EXP, x), b_param(g, "w", shp(2, 40, 8)), true), r);
  graph_add_output(g, "y", b_op1(g, OP_TANH, y));
  fuse_epilogues(g);
  pack_weights(g);
  memplan_run(g);
  prepare_plan(g);
  Node *m = g->outputs[0].node->src[0];
  assert_ptr_equal(m->residual, r);
  assert_true(m->res_in_place);
  assert_false(r->prep_hoisted);
  assert_true(m->src[1]->prep_kept); /* the packed weight still is */
  assert_regions_apart();
  teardown(state);
  setup(state);
  g->target = target_find("generic");
  x = b_input(g, "x", shp(2, 5, 8), DT_F32);
  r = b_op1(g, OP_EXP, b_param(g, "p", shp(2, 5, 40)));
  y = b_op2(g, OP_ADD, matmul(b_op1(g, OP_EXP, x), b_param(g, "w", shp(2, 40, 8)), true), r);
  graph_add_output(g, "y", b_op1(g, OP_TANH, y));
  graph_add_output(g, "r2", b_op1(g, OP_NEG, r)); /* r read later: not in place, kept */
  fuse_epilogues(g);
  pack_weights(g);
  memplan_run(g);
  prepare_plan(g);
  m = g->outputs[0].node->src[0];
  assert_false(m->res_in_place);
  assert_true(r->prep_kept);
  assert_true(g->outputs[1].node->prep_hoisted == false); /* an output is the caller's */
}

/* an embedded weight (packed at compile time, so it does not end a row group) */
static Node *weight(const char *name, int64_t n, int64_t k) {
  Node *w = b_param(g, name, shp(2, n, k));
  float *d = xalloc(sizeof(float) * (size_t)(n * k));
  for (int64_t i = 0; i < n * k; i++)
    d[i] = (float)(i % 7) * 0.125f;
  w->data = d;
  return w;
}

static void plan(int threads) {
  g->target = target_find("generic");
  g->threads = threads;
  pack_weights(g);
  memplan_run(g);
  prepare_plan(g);
  row_groups(g);
}

/* threads take their rows of dim 0 through a product and the loop after it; a tensor
 * that takes over the bytes of one the group read by rows of another size ends the group
 * (thread 0 would write its rows over rows thread 1 may still read) */
static void test_row_groups(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(3, 6, 100, 40), DT_F32);
  Node *h = matmul(x, weight("w", 64, 40), true); /* [6, 100, 64] */
  Node *e = b_op1(g, OP_TANH, h);
  Node *r = b_op1(g, OP_EXP, x); /* [6, 100, 40]: h is dead, r takes its bytes */
  graph_add_output(g, "e", b_op1(g, OP_NEG, e));
  graph_add_output(g, "r", b_op1(g, OP_NEG, r));
  plan(2);
  assert_true(h->row_group > 0);
  assert_int_equal(e->row_group, h->row_group);
  assert_int_equal(r->offset, h->offset); /* the premise: r is written over h */
  assert_true(r->row_group != h->row_group);
}

/* none on one thread, in debug builds, or when the work is not worth a parallel region */
static void test_row_groups_none(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(3, 6, 100, 40), DT_F32);
  Node *h = matmul(x, weight("w", 64, 40), true);
  graph_add_output(g, "e", b_op1(g, OP_NEG, b_op1(g, OP_TANH, h)));
  plan(1);
  assert_int_equal(h->row_group, 0);
  g->debug = xalloc(64); /* any: debug_record's table is not read here */
  plan(2);
  assert_int_equal(h->row_group, 0);
  teardown(state);
  setup(state);
  x = b_input(g, "x", shp(3, 2, 4, 8), DT_F32); /* 2 x 4 x 8 x 16 products: a few ns */
  h = matmul(x, weight("w", 16, 8), true);
  graph_add_output(g, "e", b_op1(g, OP_NEG, b_op1(g, OP_TANH, h)));
  plan(2);
  assert_int_equal(h->row_group, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
      cmocka_unit_test_setup_teardown(test_simplify_transpose, setup, teardown),
      cmocka_unit_test_setup_teardown(test_view_through_chain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memplan_disjoint, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memplan_residual_in_place, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memplan_residual_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reshape_aliases, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prepare_plan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prepare_plan_residual, setup, teardown),
      cmocka_unit_test_setup_teardown(test_row_groups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_row_groups_none, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
