/* pack.c: prepares the kernels' data. Weights are constants, so the GEMM kernel's packed layout is made once.
 * For every matmul whose right operand is one matrix for all its batch items (a Linear
 * weight, transposed or not, or a matrix computed from one), a PACK node is inserted
 * before its first user; one PACK serves every matmul of the same matrix. With embedded
 * weights the packed values of a weight are computed here and written to the C file;
 * otherwise the generated code packs at run time into the workspace. Layout (shared with
 * the kernels' pack_b):
 *   Bp[(p * K + k) * NR + j] = B(k, p * NR + j), zero past N.
 * A product by a weight of a few columns is not packed (pack_skinny).
 * It also sets the scratch workspace of kernels that pack operands as they run. */
#include "attncc.h"

int64_t pack_floats(int64_t k, int64_t n, int nr) { return (n + nr - 1) / nr * nr * k; }

void pack_matrix(int64_t k, int64_t n, const float *b, int64_t ldb_k, int64_t ldb_n, int nr,
                 float *out) {
  for (int64_t p = 0; p * nr < n; p++)
    for (int64_t kk = 0; kk < k; kk++)
      for (int64_t j = 0; j < nr; j++) {
        int64_t col = p * nr + j;
        out[(p * k + kk) * nr + j] = col < n ? b[kk * ldb_k + col * ldb_n] : 0.0f;
      }
}

/* a matrix the GEMM can take packed: one [K, N] (or [N, K]) float matrix for every batch
 * item of the product */
static bool is_matrix(const Node *n) { return n->shape.ndim == 2 && n->dtype == DT_F32; }

static bool is_weight(const Node *n) {
  return (n->op == OP_PARAM || n->op == OP_CONST) && is_matrix(n);
}

static Node *find_pack(Graph *g, Node *w, bool trans) {
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->op == OP_PACK && n->src[0] == w && n->trans_b == trans)
      return n;
  }
  return NULL;
}

static Node *make_pack(Graph *g, Node *w, bool trans, Node *before) {
  Node *p = graph_add(g, OP_PACK, &w, 1, w->loc, w->path);
  p->trans_b = trans;
  p->pk_k = trans ? w->shape.dim[1] : w->shape.dim[0];
  p->pk_n = trans ? w->shape.dim[0] : w->shape.dim[1];
  p->shape.ndim = 1;
  p->shape.dim[0] = pack_floats(p->pk_k, p->pk_n, g->target->gemm_nr);
  p->dtype = DT_F32;
  p->live = true;
  if (w->data) {
    float *packed = xalloc(sizeof(float) * (size_t)p->shape.dim[0]);
    int64_t ldb_k = trans ? 1 : p->pk_n, ldb_n = trans ? p->pk_k : 1;
    pack_matrix(p->pk_k, p->pk_n, w->data, ldb_k, ldb_n, g->target->gemm_nr, packed);
    p->data = packed;
  }
  graph_insert_before(g, p, before);
  return p;
}

/* a product by a weight with at most SKINNY_N columns, stored along K (a Linear weight,
 * [N, K], or a [K, 1] matrix): the skinny kernel (templates/kernels.c) reads it as it is,
 * dot products over K, instead of the GEMM's panels of NR columns, mostly zeros */
#define SKINNY_N 8
bool pack_skinny(const Node *n) {
  if (n->op != OP_MATMUL || !is_weight(n->src[1]))
    return false;
  const int64_t N = n->shape.dim[n->shape.ndim - 1];
  return N <= SKINNY_N && (n->trans_b || N == 1);
}

void pack_weights(Graph *g) {
  graph_prune(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->live && n->op == OP_ATTENTION)
      n->scratch_bytes = emit_attention_scratch(n, g->target->gemm_nr, g->threads);
    if (!n->live || n->op != OP_MATMUL)
      continue;
    /* A weight, or any other matrix shared by the batch items (e.g. a slice of a weight,
     * with weights loaded at run time): packed once by a PACK before the product (at compile
     * time when its values are known), one GEMM over every row of A. An operand with batch
     * dims of its own is packed per product, into the kernel's scratch. */
    if (!is_matrix(n->src[1])) {
      n->scratch_bytes = emit_batched_gemm_scratch(n, g->target->gemm_nr, g->threads);
      continue;
    }
    if (pack_skinny(n))
      continue;
    Node *p = find_pack(g, n->src[1], n->trans_b);
    if (!p) {
      p = make_pack(g, n->src[1], n->trans_b, n);
      i++; /* n moved one place later */
    }
    n->src[1] = p;
    n->scratch_bytes = emit_weight_gemm_scratch(n, g->target, g->threads);
  }
  graph_prune(g);
}
