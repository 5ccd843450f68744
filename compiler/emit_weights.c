/* emit_weights.c: the data section of the generated C file: constants (folded values,
 * weights packed at compile time) and, with embedded weights, the parameters. Either
 * as C array initializers (small models), or as one binary blob OUT.weights.bin that a
 * tiny assembler stub OUT.weights.S pulls into an object with .incbin; OUT.c then
 * names each tensor by its offset in the blob, so the C file stays small whatever
 * the model's size. */
#include "attncc.h"

#include <math.h>

/* ---- C array initializers ---- */

void emit_float_literal(StrBuf *sb, float v) {
  if (isnan(v))
    sb_puts(sb, "NAN");
  else if (isinf(v))
    sb_puts(sb, v < 0 ? "-INFINITY" : "INFINITY");
  else
    sb_printf(sb, "%af", (double)v);  /* C99 hex float: exact */
}

static void put_values(StrBuf *sb, DType t, const void *data, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (i % 8 == 0)
      sb_puts(sb, "\n  ");
    if (t == DT_F32)
      emit_float_literal(sb, ((const float *)data)[i]);
    else if (t == DT_I32)
      sb_printf(sb, "%d", (int)((const int32_t *)data)[i]);
    else
      sb_printf(sb, "%d", (int)((const uint8_t *)data)[i]);
    sb_puts(sb, ",");
  }
}

static void put_array(StrBuf *sb, const char *name, const Node *n, DType t, const char *what) {
  sb_printf(sb, "static _Alignas(64) const %s %s[%lld] = { /* %s */", dtype_ctype(t), name,
            (long long)shape_numel(&n->shape), what);
  put_values(sb, t, n->data, shape_numel(&n->shape));
  sb_puts(sb, "\n};\n");
}

/* ---- the blob ---- */

#define BLOB_ALIGN 16 /* floats: every tensor starts on a 64-byte boundary */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static void blob_add(WeightBlob *b, const Node *n) {
  if (b->n == b->cap) {
    int cap = b->cap ? 2 * b->cap : 64;
    const Node **nodes = xalloc(sizeof *nodes * (size_t)cap);
    int64_t *offsets = xalloc(sizeof *offsets * (size_t)cap);
    if (b->n) {
      memcpy(nodes, b->nodes, sizeof *nodes * (size_t)b->n);
      memcpy(offsets, b->offsets, sizeof *offsets * (size_t)b->n);
    }
    b->nodes = nodes, b->offsets = offsets, b->cap = cap;
  }
  int64_t numel = shape_numel(&n->shape);
  b->nodes[b->n] = n;
  b->offsets[b->n++] = b->floats;
  b->hash = fnv1a(b->hash, n->data, (size_t)numel * sizeof(float));
  b->floats += (numel + BLOB_ALIGN - 1) / BLOB_ALIGN * BLOB_ALIGN;
}

static const char *blob_symbol(const EmitOptions *o) {
  return xformat("%s_weights_%016llx", o->prefix, (unsigned long long)o->blob->hash);
}

static void put_blob_entry(StrBuf *sb, const char *name, int64_t offset, const char *sym,
                           const char *what) {
  sb_printf(sb, "#define %s (%s + %lld) /* %s */\n", name, sym, (long long)offset, what);
}

/* One tensor of the data section: its name in the kernels' calls, its values and its
 * comment (dtype and shape of a constant; state_dict name and shape of a parameter). */
typedef struct {
  const Node *node;
  const char *name;
  DType dtype;
  const char *what;
} DataItem;

static int data_items(const Graph *g, const EmitOptions *o, const char *used, DataItem *items) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *c = g->nodes[i];
    const char *name = xformat("%s_c%d", o->prefix, c->id);
    if (!c->live || c->storage != ST_CONST || !emit_uses_word(used, name))
      continue; /* scalars are written as literals in the kernels */
    char shape[128];
    shape_format(&c->shape, shape, sizeof shape);
    items[n++] = (DataItem){c, name, c->dtype, xformat("%s%s", dtype_name(c->dtype), shape)};
  }
  for (int i = 0; o->embed_weights && i < g->nparams; i++) {
    const Node *p = g->params[i];
    const char *name = xformat("%s_w_%s", o->prefix, emit_param_field(g, p));
    char shape[128];
    shape_format(&p->shape, shape, sizeof shape);
    if (p->live && emit_uses_word(used, name)) /* else read only through its packed copy */
      items[n++] = (DataItem){p, name, DT_F32, xformat("%s %s", p->name, shape)};
  }
  return n;
}

void emit_weights_data(StrBuf *sb, const Graph *g, const EmitOptions *o, const char *used) {
  DataItem *items = xalloc(sizeof *items * (size_t)(g->nnodes + g->nparams + 1));
  int n = data_items(g, o, used, items);
  WeightBlob *b = o->blob;
  if (b) {
    int64_t bytes = 0;
    for (int i = 0; i < n; i++)
      if (items[i].dtype == DT_F32)
        bytes += shape_numel(&items[i].node->shape) * (int64_t)sizeof(float);
    *b = (WeightBlob){.mode = b->mode, .hash = 0xcbf29ce484222325ULL};
    b->used = b->mode > 0 || (b->mode < 0 && bytes > WEIGHTS_BLOB_THRESHOLD);
    for (int i = 0; b->used && i < n; i++)
      if (items[i].dtype == DT_F32)
        blob_add(b, items[i].node);
    if (!b->used)
      b = NULL;
  }
  sb_puts(sb, "\n/* ---- constants and parameters ---- */\n");
  if (b) {
    const char *sym = blob_symbol(o);
    sb_printf(sb, "/* %lld bytes in %s, linked from %s (assemble it with -I<its directory>).\n"
                  " * The symbol's name is the data's hash, so a stale blob fails to link. */\n",
              (long long)b->floats * 4, o->blob_name, o->blob_asm_name);
    sb_puts(sb, "#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__\n"
                "#error \"the weights blob holds little-endian floats\"\n#endif\n");
    sb_printf(sb, "extern const float %s[]\n#if defined(__GNUC__) && defined(__ELF__)\n"
                  "    __attribute__((visibility(\"hidden\")))\n#endif\n    ;\n", sym);
    for (int i = 0, k = 0; i < n; i++)
      if (items[i].dtype == DT_F32)
        put_blob_entry(sb, items[i].name, b->offsets[k++], sym, items[i].what);
  }
  for (int i = 0; i < n; i++)
    if (!b || items[i].dtype != DT_F32)
      put_array(sb, items[i].name, items[i].node, items[i].dtype, items[i].what);
}

/* OUT.weights.bin: the blob's floats, little-endian, each tensor 64-byte aligned */
void emit_weights_bin(const Graph *g, const EmitOptions *o, FILE *out) {
  (void)g;
  const WeightBlob *b = o->blob;
  static const float zeros[BLOB_ALIGN];
  const uint32_t one = 1;
  bool little = *(const unsigned char *)&one == 1;
  for (int i = 0; i < b->n; i++) {
    int64_t numel = shape_numel(&b->nodes[i]->shape);
    const float *v = b->nodes[i]->data;
    if (little) {
      fwrite(v, sizeof(float), (size_t)numel, out);
    } else {
      for (int64_t j = 0; j < numel; j++) {
        uint32_t u;
        memcpy(&u, &v[j], 4);
        unsigned char le[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                               (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
        fwrite(le, 1, 4, out);
      }
    }
    int64_t end = i + 1 < b->n ? b->offsets[i + 1] : b->floats;
    fwrite(zeros, sizeof(float), (size_t)(end - b->offsets[i] - numel), out);
  }
}

/* OUT.weights.S: defines the blob's symbol in read-only data with .incbin, for ELF,
 * Mach-O (leading underscore) and COFF; checks at assembly time that the blob file has
 * the size this C file expects. */
void emit_weights_asm(const Graph *g, const EmitOptions *o, FILE *out) {
  (void)g;
  const char *sym = blob_symbol(o);
  long long bytes = (long long)o->blob->floats * 4;
  fprintf(out,
          "/* Generated by attncc %s: assembler stub that links %s (%lld bytes of\n"
          " * float32 weights and constants) into the program. Assemble it with the C compiler\n"
          " * and -I<directory of %s>: cc -c -I<dir> %s\n"
          " * command: %s */\n",
          ATTNCC_VERSION, o->blob_name, bytes, o->blob_name, o->blob_asm_name, o->command_line);
  fprintf(out,
          "#if defined(__APPLE__)\n#define SYM _%s\n  .const\n"
          "#elif defined(_WIN32)\n#define SYM %s\n  .section .rdata,\"dr\"\n"
          "#else\n#define SYM %s\n  .section .rodata.%s,\"a\"\n  .hidden SYM\n  .type SYM, %%object\n"
          "#endif\n",
          sym, sym, sym, sym);
  fprintf(out,
          "  .p2align 6\n  .globl SYM\nSYM:\n  .incbin \"%s\"\n"
          "  .if . - SYM != %lld\n  .error \"%s does not have the size OUT.c expects (%lld bytes)\"\n"
          "  .endif\n",
          o->blob_name, bytes, o->blob_name, bytes);
  fprintf(out, "#if defined(__ELF__)\n  .size SYM, %lld\n"
               "  .section .note.GNU-stack,\"\",%%progbits\n#endif\n",
          bytes);
}
