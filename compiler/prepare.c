/* prepare.c: what `PREFIX_prepare` computes once, for a model whose parameters are loaded
 * at run time. A kernel whose result depends on the parameters (and constants) alone, not
 * on any input (the packed weight matrices above all, also a weight's slice or a relative
 * position bias gathered from its table), gives the same result on every call while the
 * parameters stay the same. `PREFIX_run` computes them each call, as before; the
 * prepared variant computes them once into a caller's buffer (`PREFIX_prepare`) and
 * `PREFIX_run_prepared` reads them from there and skips their kernels.
 *
 * Runs after memplan (it needs the storage classes). A node is hoisted when it has its own
 * kernel writing the workspace (ST_WORK), needs no scratch (PREFIX_prepare has only the
 * workspace slots memplan gave), writes one result (no attention) and reads only
 * run-time parameters, constants and hoisted nodes (through reshape aliases), at least one
 * run-time parameter among them (with embedded weights the constant folding has done that
 * work). A hoisted node is kept, at prep_offset in the prepared buffer, when a node that is
 * not hoisted reads it or an output is it: the frontier. The others are temporaries of
 * PREFIX_prepare, in their workspace slots (each slot is free from a node's birth to its
 * last reader in run order, so also in the hoisted nodes' order). A hoisted node that a
 * product writes over in place (its residual) stays with the run. Then memplan plans the
 * workspace again in two regions, the run's below the hoisted nodes', so that
 * PREFIX_run_prepared needs only the first and PREFIX_prepare only the second. */
#include "attncc.h"

#define ALIGN 64

/* does this source only carry parameter-derived values? (run-time parameter: 2) */
static int source_kind(Node *s) {
  const Node *r = storage_owner(s);
  if (r->storage == ST_PARAM)
    return r->data ? 1 : 2;
  if (r->storage == ST_CONST)
    return 1;
  return r->prep_hoisted ? 2 : 0;
}

static bool hoistable(const Node *n) {
  if (!n->live || n->storage != ST_WORK || op_kinds[n->op] == OK_SIDE || n->scratch_bytes > 0 ||
      n->op == OP_ATTENTION)
    return false;
  int runtime = 0;
  for (int s = 0; s < n->nsrc; s++) {
    int k = source_kind(n->src[s]);
    if (k == 0)
      return false;
    runtime |= k == 2;
  }
  return runtime;
}

void prepare_plan(Graph *g) {
  g->prepared_size = 0;
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    n->prep_hoisted = n->prep_kept = false;
    n->prep_offset = -1;
  }
  if (g->debug) /* a debug build hands every tensor to its hook from its workspace slot: its
                   prepared variant prepares nothing, and runs as PREFIX_run does */
    return;
  for (int i = 0; i < g->nnodes; i++) /* sources come first: one pass in graph order */
    g->nodes[i]->prep_hoisted = hoistable(g->nodes[i]);
  for (int i = 0; i < g->nnodes; i++) { /* a residual written over stays with the run */
    Node *n = g->nodes[i];
    if (n->live && n->res_in_place)
      storage_owner(n->residual)->prep_hoisted = false;
  }
  for (int i = 0; i < g->nnodes; i++) { /* ... and so does what then reads run-time values */
    Node *n = g->nodes[i];
    if (n->prep_hoisted && !hoistable(n))
      n->prep_hoisted = false;
  }
  for (int i = 0; i < g->nnodes; i++) { /* the frontier: read by the run's kernels */
    Node *n = g->nodes[i];
    if (!n->live || n->prep_hoisted || (n->storage != ST_WORK && n->storage != ST_OUTPUT))
      continue;
    for (int s = 0; s < n->nsrc; s++)
      if (storage_owner(n->src[s])->prep_hoisted)
        storage_owner(n->src[s])->prep_kept = true;
  }
  for (int k = 0; k < g->noutputs; k++)
    if (storage_owner(g->outputs[k].node)->prep_hoisted)
      storage_owner(g->outputs[k].node)->prep_kept = true;
  bool any = false;
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    any |= n->prep_hoisted;
    if (!n->prep_kept)
      continue;
    int64_t bytes = shape_numel(&n->shape) * (int64_t)dtype_size(n->dtype);
    n->prep_offset = g->prepared_size;
    g->prepared_size += (bytes + ALIGN - 1) / ALIGN * ALIGN;
  }
  if (any) /* the prepared run's workspace without the marked nodes' slots */
    memplan_split_prepared(g);
}
