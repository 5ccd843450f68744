/* graph.c: the IR container. Nodes are appended in creation order, which is a
 * topological order because a node's sources always exist before it. Also: shape
 * and dtype helpers, dead-node pruning from the outputs, and a text dump. */
#include "attncc.h"

#include <string.h>

const char *const op_names[OP_COUNT] = {
#define OP(name, lua, kind) lua,
#include "ops.def"
#undef OP
};

const OpKind op_kinds[OP_COUNT] = {
#define OP(name, lua, kind) kind,
#include "ops.def"
#undef OP
};

Graph *graph_new(void) {
  Graph *g = xalloc(sizeof(Graph));
  g->target = target_find("generic"); /* until the driver sets the one chosen */
  return g;
}

#define GROW(arr, n, cap)                                                      \
  do {                                                                         \
    if ((n) == (cap)) {                                                        \
      int newcap_ = (cap) ? 2 * (cap) : 64;                                    \
      void *p_ = xalloc(sizeof(*(arr)) * (size_t)newcap_);                     \
      if (n)                                                                   \
        memcpy(p_, (arr), sizeof(*(arr)) * (size_t)(n));                       \
      (arr) = p_;                                                              \
      (cap) = newcap_;                                                         \
    }                                                                          \
  } while (0)

Node *graph_add(Graph *g, OpCode op, Node **src, int nsrc, Loc loc, const char *path) {
  Node *n = xalloc(sizeof(Node));
  n->op = op;
  n->id = g->nnodes;
  n->value_id = n->id;
  n->nsrc = nsrc;
  if (nsrc) {
    n->src = xalloc(sizeof(Node *) * (size_t)nsrc);
    memcpy(n->src, src, sizeof(Node *) * (size_t)nsrc);
  }
  n->loc = loc;
  n->path = path ? path : "";
  n->offset = -1;
  n->out_index = -1;
  n->param_index = -1;
  GROW(g->nodes, g->nnodes, g->cap);
  g->nodes[g->nnodes++] = n;
  if (op == OP_INPUT) {
    GROW(g->inputs, g->ninputs, g->inputs_cap);
    g->inputs[g->ninputs++] = n;
  } else if (op == OP_PARAM) {
    GROW(g->params, g->nparams, g->params_cap);
    g->params[g->nparams++] = n;
  }
  return n;
}

void graph_add_output(Graph *g, const char *name, Node *n) {
  GROW(g->outputs, g->noutputs, g->outputs_cap);
  g->outputs[g->noutputs].name = name;
  g->outputs[g->noutputs].node = n;
  g->noutputs++;
}

/* saturates at INT64_MAX, so a size check after it sees a huge shape as too large */
int64_t last_dim(const Node *n) { return n->shape.ndim ? n->shape.dim[n->shape.ndim - 1] : 1; }

int64_t shape_numel(const Shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++)
    if (__builtin_mul_overflow(n, s->dim[i], &n))
      return INT64_MAX;
  return n;
}

bool shape_equal(const Shape *a, const Shape *b) {
  if (a->ndim != b->ndim)
    return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->dim[i] != b->dim[i])
      return false;
  return true;
}

void shape_format(const Shape *s, char *buf, size_t len) {
  size_t at = 0;
  at += (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < s->ndim && at < len; i++)
    at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? "," : "", (long long)s->dim[i]);
  if (at < len)
    snprintf(buf + at, len - at, "]");
}

size_t dtype_size(DType t) { return t == DT_BOOL ? 1 : 4; }

const char *dtype_name(DType t) {
  static const char *const names[] = {"float32", "int32", "bool"};
  return names[t];
}

const char *dtype_ctype(DType t) {
  static const char *const names[] = {"float", "int32_t", "uint8_t"};
  return names[t];
}

void graph_prune(Graph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    g->nodes[i]->live = false;
    g->nodes[i]->nuses = 0;
  }
  for (int i = 0; i < g->noutputs; i++)
    g->outputs[i].node->live = true;
  for (int i = g->nnodes - 1; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (!n->live)
      continue;
    for (int s = 0; s < n->nsrc; s++) {
      n->src[s]->live = true;
      n->src[s]->nuses++;
    }
  }
}

void shape_dense_strides(const Shape *s, int64_t *stride) {
  int64_t st = 1;
  for (int d = s->ndim - 1; d >= 0; d--) {
    stride[d] = st;
    st *= s->dim[d];
  }
}

Node *graph_view_of(Node *n, SrcView *v) {
  if (n->op != OP_SLICE && n->op != OP_PERMUTE)
    return n;
  /* dim d of n is dim xd[d] of x, whose dim e n reads from index begin[e] on */
  const int nd = n->shape.ndim;
  int xd[MAX_DIMS];
  int64_t begin[MAX_DIMS] = {0};
  for (int d = 0; d < nd; d++)
    xd[d] = n->op == OP_PERMUTE ? n->perm[d] : d;
  if (n->op == OP_SLICE)
    begin[n->axis] = n->start;
  Node *x = n->src[0];
  while (x->op == OP_SLICE || x->op == OP_PERMUTE) { /* x's dim e is dim map(e) of its source */
    int64_t below[MAX_DIMS] = {0};
    for (int e = 0; e < x->shape.ndim; e++)
      below[x->op == OP_PERMUTE ? x->perm[e] : e] = begin[e];
    if (x->op == OP_SLICE)
      below[x->axis] += x->start;
    for (int d = 0; d < nd; d++)
      xd[d] = x->op == OP_PERMUTE ? x->perm[xd[d]] : xd[d];
    memcpy(begin, below, sizeof begin);
    x = x->src[0];
  }
  int64_t xs[MAX_DIMS];
  shape_dense_strides(&x->shape, xs);
  v->is_view = true;
  v->shape = n->shape;
  v->offset = 0;
  for (int d = 0; d < nd; d++)
    v->stride[d] = xs[xd[d]];
  for (int e = 0; e < x->shape.ndim; e++)
    v->offset += begin[e] * xs[e];
  while (x->op == OP_RESHAPE) /* flat offsets into a reshape are flat offsets into its source */
    x = x->src[0];
  return x;
}

bool graph_depends_on_input(const Graph *g, const Node *n) {
  bool *reach = xalloc((size_t)g->nnodes);
  reach[n->id] = true;
  for (int i = n->id; i >= 0; i--) {
    const Node *m = g->nodes[i];
    if (!reach[i])
      continue;
    if (m->op == OP_INPUT)
      return true;
    for (int s = 0; s < m->nsrc; s++)
      reach[m->src[s]->id] = true;
  }
  return false;
}

void graph_replace_uses(Graph *g, Node *old, Node *new_node) {
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n == new_node)
      continue;
    for (int s = 0; s < n->nsrc; s++)
      if (n->src[s] == old)
        n->src[s] = new_node;
    if (n->bias == old)
      n->bias = new_node;
    if (n->residual == old)
      n->residual = new_node;
    if (n->gamma == old)
      n->gamma = new_node;
  }
  new_node->value_id = old->value_id; /* it computes old's value from now on */
  for (int k = 0; k < g->noutputs; k++)
    if (g->outputs[k].node == old)
      g->outputs[k].node = new_node;
}

static void renumber(Graph *g, int from, int to) {
  for (int i = from; i <= to; i++)
    g->nodes[i]->id = i;
}

void graph_move_after(Graph *g, Node *n, Node *anchor) {
  int from = n->id, to = anchor->id;
  ATTN_ASSERT(from < to);
  memmove(&g->nodes[from], &g->nodes[from + 1], sizeof(Node *) * (size_t)(to - from));
  g->nodes[to] = n;
  renumber(g, from, to);
}

void graph_insert_before(Graph *g, Node *n, Node *anchor) {
  int at = anchor->id, last = g->nnodes - 1;
  ATTN_ASSERT(n->id == last && at <= last);
  memmove(&g->nodes[at + 1], &g->nodes[at], sizeof(Node *) * (size_t)(last - at));
  g->nodes[at] = n;
  renumber(g, at, last);
}

Node *graph_add_const(Graph *g, const Node *like, float *data, Node *before) {
  Node *k = graph_add(g, OP_CONST, NULL, 0, like->loc, like->path);
  k->shape = like->shape;
  k->dtype = DT_F32;
  k->data = data;
  k->live = true;
  graph_insert_before(g, k, before);
  return k;
}

void graph_dump(const Graph *g, FILE *out) {
  char buf[128];
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (!n->live)
      continue;
    shape_format(&n->shape, buf, sizeof buf);
    fprintf(out, "%%%d = %s", n->id, op_names[n->op]);
    for (int s = 0; s < n->nsrc; s++)
      fprintf(out, "%s%%%d", s ? ", " : " ", n->src[s]->id);
    if (n->name)
      fprintf(out, " '%s'", n->name);
    if (n->trans_b)
      fprintf(out, " trans_b");
    if (n->gamma)
      fprintf(out, " gamma=%%%d", n->gamma->id);
    if (n->bias)
      fprintf(out, " bias=%%%d", n->bias->id);
    if (n->bias_offset) /* read in place (fuse.c) */
      fprintf(out, "[+%lld]", (long long)n->bias_offset);
    if (n->op == OP_LAYERNORM)
      fprintf(out, " eps=%g", n->eps);
    if (n->act)
      fprintf(out, " act=%s", n->act == 1 ? "relu" : "gelu");
    if (n->residual)
      fprintf(out, " residual=%%%d%s", n->residual->id, n->res_in_place ? " in_place" : "");
    if (n->prep_kept) /* computed once by PREFIX_prepare (prepare.c), at this byte offset */
      fprintf(out, " prepared[+%lld]", (long long)n->prep_offset);
    else if (n->prep_hoisted)
      fprintf(out, " prepared[temporary]");
    if (n->res_ld) /* read in place (fuse.c) */
      fprintf(out, "[+%lld, rows %lld apart]", (long long)n->res_offset, (long long)n->res_ld);
    if (n->row_group) /* run by rows with the kernels around it (row_groups.c) */
      fprintf(out, " row_group=%d", n->row_group);
    for (int t = 0; t < n->nfused; t++) /* fused elementwise ops */
      fprintf(out, "%s%s", t ? "," : " ops: ", op_names[n->ew[t].op]);
    for (int t = 0; t < n->nsteps; t++) { /* attention score chain */
      const AttnStep *st = &n->steps[t];
      fprintf(out, "%s%s ", t ? ", " : " scores: ", op_names[st->op]);
      if (st->op == OP_WHERE)
        fprintf(out, "%%%d ", n->src[st->cond]->id);
      if (st->operand >= 0)
        fprintf(out, "%%%d", n->src[st->operand]->id);
      else
        fprintf(out, "%g", (double)st->literal);
    }
    if (n->op == OP_ATTENTION && n->attn_probs)
      fprintf(out, " weights"); /* stops at the softmax: its result is P */
    if (n->op == OP_ATTENTION && n->probs_out)
      fprintf(out, " weights=%%%d", n->probs_out->id); /* writes P there too */
    const char *sep = " strided: "; /* attention operands read or written in place */
    for (int v = 0; n->op == OP_ATTENTION && n->views && v < 4; v++)
      if (n->views[v].is_view) {
        fprintf(out, "%s%s", sep, (const char *const[]){"q", "k", "v", "out"}[v]);
        sep = ",";
      }
    fprintf(out, " : %s%s", dtype_name(n->dtype), buf);
    if (n->loc.line)
      fprintf(out, "  ; %s:%d", n->loc.file, n->loc.line);
    if (n->path[0])
      fprintf(out, " %s", n->path);
    fputc('\n', out);
  }
  for (int i = 0; i < g->noutputs; i++)
    fprintf(out, "output '%s' = %%%d\n", g->outputs[i].name, g->outputs[i].node->id);
}

double node_value(const Node *n, int64_t i) {
  switch (n->dtype) {
  case DT_F32: return ((const float *)n->data)[i];
  case DT_I32: return ((const int32_t *)n->data)[i];
  case DT_BOOL: return ((const uint8_t *)n->data)[i];
  }
  return 0;
}

int graph_users(const Graph *g, const Node *n, Node **users, int max) {
  for (int k = 0; k < g->noutputs; k++)
    if (g->outputs[k].node == n)
      return -1;
  return graph_readers(g, n, users, max);
}

int graph_readers(const Graph *g, const Node *n, Node **users, int max) {
  int count = 0;
  for (int i = n->id + 1; i < g->nnodes; i++) {
    Node *m = g->nodes[i];
    bool uses = false;
    for (int s = 0; s < m->nsrc && m->live; s++)
      uses = uses || m->src[s] == n;
    if (uses && count < max)
      users[count] = m;
    count += uses;
  }
  return count;
}

Node *graph_sole_user(const Graph *g, const Node *n) {
  Node *u;
  return graph_users(g, n, &u, 1) == 1 ? u : NULL;
}
