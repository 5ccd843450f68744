/* simplify.c: graph rewrites that keep results identical but save work. Today:
 * matmul(a, transpose(b, -2, -1)) reads b transposed in the kernel (trans_b), so
 * nn.Linear's x @ W^T and q @ k^T copy nothing. Runs before pruning, so the
 * transposes it bypasses become dead. */
#include "attncc.h"

/* a permute that swaps the last two dims and keeps the others */
static bool is_last_two_swap(const Node *n) {
  if (n->op != OP_PERMUTE || n->shape.ndim < 2)
    return false;
  int d = n->shape.ndim;
  for (int i = 0; i < d - 2; i++)
    if (n->perm[i] != i)
      return false;
  return n->perm[d - 2] == d - 1 && n->perm[d - 1] == d - 2;
}

void simplify_run(Graph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->op == OP_MATMUL && !n->trans_b && is_last_two_swap(n->src[1])) {
      n->src[1] = n->src[1]->src[0];
      n->trans_b = true;
    }
  }
}
