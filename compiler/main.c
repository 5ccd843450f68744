/* main.c: the attncc command line. Parses flags, runs the pipeline
 *   lua_host_run -> [weights_load] -> fold_constants -> simplify_run -> fuse_attention
 *   -> fuse_epilogues -> fuse_elementwise -> pack_weights
 *   -> memplan_run -> emit_source/emit_header
 * and writes OUT.c and OUT.h atomically (temporary files renamed at the end, so an
 * error never leaves a half-written output). `attncc check` runs the same pipeline
 * and hands the graph to check.c. Exit status: 0 ok, 1 user error, 2 internal. */
#define _POSIX_C_SOURCE 200809L
#include "attncc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: attncc [options] MODEL.lua -o OUT.c\n"
    "       attncc check [options] MODEL.lua --ref REF.safetensors\n"
    "\n"
    "Compiles a model described in the attncc Lua DSL into standalone C (OUT.c and OUT.h).\n"
    "\n"
    "options:\n"
    "  -o FILE             write the C source to FILE and the header beside it (.h)\n"
    "  --weights FILE      load the parameters from a .safetensors file (PyTorch state_dict\n"
    "                      names) and embed them; without it OUT.h declares a params struct\n"
    "  -D NAME=VALUE       a value model.lua reads with define(\"NAME\", default)\n"
    "  --prefix NAME       prefix of every exported symbol (default: OUT's base name)\n"
    "  --target T          native (default: this machine), avx512, avx2, neon or generic:\n"
    "                      the kernels the generated code uses (generic is portable C)\n"
    "  --threads N         split the big loops over N threads (OpenMP; build the output\n"
    "                      with -fopenmp, without it the code runs single-threaded)\n"
    "  -MD                 also write a make depfile (OUT.d) naming model.lua, every file\n"
    "                      it required and the weights file; -MF FILE names it\n"
    "  --dump-graph        print the graph after planning, as text, to stdout\n"
    "  --report            print the memory plan: workspace bytes, the naive sum of all\n"
    "                      intermediates, the largest live set, and the parameter bytes\n"
    "  -v                  show Lua tracebacks with errors in model.lua\n"
    "  --help              this text\n"
    "  --version           the attncc version\n"
    "\n"
    "check options (compile-and-compare against reference outputs):\n"
    "  --ref FILE          .safetensors with the inputs and the expected outputs, by name\n"
    "  --runtime-weights   load the parameters at run time (runtime/attncc_params.c) instead\n"
    "                      of embedding them\n"
    "  --tol X             pass when |out - ref| <= X * (1 + |ref|) everywhere (default 1e-4)\n"
    "  --cc CC             C compiler to build with (default: $CC, else clang)\n"
    "  --keep DIR          keep the generated and built files in DIR\n"
    "  --repeat N          also time N runs and print the median\n";

typedef struct {
  const char *model, *out, *weights, *prefix, *ref, *cc, *keep, *target, *depfile;
  bool md;
  int threads;
  Define *defines;
  int ndefines;
  bool check, runtime_weights, dump, verbose, report;
  double tol;
  int repeat;
  const char *command_line;
} Args;

static int arg_error(const char *fmt, const char *what) {
  fprintf(stderr, "attncc: error: ");
  fprintf(stderr, fmt, what);
  fprintf(stderr, "\n(run 'attncc --help' for usage)\n");
  return 1;
}

/* the value of a flag, as "--flag VALUE" or "--flag=VALUE" */
static const char *flag_value(int argc, char **argv, int *i, const char *flag) {
  size_t n = strlen(flag);
  if (!strncmp(argv[*i], flag, n) && argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (strcmp(argv[*i], flag))
    return NULL;
  if (*i + 1 >= argc)
    return "";
  return argv[++*i];
}

static const char *quote_arg(const char *s) {
  if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,+:") ==
                strlen(s))
    return s;
  StrBuf sb = {0};
  sb_puts(&sb, "'");
  for (; *s; s++) {
    if (*s == '\'')
      sb_puts(&sb, "'\\''");
    else if (*s == '*' && s[1] == '/')
      sb_puts(&sb, "*'\\''"); /* never close the head comment */
    else
      sb_printf(&sb, "%c", *s);
  }
  sb_puts(&sb, "'");
  char *r = xstrdup(sb.buf);
  sb_free(&sb);
  return r;
}

static int parse_args(int argc, char **argv, Args *a) {
  a->tol = 1e-4;
  a->defines = xalloc(sizeof(Define) * (size_t)argc);
  a->command_line = "attncc"; /* built in the arena: an early error return leaks nothing */
  int first = 1;
  if (argc > 1 && !strcmp(argv[1], "check")) {
    a->check = true;
    first = 2;
    a->command_line = "attncc check";
  }
  for (int i = first; i < argc; i++) {
    const char *v;
    int start = i;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      exit(0);
    } else if (!strcmp(argv[i], "--version")) {
      printf("attncc %s\n", ATTNCC_VERSION);
      exit(0);
    } else if ((v = flag_value(argc, argv, &i, "-o"))) {
      a->out = v;
    } else if ((v = flag_value(argc, argv, &i, "--weights"))) {
      a->weights = v;
    } else if ((v = flag_value(argc, argv, &i, "--prefix"))) {
      a->prefix = v;
    } else if ((v = flag_value(argc, argv, &i, "--ref"))) {
      a->ref = v;
    } else if ((v = flag_value(argc, argv, &i, "--cc"))) {
      a->cc = v;
    } else if ((v = flag_value(argc, argv, &i, "--keep"))) {
      a->keep = v;
    } else if ((v = flag_value(argc, argv, &i, "--tol"))) {
      char *end;
      a->tol = strtod(v, &end);
      if (!*v || *end || !(a->tol > 0))
        return arg_error("--tol needs a positive number, got '%s'", v);
    } else if ((v = flag_value(argc, argv, &i, "--target"))) {
      a->target = v;
      if (*v && !target_find(v))
        return arg_error("unknown target '%s' (native, avx512, avx2, neon, generic)", v);
    } else if ((v = flag_value(argc, argv, &i, "--threads"))) {
      char *end;
      long t = strtol(v, &end, 10);
      if (*v && (*end || t < 1 || t > 1024))
        return arg_error("--threads needs a number from 1 to 1024, got '%s'", v);
      a->threads = (int)t;
    } else if ((v = flag_value(argc, argv, &i, "--repeat"))) {
      a->repeat = atoi(v);
    } else if (!strcmp(argv[i], "--runtime-weights")) {
      a->runtime_weights = true;
    } else if (!strcmp(argv[i], "-MD")) {
      a->md = true;
    } else if ((v = flag_value(argc, argv, &i, "-MF"))) {
      a->depfile = v;
      a->md = true;
    } else if (!strcmp(argv[i], "--report")) {
      a->report = true;
    } else if (!strcmp(argv[i], "--dump-graph")) {
      a->dump = true;
    } else if (!strcmp(argv[i], "-v")) {
      a->verbose = true;
    } else if (!strncmp(argv[i], "-D", 2)) {
      const char *def = argv[i][2] ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : "");
      const char *eq = strchr(def, '=');
      if (!eq || eq == def)
        return arg_error("-D needs NAME=VALUE, got '%s'", def);
      Define *d = &a->defines[a->ndefines++];
      d->name = xformat("%.*s", (int)(eq - def), def);
      d->value = eq + 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return arg_error("unknown option '%s'", argv[i]);
    } else if (a->model) {
      return arg_error("more than one model file given ('%s')", argv[i]);
    } else {
      a->model = argv[i];
    }
    if (v && !*v)
      return arg_error("%s needs a value", argv[start]);
    for (int k = start; k <= i; k++)
      a->command_line = xformat("%s %s", a->command_line, quote_arg(argv[k]));
  }
  if (!a->model)
    return arg_error("%s", "no model file given");
  if (a->check && !a->ref)
    return arg_error("%s", "check needs --ref REF.safetensors");
  if (a->check && a->runtime_weights && !a->weights)
    return arg_error("%s", "--runtime-weights needs --weights FILE");
  if (!a->check && !a->out)
    return arg_error("%s", "no output file given (-o OUT.c)");
  return 0;
}

/* "dir/model.c" -> "model"; made a C identifier */
static const char *default_prefix(const char *out) {
  const char *base = strrchr(out, '/');
  base = base ? base + 1 : out;
  size_t n = strcspn(base, ".");
  char *p = xformat("%s%.*s", (base[0] >= '0' && base[0] <= '9') ? "m" : "", (int)n, base);
  for (char *c = p; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
      *c = '_';
  return *p ? p : "model";
}

static bool valid_prefix(const char *p) {
  if (!*p || (*p >= '0' && *p <= '9'))
    return false;
  for (; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_'))
      return false;
  return true;
}

static const char *header_path(const char *out) {
  size_t n = strlen(out);
  if (n > 2 && !strcmp(out + n - 2, ".c"))
    return xformat("%.*s.h", (int)(n - 2), out);
  return xformat("%s.h", out);
}

typedef void (*EmitFn)(const Graph *, const EmitOptions *, FILE *);

/* writes into a temporary file beside path; returns its name, or NULL */
static const char *emit_to_temp(const char *path, EmitFn fn, const Graph *g, const EmitOptions *o) {
  char *tmp = xformat("%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, "attncc: error: cannot write %s: %s\n", path, strerror(errno));
    return NULL;
  }
  mode_t mask = umask(0); /* mkstemp makes 0600: give the output the usual mode */
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  FILE *f = fdopen(fd, "wb");
  fn(g, o, f);
  if (ferror(f) | (fclose(f) != 0)) {
    fprintf(stderr, "attncc: error: cannot write %s: %s\n", path, strerror(errno));
    unlink(tmp);
    return NULL;
  }
  return tmp;
}

/* make-style escaping of a path in a depfile */
static void put_dep_path(FILE *f, const char *p) {
  for (; *p; p++) {
    if (*p == ' ' || *p == '#')
      fputc('\\', f);
    if (*p == '$')
      fputc('$', f);
    fputc(*p, f);
  }
}

/* OUT.c OUT.h: model.lua required.lua ... weights (and an empty rule for each, as -MP),
 * written into a temporary file beside path; returns its name, or NULL */
static const char *depfile_to_temp(const Graph *g, const char *out, const char *weights,
                                   const char *path) {
  char *tmp = xformat("%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
  if (!f) {
    fprintf(stderr, "attncc: error: cannot write %s: %s\n", path, strerror(errno));
    return NULL;
  }
  const char *deps[256];
  int n = 0;
  for (int i = 0; i < g->nsources && n < 255; i++)
    deps[n++] = g->sources[i];
  if (weights)
    deps[n++] = weights;
  put_dep_path(f, out);
  fputc(' ', f);
  put_dep_path(f, header_path(out));
  fputc(':', f);
  for (int i = 0; i < n; i++) {
    fputs(" \\\n  ", f);
    put_dep_path(f, deps[i]);
  }
  fputc('\n', f);
  for (int i = 0; i < n; i++) {
    fputc('\n', f);
    put_dep_path(f, deps[i]);
    fputs(":\n", f);
  }
  if (fclose(f) != 0) {
    unlink(tmp);
    fprintf(stderr, "attncc: error: cannot write %s: %s\n", path, strerror(errno));
    return NULL;
  }
  return tmp;
}

/* OUT.c, OUT.h and the depfile (when depfile is not NULL): all of them or none */
static int write_outputs(const Graph *g, const EmitOptions *o, const char *out,
                         const char *weights, const char *depfile) {
  const char *hpath = header_path(out);
  const char *tc = emit_to_temp(out, emit_source, g, o);
  const char *th = tc ? emit_to_temp(hpath, emit_header, g, o) : NULL;
  const char *td = th && depfile ? depfile_to_temp(g, out, weights, depfile) : NULL;
  if (!th || (depfile && !td) || rename(tc, out) != 0 || rename(th, hpath) != 0 ||
      (td && rename(td, depfile) != 0)) {
    if (tc && th && (!depfile || td))
      fprintf(stderr, "attncc: error: cannot write %s: %s\n", out, strerror(errno));
    const char *temps[] = {tc, th, td};
    for (int i = 0; i < 3; i++)
      if (temps[i])
        unlink(temps[i]);
    return 1;
  }
  return 0;
}

/* --report: the memory plan against what a naive allocator would need */
static void print_report(const Graph *g, const char *model) {
  int64_t params = 0;
  for (int i = 0; i < g->nparams; i++)
    params += shape_numel(&g->params[i]->shape) * (int64_t)sizeof(float);
  printf("report: %s\n", model);
  printf("report:   workspace        %12lld bytes\n", (long long)g->workspace_size);
  printf("report:   naive sum        %12lld bytes (every intermediate and scratch buffer)\n",
         (long long)g->naive_bytes);
  printf("report:   largest live set %12lld bytes\n", (long long)g->max_live_bytes);
  printf("report:   workspace / largest live set = %.3f\n",
         g->max_live_bytes ? (double)g->workspace_size / (double)g->max_live_bytes : 1.0);
  printf("report:   parameters       %12lld bytes (%d tensors)\n", (long long)params, g->nparams);
}

static int compile(const Args *a) {
  HostOptions ho = {a->model, a->defines, a->ndefines, a->verbose};
  Graph *g = lua_host_run(&ho);
  if (!g)
    return 1;
  for (int i = 0; i < g->nparams; i++) {
    if (!g->params[i]->name) {
      const Node *n = g->params[i];
      fprintf(stderr, "%s:%d: error: nn.Parameter is not assigned to a module attribute "
                      "(self.name = nn.Parameter(...)), so it has no state_dict name\n",
              n->loc.file, n->loc.line);
      return 1;
    }
  }
  bool embed = a->weights && !a->runtime_weights;
  if (embed && !weights_load(g, a->weights))
    return 1;
  if (a->check && !a->weights && g->nparams > 0) {
    fprintf(stderr, "attncc: error: the model has %d parameters: pass --weights FILE\n",
            g->nparams);
    return 1;
  }
  const Target *target = target_find(a->target ? a->target : "native");
  g->gemm_nr = target->gemm_nr;
  g->threads = a->threads > 1 ? a->threads : 1;
  fold_constants(g);
  simplify_run(g);
  fuse_attention(g);
  fuse_epilogues(g);
  fuse_elementwise(g);
  pack_weights(g);
  memplan_run(g);
  if (a->dump)
    graph_dump(g, stdout);
  if (a->report)
    print_report(g, a->model);
  EmitOptions eo = {0};
  eo.embed_weights = embed || g->nparams == 0;
  eo.command_line = a->command_line;
  eo.target = target;
  eo.threads = a->threads > 1 ? a->threads : 1;
  if (a->check) {
    eo.prefix = a->prefix ? a->prefix : "model";
    bool native = !a->target || !strcmp(a->target, "native");
    CheckOptions co = {a->ref, a->weights, a->runtime_weights && g->nparams > 0,
                       a->cc ? a->cc : (getenv("CC") ? getenv("CC") : "clang"),
                       a->keep, a->tol, a->repeat,
                       xformat("%s%s", native ? "-march=native" : target->cflags,
                               eo.threads > 1 ? " -fopenmp" : "")};
    return check_run(g, &eo, &co);
  }
  eo.prefix = a->prefix ? a->prefix : default_prefix(a->out);
  if (!valid_prefix(eo.prefix)) {
    fprintf(stderr, "attncc: error: --prefix '%s' is not a C identifier\n", eo.prefix);
    return 1;
  }
  const char *h = header_path(a->out);
  const char *slash = strrchr(h, '/');
  eo.header_name = slash ? slash + 1 : h;
  const char *d = NULL;
  if (a->md) {
    size_t n = strlen(a->out);
    d = a->depfile ? a->depfile
        : (n > 2 && !strcmp(a->out + n - 2, ".c")) ? xformat("%.*s.d", (int)(n - 2), a->out)
                                                   : xformat("%s.d", a->out);
  }
  return write_outputs(g, &eo, a->out, a->weights, d);
}

int main(int argc, char **argv) {
  Args a = {0};
  int rc = parse_args(argc, argv, &a);
  if (rc == 0)
    rc = compile(&a);
  arena_free_all();
  return rc;
}
