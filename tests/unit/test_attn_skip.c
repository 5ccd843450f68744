/* test_attn_skip.c: what a constant mask lets the fused attention skip (attn_skip.c): the
 * key blocks each query block visits, each query's last unmasked and first masked key
 * (a band mask with holes on both sides and a row that masks every key), and whether the
 * chain is nothing but constant-mask fills. */
#include "builders.h"

#include <math.h>

enum { LQ = 7, LK = 9 };

/* row i keeps keys i-1 .. i+2 (within 0..8); the last row masks every key */
static bool band_masked(int i, int j) { return i == LQ - 1 || j < i - 1 || j > i + 2; }

/* softmax(q k^T [/ 8] masked by the band: filled with -1e9, or + a constant bias of 0.5
 * and -inf) v, fused */
static Node *band_attention(bool scaled, bool additive) {
  Node *q = b_input(g, "q", shp(3, 2, LQ, 16), DT_F32);
  Node *k = b_input(g, "k", shp(3, 2, LK, 16), DT_F32);
  Node *v = b_input(g, "v", shp(3, 2, LK, 12), DT_F32);
  Node c = {0};
  c.op = OP_CONST;
  c.dtype = additive ? DT_F32 : DT_BOOL;
  c.shape = shp(2, LQ, LK);
  uint8_t *bits = xalloc(LQ * LK);
  float *bias = xalloc(sizeof(float) * LQ * LK);
  for (int i = 0; i < LQ; i++)
    for (int j = 0; j < LK; j++) {
      bits[i * LK + j] = band_masked(i, j);
      bias[i * LK + j] = band_masked(i, j) ? -INFINITY : 0.5f;
    }
  c.data = additive ? (void *)bias : (void *)bits;
  Node *mask = node(g, c, NULL, 0);
  Node mm = {0};
  mm.op = OP_MATMUL;
  mm.trans_b = true;
  Node *qk[2] = {q, k};
  Node *s = node(g, mm, qk, 2);
  if (scaled)
    s = b_op2(g, OP_DIV, s, b_scalar(g, 8.0f));
  Node w = {0};
  w.op = OP_WHERE;
  Node *src[3] = {mask, b_scalar(g, -1e9f), s};
  Node sm = {0};
  sm.op = OP_SOFTMAX;
  sm.axis = -1;
  Node *masked = additive ? b_op2(g, OP_ADD, s, mask) : node(g, w, src, 3);
  Node *probs = node(g, sm, &masked, 1);
  mm.trans_b = false;
  Node *pv[2] = {probs, v};
  graph_add_output(g, "out", node(g, mm, pv, 2));
  fuse_attention(g);
  Node *f = g->outputs[0].node;
  assert_int_equal(f->op, OP_ATTENTION);
  return f;
}

static void test_band_mask_tables(void **state) {
  (void)state;
  const Node *f = band_attention(false, false);
  int32_t lo[1], hi[1], key_end[LQ], mask_start[LQ];
  AttnSkip sk = {lo, hi, key_end, mask_start};
  /* one block of 96 queries, key blocks of 4: the masked row keeps every block visited,
   * but the rows' key ends still trim the strips */
  assert_true(attention_key_blocks(f, 96, 4, &sk));
  assert_int_equal(lo[0], 0);
  assert_int_equal(hi[0], 3);
  for (int i = 0; i < LQ; i++) {
    int end = 0, first = LK;
    for (int j = 0; j < LK; j++) {
      if (!band_masked(i, j))
        end = j + 1;
      else if (first == LK)
        first = j;
    }
    assert_int_equal(key_end[i], i == LQ - 1 ? LK : end); /* a fully masked row keeps all */
    assert_int_equal(mask_start[i], first);
  }
  assert_int_equal(key_end[0], 3);
  assert_int_equal(mask_start[0], 3);
  assert_int_equal(mask_start[2], 0); /* key 0 is left of row 2's band */
  assert_true(attention_mask_only(f, 0, f->nsteps));
}

static void test_scaled_chain_is_not_mask_only(void **state) {
  (void)state;
  const Node *f = band_attention(true, false);
  assert_int_equal(f->nsteps, 2);
  assert_false(attention_mask_only(f, 0, f->nsteps)); /* / 8 before the fill */
  assert_false(attention_mask_only(f, 0, 0));
  assert_true(attention_mask_only(f, 1, f->nsteps)); /* the fill alone (the / 8 staged) */
}

/* + 0.5 on the kept keys is not the identity there: the chain must run */
static void test_additive_mask_is_not_mask_only(void **state) {
  (void)state;
  const Node *f = band_attention(false, true);
  int32_t lo[1], hi[1], key_end[LQ], mask_start[LQ];
  AttnSkip sk = {lo, hi, key_end, mask_start};
  assert_true(attention_key_blocks(f, 96, 4, &sk)); /* it still masks */
  assert_int_equal(key_end[0], 3);
  assert_false(attention_mask_only(f, 0, f->nsteps));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_band_mask_tables, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scaled_chain_is_not_mask_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_additive_mask_is_not_mask_only, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
