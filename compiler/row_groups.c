/* row_groups.c: runs of kernels that the threads can take through together, each thread
 * its own rows of dim 0 (the batch), with no barrier between the kernels. With --threads,
 * every kernel is otherwise its own parallel region, and a small one costs its fork and
 * join: an LSTM at batch 64 runs three small kernels per time step (the recurrent product,
 * two gate loops), and only the product was worth splitting. But every row of a batch goes
 * through the whole recurrence on its own: in a group, thread t runs rows [r0, r1) of
 * every member, one parallel region for the run of kernels.
 *
 * A member: a kernel of the run (not one PREFIX_prepare computes), without scratch, whose
 * result has R rows in dim 0 (R >= threads), and that reads row r of each operand a member
 * before it wrote only for its own row r: a product by a packed weight (rows of A, and of
 * its residual), an elementwise or fused loop (sources of the same shape, or views that
 * stay within their row), a narrow along another dim. Other operands (the caller's, or
 * computed before the group) are read as they are.
 * The workspace is shared and memplan reuses its bytes once a tensor is dead, which a
 * thread cannot know of another thread's rows: two tensors the group touches may share
 * bytes only when both are read and written by rows, at the same offset with rows of the
 * same size (so thread t's bytes are the same in both). A group is at least two members
 * whose work adds up to what one parallel region is worth (attncc.h);
 * --debug builds (the hook between kernels) have none, and --profile (timers around each
 * kernel) emits the members one by one as without groups. */
#include "attncc.h"

#define MAX_TOUCHED 4096

typedef struct {
  int64_t offset, bytes, row_bytes;        /* row_bytes 0: read as a whole by every thread */
  const Node *root;
} Touch;

typedef struct {
  Touch t[MAX_TOUCHED];
  int n;
  int64_t rows;                            /* R */
  int members;
  double work;                             /* in parallel regions' worth (attncc.h) */
} Group;

static int64_t bytes_of(const Node *n) {
  return shape_numel(&n->shape) * (int64_t)dtype_size(n->dtype);
}

/* is node x (a member's result or operand) one of this group's members' results? */
static bool written_in_group(Node *x, int group) {
  return storage_owner(x)->row_group == group;
}

/* does a strided view of src with this shape, strides and offset read, for row r of the
 * result, only row r of src (src has R rows of row_stride elements)? */
static bool view_stays_in_row(const Shape *shape, const int64_t *stride, int64_t offset,
                              int64_t R, int64_t row_stride) {
  if (shape->ndim < 1 || shape->dim[0] != R || stride[0] != row_stride || offset < 0)
    return false;
  int64_t last = offset % row_stride;
  for (int d = 1; d < shape->ndim; d++) {
    if (stride[d] < 0)
      return false;
    last += (shape->dim[d] - 1) * stride[d];
  }
  return offset / row_stride == 0 && last < row_stride;
}

/* How member n reads source i: 1 by rows (row r for its row r), 0 as a whole, -1 in a way a
 * member may not read what the group writes. */
static int read_by_rows(const Node *n, int i, int64_t R) {
  const Node *s = n->src[i];
  if (s->shape.ndim < 1 || s->shape.dim[0] != R)
    return 0;
  const int64_t row_stride = shape_numel(&s->shape) / R;
  switch (op_kinds[n->op]) {
  case OK_MATMUL: /* A by rows; the residual's rows at res_offset + m * ldr */
    if (i == 0)
      return 1;
    if (s == n->residual) {
      const int64_t N = n->shape.dim[n->shape.ndim - 1], rows = shape_numel(&n->shape) / N;
      const int64_t ldr = n->res_ld ? n->res_ld : N;
      return (rows / R) * ldr == row_stride && n->res_offset < ldr ? 1 : -1;
    }
    return s == n->bias ? 0 : -1;
  case OK_FUSED: /* a view's dims align with the node's from the right (emit_fused) */
    if (n->views[i].is_view)
      return n->views[i].shape.ndim == n->shape.ndim &&
                     view_stays_in_row(&n->views[i].shape, n->views[i].stride,
                                       n->views[i].offset, R, row_stride)
                 ? 1
                 : -1;
    return shape_equal(&s->shape, &n->shape) ? 1 : -1;
  case OK_MOVE: /* a narrow along a later dim: row r of the source */
    return 1;
  default:
    return shape_equal(&s->shape, &n->shape) ? 1 : -1;
  }
}

/* can n be a member of a group of R rows (leaving aside what its operands share)? */
static bool row_kernel(const Graph *g, const Node *n, int64_t R) {
  if (!n->live || n->prep_hoisted || n->scratch_bytes > 0 || n->shape.ndim < 1 ||
      n->shape.dim[0] != R || (n->storage != ST_WORK && n->storage != ST_OUTPUT))
    return false;
  switch (op_kinds[n->op]) {
  case OK_MATMUL: {
    if (n->src[1]->op != OP_PACK || n->src[0]->shape.ndim < 2 || n->src[0]->shape.dim[0] != R)
      return false;
    const int64_t N = n->shape.dim[n->shape.ndim - 1], K = last_dim(n->src[0]);
    const int64_t chunk = (R + g->threads - 1) / g->threads;
    return target_gemm_ws_floats(g->target, chunk * (shape_numel(&n->shape) / N / R), N, K) == 0;
  }
  case OK_FUSED:
  case OK_UNARY:
  case OK_BINARY:
  case OK_COMPARE:
  case OK_WHERE:
    return true;
  case OK_MOVE:
    return n->op == OP_SLICE && n->axis != 0;
  default:
    return false;
  }
}

/* what member n's work is worth split between threads, in units of the threshold that
 * alone would split it */
static double member_work(const Node *n) {
  if (op_kinds[n->op] == OK_MATMUL)
    return 2.0 * (double)shape_numel(&n->shape) * (double)last_dim(n->src[0]) / MIN_PARALLEL_FLOPS;
  return (double)shape_numel(&n->shape) / MIN_PARALLEL_ELEMENTS;
}

/* may the group touch x (by rows when row_bytes > 0)? Then it is recorded. */
static bool touch(Group *G, Node *x, bool by_rows) {
  const Node *r = storage_owner(x);
  if (r->storage != ST_WORK)
    return true; /* the caller's, constants, parameters: never written by the run */
  Touch nt = {r->offset, bytes_of(r), by_rows ? bytes_of(x) / G->rows : 0, r};
  for (int i = 0; i < G->n; i++) {
    const Touch *e = &G->t[i];
    if (e->root == r) {
      if (e->row_bytes != nt.row_bytes)
        return false;
      continue;
    }
    bool overlap = e->offset < nt.offset + nt.bytes && nt.offset < e->offset + e->bytes;
    if (overlap && !(e->row_bytes && nt.row_bytes && e->offset == nt.offset &&
                     e->row_bytes == nt.row_bytes))
      return false;
  }
  if (G->n == MAX_TOUCHED)
    return false;
  G->t[G->n++] = nt;
  return true;
}

/* adds n to group `id` when what it reads and writes allows it */
static bool try_add(Group *G, Node *n, int id) {
  const int saved = G->n;
  for (int i = 0; i < n->nsrc; i++) {
    int how = read_by_rows(n, i, G->rows);
    bool inside = written_in_group(n->src[i], id);
    if ((inside && how != 1) || !touch(G, n->src[i], inside || how == 1)) {
      G->n = saved;
      return false;
    }
  }
  if (!touch(G, n, true)) {
    G->n = saved;
    return false;
  }
  n->row_group = id;
  G->members++;
  G->work += member_work(n);
  return true;
}

static void close_group(Graph *g, Group *G, int id) {
  if (G->members >= 2 && G->work >= 1.0)
    return;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->row_group == id)
      g->nodes[i]->row_group = 0;
}

void row_groups(Graph *g) {
  for (int i = 0; i < g->nnodes; i++)
    g->nodes[i]->row_group = 0;
  if (g->threads <= 1 || g->debug)
    return;
  static Group G;
  int id = 0;
  G.members = 0;
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (!emit_has_kernel(n))
      continue; /* aliases, leaves, a kernel's second result */
    if (G.members > 0 && row_kernel(g, n, G.rows) && try_add(&G, n, id))
      continue;
    if (G.members > 0)
      close_group(g, &G, id);
    G.members = 0;
    G.n = 0;
    G.work = 0;
    const int64_t R = n->shape.ndim ? n->shape.dim[0] : 0;
    if (R >= g->threads && row_kernel(g, n, R)) {
      G.rows = R;
      if (!try_add(&G, n, ++id))
        G.members = 0;
    }
  }
  if (G.members > 0)
    close_group(g, &G, id);
}
