/* test_fuse.c: the fusion passes on small graphs: attention is recognized and its
 * near misses are not (weights as an output, scaling after the softmax); matmul
 * epilogues absorb bias, activation and residual; elementwise trees inline only
 * single-use, same-shape nodes; LayerNorm spelled out in ops becomes one node that
 * also absorbs the residual add before it, and not when an intermediate is used again. */
#include "builders.h"

static Node *matmul(Node *a, Node *b, bool trans_b) {
  Node p = {0};
  p.op = OP_MATMUL;
  p.trans_b = trans_b;
  Node *src[2] = {a, b};
  return node(g, p, src, 2);
}

static Node *softmax_last(Node *a) {
  Node p = {0};
  p.op = OP_SOFTMAX;
  p.axis = -1;
  return node(g, p, &a, 1);
}

static int count_live(OpCode op) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++)
    n += g->nodes[i]->live && g->nodes[i]->op == op;
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

static void test_attention_weights_output_not_fused(void **state) {
  (void)state;
  Node *probs;
  Node *out = attention_graph(&probs);
  graph_add_output(g, "out", out);
  graph_add_output(g, "weights", probs);
  fuse_attention(g);
  assert_int_equal(count_live(OP_ATTENTION), 0);
  assert_int_equal(count_live(OP_SOFTMAX), 1);
}

static void test_scale_after_softmax_not_fused(void **state) {
  (void)state;
  Node *q = b_input(g, "q", shp(2, 7, 16), DT_F32);
  Node *k = b_input(g, "k", shp(2, 9, 16), DT_F32);
  Node *v = b_input(g, "v", shp(2, 9, 12), DT_F32);
  Node *p = b_op2(g, OP_MUL, softmax_last(matmul(q, k, true)), b_scalar(g, 0.5f));
  graph_add_output(g, "out", matmul(p, v, false));
  fuse_attention(g);
  assert_int_equal(count_live(OP_ATTENTION), 0);
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
      cmocka_unit_test_setup_teardown(test_attention_weights_output_not_fused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scale_after_softmax_not_fused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_epilogue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_elementwise_tree, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
