/* fuse_elementwise.c: a tree of elementwise ops becomes one loop. Starting from each
 * elementwise node whose result must be stored (an output, several users, or a user
 * that is not elementwise of the same shape), sources that are elementwise, of the
 * same shape and used only there are inlined, recursively. The node keeps its place
 * and becomes FUSED: its sources are the tree's leaves and node->ew holds the ops.
 * Leaves that are slices or permutes are read through their strides (views), so
 * LSTM gate slices and head transposes need no copies. */
#include "attncc.h"

#include <string.h>

#define MAX_LEAVES 8
#define MAX_FUSED 32

typedef struct {
  int *uses;
  bool *is_output;
  EwStep steps[MAX_FUSED];
  int nsteps;
  Node *leaves[MAX_LEAVES];
  int nleaves;
} Tree;

static bool elementwise(const Node *n) {
  OpKind k = op_kinds[n->op];
  return n->live && (k == OK_UNARY || k == OK_BINARY || k == OK_COMPARE || k == OK_WHERE);
}

static bool inlinable(const Tree *t, const Node *s, const Node *root) {
  return elementwise(s) && !t->is_output[s->id] && t->uses[s->id] == 1 &&
         shape_equal(&s->shape, &root->shape);
}

/* index of leaf s (added if new); -1 when there are too many */
static int leaf(Tree *t, Node *s) {
  for (int i = 0; i < t->nleaves; i++)
    if (t->leaves[i] == s)
      return i;
  if (t->nleaves == MAX_LEAVES)
    return -1;
  t->leaves[t->nleaves] = s;
  return t->nleaves++;
}

/* appends the steps computing n and sets *at to its step; false when it does not fit */
static bool build(Tree *t, Node *n, const Node *root, int *at) {
  EwStep st = {n->op, {0, 0, 0}, n->nsrc, n->dtype};
  for (int i = 0; i < n->nsrc; i++) {
    Node *s = n->src[i];
    if (inlinable(t, s, root)) {
      if (!build(t, s, root, &st.arg[i]))
        return false;
    } else {
      int l = leaf(t, s);
      if (l < 0)
        return false;
      st.arg[i] = -1 - l;
    }
  }
  if (t->nsteps == MAX_FUSED)
    return false;
  t->steps[t->nsteps] = st;
  *at = t->nsteps++;
  return true;
}

static void fuse_root(Graph *g, Tree *t, Node *root) {
  t->nsteps = 0;
  t->nleaves = 0;
  int top;
  if (!build(t, root, root, &top))
    return;
  bool has_view = false;
  for (int i = 0; i < t->nleaves; i++)
    has_view |= t->leaves[i]->op == OP_SLICE || t->leaves[i]->op == OP_PERMUTE;
  if (t->nsteps < 2 && !has_view)
    return; /* nothing to gain */
  Node **src = xalloc(sizeof(Node *) * (size_t)t->nleaves);
  SrcView *views = xalloc(sizeof(SrcView) * (size_t)t->nleaves);
  for (int i = 0; i < t->nleaves; i++)
    src[i] = graph_view_of(t->leaves[i], &views[i]);
  root->ew = xalloc(sizeof(EwStep) * (size_t)t->nsteps);
  memcpy(root->ew, t->steps, sizeof(EwStep) * (size_t)t->nsteps);
  root->nfused = t->nsteps;
  root->views = views;
  root->src = src;
  root->nsrc = t->nleaves;
  root->op = OP_FUSED;
  (void)g;
}

void fuse_elementwise(Graph *g) {
  graph_prune(g);
  Tree t = {0};
  t.uses = xalloc(sizeof(int) * (size_t)g->nnodes);
  t.is_output = xalloc(sizeof(bool) * (size_t)g->nnodes);
  for (int i = 0; i < g->nnodes; i++)
    t.uses[i] = g->nodes[i]->nuses;
  for (int k = 0; k < g->noutputs; k++)
    t.is_output[g->outputs[k].node->id] = true;
  /* from the end: a root's inlined nodes come before it and are then dead */
  for (int i = g->nnodes - 1; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (!elementwise(n))
      continue;
    fuse_root(g, &t, n);
    if (n->op == OP_FUSED)
      graph_prune(g); /* the inlined nodes are no longer live */
  }
  graph_prune(g);
}
