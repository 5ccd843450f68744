/* debug.h: the record of a model's values that debug builds name their tensors by,
 * shared by debug_emit.c (which writes the tensor table and the hook calls) and
 * debug.c (`attncc debug`, which compares a build with the unfused reference). */
#ifndef ATTNCC_DEBUG_H
#define ATTNCC_DEBUG_H

#include "attncc.h"

/* one node as model.lua created it, before any pass rewrote it */
typedef struct {
  OpCode op;
  Loc loc;
  const char *path;                        /* module path, "" at top level */
  const char *name;                        /* stable: "<path>/<op><k>", e.g. "fc1/matmul0" */
  int *src;                                /* value ids of its sources */
  int nsrc;
} DebugValue;

typedef struct DebugInfo DebugInfo;
struct DebugInfo {
  DebugValue *values;                      /* by value id (= creation index) */
  int nvalues;
};

/* the value node n computes, or NULL for a node the passes made (a weight packing) */
const DebugValue *debug_value(const Graph *g, const Node *n);

#endif
