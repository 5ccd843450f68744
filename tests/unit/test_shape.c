/* test_shape.c: shape and dtype inference, one test per rule and per error message. */
#include "builders.h"

static void expect_error(Node proto, Node **src, int nsrc, const char *want) {
  char msg[512] = "";
  Node *n = try_node(g, proto, src, nsrc, msg, sizeof msg);
  assert_null(n);
  if (!strstr(msg, want))
    fail_msg("message \"%s\" lacks \"%s\"", msg, want);
}

static void test_matmul_broadcast(void **state) {
  (void)state;
  Node *a = b_input(g, "a", shp(4, 2, 3, 5, 8), DT_F32);
  Node *b = b_input(g, "b", shp(3, 3, 8, 6), DT_F32);
  Node *c = b_op2(g, OP_MATMUL, a, b);
  assert_int_equal(c->shape.ndim, 4);
  assert_int_equal(c->shape.dim[0], 2);
  assert_int_equal(c->shape.dim[2], 5);
  assert_int_equal(c->shape.dim[3], 6);
}

static void test_matmul_mismatch(void **state) {
  (void)state;
  Node *a = b_input(g, "a", shp(3, 1, 128, 256), DT_F32);
  Node *b = b_input(g, "b", shp(2, 128, 64), DT_F32);
  Node p = {0};
  p.op = OP_MATMUL;
  Node *src[2] = {a, b};
  expect_error(p, src, 2,
               "matmul: shapes [1,128,256] and [128,64] do not match (dim -1 = 256 vs dim -2 = 128)");
}

static void test_matmul_trans_b(void **state) {
  (void)state;
  Node *a = b_input(g, "a", shp(2, 5, 8), DT_F32);
  Node *w = b_param(g, "w", shp(2, 6, 8));
  Node p = {0};
  p.op = OP_MATMUL;
  p.trans_b = true;
  Node *src[2] = {a, w};
  Node *c = node(g, p, src, 2);
  assert_int_equal(c->shape.dim[1], 6);
}

static void test_broadcast_error(void **state) {
  (void)state;
  Node *a = b_input(g, "a", shp(3, 2, 5, 8), DT_F32);
  Node *b = b_input(g, "b", shp(1, 7), DT_F32);
  Node p = {0};
  p.op = OP_ADD;
  Node *src[2] = {a, b};
  expect_error(p, src, 2, "add: shapes [2,5,8] and [7] cannot be broadcast (dim -1 = 8 vs 7)");
}

static void test_dtype_promotion(void **state) {
  (void)state;
  Node *i = b_input(g, "i", shp(1, 4), DT_I32);
  Node *f = b_input(g, "f", shp(1, 4), DT_F32);
  Node *b = b_input(g, "b", shp(1, 4), DT_BOOL);
  assert_int_equal(b_op2(g, OP_ADD, i, f)->dtype, DT_F32);
  assert_int_equal(b_op2(g, OP_ADD, i, b)->dtype, DT_I32);
  assert_int_equal(b_op2(g, OP_DIV, i, i)->dtype, DT_F32);
  assert_int_equal(b_op2(g, OP_EQ, i, f)->dtype, DT_BOOL);
}

static void test_reshape_infer(void **state) {
  (void)state;
  Node *a = b_input(g, "a", shp(3, 2, 3, 4), DT_F32);
  Node p = {0};
  p.op = OP_RESHAPE;
  p.shape = shp(2, -1, 4);
  Node *r = node(g, p, &a, 1);
  assert_int_equal(r->shape.dim[0], 6);
  p.shape = shp(2, 5, 5);
  expect_error(p, &a, 1, "reshape: cannot view shape [2,3,4] (24 elements) as [5,5]");
}

static void test_permute(void **state) {
  (void)state;
  Node *a = b_input(g, "a", shp(3, 2, 3, 4), DT_F32);
  Node p = {0};
  p.op = OP_PERMUTE;
  p.perm[0] = 2;
  p.perm[1] = 0;
  p.perm[2] = -2;
  Node *r = node(g, p, &a, 1);
  assert_int_equal(r->shape.dim[0], 4);
  assert_int_equal(r->shape.dim[2], 3);
  assert_int_equal(r->perm[2], 1);
  p.perm[2] = 0;
  expect_error(p, &a, 1, "permute: dims are not a permutation");
}

static void test_reduce_and_softmax(void **state) {
  (void)state;
  Node *a = b_input(g, "a", shp(3, 2, 3, 4), DT_F32);
  Node p = {0};
  p.op = OP_SUM;
  p.axis = -2;
  Node *r = node(g, p, &a, 1);
  assert_int_equal(r->shape.ndim, 2);
  assert_int_equal(r->shape.dim[1], 4);
  p.keepdim = true;
  r = node(g, p, &a, 1);
  assert_int_equal(r->shape.ndim, 3);
  assert_int_equal(r->shape.dim[1], 1);
  Node s = {0};
  s.op = OP_SOFTMAX;
  s.axis = 3;
  expect_error(s, &a, 1, "softmax: dim 3 is out of range for shape [2,3,4] (expected -3..2)");
}

static void test_gather_and_slice_and_cat(void **state) {
  (void)state;
  Node *table = b_param(g, "t", shp(2, 15, 4));
  Node *idx = b_input(g, "i", shp(2, 8, 8), DT_I32);
  Node *r = b_op2(g, OP_GATHER, table, idx);
  assert_int_equal(r->shape.ndim, 3);
  assert_int_equal(r->shape.dim[2], 4);
  Node p = {0};
  p.op = OP_GATHER;
  Node *bad[2] = {table, table};
  expect_error(p, bad, 2, "index: the index tensor must be integer");
  Node sl = {0};
  sl.op = OP_SLICE;
  sl.axis = 0;
  sl.start = 10;
  sl.len = 6;
  expect_error(sl, &table, 1, "narrow: range [10, 16) is outside dim 0 of shape [15,4]");
  Node c = {0};
  c.op = OP_CAT;
  c.axis = -1;
  Node *two[2] = {table, table};
  Node *cat = node(g, c, two, 2);
  assert_int_equal(cat->shape.dim[1], 8);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_matmul_broadcast, setup, teardown),
      cmocka_unit_test_setup_teardown(test_matmul_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_matmul_trans_b, setup, teardown),
      cmocka_unit_test_setup_teardown(test_broadcast_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dtype_promotion, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reshape_infer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_permute, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reduce_and_softmax, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gather_and_slice_and_cat, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
