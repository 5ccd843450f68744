/* attncc.h: every type shared between the compiler's files and the prototypes each
 * file exports, grouped by file. The pipeline (main.c) is
 *   lua_host (run model.lua, building the graph with shapes checked as it goes)
 *   -> weights_load -> fold_constants -> simplify_run -> fuse_attention
 *   -> fuse_epilogues -> fuse_elementwise -> pack_weights -> memplan_run
 *   -> emit_source / emit_header (or check_run).
 * Only lua_host.c knows Lua; every later stage sees the IR alone. */
#ifndef ATTNCC_H
#define ATTNCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ATTNCC_VERSION "0.1.0"
#define MAX_DIMS 8

// util.c
typedef struct {
  char *buf;
  size_t len, cap;
} StrBuf;

void *xalloc(size_t size);                 /* zeroed, freed by arena_free_all */
char *xstrdup(const char *s);
char *xformat(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void arena_free_all(void);
void sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_puts(StrBuf *sb, const char *s);
void sb_free(StrBuf *sb);
const char *c_string_literal(const char *s); /* "s" with \" \\ and octal escapes */
_Noreturn void internal_error(const char *file, int line, const char *msg);
#define ATTN_ASSERT(x) ((x) ? (void)0 : internal_error(__FILE__, __LINE__, #x))

// graph.c
typedef enum { DT_F32, DT_I32, DT_BOOL } DType;

typedef struct {
  int ndim;
  int64_t dim[MAX_DIMS];                   /* row-major: dim[ndim-1] is contiguous */
} Shape;

typedef struct {
  const char *file;                        /* model file as named on the command line */
  int line;                                /* 0 when unknown */
} Loc;

typedef enum {
  OK_LEAF,                                 /* input, param, const */
  OK_UNARY,                                /* elementwise, one source */
  OK_BINARY,                               /* elementwise arithmetic, two sources */
  OK_COMPARE,                              /* elementwise, bool result */
  OK_WHERE,                                /* cond ? a : b */
  OK_MATMUL,                               /* batched matrix product */
  OK_MOVE,                                 /* data movement: reshape, permute, slice, cat */
  OK_GATHER,                               /* row gather by integer index */
  OK_SOFTMAX,                              /* softmax / log_softmax along an axis */
  OK_REDUCE,                               /* sum / mean / max along an axis */
  OK_PACK,                                 /* weight layout change for the GEMM kernel */
  OK_ATTENTION,                            /* fused attention */
  OK_SIDE,                                 /* a second result another node's kernel writes */
  OK_FUSED,                                /* fused elementwise tree */
  OK_LAYERNORM,                            /* fused layer normalization */
} OpKind;

typedef enum {
#define OP(name, lua, kind) OP_##name,
#include "ops.def"
#undef OP
  OP_COUNT
} OpCode;

typedef enum {
  ST_NONE,                                 /* not stored (dead or not yet planned) */
  ST_INPUT,                                /* caller's input pointer */
  ST_PARAM,                                /* parameter: embedded array or params struct */
  ST_CONST,                                /* static const array in the output */
  ST_WORK,                                 /* workspace + offset */
  ST_OUTPUT,                               /* caller's output pointer */
  ST_ALIAS,                                /* same bytes as alias_of (reshape) */
} Storage;

/* One elementwise step between Q K^T and softmax in a fused attention: the
 * running score s is combined with a literal or another source of the node. */
typedef struct {
  int op;                                  /* OpCode: ADD, SUB, MUL, DIV, WHERE */
  int operand;                             /* src index of the other value; -1: literal */
  float literal;
  int cond;                                /* WHERE: src index of the condition */
  bool score_first;                        /* s is the left operand (WHERE: the true branch) */
  Shape shape;                             /* the step's shape: operands broadcast to it */
} AttnStep;

/* One op of a fused elementwise tree. Arguments name earlier steps (>= 0) or the
 * node's sources (-1 - src index). The last step is the result. */
typedef struct {
  int op;                                  /* OpCode of an elementwise op */
  int arg[3];
  int nargs;
  int dtype;                               /* DType of the op's result */
} EwStep;

/* How a fused node reads source i: through a slice or permute of it (a view) or
 * plainly, broadcast to the node's shape. */
typedef struct {
  bool is_view;
  Shape shape;                             /* the view's shape (broadcast to the node's) */
  int64_t stride[MAX_DIMS];                /* per view dim, in elements of the source */
  int64_t offset;                          /* first element (passed in the call) */
} SrcView;

typedef struct Node Node;
struct Node {
  OpCode op;
  int id;                                  /* creation index, stable: names in output */
  int value_id;                            /* creation index of the node whose value this one
                                            * holds (a fused node takes its absorbed op's) */
  Node **src;                              /* nsrc sources */
  int nsrc;
  DType dtype;
  Shape shape;
  Loc loc;                                 /* where model.lua created it */
  const char *path;                        /* module path, "" at top level */
  const char *name;                        /* input/param name (state_dict key) */
  /* attributes */
  int axis;                                /* softmax, reduce, slice, cat */
  int perm[MAX_DIMS];                      /* permute */
  int64_t start, len;                      /* slice */
  bool keepdim;                            /* reduce */
  bool log;                                /* softmax: log_softmax */
  bool trans_b;                            /* matmul, pack: src1 is stored [..., N, K] */
  Node *bias;                              /* matmul epilogue: + bias[N] (also a src) */
  Node *residual;                          /* matmul epilogue: + residual, after act (a src);
                                              layernorm: normalizes src0 + residual */
  int64_t res_offset, res_ld;              /* matmul: the residual's rows are read at src +
                                              res_offset, res_ld apart (0: dense, N apart) */
  int64_t bias_offset;                     /* matmul: the bias is read at src + bias_offset */
  Node *gamma;                             /* layernorm: per-column weight (a src), or NULL */
  float eps;                               /* layernorm */
  int act;                                 /* matmul epilogue: 0 none, 1 relu, 2 gelu */
  int64_t pk_k, pk_n;                      /* pack: the matrix is K x N */
  AttnStep *steps;                         /* attention: score chain */
  int nsteps;
  int64_t lq, lk, dh, dv;                  /* attention: query/key lengths, head dims */
  bool k_rows;                             /* attention: K stored [Lk, d] (else [d, Lk]) */
  bool attn_probs;                         /* attention that stops at the softmax: its result
                                              is the probabilities [.., Lq, Lk] (dv = Lk;
                                              src[2] is K again, unread) */
  Node *probs_out;                         /* attention: also writes its softmax P into this
                                              ATTN_PROBS node (whose src0 it is) */
  EwStep *ew;                              /* fused: the ops, in evaluation order */
  int nfused;                              /* fused: number of steps */
  SrcView *views;                          /* fused: how each source is read; attention: how
                                              Q, K, V are read and the result written (4) */
  void *data;                              /* const: numel values of dtype */
  /* analysis results */
  int nuses;                               /* consumers among live nodes */
  bool live;                               /* reaches an output */
  Storage storage;
  Node *alias_of;                          /* ST_ALIAS: the node owning the bytes */
  int64_t offset;                          /* ST_WORK: byte offset in the workspace */
  bool res_in_place;                       /* matmul: written over its residual (memplan) */
  int out_index;                           /* ST_OUTPUT: which output */
  int param_index;                         /* ST_PARAM: index among used params */
  int64_t scratch_bytes;                   /* temporary workspace the kernel needs */
  int64_t scratch_offset;                  /* where memplan put it */
  bool prep_hoisted;                       /* computed by PREFIX_prepare (prepare.c) */
  bool prep_kept;                          /* hoisted and read by the run: in the prepared
                                              buffer at prep_offset (bytes) */
  int64_t prep_offset;
  int row_group;                           /* > 0: the row group it belongs to (row_groups.c) */
};

typedef struct {
  const char *name;
  Node *node;
} Output;

typedef struct {
  Node **nodes;                            /* all nodes in creation (= topological) order */
  int nnodes, cap;
  Node **inputs;
  int ninputs, inputs_cap;
  Node **params;                           /* every param, used or not (state_dict) */
  int nparams, params_cap;
  Output *outputs;
  int noutputs, outputs_cap;
  const char **buffer_names;               /* registered buffers: accepted in weights files */
  const char **sources;                    /* model.lua and every file it required (-MD) */
  int nsources;
  int nbuffer_names, buffer_names_cap;
  int64_t workspace_size;                  /* set by memplan: PREFIX_run's */
  int64_t run_prepared_workspace_size;     /* PREFIX_run_prepared's: offsets below it */
  int64_t prepare_workspace_size;          /* PREFIX_prepare's: marked nodes' region above it */
  int64_t prepared_size;                   /* bytes of PREFIX_prepare's buffer (prepare.c) */
  int64_t naive_bytes;                     /* memplan: every intermediate in its own buffer */
  int64_t max_live_bytes;                  /* memplan: the largest set alive at one time */
  const struct Target *target;             /* the target: its GEMM's panel width and blocking */
  int threads;                             /* threads the generated code may use */
  struct DebugInfo *debug;                 /* --debug: every value as model.lua made it */
} Graph;

extern const char *const op_names[OP_COUNT];
extern const OpKind op_kinds[OP_COUNT];

Graph *graph_new(void);
Node *graph_add(Graph *g, OpCode op, Node **src, int nsrc, Loc loc, const char *path);
void graph_add_output(Graph *g, const char *name, Node *n);
int64_t shape_numel(const Shape *s);
int64_t last_dim(const Node *n);           /* size of the last dim (1 for a scalar) */
bool shape_equal(const Shape *a, const Shape *b);
void shape_format(const Shape *s, char *buf, size_t len); /* "[1,128,256]" */
size_t dtype_size(DType t);
const char *dtype_name(DType t);           /* "float32", "int32", "bool" */
const char *dtype_ctype(DType t);          /* "float", "int32_t", "uint8_t" */
void shape_dense_strides(const Shape *s, int64_t *stride); /* row-major, in elements */
/* a slice or permute n read in place: returns the node its chain of slices and permutes
 * (and then reshapes) starts from, and fills v with n's shape and its strides and offset
 * there; any other node: returns n, v untouched */
Node *graph_view_of(Node *n, SrcView *v);
void graph_prune(Graph *g);                /* live flags + use counts from outputs */
bool graph_depends_on_input(const Graph *g, const Node *n);
void graph_replace_uses(Graph *g, Node *old, Node *new_node); /* srcs, epilogue links, outputs */
void graph_move_after(Graph *g, Node *n, Node *anchor); /* reorders; ids follow positions */
void graph_insert_before(Graph *g, Node *n, Node *anchor); /* n was just added (last) */
/* a float constant shaped (and located) like `like`, holding data, placed before `before` */
Node *graph_add_const(Graph *g, const Node *like, float *data, Node *before);
void graph_dump(const Graph *g, FILE *out);
/* the distinct live users of n, up to max in users[]; returns how many there are, or -1
 * when n is a graph output (its value is needed as it is) */
int graph_users(const Graph *g, const Node *n, Node **users, int max);
/* the same, whether or not n is an output: the live nodes reading it */
int graph_readers(const Graph *g, const Node *n, Node **users, int max);
Node *graph_sole_user(const Graph *g, const Node *n); /* the one user, else NULL */
/* the node that owns n's bytes once memplan has run: alias_of for a reshape alias, else n */
static inline Node *storage_owner(Node *n) { return n->storage == ST_ALIAS ? n->alias_of : n; }
double node_value(const Node *n, int64_t i); /* element i of a node with data, as a double */

// dump_dot.c
void graph_dump_dot(const Graph *g, const char *title, FILE *out); /* Graphviz digraph */

// shape.c
/* Infers n->shape and n->dtype from its sources and attributes. On a user error
 * returns false with a message like "matmul: shapes [..] and [..] do not match ...". */
bool shape_infer(Node *n, char *msg, size_t len);
int shape_norm_dim(int dim, int ndim);     /* negative dims from the end; -1 when out of range */
bool shape_broadcast(const Shape *a, const Shape *b, Shape *out);
/* element offset in src of element e of out, src broadcast to out's shape */
int64_t shape_bcast_offset(const Shape *out, const Shape *src, int64_t e);

// fold.c
void fold_constants(Graph *g);             /* evaluate nodes whose sources are all known */

// simplify.c
void simplify_run(Graph *g);               /* result-preserving rewrites (transpose into matmul) */

// fuse.c
void fuse_epilogues(Graph *g);             /* matmul + bias + activation + residual add */

// fuse_attention.c
void fuse_attention(Graph *g);             /* matmul -> scale/mask/bias -> softmax -> matmul */
void fold_scale(Graph *g);                 /* power-of-two query scales into the weights */
/* a chain step * c or / c (score first) with a positive finite literal: *c gets it, true */
bool attn_step_scale(const AttnStep *st, double *c);

// fold_projection.c
/* an attention's square key and value projections (no bias) into the query's and the
 * output product's constant weights (the pass after attn_layout) */
void fold_projections(Graph *g);

// attn_layout.c
/* each attention reads Q, K, V through permutes and slices and writes its result in
 * the layout of a permute that is its only user (the pass after fold_scale) */
void attention_layouts(Graph *g);

// fuse_elementwise.c
void fuse_elementwise(Graph *g);
// fuse_layernorm.c
void fuse_layernorm(Graph *g);             /* mean/var/normalize (+ affine, + residual) -> LAYERNORM */           /* single-use elementwise chains into one loop */

// pack.c
void pack_weights(Graph *g);               /* PACK nodes for matmuls by parameters/constants */
bool pack_skinny(const Node *n);           /* a matmul by a weight of <= 8 columns, unpacked */
int64_t pack_floats(int64_t k, int64_t n, int nr);
void pack_matrix(int64_t k, int64_t n, const float *b, int64_t ldb_k, int64_t ldb_n, int nr,
                 float *out);

// target.c
typedef struct Target {
  const char *name;                        /* avx512, avx2, neon, generic */
  const char *kernels;                     /* templates file with the GEMM kernels */
  const char *driver;                      /* templates file with their loop nest, or NULL */
  int gemm_nr;                             /* that kernel's panel width */
  int gemm_mr;                             /* its register tile's rows (the most it may have) */
  int gemm_nc;                             /* its widest N block (PREFIX_GEMM_NC) */
  int gemm_bblock;                         /* floats of packed B its N blocks keep in L2 */
  const char *cflags;                      /* flags the generated code needs ("" for none) */
  bool tile_rows;                          /* its tile of mr < MR rows touches only those
                                              rows (stamped per height), so a partial strip
                                              of A read in place may call it */
} Target;

const Target *target_find(const char *name); /* "native" is the compiling machine; NULL if unknown */
/* floats of the packed-A workspace the target's GEMM uses for an M x K x N product (at
 * least PREFIX_gemm_ws_floats of templates/gemm_driver.c), 0 when it uses none */
int64_t target_gemm_ws_floats(const Target *t, int64_t M, int64_t N, int64_t K);

// memplan.c
void memplan_run(Graph *g);                /* storage classes and workspace offsets */
void memplan_split_prepared(Graph *g);     /* the run's and PREFIX_prepare's regions apart */
// prepare.c
void prepare_plan(Graph *g);               /* what PREFIX_prepare computes once */
// row_groups.c
void row_groups(Graph *g);                 /* kernels the threads run through by rows */
/* What a parallel region is worth (--threads): a product or an attention is split between
 * threads from this many FLOPs (a fork and join of the team costs 1-2 us here, a 2 MFLOP
 * product 5-10 us on one core); an elementwise loop from this many values (an LSTM step's
 * gate loop of 4096, two sigmoids and a tanh, costs about a region's start and end: batch
 * 64, hidden 64, 2 threads, the model 5.5 % faster with it on one thread; 8192 the same
 * either way; 16384 5 % faster split, at hidden 256). A row group is formed when its
 * members' work adds up to one of these. */
#ifndef MIN_PARALLEL_FLOPS /* overridable at build time: tests build one with every split forced */
#define MIN_PARALLEL_FLOPS 2000000
#endif
#ifndef MIN_PARALLEL_ELEMENTS
#define MIN_PARALLEL_ELEMENTS 8192
#endif

// emit.c
/* The embedded float data of a model written as a binary blob (emit_weights.c): filled
 * by emit_source, then written by emit_weights_bin and emit_weights_asm. */
#define WEIGHTS_BLOB_THRESHOLD ((int64_t)4 << 20) /* bytes: ~15 MB of C, ~10 s of clang -O2 */
typedef struct {
  int mode;                                /* in: 1 always, 0 never, -1 above the threshold */
  bool used;                               /* out: the data went into the blob */
  const Node **nodes;                      /* in blob order */
  int64_t *offsets;                        /* of each node, in floats (multiples of 16) */
  int n, cap;
  int64_t floats;                          /* total size, padding included */
  uint64_t hash;                           /* FNV-1a of the values: part of the symbol name */
} WeightBlob;

typedef struct {
  const char *prefix;                      /* symbol prefix, e.g. "model" */
  const char *header_name;                 /* file name of the header, for #include */
  const char *command_line;                /* recorded in the head comment */
  bool embed_weights;                      /* params as constants (values in node->data) */
  const Target *target;
  int threads;                             /* > 1: OpenMP parallel loops */
  WeightBlob *blob;                        /* non-NULL: float data may go to OUT.weights.bin */
  const char *blob_name, *blob_asm_name;   /* their file names (no directory) */
  bool debug;                              /* --debug: run calls a hook with every tensor */
  bool profile;                            /* check --profile: run times each kernel call */
  const char *fault;                       /* tests only (ATTNCC_FAULT): perturb this tensor */
  const char *check_table;                 /* its check driver's table; NULL: model_under_check */
} EmitOptions;

void emit_source(const Graph *g, const EmitOptions *o, FILE *out);
void emit_header(const Graph *g, const EmitOptions *o, FILE *out);
void emit_check_driver(const Graph *g, const EmitOptions *o, FILE *out);
bool emit_has_kernel(const Node *n);       /* is n computed by a kernel call of the run? */
const char *emit_param_field(const Graph *g, const Node *param); /* C field name */
/* attn_skip.c: what a constant mask lets the fused attention skip */
typedef struct {
  int32_t *lo, *hi;    /* per block of qblock queries: the key blocks [lo, hi) it visits */
  int32_t *key_end;    /* per query: the end of its unmasked keys (lk if it masks every key) */
  int32_t *mask_start; /* per query: its first masked key (lk if none) */
} AttnSkip;
/* fills sk (lq / qblock rounded up, and lq entries); false when every key of every block
 * must be visited */
bool attention_key_blocks(const Node *n, int64_t qblock, int64_t kblock, AttnSkip *sk);
/* are the chain's steps [first, nsteps) all fills of a constant mask (identity elsewhere)? */
bool attention_mask_only(const Node *n, int first, int nsteps);
/* attn_skip.c: whether a chain step masks with a constant (so key blocks may be skipped) */
bool attention_has_constant_mask(const Node *n);
int64_t emit_attention_scratch(const Node *n, int gemm_nr, int threads); /* bytes it needs */
/* bytes of scratch a matmul by a packed weight needs (its GEMM's packed-A workspace) */
int64_t emit_weight_gemm_scratch(const Node *n, const Target *t, int threads);
/* bytes of scratch a product of two activations needs (its right operand packed, per thread) */
int64_t emit_batched_gemm_scratch(const Node *n, int gemm_nr, int threads);
bool emit_uses_word(const char *text, const char *word); /* word occurs as an identifier */

// emit_weights.c
void emit_float_literal(StrBuf *sb, float v);            /* exact C literal */
void emit_weights_data(StrBuf *sb, const Graph *g, const EmitOptions *o, const char *used);
void emit_weights_bin(const Graph *g, const EmitOptions *o, FILE *out);
void emit_weights_asm(const Graph *g, const EmitOptions *o, FILE *out);

// lua_host.c
typedef struct {
  const char *name;
  const char *value;
  bool used;
} Define;

typedef struct {
  const char *model_path;
  Define *defines;
  int ndefines;
  bool traceback;                          /* -v: Lua tracebacks on errors */
  int time_limit;                          /* CPU seconds model.lua may run; 0: no limit */
} HostOptions;

/* Runs model.lua and returns its graph (with g->sources), or NULL after printing
 * diagnostics. */
Graph *lua_host_run(const HostOptions *o);

// cpu_limit.c
/* After `seconds` (> 0; else nothing) of user CPU time the process prints
 * "MODEL: error: model.lua ran for more than ..." and exits with status 1. */
void cpu_limit_arm(const char *model_path, int seconds);
void cpu_limit_disarm(void);

// weights.c
/* Loads every param's values from a safetensors file (embedded-weights mode). */
bool weights_load(Graph *g, const char *path);

// embedded.c (generated at build time from dsl/, runtime/, templates/)
typedef struct {
  const char *name;
  const char *text;
  size_t len;
} EmbeddedFile;

extern const EmbeddedFile embedded_files[];
extern const int embedded_file_count;
const EmbeddedFile *embedded_find(const char *name);

// check.c
typedef struct {
  const char *ref_path;
  const char *weights_path;
  bool runtime_weights;
  const char *cc;
  const char *keep_dir;                    /* keep build files here (NULL: temp dir) */
  double tol;                              /* |out-ref| <= tol * (1 + |ref|) */
  int repeat;                              /* > 0: also time this many runs */
  const char *cflags;                      /* target flags for building the generated code */
  const char *emulator;                    /* NULL, or the command that runs the built program
                                              (words split at spaces): qemu-aarch64 */
} CheckOptions;

int check_run(const Graph *g, const EmitOptions *eo, const CheckOptions *co);

typedef void (*EmitFn)(const Graph *, const EmitOptions *, FILE *);
typedef struct {
  const char *name;                        /* file name in the build directory */
  EmitFn fn;
  const Graph *g;
  const EmitOptions *o;
  bool blob_part;                          /* written only when o->blob was used */
} GeneratedFile;

/* Writes files (NULL fn ends the list) and the embedded files named in `embedded`
 * into a build directory, compiles every .c among them into one program, runs it
 * with `args`. Returns the program's exit status (3 when it crashed), or -1 when it
 * could not be built. The directory is removed unless co->keep_dir names it. */
int check_build_and_run(const CheckOptions *co, const GeneratedFile *files,
                        const char *const *embedded, char *const *args);

// debug.c, debug_emit.c
/* Records, before any pass, the stable name, op, line, module path and sources of
 * every value: debug builds name tensors by them, whatever fusion makes of them. */
void debug_record(Graph *g);
bool debug_tapped(const Graph *g, const Node *n);  /* does the debug build report n? */
void debug_emit_tap(StrBuf *calls, const Graph *g, const EmitOptions *o, const Node *n,
                    const char *ptr);
void debug_emit_table(StrBuf *sb, const Graph *g, const EmitOptions *o);
void debug_emit_header(StrBuf *sb, const Graph *g, const EmitOptions *o);
/* `attncc debug`: the compiled graph g against the same model unfused (generic). */
int debug_run(const Graph *g, const EmitOptions *eo, const CheckOptions *co,
              const HostOptions *ho);

#endif
