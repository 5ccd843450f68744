/* test_emit.c: snippets of the emitted C: identical operations share one kernel
 * function, broadcasting loops collapse, scalars and weights are exact hex floats,
 * weights go to a blob with --weights-blob, and the header declares the documented API. */
#define _POSIX_C_SOURCE 200809L
#include "builders.h"

#include <stdlib.h>

typedef void (*EmitFn)(const Graph *, const EmitOptions *, FILE *);

/* what fn writes with options o; *n gets its length when n is not NULL */
static char *capture_with(EmitFn fn, const EmitOptions *o, size_t *n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  fn(g, o, f);
  fclose(f);
  char *r = xalloc(len + 1);
  memcpy(r, buf, len);
  free(buf);
  if (n)
    *n = len;
  return r;
}

static char *capture(EmitFn fn, bool embed) {
  EmitOptions o = {.prefix = "m", .header_name = "m.h", .command_line = "attncc test",
                   .embed_weights = embed, .target = target_find("generic"), .threads = 1};
  return capture_with(fn, &o, NULL);
}

static int count(const char *text, const char *what) {
  int n = 0;
  for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
    n++;
  return n;
}

static void expect_in(const char *text, const char *want) {
  if (!strstr(text, want)) {
    fprintf(stderr, "emitted text:\n%s\n", text);
    fail_msg("emitted text lacks \"%s\"", want);
  }
}

static void test_kernels_shared(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(2, 4, 8), DT_F32);
  Node *a = b_op1(g, OP_TANH, x);
  Node *b = b_op1(g, OP_TANH, a);
  Node *c = b_op1(g, OP_TANH, b);
  graph_add_output(g, "y", c);
  memplan_run(g);
  char *src = capture(emit_source, true);
  assert_int_equal(count(src, "NOINLINE void m_k"), 1);
  assert_int_equal(count(src, "  m_k0("), 3); /* three calls */
  expect_in(src, "for (int64_t i0 = 0; i0 < 32; i0++)"); /* collapsed to one loop */
  expect_in(src, "m_tanh(s0[0 + i0])"); /* the vectorizable tanh */
}

static void test_broadcast_and_literals(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(3, 2, 4, 8), DT_F32);
  Node *bias = b_param(g, "bias", shp(1, 8));
  float *w = xalloc(8 * sizeof(float));
  for (int i = 0; i < 8; i++)
    w[i] = 0.1f * (float)i;
  bias->data = w;
  Node *y = b_op2(g, OP_MUL, b_op2(g, OP_ADD, x, bias), b_scalar(g, 0.125f));
  graph_add_output(g, "y", y);
  memplan_run(g);
  char *src = capture(emit_source, true);
  expect_in(src, "s1[0 + i1]");                 /* bias broadcast over rows */
  expect_in(src, "* 0x1p-3f");                  /* the scalar is an exact literal */
  expect_in(src, "0x1.99999ap-4f");             /* 0.1f, bit-exact */
  expect_in(src, "static _Alignas(64) const float m_w_bias[8]");
  char *hdr = capture(emit_header, true);
  expect_in(hdr, "int m_run(const float *in_x, float *out_y, void *workspace);");
  expect_in(hdr, "#define M_X_SHAPE {2, 4, 8}");
  expect_in(hdr, "extern \"C\"");
  expect_in(hdr, "#define M_WORKSPACE_SIZE");
}

/* --weights-blob: the C file names the data by offsets in one blob; the blob holds the
 * exact floats, 64-byte aligned; the .S stub includes it and checks its size */
static void test_weights_blob(void **state) {
  (void)state;
  Node *x = b_input(g, "x", shp(2, 2, 8), DT_F32);
  Node *bias = b_param(g, "bias", shp(1, 8));
  float *w = xalloc(8 * sizeof(float));
  for (int i = 0; i < 8; i++)
    w[i] = 0.1f * (float)i;
  bias->data = w;
  graph_add_output(g, "y", b_op2(g, OP_ADD, x, bias));
  memplan_run(g);
  WeightBlob blob = {.mode = 1};
  EmitOptions o = {.prefix = "m", .header_name = "m.h", .command_line = "attncc test",
                   .embed_weights = true, .target = target_find("generic"), .threads = 1,
                   .blob = &blob, .blob_name = "m.weights.bin", .blob_asm_name = "m.weights.S"};
  char *src = capture_with(emit_source, &o, NULL);
  assert_true(blob.used);
  assert_int_equal(blob.n, 1);
  assert_int_equal(blob.floats, 16); /* 8 floats, padded to 64 bytes */
  expect_in(src, "extern const float m_weights_");
  expect_in(src, "#define m_w_bias (m_weights_");
  assert_null(strstr(src, "const float m_w_bias["));
  size_t n;
  char *bin = capture_with(emit_weights_bin, &o, &n);
  assert_int_equal(n, 64);
  assert_memory_equal(bin, w, 8 * sizeof(float));
  char *S = capture_with(emit_weights_asm, &o, NULL);
  expect_in(S, ".incbin \"m.weights.bin\"");
  expect_in(S, ".if . - SYM != 64");
  blob.mode = -1; /* below the threshold: C arrays again */
  src = capture_with(emit_source, &o, NULL);
  assert_false(blob.used);
  expect_in(src, "static _Alignas(64) const float m_w_bias[8]");
}

/* y = x[4,8] * W^T for a parameter W of out x 8 (computed: x[2,4,8] * tanh(W)^T), packed
 * (or not) for the generic target, planned */
static void product_graph(const char *name, int64_t out, bool computed) {
  Node *x = b_input(g, "x", computed ? shp(3, 2, 4, 8) : shp(2, 4, 8), DT_F32);
  Node *w = b_param(g, name, shp(2, out, 8));
  if (computed)
    w = b_op1(g, OP_TANH, w);
  Node p = {0};
  p.op = OP_MATMUL;
  p.trans_b = true;
  Node *src2[2] = {x, w};
  Node *y = node(g, p, src2, 2);
  graph_add_output(g, "y", y);
  g->target = target_find("generic");
  pack_weights(g);
  memplan_run(g);
}

static void linear_graph(const char *name, int64_t out) { product_graph(name, out, false); }

static void test_runtime_params_header(void **state) {
  (void)state;
  linear_graph("layers.0.fc.weight", 16);
  char *hdr = capture(emit_header, false);
  expect_in(hdr, "const float *layers_0_fc_weight; /* 'layers.0.fc.weight' [16,8] */");
  expect_in(hdr, "const m_params *params, void *workspace);");
  char *src = capture(emit_source, false);
  expect_in(src, "{\"layers.0.fc.weight\", 2, {16, 8}, offsetof(m_params, layers_0_fc_weight)}");
  expect_in(src, "m_pack_b(8, 16, s0, 1, 8, y);");  /* the weight, packed at run time */
  expect_in(src, "m_gemm(4, 16, 8, s0, 8, s1, y, 16, NULL, NULL, 16, 0);");
}

/* a weight of at most 8 columns is read as it is by the skinny kernel, not packed */
static void test_skinny_weight_unpacked(void **state) {
  (void)state;
  linear_graph("fc.weight", 8);
  char *src = capture(emit_source, false);
  expect_in(src, "m_gemm_skinny(4, 8, 8, s0, 8, s1, y, 8, NULL, NULL, 8, 0);");
  assert_null(strstr(src, "m_pack_b("));
}

/* a computed matrix shared by the batch items is packed once (a PACK kernel), and one GEMM
 * runs over every row of x (2 x 4), not a pack and a GEMM per batch item */
static void test_shared_matrix_packed_once(void **state) {
  (void)state;
  product_graph("w", 16, true);
  char *src = capture(emit_source, false);
  assert_int_equal(count(src, "m_pack_b(8, 16, s0, 1, 8, y);"), 1);
  expect_in(src, "m_gemm(8, 16, 8, s0, 8, s1, y, 16, NULL, NULL, 16, 0);");
  assert_null(strstr(src, ", scratch);")); /* no per-product packing */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_kernels_shared, setup, teardown),
      cmocka_unit_test_setup_teardown(test_broadcast_and_literals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_weights_blob, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runtime_params_header, setup, teardown),
      cmocka_unit_test_setup_teardown(test_skinny_weight_unpacked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shared_matrix_packed_once, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
