/* test_fuse.c: the fusion passes on small graphs: attention is recognized and its
 * near misses stop at the softmax (scaling after it, weights read before V exists), with
 * weights as an output it writes them too, and reads
 * and writes multi-head layouts through the permutes around it; matmul
 * epilogues absorb bias, activation and residual; elementwise trees inline only
 * single-use, same-shape nodes; LayerNorm spelled out in ops becomes one node that
 * also absorbs the residual add before it, and not when an intermediate is used again. */
#include "builders.h"

/* live attention nodes that stop at the softmax (their result is the probabilities) */
static int count_probs(void) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++)
    n += g->nodes[i]->live && g->nodes[i]->op == OP_ATTENTION && g->nodes[i]->attn_probs;
  return n;
}

/* softmax(q k^T / 8 + mask fill) v */
static Node *attention_graph(Node **probs) {
  Node *q = b_input(g, "q", shp(3, 2, 7, 16), DT_F32);
  Node *k = b_input(g, "k", shp(3, 2, 9, 16), DT_F32);
  Node *v = b_input(g, "v", shp(3, 2, 9, 12), DT_F32);
  Node *mask = b_input(g, "mask", shp(3, 2, 1, 9), DT_BOOL);
  Node *s = b_op2(g, OP_DIV, matmul(q, k, true), b_scalar(g, 8.0f));
  Node w = {0};
  w.op = OP_WHERE;
  Node *src[3] = {mask, b_scalar(g, -1e9f), s};
  Node *masked = node(g, w, src, 3);
  *probs = softmax_last(masked);
  return matmul(*probs, v, false);
}

static void test_attention_fused(void **state) {
  (void)state;
  Node *probs;
  Node *out = attention_graph(&probs);
  graph_add_output(g, "out", out);
  fuse_attention(g);
  assert_int_equal(count_live(OP_ATTENTION), 1);
  assert_int_equal(count_live(OP_SOFTMAX), 0);
  Node *f = g->outputs[0].node;
  assert_int_equal(f->op, OP_ATTENTION);
  assert_int_equal(f->nsteps, 2);
  assert_int_equal(f->steps[0].op, OP_DIV);
  assert_true(f->steps[0].operand < 0); /* a literal */
  assert_true(f->steps[0].literal == 8.0f);
  assert_int_equal(f->steps[1].op, OP_WHERE);
  assert_false(f->steps[1].score_first); /* masked_fill: scores are the false branch */
  assert_true(f->k_rows);
  assert_int_equal(f->lq, 7);
  assert_int_equal(f->lk, 9);
  assert_int_equal(f->dv, 12);
}

/* the weights as an output: the fused node computes P V and writes P too, into an
 * ATTN_PROBS node right after it that the output reads */
static void test_attention_weights_output_probs(void **state) {
  (void)state;
  Node *probs;
  Node *out = attention_graph(&probs);
  graph_add_output(g, "out", out);
  graph_add_output(g, "weights", probs);
  fuse_attention(g);
  assert_int_equal(count_live(OP_ATTENTION), 1);
  assert_int_equal(count_probs(), 0);
  assert_int_equal(count_live(OP_SOFTMAX), 0);
  assert_int_equal(count_live(OP_MATMUL), 0);
  Node *f = g->outputs[0].node, *p = g->outputs[1].node;
  assert_int_equal(f->op, OP_ATTENTION);
  assert_int_equal(f->nsteps, 2);
  assert_int_equal(f->dv, 12);
  assert_int_equal(p->op, OP_ATTN_PROBS);
  assert_ptr_equal(f->probs_out, p);
  assert_ptr_equal(p->src[0], f);
  assert_int_equal(p->id, f->id + 1);
  assert_int_equal(p->shape.dim[2], 9); /* P: [2, 7, 9] */
}

/* V computed after the softmax: the fused node goes where the P V product was, unless
 * P's other user comes before that (then the probabilities alone, the product a matmul) */
static void weights_with_late_v(bool early_user) {
  Node *q = b_input(g, "q", shp(3, 2, 7, 16), DT_F32);
  Node *k = b_input(g, "k", shp(3, 2, 9, 16), DT_F32);
  Node *x = b_input(g, "x", shp(3, 2, 9, 12), DT_F32);
  Node *p = softmax_last(matmul(q, k, true));
  Node *early = early_user ? b_op1(g, OP_EXP, p) : NULL;
  Node *v = b_op1(g, OP_TANH, x);
  graph_add_output(g, "out", matmul(p, v, false));
  graph_add_output(g, "weights", early ? early : b_op1(g, OP_NEG, p));
  fuse_attention(g);
  assert_int_equal(count_live(OP_SOFTMAX), 0);
  assert_int_equal(count_live(OP_ATTENTION), 1);
  assert_int_equal(count_probs(), early_user ? 1 : 0);
  assert_int_equal(count_live(OP_MATMUL), early_user ? 1 : 0);
  Node *f = g->outputs[0].node;
  if (!early_user) {
    assert_int_equal(f->op, OP_ATTENTION);
    assert_true(f->id > v->id);
    assert_true(f->probs_out->id < g->outputs[1].node->id);
  }
}

static void test_weights_late_v(void **state) {
  (void)state;
  weights_with_late_v(false);
}

static void test_weights_read_before_v(void **state) {
  (void)state;
  weights_with_late_v(true);
}

/* (q / c) k^T: the query scaling becomes the chain's first step (the kernel applies it to
 * the queries it stages); not when q is scaled by a tensor, a negative literal, or is read
 * again */
static void query_scale(Node *scale, bool q_used_twice, bool absorbed) {
  Node *q0 = b_input(g, "q", shp(3, 2, 7, 16), DT_F32);
  Node *k = b_input(g, "k", shp(3, 2, 9, 16), DT_F32);
  Node *v = b_input(g, "v", shp(3, 2, 9, 12), DT_F32);
  Node *q = b_op2(g, OP_DIV, q0, scale);
  Node *s = b_op2(g, OP_ADD, matmul(q, k, true), b_input(g, "bias", shp(2, 7, 9), DT_F32));
  graph_add_output(g, "out", matmul(softmax_last(s), v, false));
  if (q_used_twice)
    graph_add_output(g, "q", q);
  fuse_attention(g);
  Node *f = g->outputs[0].node;
  assert_int_equal(f->op, OP_ATTENTION);
  assert_ptr_equal(f->src[0], absorbed ? q0 : q);
  assert_int_equal(f->nsteps, absorbed ? 2 : 1);
  if (absorbed) {
    assert_int_equal(f->steps[0].op, OP_DIV);
    assert_true(f->steps[0].score_first && f->steps[0].operand < 0);
    assert_true(f->steps[0].literal == 4.0f);
    assert_int_equal(f->steps[1].op, OP_ADD);
  }
}

static void test_query_scale_absorbed(void **state) {
  (void)state;
  query_scale(b_scalar(g, 4.0f), false, true);
}

static void test_query_scale_kept(void **state) {
  (void)state;
  query_scale(b_scalar(g, -4.0f), false, false);
}

static void test_query_scale_kept_when_read_again(void **state) {
  (void)state;
  query_scale(b_scalar(g, 4.0f), true, false);
}

static void test_query_scaled_by_tensor_kept(void **state) {
  (void)state;
  query_scale(b_input(g, "c", shp(3, 2, 7, 16), DT_F32), false, false);
}

static bool share_bytes(int64_t a, int64_t na, int64_t b, int64_t nb) {
  return a < b + nb && b < a + na;
}

/* the weights' buffer is placed with the attention that writes them: it shares no byte
 * with the attention's scratch, its result, or Q, K, V (computed, dead after it) */
static void test_weights_buffer_placed_with_attention(void **state) {
  (void)state;
  Node *q = b_op1(g, OP_EXP, b_input(g, "q", shp(3, 2, 7, 16), DT_F32));
  Node *k = b_op1(g, OP_TANH, b_input(g, "k", shp(3, 2, 9, 16), DT_F32));
  Node *v = b_op1(g, OP_NEG, b_input(g, "v", shp(3, 2, 9, 12), DT_F32));
  Node *p = softmax_last(matmul(q, k, true));
  graph_add_output(g, "out", b_op1(g, OP_RELU, matmul(p, v, false)));
  graph_add_output(g, "w", b_op1(g, OP_EXP, p)); /* the weights an intermediate */
  fuse_attention(g);
  Node *f = g->outputs[0].node->src[0], *pn = f->probs_out;
  assert_non_null(pn);
  f->scratch_bytes = 4096;
  memplan_run(g);
  assert_int_equal(pn->storage, ST_WORK);
  const int64_t np = shape_numel(&pn->shape) * 4;
  assert_false(share_bytes(pn->offset, np, f->scratch_offset, f->scratch_bytes));
  assert_false(share_bytes(pn->offset, np, f->offset, shape_numel(&f->shape) * 4));
  const Node *qkv[] = {q, k, v};
  for (int i = 0; i < 3; i++)
    assert_false(share_bytes(pn->offset, np, qkv[i]->offset, shape_numel(&qkv[i]->shape) * 4));
}

static void test_scale_after_softmax_not_fused(void **state) {
  (void)state;
  Node *q = b_input(g, "q", shp(2, 7, 16), DT_F32);
  Node *k = b_input(g, "k", shp(2, 9, 16), DT_F32);
  Node *v = b_input(g, "v", shp(2, 9, 12), DT_F32);
  Node *p = b_op2(g, OP_MUL, softmax_last(matmul(q, k, true)), b_scalar(g, 0.5f));
  graph_add_output(g, "out", matmul(p, v, false));
  fuse_attention(g);
  assert_int_equal(count_live(OP_ATTENTION), 1); /* the probabilities alone */
  assert_int_equal(count_probs(), 1);
  assert_int_equal(count_live(OP_MUL), 1);
}

/* multi-head attention over heads split from [2, 7, 4, 16] by permutes (x -> [2, 4, 7, 16]),
 * merged back by a permute and a reshape. With q_cols_strided, Q comes from [2, 16, 4, 7]
 * instead: its columns are 28 floats apart. */
static Node *heads_graph(Node **xv, Node **vh, bool q_cols_strided) {
  Node *x = b_input(g, "x", shp(4, 2, 7, 4, 16), DT_F32);
  Node *xk = b_op1(g, OP_EXP, x);
  *xv = b_op1(g, OP_TANH, x);
  Node *q = q_cols_strided
                ? permute(b_op1(g, OP_NEG, b_input(g, "xt", shp(4, 2, 16, 4, 7), DT_F32)), 0, 2, 3, 1)
                : permute(b_op1(g, OP_NEG, x), 0, 2, 1, 3);
  Node *k = permute(xk, 0, 2, 1, 3);
  *vh = permute(*xv, 0, 2, 1, 3);
  Node *s = matmul(reshape(q, shp(3, 8, 7, 16)), reshape(k, shp(3, 8, 7, 16)), true);
  Node *o = matmul(softmax_last(s), reshape(*vh, shp(3, 8, 7, 16)), false);
  Node *merged = permute(reshape(o, shp(4, 2, 4, 7, 16)), 0, 2, 1, 3);
  return reshape(merged, shp(3, 2, 7, 64));
}

static void test_attention_reads_and_writes_heads_in_place(void **state) {
  (void)state;
  Node *xv, *vh;
  graph_add_output(g, "y", heads_graph(&xv, &vh, false));
  graph_add_output(g, "v_heads", vh); /* V's copy stays, for this output */
  fuse_attention(g);
  attention_layouts(g);
  assert_int_equal(count_live(OP_ATTENTION), 1);
  assert_int_equal(count_live(OP_PERMUTE), 1);
  Node *f = g->outputs[0].node->src[0];
  assert_int_equal(f->op, OP_ATTENTION);
  assert_ptr_equal(f->src[2], xv); /* read in place, not from the copy */
  assert_ptr_equal(g->outputs[1].node, vh);
  for (int i = 0; i < 4; i++)
    assert_true(f->views[i].is_view);
  assert_int_equal(f->shape.dim[1], 7); /* written as [2, 7, 4, 16] */
  assert_int_equal(f->views[3].stride[1], 16); /* head h of batch item b: 16 floats apart */
  assert_int_equal(f->views[3].stride[2], 64); /* query rows: 4 heads x 16 apart */
  /* x's tanh stays where it is until the attention has read it */
  memplan_run(g);
  for (int i = xv->id + 1; i <= f->id; i++) {
    const Node *m = g->nodes[i];
    if (m->live && m->storage == ST_WORK)
      assert_true(m->offset >= xv->offset + shape_numel(&xv->shape) * 4 ||
                  m->offset + shape_numel(&m->shape) * 4 <= xv->offset);
  }
}

static void test_attention_strided_query_columns_copied(void **state) {
  (void)state;
  Node *xv, *vh;
  graph_add_output(g, "y", heads_graph(&xv, &vh, true)); /* Q's columns are not contiguous */
  fuse_attention(g);
  attention_layouts(g);
  assert_int_equal(count_live(OP_ATTENTION), 1);
  Node *f = g->outputs[0].node->src[0];
  assert_int_equal(f->op, OP_ATTENTION);
  assert_false(f->views[0].is_view);
  assert_true(f->views[1].is_view && f->views[2].is_view && f->views[3].is_view);
  assert_int_equal(count_live(OP_PERMUTE), 1); /* Q's */
}

static void test_epilogue(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(2, 5, 8), DT_F32);
  Node *w = b_param(g, "w", shp(2, 6, 8));
  Node *b = b_param(g, "b", shp(1, 6));
  Node *r = b_input(g, "r", shp(2, 5, 6), DT_F32);
  Node *y = b_op2(g, OP_ADD, b_op1(g, OP_RELU, b_op2(g, OP_ADD, matmul(x, w, true), b)), r);
  graph_add_output(g, "y", y);
  fuse_epilogues(g);
  Node *m = g->outputs[0].node;
  assert_int_equal(m->op, OP_MATMUL);
  assert_ptr_equal(m->bias, b);
  assert_int_equal(m->act, 1);
  assert_ptr_equal(m->residual, r);
  assert_int_equal(count_live(OP_ADD), 0);
}

static void test_elementwise_tree(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(2, 4, 8), DT_F32);
  Node *m = b_input(g, "m", shp(2, 4, 1), DT_F32);
  Node *c = b_op2(g, OP_SUB, x, m);          /* used twice: stays a buffer */
  Node *sq = b_op2(g, OP_MUL, c, c);
  Node *t = b_op1(g, OP_TANH, b_op2(g, OP_ADD, sq, b_scalar(g, 1.0f)));
  graph_add_output(g, "t", t);
  fuse_elementwise(g);
  Node *f = g->outputs[0].node;
  assert_int_equal(f->op, OP_FUSED);
  assert_int_equal(f->nfused, 3); /* mul, add, tanh */
  assert_ptr_equal(f->src[0], c);
  assert_true(c->live);
  assert_int_equal(c->op, OP_SUB);
}

static Node *row_mean(Node *a) {
  Node p = {0};
  p.op = OP_MEAN;
  p.axis = a->shape.ndim - 1;
  p.keepdim = true;
  return node(g, p, &a, 1);
}

/* nn.LayerNorm's spelling of norm(a + r) * w + b; *centered: x - mean */
static Node *layernorm_graph(Node **centered) {
  Node *a = b_input(g, "a", shp(3, 2, 5, 24), DT_F32);
  Node *r = b_input(g, "r", shp(3, 2, 5, 24), DT_F32);
  Node *x = b_op2(g, OP_ADD, a, r);
  Node *c = b_op2(g, OP_SUB, x, row_mean(x));
  Node *var = row_mean(b_op2(g, OP_MUL, c, c));
  Node *y = b_op2(g, OP_MUL, c, b_op1(g, OP_RSQRT, b_op2(g, OP_ADD, var, b_scalar(g, 1e-5f))));
  *centered = c;
  return b_op2(g, OP_ADD, b_op2(g, OP_MUL, y, b_param(g, "w", shp(1, 24))),
               b_param(g, "b", shp(1, 24)));
}

static void test_layernorm_fused(void **state) {
  (void)state;
  Node *c;
  graph_add_output(g, "y", layernorm_graph(&c));
  fuse_layernorm(g);
  Node *f = g->outputs[0].node;
  assert_int_equal(f->op, OP_LAYERNORM);
  assert_int_equal(count_live(OP_MEAN), 0);
  assert_int_equal(count_live(OP_ADD), 0); /* the residual add too */
  assert_int_equal(f->nsrc, 4);
  assert_string_equal(f->src[0]->name, "a");
  assert_ptr_equal(f->residual, f->src[1]);
  assert_string_equal(f->gamma->name, "w");
  assert_string_equal(f->bias->name, "b");
  assert_true(f->eps == 1e-5f);
}

static void test_layernorm_intermediate_used(void **state) {
  (void)state;
  Node *c;
  graph_add_output(g, "y", layernorm_graph(&c));
  graph_add_output(g, "centered", c); /* x - mean is needed as well: no fusion */
  fuse_layernorm(g);
  assert_int_equal(count_live(OP_LAYERNORM), 0);
  assert_int_equal(count_live(OP_MEAN), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_attention_fused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layernorm_fused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layernorm_intermediate_used, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attention_weights_output_probs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_weights_late_v, setup, teardown),
      cmocka_unit_test_setup_teardown(test_weights_read_before_v, setup, teardown),
      cmocka_unit_test_setup_teardown(test_weights_buffer_placed_with_attention, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_scale_absorbed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_scale_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_scale_kept_when_read_again, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_scaled_by_tensor_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scale_after_softmax_not_fused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attention_reads_and_writes_heads_in_place, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_attention_strided_query_columns_copied, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_epilogue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_elementwise_tree, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
