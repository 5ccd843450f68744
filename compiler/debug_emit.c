/* debug_emit.c: what `attncc --debug` adds to the generated code. The run function
 * calls a hook after every kernel with the tensor it just computed, and a table
 * describes each such tensor: a stable name, the model.lua op whose value it is,
 * the kernel that computed it (and the other ops that kernel fused), file:line,
 * module path, dtype and shape. Names come from debug_record, taken before the
 * passes, so the same value has the same name with or without fusion. */
#include "debug.h"

#include <ctype.h>
#include <string.h>

void debug_record(Graph *g) {
  DebugInfo *d = xalloc(sizeof *d);
  d->nvalues = g->nnodes;
  d->values = xalloc(sizeof(DebugValue) * (size_t)(g->nnodes + 1));
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    DebugValue *v = &d->values[i];
    ATTN_ASSERT(n->value_id == i);
    v->op = n->op;
    v->loc = n->loc;
    v->path = n->path;
    v->nsrc = n->nsrc;
    v->src = xalloc(sizeof(int) * (size_t)(n->nsrc + 1));
    for (int s = 0; s < n->nsrc; s++)
      v->src[s] = n->src[s]->value_id;
    int k = 0; /* earlier values of the same op in the same module */
    for (int j = 0; j < i; j++)
      k += d->values[j].op == n->op && !strcmp(d->values[j].path, n->path);
    v->name = n->path[0] ? xformat("%s/%s%d", n->path, op_names[n->op], k)
                         : xformat("%s%d", op_names[n->op], k);
  }
  g->debug = d;
}

const DebugValue *debug_value(const Graph *g, const Node *n) {
  if (!g->debug || n->value_id >= g->debug->nvalues)
    return NULL;
  return &g->debug->values[n->value_id];
}

bool debug_tapped(const Graph *g, const Node *n) {
  return n->live && (n->storage == ST_WORK || n->storage == ST_OUTPUT) && n->op != OP_PACK &&
         debug_value(g, n);
}

/* position of n among the tapped nodes: its index in the tensor table */
static int tap_index(const Graph *g, const Node *n) {
  int k = 0;
  for (int i = 0; i < g->nnodes && g->nodes[i] != n; i++)
    k += debug_tapped(g, g->nodes[i]);
  return k;
}

/* what computes n: its op, or the fused kernel ("matmul+bias+relu", "fused(sub,mul)") */
static const char *kernel_name(const Node *n) {
  StrBuf sb = {0};
  if (n->op == OP_FUSED) {
    sb_puts(&sb, "fused(");
    for (int k = 0; k < n->nfused; k++)
      sb_printf(&sb, "%s%s", k ? "," : "", op_names[n->ew[k].op]);
    sb_puts(&sb, ")");
  } else {
    sb_puts(&sb, op_names[n->op]);
    if (n->bias)
      sb_puts(&sb, "+bias");
    if (n->act)
      sb_puts(&sb, n->act == 1 ? "+relu" : "+gelu");
    if (n->residual)
      sb_puts(&sb, "+residual");
  }
  const char *r = xstrdup(sb.buf);
  sb_free(&sb);
  return r;
}

static void mark_covered(const DebugInfo *d, int v, const bool *stop, bool *covered) {
  if (v >= d->nvalues || stop[v] || covered[v])
    return;
  OpKind kind = op_kinds[d->values[v].op];
  if (kind == OK_LEAF)
    return;
  covered[v] = true;
  for (int s = 0; s < d->values[v].nsrc; s++)
    mark_covered(d, d->values[v].src[s], stop, covered);
}

/* the values n's kernel computes ("fc1/matmul0@m.lua:10, fc1/add0@m.lua:10"), "" for one */
static const char *covered_ops(const Graph *g, const Node *n) {
  const DebugInfo *d = g->debug;
  bool *stop = xalloc((size_t)d->nvalues + 1), *covered = xalloc((size_t)d->nvalues + 1);
  for (int i = 0; i < g->nnodes; i++) { /* values stored by someone else */
    const Node *m = g->nodes[i];
    if (m != n && m->live && m->value_id < d->nvalues)
      stop[m->value_id] = true;
  }
  for (int s = 0; s < n->nsrc; s++)
    if (n->src[s]->value_id < d->nvalues)
      stop[n->src[s]->value_id] = true;
  mark_covered(d, n->value_id, stop, covered);
  StrBuf sb = {0};
  int count = 0;
  for (int v = 0; v < d->nvalues; v++) {
    if (!covered[v])
      continue;
    const DebugValue *x = &d->values[v];
    sb_printf(&sb, "%s%s@%s:%d", count++ ? ", " : "", x->name, x->loc.file, x->loc.line);
  }
  const char *r = count > 1 ? xstrdup(sb.buf) : "";
  sb_free(&sb);
  return r;
}

/* the tapped node the planted fault (tests only) goes into: the first whose name,
 * op or kernel is o->fault */
static bool fault_here(const Graph *g, const EmitOptions *o, const Node *n) {
  if (!o->fault || !*o->fault)
    return false;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *m = g->nodes[i];
    if (!debug_tapped(g, m))
      continue;
    const DebugValue *v = debug_value(g, m);
    if (!strcmp(v->name, o->fault) || !strcmp(op_names[v->op], o->fault) ||
        !strcmp(kernel_name(m), o->fault))
      return m == n;
  }
  return false;
}

void debug_emit_tap(StrBuf *calls, const Graph *g, const EmitOptions *o, const Node *n,
                    const char *ptr) {
  if (!debug_tapped(g, n))
    return;
  if (fault_here(g, o, n)) {
    long long at = (long long)(shape_numel(&n->shape) / 2);
    const char *e = n->dtype == DT_F32 ? xformat("%s[%lld] = %s[%lld] * 1.5f + 0.5f", ptr, at, ptr, at)
                    : n->dtype == DT_I32 ? xformat("%s[%lld] += 1", ptr, at)
                                         : xformat("%s[%lld] = !%s[%lld]", ptr, at, ptr, at);
    sb_printf(calls, "  %s; /* ATTNCC_FAULT: a planted error (attncc's tests) */\n", e);
  }
  sb_printf(calls, "  if (%s_debug_hook_fn)\n    %s_debug_hook_fn(%d, %s, %s_debug_user);\n",
            o->prefix, o->prefix, tap_index(g, n), ptr, o->prefix);
}

static int tap_count(const Graph *g) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    k += debug_tapped(g, g->nodes[i]);
  return k;
}

void debug_emit_table(StrBuf *sb, const Graph *g, const EmitOptions *o) {
  bool planted = !o->fault || !*o->fault;
  for (int i = 0; i < g->nnodes && !planted; i++)
    planted = fault_here(g, o, g->nodes[i]);
  if (!planted)
    fprintf(stderr, "attncc: warning: ATTNCC_FAULT=%s names no tensor of this build\n", o->fault);
  sb_printf(sb, "\n/* ---- debug build: every tensor the run function computes ---- */\n"
                "static attncc_debug_hook %s_debug_hook_fn;\nstatic void *%s_debug_user;\n\n"
                "void %s_set_debug_hook(attncc_debug_hook hook, void *user) {\n"
                "  %s_debug_hook_fn = hook;\n  %s_debug_user = user;\n}\n\n",
            o->prefix, o->prefix, o->prefix, o->prefix, o->prefix);
  sb_printf(sb, "const attncc_debug_tensor %s_debug_tensors[] = {\n", o->prefix);
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (!debug_tapped(g, n))
      continue;
    const DebugValue *v = debug_value(g, n);
    sb_printf(sb, "  {%s, \"%s\", %s, %s, %s, %d, %s, %d, %d, {", c_string_literal(v->name),
              op_names[v->op], c_string_literal(kernel_name(n)),
              c_string_literal(covered_ops(g, n)), c_string_literal(v->loc.file ? v->loc.file : ""),
              v->loc.line, c_string_literal(v->path), (int)n->dtype, n->shape.ndim);
    for (int d = 0; d < n->shape.ndim; d++)
      sb_printf(sb, "%s%lld", d ? ", " : "", (long long)n->shape.dim[d]);
    sb_printf(sb, "}, %lld},\n", (long long)shape_numel(&n->shape));
  }
  sb_puts(sb, "  {NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, 0, {0}, 0},\n};\n");
}

void debug_emit_header(StrBuf *sb, const Graph *g, const EmitOptions *o) {
  char *up = xstrdup(o->prefix);
  for (char *p = up; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  sb_puts(sb, "\n#ifndef ATTNCC_DEBUG_TENSOR_DEFINED\n#define ATTNCC_DEBUG_TENSOR_DEFINED\n"
              "/* One tensor of a debug build (attncc --debug). */\ntypedef struct {\n"
              "  const char *name;   /* stable: \"<module path>/<op><k>\", e.g. \"fc1/matmul0\" */\n"
              "  const char *op;     /* the model.lua op whose value this is */\n"
              "  const char *kernel; /* what computed it: the op or a fused kernel */\n"
              "  const char *covers; /* the ops that kernel computes, \"\" when only op */\n"
              "  const char *file;   /* where model.lua made op */\n  int line;\n"
              "  const char *path;   /* module path, \"\" at top level */\n"
              "  int dtype;          /* 0 float32, 1 int32, 2 bool (uint8_t) */\n"
              "  int ndim;\n  long long shape[8];\n  long long numel;\n} attncc_debug_tensor;\n"
              "typedef void (*attncc_debug_hook)(int index, const void *data, void *user);\n"
              "#endif\n\n");
  sb_printf(sb, "/* Debug build: %s_run calls the hook with each tensor of this table (by index)\n"
                " * as soon as it is computed. Its bytes may be reused later: copy them. The\n"
                " * table ends with a NULL name. */\n#define %s_DEBUG_NUM_TENSORS %d\n"
                "extern const attncc_debug_tensor %s_debug_tensors[];\n"
                "void %s_set_debug_hook(attncc_debug_hook hook, void *user);\n",
            o->prefix, up, tap_count(g), o->prefix, o->prefix);
}
