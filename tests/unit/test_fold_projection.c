/* test_fold_projection.c: an attention's square key and value projections fold into the
 * query's and the output product's weights (seed 001's SelfAttention: one 8 x 8 Linear
 * without bias for every head's slice; K also for an attention returning only its
 * weights); the new weights hold the products, in the stored layout; and the near misses
 * stay as they are: a key projection with a bias, one that is not square, queries that
 * are no projection, a value read again or returned, a result that reaches no product or
 * one whose rows are not whole heads, --debug builds. With weights known only at run time
 * the folded weights are nodes of the graph computing them from the parameters. */
#include "builders.h"

enum { B = 2, L = 5, H = 4, D = 8, OUT = 6 };

/* a [rows, cols] parameter holding distinct values (none symmetric), or none (run time) */
static Node *weight(const char *name, int rows, int cols, int seed, bool known) {
  Node *w = b_param(g, name, shp(2, rows, cols));
  if (known) {
    float *d = xalloc(sizeof(float) * (size_t)(rows * cols));
    for (int i = 0; i < rows * cols; i++)
      d[i] = (float)((i * 7 + seed * 13) % 23 - 11) / 16.0f;
    w->data = d;
  }
  return w;
}

typedef struct {
  bool k_bias, k_wide, q_plain, v_read_again, v_output, no_product, split_rows, runtime,
      probs_only;
} Variant;

typedef struct {
  Node *xq, *xk, *xv, *wq, *wk, *wv, *wo, *q, *y;
} Model;

/* [B, L, H, D] heads of x -> [B * H, L, D] */
static Node *heads(Node *x) { return reshape(permute(x, 0, 2, 1, 3), shp(3, B * H, L, D)); }

/* seed 001's attention: y = merge(softmax(Q K^T) V) Wo^T with Q, K, V = x Wq^T, x Wk^T,
 * x Wv^T per head (D x D), changed as the variant says */
static Model build(Variant v) {
  Model m;
  m.xq = b_input(g, "xq", shp(4, B, L, H, D), DT_F32);
  m.xk = b_input(g, "xk", shp(4, B, L, H, v.k_wide ? 6 : D), DT_F32);
  m.xv = b_input(g, "xv", shp(4, B, L, H, D), DT_F32);
  m.wq = weight("queries.weight", D, D, 1, !v.runtime);
  m.wk = weight("keys.weight", D, v.k_wide ? 6 : D, 2, !v.runtime);
  m.wv = weight("values.weight", D, D, 3, !v.runtime);
  m.wo = weight("fc_out.weight", OUT, H * D, 4, !v.runtime);
  m.q = v.q_plain ? m.xq : matmul(m.xq, m.wq, true);
  Node *k = matmul(m.xk, m.wk, true);
  if (v.k_bias)
    k = b_op2(g, OP_ADD, k, b_param(g, "keys.bias", shp(1, D)));
  Node *val = matmul(m.xv, m.wv, true);
  Node *s = matmul(heads(m.q), heads(k), true);
  if (v.probs_only) { /* the weights alone: an attention with no V */
    m.y = softmax_last(s);
    graph_add_output(g, "p", m.y);
    return m;
  }
  Node *o = matmul(softmax_last(s), heads(val), false);
  Node *merged = permute(reshape(o, shp(4, B, H, L, D)), 0, 2, 1, 3);
  if (v.no_product)
    m.y = b_op1(g, OP_TANH, reshape(merged, shp(3, B, L, H * D)));
  else if (v.split_rows) /* rows of 4 values: half a head's 8 each */
    m.y = matmul(reshape(merged, shp(3, B, L * H * 2, D / 2)), weight("w4", OUT, D / 2, 5, true),
                 true);
  else
    m.y = matmul(reshape(merged, shp(3, B, L, H * D)), m.wo, true);
  graph_add_output(g, "y", m.y);
  if (v.v_read_again) /* by another node */
    graph_add_output(g, "tanh_v", b_op1(g, OP_TANH, val));
  if (v.v_output)
    graph_add_output(g, "v", val);
  return m;
}

static Node *run_passes(void) {
  fuse_attention(g);
  attention_layouts(g);
  fold_projections(g);
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->live && g->nodes[i]->op == OP_ATTENTION)
      return g->nodes[i];
  fail_msg("no attention");
  return NULL;
}

static void test_both_projections_folded(void **state) {
  (void)state;
  Model m = build((Variant){0});
  Node *f = run_passes();
  assert_ptr_equal(f->src[1], m.xk); /* K and V read from the inputs, unprojected */
  assert_ptr_equal(f->src[2], m.xv);
  assert_int_equal(count_live(OP_MATMUL), 2); /* Q's projection and the output's */
  /* Q = xq (Bq Bk^T), stored as Q's weight was, [N, K]: w[j][r] = sum_e Wq[e][r] Wk[e][j] */
  const float *wq = m.wq->data, *wk = m.wk->data, *wv = m.wv->data, *wo = m.wo->data;
  const Node *qw = m.q->src[1];
  assert_int_equal(qw->op, OP_CONST);
  assert_true(m.q->trans_b && qw->shape.dim[0] == D && qw->shape.dim[1] == D);
  for (int j = 0; j < D; j++)
    for (int r = 0; r < D; r++) {
      double sum = 0;
      for (int e = 0; e < D; e++)
        sum += (double)wq[e * D + r] * wk[e * D + j];
      assert_float_equal(((const float *)qw->data)[j * D + r], sum, 1e-6);
    }
  /* Wo' = Wo diag(Wv) per head: w[o][h D + d] = sum_e Wv[e][d] Wo[o][h D + e] */
  const Node *ow = m.y->src[1];
  assert_int_equal(ow->op, OP_CONST);
  for (int o = 0; o < OUT; o++)
    for (int h = 0; h < H; h++)
      for (int d = 0; d < D; d++) {
        double sum = 0;
        for (int e = 0; e < D; e++)
          sum += (double)wv[e * D + d] * wo[o * H * D + h * D + e];
        assert_float_equal(((const float *)ow->data)[o * H * D + h * D + d], sum, 1e-6);
      }
}

static void test_key_folded_for_weights_alone(void **state) {
  (void)state;
  Model m = build((Variant){.probs_only = true});
  Node *f = run_passes();
  assert_true(f->attn_probs);
  assert_ptr_equal(f->src[1], m.xk);
  assert_ptr_equal(f->src[2], m.xk); /* its unread V slot names K */
  assert_int_not_equal(m.q->src[1]->op, OP_PARAM);
  assert_int_equal(count_live(OP_MATMUL), 1);
}

/* K stays projected; V folds unless said */
static void key_kept(Variant v) {
  Model m = build(v);
  Node *f = run_passes();
  assert_ptr_not_equal(f->src[1], m.xk);
  assert_ptr_equal(f->src[2], m.xv);
  if (!v.q_plain)
    assert_ptr_equal(m.q->src[1], m.wq);
}

static void test_key_with_bias_kept(void **state) {
  (void)state;
  key_kept((Variant){.k_bias = true});
}

static void test_key_not_square_kept(void **state) {
  (void)state;
  key_kept((Variant){.k_wide = true});
}

static void test_key_kept_when_queries_are_no_projection(void **state) {
  (void)state;
  key_kept((Variant){.q_plain = true});
}

/* V stays projected, and the output product's weight as it was; K folds */
static void value_kept(Variant v) {
  Model m = build(v);
  Node *f = run_passes();
  assert_ptr_equal(f->src[1], m.xk);
  assert_ptr_not_equal(f->src[2], m.xv);
  assert_int_equal(f->src[2]->op, OP_MATMUL);
  if (!v.no_product && !v.split_rows)
    assert_ptr_equal(m.y->src[1], m.wo);
}

static void test_value_read_again_kept(void **state) {
  (void)state;
  value_kept((Variant){.v_read_again = true});
}

static void test_value_output_kept(void **state) {
  (void)state;
  value_kept((Variant){.v_output = true});
}

static void test_value_kept_without_product(void **state) {
  (void)state;
  value_kept((Variant){.no_product = true});
}

static void test_value_kept_when_rows_split_heads(void **state) {
  (void)state;
  value_kept((Variant){.split_rows = true});
}

/* weights known only at run time: the same folds, by products of the parameters */
static void test_runtime_weights_folded_by_nodes(void **state) {
  (void)state;
  Model m = build((Variant){.runtime = true});
  Node *f = run_passes();
  assert_ptr_equal(f->src[1], m.xk);
  assert_ptr_equal(f->src[2], m.xv);
  /* Q's weight Bq Bk^T = Wq^T Wk: matmul(permute(Wq), Wk), read as [K, N] */
  const Node *qw = m.q->src[1];
  assert_false(m.q->trans_b);
  assert_int_equal(qw->op, OP_MATMUL);
  assert_false(qw->trans_b);
  assert_int_equal(qw->src[0]->op, OP_PERMUTE);
  assert_ptr_equal(qw->src[0]->src[0], m.wq);
  assert_ptr_equal(qw->src[1], m.wk);
  assert_true(qw->shape.ndim == 2 && qw->shape.dim[0] == D && qw->shape.dim[1] == D);
  /* the output's weight (diag(Bv) Wo)^T: Wo's rows [OUT * H, D] by Wv (= Bv^T), as [OUT, H D] */
  const Node *ow = m.y->src[1];
  assert_true(m.y->trans_b);
  assert_int_equal(ow->op, OP_RESHAPE);
  assert_true(ow->shape.dim[0] == OUT && ow->shape.dim[1] == H * D);
  const Node *rows = ow->src[0];
  assert_int_equal(rows->op, OP_MATMUL);
  assert_false(rows->trans_b);
  assert_ptr_equal(rows->src[1], m.wv);
  assert_int_equal(rows->src[0]->op, OP_RESHAPE);
  assert_ptr_equal(rows->src[0]->src[0], m.wo);
  assert_true(rows->shape.dim[0] == OUT * H && rows->shape.dim[1] == D);
  /* each new node precedes its reader */
  assert_true(qw->src[0]->id < qw->id && qw->id < m.q->id);
  assert_true(rows->src[0]->id < rows->id && rows->id < ow->id && ow->id < m.y->id);
}

/* a --debug build: the graph as it was */
static void nothing_folded(Model m) {
  Node *f = run_passes();
  assert_int_equal(f->src[1]->op, OP_MATMUL);
  assert_int_equal(f->src[2]->op, OP_MATMUL);
  assert_ptr_equal(m.q->src[1], m.wq);
  assert_ptr_equal(m.y->src[1], m.wo);
  assert_int_equal(count_live(OP_MATMUL), 4);
}

static void test_debug_build_not_folded(void **state) {
  (void)state;
  Model m = build((Variant){0});
  g->debug = xalloc(1); /* any DebugInfo: only its presence matters here */
  nothing_folded(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_both_projections_folded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_folded_for_weights_alone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_with_bias_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_not_square_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_kept_when_queries_are_no_projection, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_value_read_again_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_output_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_kept_without_product, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_kept_when_rows_split_heads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runtime_weights_folded_by_nodes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_debug_build_not_folded, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
