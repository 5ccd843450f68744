/* builders.h: build small graphs in C for the unit tests, without Lua. Each helper
 * adds one node at a fake location (model.lua:7) and runs shape inference, failing
 * the test when it does not succeed (use try_node() to test errors). */
#ifndef BUILDERS_H
#define BUILDERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "attncc.h"

static const Loc test_loc = {"model.lua", 7};

/* every test gets a fresh graph and frees the arena after it */
static Graph *g;

static int setup(void **state) {
  (void)state;
  g = graph_new();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  arena_free_all();
  return 0;
}

static inline Shape shp(int ndim, ...) {
  Shape s = {ndim, {0}};
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++)
    s.dim[i] = va_arg(ap, int);
  va_end(ap);
  return s;
}

/* adds a node; returns NULL and fills msg when shape inference fails */
static inline Node *try_node(Graph *g, Node proto, Node **src, int nsrc, char *msg, size_t len) {
  Node *n = graph_add(g, proto.op, src, nsrc, test_loc, "");
  n->axis = proto.axis;
  memcpy(n->perm, proto.perm, sizeof n->perm);
  n->start = proto.start;
  n->len = proto.len;
  n->keepdim = proto.keepdim;
  n->trans_b = proto.trans_b;
  n->shape = proto.shape;
  n->dtype = proto.dtype;
  n->data = proto.data;
  n->name = proto.name;
  return shape_infer(n, msg, len) ? n : NULL;
}

static inline Node *node(Graph *g, Node proto, Node **src, int nsrc) {
  char msg[512] = "";
  Node *n = try_node(g, proto, src, nsrc, msg, sizeof msg);
  if (!n)
    fail_msg("shape inference failed: %s", msg);
  return n;
}

static inline Node *b_input(Graph *g, const char *name, Shape s, DType t) {
  Node p = {0};
  p.op = OP_INPUT;
  p.shape = s;
  p.dtype = t;
  p.name = name;
  return node(g, p, NULL, 0);
}

static inline Node *b_param(Graph *g, const char *name, Shape s) {
  Node p = {0};
  p.op = OP_PARAM;
  p.shape = s;
  p.name = name;
  return node(g, p, NULL, 0);
}

static inline Node *b_scalar(Graph *g, float v) {
  Node p = {0};
  float *d = xalloc(sizeof *d);
  *d = v;
  p.op = OP_CONST;
  p.data = d;
  return node(g, p, NULL, 0);
}

static inline Node *b_op2(Graph *g, OpCode op, Node *a, Node *b) {
  Node p = {0};
  p.op = op;
  Node *src[2] = {a, b};
  return node(g, p, src, 2);
}

static inline Node *b_op1(Graph *g, OpCode op, Node *a) {
  Node p = {0};
  p.op = op;
  return node(g, p, &a, 1);
}

/* the graph helpers of the fusion tests (on the test's graph g) */
static inline Node *matmul(Node *a, Node *b, bool trans_b) {
  Node p = {0};
  p.op = OP_MATMUL;
  p.trans_b = trans_b;
  Node *src[2] = {a, b};
  return node(g, p, src, 2);
}

static inline Node *softmax_last(Node *a) {
  Node p = {0};
  p.op = OP_SOFTMAX;
  p.axis = -1;
  return node(g, p, &a, 1);
}

static inline Node *permute(Node *a, int p0, int p1, int p2, int p3) {
  Node p = {0};
  p.op = OP_PERMUTE;
  p.perm[0] = p0, p.perm[1] = p1, p.perm[2] = p2, p.perm[3] = p3;
  return node(g, p, &a, 1);
}

static inline Node *reshape(Node *a, Shape s) {
  Node p = {0};
  p.op = OP_RESHAPE;
  p.shape = s;
  return node(g, p, &a, 1);
}

static inline int count_live(OpCode op) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++)
    n += g->nodes[i]->live && g->nodes[i]->op == op;
  return n;
}

#endif
