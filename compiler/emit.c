/* emit.c: writes the standalone C file and its header from a planned graph. Every
 * live node becomes one kernel function (identical ones shared), called in graph order;
 * shapes and strides are constants. Elementwise ops, broadcasts, permutes, slices and
 * concatenations are strided loop nests (emit_loops.c); matmul (emit_gemm.c), layernorm,
 * softmax and the reductions call the kernels of templates/, whose sections the model uses
 * are copied into the output; a fused attention's body comes from emit_attention.c. */
#include "attncc.h"
#include "emit_internal.h"

#include <ctype.h>
#include <string.h>

/* ---- names ---- */

static char *c_ident(const char *s) {
  char *r = xalloc(strlen(s) + 3);
  char *p = r;
  if (isdigit((unsigned char)s[0]))
    *p++ = '_';
  for (; *s; s++)
    *p++ = (isalnum((unsigned char)*s) || *s == '_') ? *s : '_';
  return r;
}

static char *upper(const char *s) {
  char *r = xstrdup(s);
  for (char *p = r; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  return r;
}

/* The C field name of a param: its state_dict name with '.' -> '_', made unique. */
const char *emit_param_field(const Graph *g, const Node *param) {
  const char *base = c_ident(param->name);
  int dup = 0;
  for (int i = 0; i < g->nparams && g->params[i] != param; i++)
    if (!strcmp(c_ident(g->params[i]->name), base))
      dup++;
  return dup ? xformat("%s_%d", base, dup) : base;
}

static const char *input_var(const Node *n) { return xformat("in_%s", c_ident(n->name)); }
static const char *output_var(const Graph *g, int k) {
  return xformat("out_%s", c_ident(g->outputs[k].name));
}

/* Where a reference points. With run-time weights one forward function serves PREFIX_run
 * and PREFIX_run_prepared: what PREFIX_prepare keeps (prepare.c) it reads through a local
 * pointer h<id>, into the prepared buffer when there is one, else into the workspace where
 * the forward's own guarded calls computed it. */
typedef enum {
  REF_RUN,     /* every node where memplan put it */
  REF_FORWARD, /* kept prepared nodes through their h<id> pointer */
  REF_PREPARE  /* kept prepared nodes in the prepared buffer, pp; the other marked ones in
                  PREFIX_prepare's workspace, their region of PREFIX_run's */
} RefMode;

/* pointer expression for a node's data, with its C element type */
static const char *ref_in(const Graph *g, const EmitOptions *o, const Node *n, RefMode m) {
  switch (n->storage) {
  case ST_INPUT:
    return input_var(n);
  case ST_PARAM:
    return o->embed_weights ? xformat("%s_w_%s", o->prefix, emit_param_field(g, n))
                            : xformat("params->%s", emit_param_field(g, n));
  case ST_CONST:
    return xformat("%s_c%d", o->prefix, n->id);
  case ST_WORK:
    if (n->prep_kept && m == REF_FORWARD)
      return xformat("h%d", n->id);
    if (n->prep_kept && m == REF_PREPARE)
      return xformat("((%s *)(pp + %lld))", dtype_ctype(n->dtype), (long long)n->prep_offset);
    if (m == REF_PREPARE) /* PREFIX_prepare's workspace is the region of the marked nodes */
      return xformat("((%s *)(ws + %lld))", dtype_ctype(n->dtype),
                     (long long)(n->offset - g->run_prepared_workspace_size));
    return xformat("((%s *)(ws + %lld))", dtype_ctype(n->dtype), (long long)n->offset);
  case ST_OUTPUT:
    return output_var(g, n->out_index);
  case ST_ALIAS:
    return ref_in(g, o, n->alias_of, m);
  case ST_NONE:
    break;
  }
  internal_error(__FILE__, __LINE__, "reference to an unplanned node");
}

static const char *ref(const Graph *g, const EmitOptions *o, const Node *n) {
  return ref_in(g, o, n, o->embed_weights ? REF_RUN : REF_FORWARD);
}

/* text[0..len) with every "PREFIX_" replaced by "<prefix>_" */
static void put_prefixed(StrBuf *sb, const char *text, size_t len, const char *prefix) {
  const char *q = text, *stop = text + len;
  while (q < stop) {
    const char *hit = strstr(q, "PREFIX_");
    if (!hit || hit >= stop) {
      sb_printf(sb, "%.*s", (int)(stop - q), q);
      break;
    }
    sb_printf(sb, "%.*s%s_", (int)(hit - q), q, prefix);
    q = hit + strlen("PREFIX_");
  }
}

/* ---- layernorm, softmax, reductions, gather (matmul: emit_gemm.c) ---- */

#ifndef MIN_PARALLEL_LAYERNORM
#define MIN_PARALLEL_LAYERNORM 65536 /* values from which a LayerNorm's rows are split */
#endif

/* rows of src0 (+ residual) normalized, then * gamma + bias: sources in that order */
static void emit_layernorm(StrBuf *sb, const EmitOptions *o, const Node *n) {
  int64_t d = n->shape.ndim ? n->shape.dim[n->shape.ndim - 1] : 1;
  int s = 1;
  const char *r = n->residual ? xformat("s%d", s++) : "NULL";
  const char *w = n->gamma ? xformat("s%d", s++) : "NULL";
  const char *b = n->bias ? xformat("s%d", s++) : "NULL";
  StrBuf eps = {0};
  emit_float_literal(&eps, n->eps);
  const long long rows = (long long)(shape_numel(&n->shape) / d);
  int t = o->threads;
  if (t <= 1 || rows < 2 * t || rows * d < MIN_PARALLEL_LAYERNORM) {
    sb_printf(sb, "  %s_layernorm(%lld, %lld, s0, %s, %s, %s, %s, y);\n", o->prefix, rows,
              (long long)d, r, w, b, eps.buf);
  } else { /* rows split between the threads (x, the residual and y are rows x d) */
    const long long chunk = (rows + t - 1) / t;
    emit_thread_range(sb, t, chunk, rows, "r0", "r1");
    sb_printf(sb, "    if (r0 < r1)\n      %s_layernorm(r1 - r0, %lld, s0 + r0 * %lld, %s, %s, %s, %s, "
                  "y + r0 * %lld);\n  }\n", o->prefix, (long long)d, (long long)d,
              n->residual ? xformat("%s + r0 * %lld", r, (long long)d) : "NULL", w, b, eps.buf,
              (long long)d);
  }
  sb_free(&eps);
}

/* a PACK computed at run time (weights loaded by the application) */
static void emit_pack(StrBuf *sb, const EmitOptions *o, const Node *n) {
  int64_t ldb_k = n->trans_b ? 1 : n->pk_n, ldb_n = n->trans_b ? n->pk_k : 1;
  sb_printf(sb, "  %s_pack_b(%lld, %lld, s0, %lld, %lld, y);\n", o->prefix, (long long)n->pk_k,
            (long long)n->pk_n, (long long)ldb_k, (long long)ldb_n);
}

static void outer_inner(const Shape *s, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
  *outer = *inner = 1;
  for (int d = 0; d < axis; d++)
    *outer *= s->dim[d];
  for (int d = axis + 1; d < s->ndim; d++)
    *inner *= s->dim[d];
  *len = s->dim[axis];
}

#ifndef MIN_PARALLEL_SOFTMAX
#define MIN_PARALLEL_SOFTMAX 16384 /* values from which a softmax or reduction is split */
#endif

/* the threads a kernel over `outer` independent slices of `values` values in all runs on:
 * the slices split in equal chunks, as elementwise loops split their outer dim */
static int outer_threads(int threads, int64_t outer, int64_t values) {
  return threads > 1 && outer >= 2 && values >= MIN_PARALLEL_SOFTMAX
             ? (outer < threads ? (int)outer : threads)
             : 1;
}

static void emit_softmax(StrBuf *sb, const EmitOptions *o, const Node *n) {
  int64_t outer, len, inner;
  outer_inner(&n->shape, n->axis, &outer, &len, &inner);
  const int t = outer_threads(o->threads, outer, shape_numel(&n->shape));
  if (t == 1) {
    sb_printf(sb, "  %s_softmax(s0, y, %lld, %lld, %lld, %d);\n", o->prefix, (long long)outer,
              (long long)len, (long long)inner, n->log ? 1 : 0);
    return;
  }
  const long long slice = (long long)(len * inner);
  emit_thread_range(sb, t, (outer + t - 1) / t, outer, "o0", "o1");
  sb_printf(sb, "    if (o0 < o1)\n      %s_softmax(s0 + o0 * %lld, y + o0 * %lld, o1 - o0, %lld, "
                "%lld, %d);\n  }\n", o->prefix, slice, slice, (long long)len, (long long)inner,
            n->log ? 1 : 0);
}

/* a float reduction along contiguous rows: the vectorized row kernels */
static bool row_reduce(const Node *n) {
  int64_t outer, len, inner;
  outer_inner(&n->src[0]->shape, n->axis, &outer, &len, &inner);
  return inner == 1 && n->src[0]->dtype == DT_F32;
}

static void emit_reduce(StrBuf *sb, const EmitOptions *o, const Node *n) {
  const Node *a = n->src[0];
  int64_t outer, len, inner;
  outer_inner(&a->shape, n->axis, &outer, &len, &inner);
  const int t = outer_threads(o->threads, outer, shape_numel(&a->shape));
  const char *loop = xformat("  for (int64_t o = 0; o < %lld; o++)\n", (long long)outer);
  if (t > 1) { /* thread t: its chunk of the outer index */
    emit_thread_range(sb, t, (outer + t - 1) / t, outer, "o0", "o1");
    loop = "  for (int64_t o = o0; o < o1; o++)\n";
  }
  if (row_reduce(n)) {
    sb_puts(sb, loop);
    sb_printf(sb, "    y[o] = %s_row_%s(s0 + o * %lld, %lld)%s;\n", o->prefix,
              n->op == OP_AMAX ? "max" : "sum", (long long)len, (long long)len,
              n->op == OP_MEAN ? xformat(" / %lld.0f", (long long)len) : "");
    if (t > 1)
      sb_puts(sb, "  }\n");
    return;
  }
  /* along a strided axis: per outer index, the inner columns in chunks of up to 64
   * accumulate row after row (r outer, the chunk's columns inner and contiguous, so the
   * loop vectorizes; each column is still summed in r order). The loop order r inner, each
   * column walked at a stride, ran 0.15 ms for a [64,128,64] sum over dim 1 (the LSTM
   * pooling's weighted sum at batch 64), scalar. */
  const char *acc_t = dtype_ctype(n->dtype == DT_F32 ? DT_F32 : DT_I32);
  const long long ch = inner < 64 ? inner : 64, col = (long long)inner, rows = (long long)len;
  const bool whole = inner % ch == 0; /* every chunk full: a constant trip count */
  sb_puts(sb, loop);
  sb_printf(sb, "    for (int64_t i0 = 0; i0 < %lld; i0 += %lld) {\n", col, ch);
  if (whole)
    sb_printf(sb, "      const int64_t ni = %lld;\n", ch);
  else
    sb_printf(sb, "      const int64_t ni = %lld - i0 < %lld ? %lld - i0 : %lld;\n", col, ch, col,
              ch);
  sb_printf(sb, "      %s acc[%lld];\n", acc_t, ch);
  sb_printf(sb, "      const int64_t x0 = o * %lld + i0;\n", rows * col);
  sb_printf(sb, "      for (int64_t i = 0; i < ni; i++)\n        acc[i] = %s;\n",
            n->op == OP_AMAX ? "s0[x0 + i]" : "0");
  sb_printf(sb, "      for (int64_t r = %d; r < %lld; r++)\n", n->op == OP_AMAX ? 1 : 0, rows);
  sb_puts(sb, "        for (int64_t i = 0; i < ni; i++) {\n");
  sb_printf(sb, "          const %s v = s0[x0 + r * %lld + i];\n", acc_t, col);
  if (n->op == OP_AMAX)
    sb_puts(sb, "          acc[i] = v > acc[i] || v != v ? v : acc[i];\n");
  else
    sb_puts(sb, "          acc[i] += v;\n");
  sb_puts(sb, "        }\n");
  sb_puts(sb, "      for (int64_t i = 0; i < ni; i++)\n");
  if (n->op == OP_MEAN)
    sb_printf(sb, "        y[o * %lld + i0 + i] = acc[i] / %lld.0f;\n", col, rows);
  else
    sb_printf(sb, "        y[o * %lld + i0 + i] = (%s)acc[i];\n", col, dtype_ctype(n->dtype));
  sb_puts(sb, "    }\n");
  if (t > 1)
    sb_puts(sb, "  }\n");
}

static void emit_gather(StrBuf *sb, const Node *n) {
  const Node *t = n->src[0], *ix = n->src[1];
  int64_t rows = t->shape.dim[0], rowlen = shape_numel(&t->shape) / rows;
  sb_printf(sb, "  for (int64_t r = 0; r < %lld; r++) {\n", (long long)shape_numel(&ix->shape));
  sb_puts(sb, "    int64_t k = (int64_t)s1[r];\n");
  sb_printf(sb, "    if (k < 0) k += %lld;\n", (long long)rows);
  sb_printf(sb, "    if (k < 0 || k >= %lld) { *status = 1; k = 0; }\n", (long long)rows);
  sb_printf(sb, "    memcpy(y + r * %lld, s0 + k * %lld, %lld * sizeof(%s));\n",
            (long long)rowlen, (long long)rowlen, (long long)rowlen, dtype_ctype(n->dtype));
  sb_puts(sb, "  }\n");
}

/* the loops of node n, over kernel parameters y (result) and s0, s1, ... (sources); in a
 * row group (row_groups.c) over rows [r0, r1) of its dim 0 */
static void kernel_body(StrBuf *sb, const EmitOptions *o, const Node *n) {
  if (emit_in_row_group(o, n)) {
    if (op_kinds[n->op] == OK_MATMUL)
      emit_matmul_rows(sb, o, n);
    else if (n->op == OP_SLICE)
      emit_slice(sb, n, EMIT_ROW_RANGE);
    else if (n->op == OP_FUSED)
      emit_fused(sb, n, EMIT_ROW_RANGE);
    else
      emit_elementwise(sb, n, EMIT_ROW_RANGE);
    return;
  }
  switch (op_kinds[n->op]) {
  case OK_UNARY:
  case OK_BINARY:
  case OK_COMPARE:
  case OK_WHERE:
    emit_elementwise(sb, n, o->threads);
    break;
  case OK_MATMUL:
    emit_matmul(sb, o, n);
    break;
  case OK_MOVE:
    if (n->op == OP_PERMUTE)
      emit_permute(sb, n, o->threads);
    else if (n->op == OP_SLICE)
      emit_slice(sb, n, o->threads);
    else
      emit_cat(sb, n, o->threads);
    break;
  case OK_GATHER:
    emit_gather(sb, n);
    break;
  case OK_SOFTMAX:
    emit_softmax(sb, o, n);
    break;
  case OK_REDUCE:
    emit_reduce(sb, o, n);
    break;
  case OK_PACK:
    emit_pack(sb, o, n);
    break;
  case OK_ATTENTION:
    emit_attention(sb, o, n);
    break;
  case OK_FUSED:
    emit_fused(sb, n, o->threads);
    break;
  case OK_LAYERNORM:
    emit_layernorm(sb, o, n);
    break;
  case OK_LEAF:
  case OK_SIDE: /* written by its source's kernel */
    break;
  }
}

bool emit_uses_word(const char *text, const char *word) {
  size_t n = strlen(word);
  for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
    bool left = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
    bool right = !(isalnum((unsigned char)p[n]) || p[n] == '_');
    if (left && right)
      return true;
  }
  return false;
}

bool emit_has_kernel(const Node *n) {
  return n->live && (n->storage == ST_WORK || n->storage == ST_OUTPUT) &&
         op_kinds[n->op] != OK_SIDE; /* (written by its source's kernel) */
}

int emit_kernel_calls(const Graph *g) {
  int calls = 0;
  for (int i = 0; i < g->nnodes; i++)
    calls += emit_has_kernel(g->nodes[i]);
  return calls;
}

/* Kernels: one static function per distinct body, so repeated layers share code. */
typedef struct {
  StrBuf defs;                             /* the kernel functions */
  StrBuf calls;                            /* the run function's body */
  StrBuf prep_calls;                       /* PREFIX_prepare's body (run-time weights) */
  StrBuf what;                             /* --profile: each call's label, a C string */
  StrBuf flops;                            /* --profile: each call's products' FLOPs */
  int ncalls;
  const char **keys;                       /* signature + body of each kernel */
  int n, cap;
} Kernels;

/* elements from the start of the source a node's kernel argument points at */
static int64_t src_arg_offset(const Node *n, int i) {
  if (n->op == OP_FUSED || (n->op == OP_ATTENTION && n->views && i < 3))
    return n->views[i].is_view ? n->views[i].offset : 0;
  if (n->op != OP_SLICE || i != 0)
    return 0;
  int64_t inner = 1;
  for (int d = n->axis + 1; d < n->src[0]->shape.ndim; d++)
    inner *= n->src[0]->shape.dim[d];
  return n->start * inner;
}

static int kernel_find_or_add(Kernels *k, const char *key) {
  for (int i = 0; i < k->n; i++)
    if (!strcmp(k->keys[i], key))
      return i;
  if (k->n == k->cap) {
    k->cap = k->cap ? 2 * k->cap : 64;
    const char **p = xalloc(sizeof *p * (size_t)k->cap);
    if (k->n)
      memcpy(p, k->keys, sizeof *p * (size_t)k->n);
    k->keys = p;
  }
  k->keys[k->n] = key;
  return k->n++;
}

/* the arguments of node n's kernel call, in the order of its parameters (emit_node) */
static const char *node_args(const Graph *g, const EmitOptions *o, const Node *n,
                             const char *body, RefMode m) {
  StrBuf args = {0};
  sb_puts(&args, ref_in(g, o, n, m));
  for (int i = 0; i < n->nsrc; i++) {
    if (!emit_uses_word(body, xformat("s%d", i)))
      continue;
    int64_t off = src_arg_offset(n, i);
    sb_printf(&args, off ? ", %s + %lld" : ", %s", ref_in(g, o, n->src[i], m), (long long)off);
  }
  if (n->op == OP_ATTENTION && n->probs_out) /* its second result */
    sb_printf(&args, ", %s", ref_in(g, o, n->probs_out, m));
  if (emit_uses_word(body, "scratch"))
    sb_printf(&args, ", (float *)(ws + %lld)", (long long)n->scratch_offset);
  if (emit_uses_word(body, "status"))
    sb_puts(&args, ", &status");
  if (emit_in_row_group(o, n))
    sb_puts(&args, ", r0, r1");
  const char *r = xstrdup(args.buf);
  sb_free(&args);
  return r;
}

static void emit_node(Kernels *k, const Graph *g, const EmitOptions *o, const Node *n) {
  StrBuf raw = {0}, body = {0};
  kernel_body(&raw, o, n);
  if (raw.buf) /* expressions name the math kernels as PREFIX_tanh etc. */
    put_prefixed(&body, raw.buf, raw.len, o->prefix);
  sb_free(&raw);
  /* parameters: the result, the sources the body reads, the status flag; a result
   * written over its residual (memplan) shares that pointer, so neither is restrict */
  StrBuf sig = {0};
  sb_printf(&sig, "%s *%sy", dtype_ctype(n->dtype), n->res_in_place ? "" : "restrict ");
  for (int i = 0; i < n->nsrc; i++) {
    const char *name = xformat("s%d", i);
    if (emit_uses_word(body.buf, name))
      sb_printf(&sig, ", const %s *%s%s", dtype_ctype(n->src[i]->dtype),
                n->res_in_place && n->src[i] == n->residual ? "" : "restrict ", name);
  }
  if (n->op == OP_ATTENTION && n->probs_out)
    sb_puts(&sig, ", float *restrict yp");
  if (emit_uses_word(body.buf, "scratch"))
    sb_puts(&sig, ", float *restrict scratch");
  if (emit_uses_word(body.buf, "status"))
    sb_puts(&sig, ", int *restrict status");
  if (emit_in_row_group(o, n))
    sb_puts(&sig, ", int64_t r0, int64_t r1");
  const char *key = xformat("(%s) {\n%s}\n", sig.buf, body.buf);
  int before = k->n, id = kernel_find_or_add(k, key);
  if (id == before)
    sb_printf(&k->defs, "static %s_NOINLINE void %s_k%d%s\n", o->prefix, o->prefix, id, key);
  char shape[128];
  shape_format(&n->shape, shape, sizeof shape);
  StrBuf what = {0}; /* the value, op, type, model.lua line and module */
  sb_printf(&what, "%%%d %s %s%s", n->id, op_names[n->op], dtype_name(n->dtype), shape);
  if (n->loc.line)
    sb_printf(&what, " at %s:%d", n->loc.file, n->loc.line);
  if (n->path[0])
    sb_printf(&what, " in %s", n->path);
  /* a node PREFIX_prepare computes runs in the forward only without a prepared buffer,
   * into its workspace slot */
  const RefMode m = o->embed_weights || n->prep_hoisted ? REF_RUN : REF_FORWARD;
  const char *call = xformat("%s_k%d(%s)", o->prefix, id, node_args(g, o, n, body.buf, m));
  if (o->profile) {
    call = xformat("%s_TIMED(%d, %s)", o->prefix, k->ncalls, call);
    sb_printf(&k->what, "  %s,\n", c_string_literal(what.buf));
    sb_printf(&k->flops, "  %.17g,\n", profile_flops(n));
  }
  if (n->prep_hoisted) {
    sb_printf(&k->calls, "  if (!pp)\n    %s; /* %s */\n", call, what.buf);
    sb_printf(&k->prep_calls, "  %s_k%d(%s); /* %s */\n", o->prefix, id,
              node_args(g, o, n, body.buf, REF_PREPARE), what.buf);
  } else {
    sb_printf(&k->calls, "%s%s; /* %s */\n", emit_in_row_group(o, n) ? "    " : "  ", call,
              what.buf);
  }
  k->ncalls++;
  sb_free(&what);
  if (o->debug)
    debug_emit_tap(&k->calls, g, o, n, ref(g, o, n));
  if (o->debug && n->op == OP_ATTENTION && n->probs_out)
    debug_emit_tap(&k->calls, g, o, n->probs_out, ref(g, o, n->probs_out));
  sb_free(&body);
  sb_free(&sig);
}

/* ---- the run function's signature, shared by source, header and driver ---- */

/* The run functions' parameters: the inputs, the outputs, with run-time weights the params
 * (and `extra`, e.g. the prepared buffer), the workspace. With names = false only the
 * names, for a call forwarding them. */
static void put_params(StrBuf *sb, const Graph *g, const EmitOptions *o, const char *extra,
                       bool types) {
  for (int i = 0; i < g->ninputs; i++)
    sb_printf(sb, types ? "const %s *%s, " : "%.0s%s, ", dtype_ctype(g->inputs[i]->dtype),
              input_var(g->inputs[i]));
  for (int k = 0; k < g->noutputs; k++)
    sb_printf(sb, types ? "%s *%s, " : "%.0s%s, ", dtype_ctype(g->outputs[k].node->dtype),
              output_var(g, k));
  if (!o->embed_weights)
    sb_printf(sb, types ? "const %s_params *params, %s" : "%.0sparams, %s", o->prefix, extra);
  sb_puts(sb, types ? "void *workspace)" : "workspace)");
}

static void put_signature(StrBuf *sb, const Graph *g, const EmitOptions *o) {
  sb_printf(sb, "int %s_run(", o->prefix);
  put_params(sb, g, o, "", true);
}

/* with run-time weights: the prepared variant's two functions */
static void put_prepare_signature(StrBuf *sb, const EmitOptions *o) {
  sb_printf(sb, "int %s_prepare(const %s_params *params, void *prepared, void *workspace)",
            o->prefix, o->prefix);
}

static void put_run_prepared_signature(StrBuf *sb, const Graph *g, const EmitOptions *o) {
  sb_printf(sb, "int %s_run_prepared(", o->prefix);
  put_params(sb, g, o, "const void *prepared, ", true);
}

static void put_head_comment(StrBuf *sb, const EmitOptions *o, const char *what) {
  sb_printf(sb, "/* %s: generated by attncc %s. Do not edit.\n * command: %s */\n", what,
            ATTNCC_VERSION, o->command_line);
}

/* the sections that pack a B at run time (pack_b, its transposed path, the panel copy) */
static void add_pack_b(const char **names, int *count) {
  names[(*count)++] = "pack_b";
  names[(*count)++] = "pack_transposed";
  names[(*count)++] = "pack_panels";
}

/* the template sections node n's code calls */
static void kernels_of(const Node *n, const char **names, int *count) {
  if (n->op == OP_MATMUL && pack_skinny(n)) {
    names[(*count)++] = "exp";
    names[(*count)++] = "math"; /* the gelu epilogue */
    names[(*count)++] = "skinny";
  } else if (n->op == OP_MATMUL) {
    names[(*count)++] = "exp";
    names[(*count)++] = "math"; /* the gelu epilogue */
    names[(*count)++] = "gemm_blocking";
    names[(*count)++] = "gemm_ukr";
    names[(*count)++] = "gemm";
    names[(*count)++] = "gemm_driver";
    if (n->src[1]->op != OP_PACK) /* B packed at run time */
      add_pack_b(names, count);
    else
      names[(*count)++] = "pack_panels";
  } else if (n->op == OP_PACK && n->storage != ST_CONST) {
    add_pack_b(names, count);
  } else if (n->op == OP_SOFTMAX) {
    names[(*count)++] = "softmax";
    names[(*count)++] = "softmax_rows";
    names[(*count)++] = "exp";
  } else if (op_kinds[n->op] == OK_UNARY || op_kinds[n->op] == OK_FUSED) {
    names[(*count)++] = "exp";
    names[(*count)++] = "math";
  } else if (op_kinds[n->op] == OK_REDUCE && row_reduce(n)) {
    names[(*count)++] = "exp";
    names[(*count)++] = "rowops";
  } else if (n->op == OP_LAYERNORM) {
    names[(*count)++] = "rowops";
    names[(*count)++] = "exp";
    names[(*count)++] = "layernorm";
  } else if (n->op == OP_ATTENTION) {
    names[(*count)++] = "math";
    names[(*count)++] = "gemm_blocking";
    names[(*count)++] = "gemm_ukr";
    names[(*count)++] = "gemm";
    names[(*count)++] = "gemm_driver";
    add_pack_b(names, count);
    names[(*count)++] = "exp";
    names[(*count)++] = "softmax_merge";
    names[(*count)++] = "softmax_rows";
    names[(*count)++] = "softmax_block";
    if (n->attn_probs || n->probs_out) /* its rows' final softmax */
      names[(*count)++] = "softmax";
  }
}

/* does a live node use section name? gemm_common goes with any kernel (on avx512 it has the
 * e^x the row kernels use), and math and exp with it (the generic target's GEMM epilogue
 * calls erf, which calls e^x), as a model of strided reductions alone has neither a GEMM
 * nor an elementwise op */
static bool needs_section(const Graph *g, const char *name, size_t len) {
  bool with_any = (len == 11 && !strncmp(name, "gemm_common", 11)) ||
                  (len == 4 && !strncmp(name, "math", 4)) ||
                  (len == 3 && !strncmp(name, "exp", 3));
  for (int i = 0; i < g->nnodes; i++) {
    const char *names[16];
    int count = 0;
    if (g->nodes[i]->live)
      kernels_of(g->nodes[i], names, &count);
    for (int k = 0; k < count; k++)
      if ((strlen(names[k]) == len && !strncmp(names[k], name, len)) || with_any)
        return true;
  }
  return false;
}

/* does template file f define section name? */
static bool has_section(const EmbeddedFile *f, const char *name, size_t len) {
  for (const char *p = strstr(f->text, "//@ "); p; p = strstr(p + 1, "//@ "))
    if (!strncmp(p + 4, name, len) && p[4 + len] == '\n')
      return true;
  return false;
}

/* copies the sections of a template file that live nodes use, with the prefix */
static void put_sections(StrBuf *sb, const Graph *g, const EmitOptions *o, const EmbeddedFile *f,
                         const EmbeddedFile *shadow) {
  for (const char *p = strstr(f->text, "//@ "); p;) {
    const char *name = p + 4, *body = strchr(name, '\n');
    ATTN_ASSERT(body);
    const char *end = strstr(body, "//@ ");
    const char *stop = end ? end : body + strlen(body);
    size_t namelen = (size_t)(body - name);
    bool used = needs_section(g, name, namelen) && !(shadow && has_section(shadow, name, namelen));
    if (used)
      put_prefixed(sb, body + 1, (size_t)(stop - body - 1), o->prefix);
    p = end;
  }
}

/* the target's kernels (GEMM), then the shared ones it does not replace */
static void put_kernels(StrBuf *sb, const Graph *g, const EmitOptions *o) {
  const EmbeddedFile *common = embedded_find("kernels.c");
  const EmbeddedFile *target = embedded_find(o->target->kernels);
  const EmbeddedFile *driver = o->target->driver ? embedded_find(o->target->driver) : NULL;
  ATTN_ASSERT(common && (driver || !o->target->driver));
  sb_printf(sb, "/* ---- kernels (target %s) ---- */\n", o->target->name);
  /* a section's helpers need not all be used by every model */
  sb_puts(sb, "#if defined(__GNUC__)\n#pragma GCC diagnostic push\n"
              "#pragma GCC diagnostic ignored \"-Wunused-function\"\n#endif\n");
  if (needs_section(g, "gemm_ukr", 8)) /* the tile heights the model's strips need */
    sb_printf(sb, "#define %s_GEMM_PARTIAL_ROWS 0x%xu\n", o->prefix, emit_gemm_partial_rows(g, o));
  put_sections(sb, g, o, common, target); /* math first: the GEMM epilogue uses it */
  if (target)
    put_sections(sb, g, o, target, NULL);
  if (driver) /* the loop nest after the register tile it drives */
    put_sections(sb, g, o, driver, NULL);
  sb_puts(sb, "#if defined(__GNUC__)\n#pragma GCC diagnostic pop\n#endif\n");
  if (needs_section(g, "gemm_common", 11))
    sb_printf(sb, "_Static_assert(%s_GEMM_NR == %d, \"weights were packed for another kernel\");\n",
              o->prefix, g->target->gemm_nr);
}

void emit_source(const Graph *g, const EmitOptions *o, FILE *out) {
  StrBuf sb = {0};
  put_head_comment(&sb, o, "model source");
  sb_printf(&sb, "#include \"%s\"\n\n#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n",
            o->header_name);
  put_kernels(&sb, g, o);
  Kernels k = {0};
  int group = 0; /* the row group whose parallel region is open */
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (!emit_has_kernel(n))
      continue;
    const int in = emit_in_row_group(o, n) ? n->row_group : 0;
    if (group && in != group) /* the end of a group: its threads' loop closes */
      sb_puts(&k.calls, "  }\n");
    if (in && in != group) { /* its first member: each thread takes its rows of dim 0
                                through every member, no barrier between them */
      const int64_t R = n->shape.dim[0], chunk = emit_row_group_chunk(o, R);
      sb_printf(&k.calls, "  /* row group %d: each thread its rows of dim 0 through the "
                          "kernels below */\n", in);
      emit_thread_range(&k.calls, o->threads, chunk, R, "r0", "r1");
    }
    group = in;
    emit_node(&k, g, o, n);
  }
  if (group)
    sb_puts(&k.calls, "  }\n");
  ATTN_ASSERT(k.ncalls == emit_kernel_calls(g));
  StrBuf used = {0}; /* every pointer the run function passes or copies from */
  sb_puts(&used, k.calls.buf ? k.calls.buf : "");
  for (int i = 0; i < g->noutputs; i++)
    sb_printf(&used, " %s", ref(g, o, g->outputs[i].node));
  emit_weights_data(&sb, g, o, used.buf);
  if (!o->embed_weights) {
    sb_printf(&sb, "\nconst attncc_param_info %s_param_info[%s_NUM_PARAMS] = {\n", o->prefix,
              upper(o->prefix));
    for (int i = 0; i < g->nparams; i++) {
      const Node *n = g->params[i];
      sb_printf(&sb, "  {\"%s\", %d, {", n->name, n->shape.ndim);
      for (int d = 0; d < n->shape.ndim; d++)
        sb_printf(&sb, "%s%lld", d ? ", " : "", (long long)n->shape.dim[d]);
      sb_printf(&sb, "}, offsetof(%s_params, %s)},\n", o->prefix, emit_param_field(g, n));
    }
    sb_puts(&sb, "};\n");
  }
  sb_printf(&sb, "\nconst char *const %s_buffer_names[] = {", o->prefix);
  for (int i = 0; i < g->nbuffer_names; i++)
    sb_printf(&sb, "\"%s\", ", g->buffer_names[i]);
  sb_puts(&sb, "NULL};\n");

  sb_puts(&sb, "\n/* ---- one function per distinct operation ---- */\n");
  sb_printf(&sb, "/* kept out of line: the forward function stays a short list of calls */\n"
                 "#if defined(__GNUC__)\n#define %s_NOINLINE __attribute__((noinline))\n#else\n"
                 "#define %s_NOINLINE\n#endif\n\n", o->prefix, o->prefix);
  if (k.defs.buf)
    sb_puts(&sb, k.defs.buf);
  if (o->debug)
    debug_emit_table(&sb, g, o);
  if (o->profile)
    profile_emit_section(&sb, o, k.ncalls, k.what.buf ? k.what.buf : "",
                         k.flops.buf ? k.flops.buf : "");
  sb_puts(&sb, "\n/* ---- forward ---- */\n");
  if (o->embed_weights) {
    put_signature(&sb, g, o);
  } else { /* PREFIX_run and PREFIX_run_prepared (pp: the prepared buffer, or NULL) */
    sb_printf(&sb, "static int %s_forward(", o->prefix);
    put_params(&sb, g, o, "const unsigned char *pp, ", true);
  }
  sb_puts(&sb, " {\n  unsigned char *ws = (unsigned char *)workspace;\n  int status = 0;\n");
  sb_puts(&sb, "  (void)ws;\n");
  if (!o->embed_weights)
    sb_puts(&sb, "  (void)params;\n  (void)pp;\n");
  for (int i = 0; i < g->ninputs; i++)
    if (!g->inputs[i]->live)
      sb_printf(&sb, "  (void)%s; /* not used by any output */\n", input_var(g->inputs[i]));
  for (int i = 0; i < g->nnodes; i++) { /* what PREFIX_prepare keeps, and where */
    const Node *n = g->nodes[i];
    if (!n->prep_kept)
      continue;
    const char *t = dtype_ctype(n->dtype);
    sb_printf(&sb, "  const %s *const h%d = pp ? (const %s *)(pp + %lld) : %s;\n", t, n->id, t,
              (long long)n->prep_offset, ref_in(g, o, n, REF_RUN));
  }
  if (k.calls.buf)
    sb_puts(&sb, k.calls.buf);
  for (int k = 0; k < g->noutputs; k++) {
    const Node *n = g->outputs[k].node;
    if (n->storage == ST_OUTPUT && n->out_index == k)
      continue;
    sb_printf(&sb, "  memcpy(%s, %s, %lld); /* output '%s' */\n", output_var(g, k), ref(g, o, n),
              (long long)(shape_numel(&n->shape) * (int64_t)dtype_size(n->dtype)),
              g->outputs[k].name);
  }
  sb_puts(&sb, "  return status;\n}\n");
  if (!o->embed_weights) {
    sb_puts(&sb, "\n");
    put_signature(&sb, g, o);
    sb_printf(&sb, " {\n  return %s_forward(", o->prefix);
    put_params(&sb, g, o, "NULL, ", false);
    sb_puts(&sb, ";\n}\n\n");
    put_prepare_signature(&sb, o);
    sb_puts(&sb, " {\n  unsigned char *pp = (unsigned char *)prepared, *ws = (unsigned char *)"
                 "workspace;\n  int status = 0;\n  (void)params;\n  (void)pp;\n  (void)ws;\n");
    if (k.prep_calls.buf)
      sb_puts(&sb, k.prep_calls.buf);
    sb_puts(&sb, "  return status;\n}\n\n");
    put_run_prepared_signature(&sb, g, o);
    sb_printf(&sb, " {\n  return %s_forward(", o->prefix);
    put_params(&sb, g, o, "(const unsigned char *)prepared, ", false);
    sb_puts(&sb, ";\n}\n");
  }
  sb_free(&k.defs);
  sb_free(&k.calls);
  sb_free(&k.prep_calls);
  sb_free(&k.what);
  sb_free(&k.flops);
  sb_free(&used);
  fwrite(sb.buf, 1, sb.len, out);
  sb_free(&sb);
}

static void put_tensor_macros(StrBuf *sb, const char *up, const char *kind, const char *name,
                              const Node *n) {
  char shape[128];
  shape_format(&n->shape, shape, sizeof shape);
  const char *id = upper(c_ident(name));
  sb_printf(sb, "/* %s '%s': %s%s */\n", kind, name, dtype_name(n->dtype), shape);
  sb_printf(sb, "#define %s_%s_NDIM %d\n", up, id, n->shape.ndim);
  sb_printf(sb, "#define %s_%s_SHAPE {", up, id);
  for (int d = 0; d < n->shape.ndim; d++)
    sb_printf(sb, "%s%lld", d ? ", " : "", (long long)n->shape.dim[d]);
  sb_printf(sb, "}\n#define %s_%s_NUMEL %lld\n", up, id, (long long)shape_numel(&n->shape));
}

void emit_header(const Graph *g, const EmitOptions *o, FILE *out) {
  StrBuf sb = {0};
  const char *up = upper(o->prefix);
  put_head_comment(&sb, o, "model header");
  sb_printf(&sb, "#ifndef %s_H_\n#define %s_H_\n\n", up, up);
  sb_puts(&sb, "#include <stddef.h>\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  sb_puts(&sb, "/* Shapes are fixed at compile time. Tensors are dense, row-major (last dim\n"
               " * contiguous). int64 inputs of the PyTorch model are int32_t here; bool is\n"
               " * uint8_t (0 or 1). */\n");
  for (int i = 0; i < g->ninputs; i++)
    put_tensor_macros(&sb, up, "input", g->inputs[i]->name, g->inputs[i]);
  for (int k = 0; k < g->noutputs; k++)
    put_tensor_macros(&sb, up, "output", g->outputs[k].name, g->outputs[k].node);
  sb_printf(&sb, "\n/* Bytes of scratch memory one call needs; the pointer passed as workspace\n"
                 " * must be aligned to %s_WORKSPACE_ALIGN. One workspace per concurrent call. */\n",
            up);
  sb_printf(&sb, "#define %s_WORKSPACE_SIZE %lld\n#define %s_WORKSPACE_ALIGN 64\n", up,
            (long long)g->workspace_size, up);
  sb_printf(&sb, "\n/* Names of registered buffers (constants of the model, accepted in weights\n"
                 " * files), NULL-terminated. */\nextern const char *const %s_buffer_names[];\n",
            o->prefix);
  if (!o->embed_weights) {
    sb_puts(&sb, "\n#ifndef ATTNCC_PARAM_INFO_DEFINED\n#define ATTNCC_PARAM_INFO_DEFINED\n"
                 "typedef struct { const char *name; int ndim; long long shape[8]; size_t offset; } "
                 "attncc_param_info;\n#endif\n\n");
    sb_puts(&sb, "/* Parameters (state_dict names), in the order the model creates them: float32,\n"
                 " * dense. Fill them yourself or with\n"
                 " * attncc_load_params() from runtime/attncc_params.h. */\ntypedef struct {\n");
    for (int i = 0; i < g->nparams; i++) {
      const Node *n = g->params[i];
      char shape[128];
      shape_format(&n->shape, shape, sizeof shape);
      sb_printf(&sb, "  const float *%s; /* '%s' %s */\n", emit_param_field(g, n), n->name, shape);
    }
    if (g->nparams == 0)
      sb_puts(&sb, "  const float *unused_;\n");
    sb_printf(&sb, "} %s_params;\n\n#define %s_NUM_PARAMS %d\n", o->prefix, up,
              g->nparams ? g->nparams : 1);
    sb_printf(&sb, "extern const attncc_param_info %s_param_info[%s_NUM_PARAMS];\n", o->prefix, up);
  }
  if (o->debug)
    debug_emit_header(&sb, g, o);
  if (o->profile)
    profile_emit_header(&sb, o, up, emit_kernel_calls(g));
  sb_puts(&sb, "\n/* Runs the model. Returns 0, or 1 when an integer index input was out of\n"
               " * range (those rows read row 0). Inputs are not modified. */\n");
  put_signature(&sb, g, o);
  sb_puts(&sb, ";\n");
  if (!o->embed_weights) {
    sb_printf(&sb, "\n/* The prepared variant: %s_prepare computes once what depends on the\n"
                   " * parameters alone (the packed weight matrices) into `prepared`, %s_PREPARED_SIZE\n"
                   " * bytes aligned to %s_WORKSPACE_ALIGN that the caller keeps; call it again\n"
                   " * when the parameters change. %s_run_prepared then runs the model without\n"
                   " * that work, reading `prepared` (not modified: several calls may share it) and\n"
                   " * the same params. Each takes a workspace aligned as %s_run's, of its own size:\n"
                   " * %s_PREPARE_WORKSPACE_SIZE bytes (0: any pointer, NULL too) and\n"
                   " * %s_RUN_PREPARED_WORKSPACE_SIZE, both at most %s_WORKSPACE_SIZE. %s_prepare\n"
                   " * returns what %s_run would for a constant index out of range, else 0. */\n",
              o->prefix, up, up, o->prefix, o->prefix, up, up, up, o->prefix, o->prefix);
    sb_printf(&sb, "#define %s_PREPARED_SIZE %lld\n", up, (long long)g->prepared_size);
    sb_printf(&sb, "#define %s_PREPARE_WORKSPACE_SIZE %lld\n", up,
              (long long)g->prepare_workspace_size);
    sb_printf(&sb, "#define %s_RUN_PREPARED_WORKSPACE_SIZE %lld\n", up,
              (long long)g->run_prepared_workspace_size);
    put_prepare_signature(&sb, o);
    sb_puts(&sb, ";\n");
    put_run_prepared_signature(&sb, g, o);
    sb_puts(&sb, ";\n");
  }
  sb_puts(&sb, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
  fwrite(sb.buf, 1, sb.len, out);
  sb_free(&sb);
}

/* one row of a check_tensor table of the check driver */
static void put_check_tensor(StrBuf *sb, const char *name, const Node *t) {
  sb_printf(sb, "  {\"%s\", %d, %d, {", name, (int)t->dtype, t->shape.ndim);
  for (int d = 0; d < t->shape.ndim; d++)
    sb_printf(sb, "%s%lld", d ? ", " : "", (long long)t->shape.dim[d]);
  sb_printf(sb, "}, %lld},\n", (long long)shape_numel(&t->shape));
}

/* the driver of `attncc check`: the check_model table (templates/check_main.h) describing
 * the model for templates/check_main.c, named o->check_table or model_under_check */
void emit_check_driver(const Graph *g, const EmitOptions *o, FILE *out) {
  StrBuf sb = {0};
  const char *p = o->prefix, *up = upper(o->prefix);
  put_head_comment(&sb, o, "check driver");
  sb_printf(&sb, "#include \"%s\"\n#include \"check_main.h\"\n\n", o->header_name);
  const char *const end = "  {NULL, 0, 0, {0}, 0},\n};\n"; /* a table's last row */
  sb_puts(&sb, "static const check_tensor inputs[] = {\n");
  for (int i = 0; i < g->ninputs; i++)
    put_check_tensor(&sb, g->inputs[i]->name, g->inputs[i]);
  sb_printf(&sb, "%sstatic const check_tensor outputs[] = {\n", end);
  for (int k = 0; k < g->noutputs; k++)
    put_check_tensor(&sb, g->outputs[k].name, g->outputs[k].node);
  sb_puts(&sb, end);
  sb_puts(&sb, "\nstatic int call(void *const *in, void *const *out, const void *params, void *ws) {\n");
  sb_puts(&sb, "  (void)params;\n");
  sb_printf(&sb, "  return %s_run(", p);
  for (int i = 0; i < g->ninputs; i++)
    sb_printf(&sb, "(const %s *)in[%d], ", dtype_ctype(g->inputs[i]->dtype), i);
  for (int k = 0; k < g->noutputs; k++)
    sb_printf(&sb, "(%s *)out[%d], ", dtype_ctype(g->outputs[k].node->dtype), k);
  if (!o->embed_weights)
    sb_printf(&sb, "(const %s_params *)params, ", p);
  sb_puts(&sb, "ws);\n}\n\n");
  if (!o->embed_weights) { /* the prepared variant, with the same arguments */
    sb_printf(&sb, "static int prepare(const void *params, void *prepared, void *ws) {\n"
                   "  return %s_prepare((const %s_params *)params, prepared, ws);\n}\n\n", p, p);
    sb_puts(&sb, "static int call_prepared(void *const *in, void *const *out, const void *params,\n"
                 "                         const void *prepared, void *ws) {\n");
    sb_printf(&sb, "  return %s_run_prepared(", p);
    for (int i = 0; i < g->ninputs; i++)
      sb_printf(&sb, "(const %s *)in[%d], ", dtype_ctype(g->inputs[i]->dtype), i);
    for (int k = 0; k < g->noutputs; k++)
      sb_printf(&sb, "(%s *)out[%d], ", dtype_ctype(g->outputs[k].node->dtype), k);
    sb_printf(&sb, "(const %s_params *)params, prepared, ws);\n}\n\n", p);
  }
  sb_printf(&sb, "const check_model %s = {\n  inputs,\n  outputs,\n  %s_WORKSPACE_SIZE,\n",
            o->check_table ? o->check_table : "model_under_check", up);
  if (o->embed_weights)
    sb_puts(&sb, "  NULL, 0, 0, /* the weights are in the C file */\n");
  else
    sb_printf(&sb, "  %s_param_info,\n  %s_NUM_PARAMS,\n  sizeof(%s_params),\n", p, up, p);
  sb_printf(&sb, "  %s_buffer_names,\n", p);
  profile_emit_driver(&sb, o, emit_kernel_calls(g));
  sb_puts(&sb, "  call,\n");
  if (o->embed_weights)
    sb_puts(&sb, "  0, 0, 0, NULL, NULL, /* nothing to prepare */\n");
  else
    sb_printf(&sb, "  %s_PREPARED_SIZE, %s_PREPARE_WORKSPACE_SIZE, %s_RUN_PREPARED_WORKSPACE_SIZE,\n"
                   "  prepare, call_prepared,\n", up, up, up);
  sb_puts(&sb, "};\n");
  fwrite(sb.buf, 1, sb.len, out);
  sb_free(&sb);
}
