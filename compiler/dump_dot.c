/* dump_dot.c: `--dump-graph=dot`: the live graph as one Graphviz digraph. A node per
 * live IR node (inputs, parameters and constants as small shapes, the ops as boxes
 * colored by kind: fused attention, GEMMs with their epilogue, fused elementwise
 * loops, packs), an edge per source, and one node per model output. Render with
 * `dot -Tsvg`. Like graph_dump, it shows the nodes marked live (call graph_prune first). */
#include "attncc.h"

/* s as the inside of a double-quoted dot string: '"' and '\' escaped, newlines as \n */
static const char *dot_escape(const char *s) {
  StrBuf sb = {0};
  for (; *s; s++) {
    if (*s == '\n') {
      sb_puts(&sb, "\\n");
      continue;
    }
    if (*s == '"' || *s == '\\')
      sb_puts(&sb, "\\");
    sb_printf(&sb, "%c", *s);
  }
  const char *r = xstrdup(sb.buf ? sb.buf : "");
  sb_free(&sb);
  return r;
}

/* shape and fill color of a node, by what it is */
static const char *dot_style(const Node *n) {
  switch (op_kinds[n->op]) {
  case OK_LEAF:
    if (n->op == OP_INPUT)
      return "shape=invhouse, style=filled, fillcolor=\"#cfe2ff\"";
    return "shape=note, style=filled, fillcolor=\"#eeeeee\", fontsize=8";
  case OK_ATTENTION:
    return "shape=box, style=\"filled,bold\", fillcolor=\"#ffb870\"";
  case OK_MATMUL:
    return "shape=box, style=filled, fillcolor=\"#fff3a0\"";
  case OK_FUSED:
    return "shape=box, style=filled, fillcolor=\"#b9f0b9\"";
  case OK_PACK:
    return "shape=box, style=\"filled,dashed\", fillcolor=\"#e0e0e0\", fontsize=8";
  case OK_SOFTMAX:
  case OK_REDUCE:
    return "shape=box, style=filled, fillcolor=\"#f5c6e6\"";
  case OK_MOVE:
    return "shape=box, style=rounded";
  default:
    return "shape=box";
  }
}

/* the node's label: "%id op", what is fused into it, dtype[shape], module path */
static const char *dot_label(const Node *n) {
  StrBuf sb = {0};
  char shape[128];
  shape_format(&n->shape, shape, sizeof shape);
  sb_printf(&sb, "%%%d %s", n->id, op_names[n->op]);
  if (n->name)
    sb_printf(&sb, " '%s'", n->name);
  if (n->bias || n->act || n->residual)
    sb_printf(&sb, "\n+%s%s%s", n->bias ? " bias" : "", n->act == 1 ? " relu" : n->act == 2 ? " gelu" : "",
              n->residual ? " residual" : "");
  for (int t = 0; t < n->nsteps; t++)
    sb_printf(&sb, "%s%s", t ? " " : "\nscores:", op_names[n->steps[t].op]);
  for (int t = 0; t < n->nfused; t++)
    sb_printf(&sb, "%s%s", t % 6 ? " " : "\n", op_names[n->ew[t].op]);
  sb_printf(&sb, "\n%s%s", dtype_name(n->dtype), shape);
  if (n->path && n->path[0])
    sb_printf(&sb, "\n%s", n->path);
  const char *r = dot_escape(sb.buf);
  sb_free(&sb);
  return r;
}

void graph_dump_dot(const Graph *g, const char *title, FILE *out) {
  fprintf(out, "digraph \"%s\" {\n", dot_escape(title));
  fprintf(out, "  graph [rankdir=TB, fontname=\"Helvetica\", label=\"%s\", labelloc=t];\n",
          dot_escape(title));
  fprintf(out, "  node [fontname=\"Helvetica\", fontsize=10];\n  edge [arrowsize=0.6];\n");
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (!n->live)
      continue;
    fprintf(out, "  n%d [label=\"%s\", %s];\n", n->id, dot_label(n), dot_style(n));
    for (int s = 0; s < n->nsrc; s++)
      fprintf(out, "  n%d -> n%d;\n", n->src[s]->id, n->id);
  }
  for (int k = 0; k < g->noutputs; k++) {
    fprintf(out, "  out%d [label=\"output '%s'\", shape=house, style=filled, fillcolor=\"#cfe2ff\"];\n",
            k, dot_escape(g->outputs[k].name));
    fprintf(out, "  n%d -> out%d;\n", g->outputs[k].node->id, k);
  }
  fprintf(out, "}\n");
}
