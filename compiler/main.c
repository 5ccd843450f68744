/* main.c: the attncc command line. Parses flags, runs the pipeline
 *   lua_host_run -> [weights_load] -> fold_constants -> simplify_run -> fuse_attention
 *   -> fold_scale -> attention_layouts -> fold_projections -> fuse_epilogues -> fuse_layernorm -> fuse_elementwise -> pack_weights
 *   -> memplan_run -> prepare_plan -> row_groups -> emit_source/emit_header
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
    "       attncc debug [options] MODEL.lua --ref REF.safetensors\n"
    "\n"
    "Compiles a model described in the attncc Lua DSL into standalone C (OUT.c and OUT.h).\n"
    "\n"
    "options:\n"
    "  -o FILE             write the C source to FILE and the header beside it (.h)\n"
    "  --weights FILE      load the parameters from a .safetensors file (PyTorch state_dict\n"
    "                      names) and embed them; without it OUT.h declares a params struct\n"
    "  -D NAME=VALUE       a value model.lua reads with define(\"NAME\", default)\n"
    "  --weights-blob      write the embedded weights to OUT.weights.bin and the assembler\n"
    "                      stub OUT.weights.S that links it (.incbin), not as C arrays;\n"
    "                      the default above 4 MiB of weights (--no-weights-blob: never)\n"
    "  --prefix NAME       prefix of every exported symbol (default: OUT's base name)\n"
    "  --target T          native (default: this machine), avx512, avx2, neon (AArch64) or\n"
    "                      generic: the kernels the generated code uses (generic is\n"
    "                      portable C)\n"
    "  --threads N         split the big loops over N threads (OpenMP; build the output\n"
    "                      with -fopenmp, without it the code runs single-threaded)\n"
    "  -MD                 also write a make depfile (OUT.d) naming model.lua, every file\n"
    "                      it required and the weights file; -MF FILE names it\n"
    "  --dump-graph[=FMT]  print the graph after planning to stdout, as text (the default)\n"
    "                      or as a Graphviz digraph (--dump-graph=dot)\n"
    "  --dump-after=PASSES print the graph after each named pass instead (comma-separated:\n"
    "                      lua, fold, simplify, fuse_attention, fold_scale,\n"
    "                      attn_layout, fold_projection, fuse_epilogues,\n"
    "                      fuse_layernorm, fuse_elementwise, pack_weights, memplan,\n"
    "                      prepare, row_groups;"
    "                      or all)\n"
    "  --debug             a debug build: the run function hands every intermediate tensor\n"
    "                      to a hook, described by a table (name, op, model.lua line, module)\n"
    "  --report            print the memory plan: workspace bytes, the naive sum of all\n"
    "                      intermediates, the largest live set, and the parameter bytes\n"
    "  --time-limit S      CPU seconds model.lua may run (default 60, 0: no limit): a\n"
    "                      string pattern that backtracks without end runs in one C\n"
    "                      call, which the 2000 million Lua instruction limit misses\n"
    "  -v                  show Lua tracebacks with errors in model.lua\n"
    "  --help              this text\n"
    "  --version           the attncc version\n"
    "\n"
    "check options (compile-and-compare against reference outputs):\n"
    "  --ref FILE          .safetensors with the inputs and the expected outputs, by name\n"
    "  --runtime-weights   load the parameters at run time (runtime/attncc_params.c) instead\n"
    "                      of embedding them\n"
    "  --tol X             pass when |out - ref| <= X * (1 + |ref|) everywhere (default 1e-4)\n"
    "  --cc CC             C compiler to build with, words split at spaces (default:\n"
    "                      $CC, else clang); its flags come after check's own\n"
    "                      (-std=c11 -O2 -Wall -Wextra -Werror): --cc \"gcc -O3\" builds at -O3\n"
    "  --emulator CMD      run the built program as CMD PROGRAM ARGS (CMD's words split at\n"
    "                      spaces): check a cross-compiled target, e.g. --target neon\n"
    "                      --cc aarch64-linux-gnu-gcc --emulator qemu-aarch64\n"
    "  --keep DIR          keep the generated and built files in DIR\n"
    "  --repeat N          also time N runs and print the median\n"
    "  --profile           also time each kernel call of the run function over those runs\n"
    "                      (20 without --repeat) and print each one's median, with the\n"
    "                      model.lua op, line and module it computes\n"
    "\n"
    "debug (the check options apply): compares every intermediate tensor of the compiled\n"
    "model with the same model compiled unfused for the generic target, run on REF's\n"
    "inputs, and names the first op that diverges (model.lua line, module, shape, error)\n";

typedef struct {
  const char *model, *out, *weights, *prefix, *ref, *cc, *keep, *target, *depfile, *emulator;
  bool md;
  int threads;
  Define *defines;
  int ndefines;
  bool check, runtime_weights, dump, dump_dot, verbose, report;
  bool debug, debug_cmd;                   /* --debug; the `debug` command (implies check) */
  bool profile;                            /* check --profile */
  const char *dump_after;                  /* --dump-after: pass names, "all"; NULL: memplan */
  int weights_blob;                        /* 1 --weights-blob, 0 --no-weights-blob, -1 auto */
  double tol;
  int repeat;
  int time_limit; /* --time-limit: CPU seconds for model.lua */
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

/* the passes after lua_host, in order; --dump-after names them */
static const struct {
  const char *name;
  void (*run)(Graph *);
} passes[] = {{"fold", fold_constants},           {"simplify", simplify_run},
              {"fuse_attention", fuse_attention}, {"fold_scale", fold_scale},
              {"attn_layout", attention_layouts}, {"fold_projection", fold_projections},
              {"fuse_epilogues", fuse_epilogues},
              {"fuse_layernorm", fuse_layernorm}, {"fuse_elementwise", fuse_elementwise},
              {"pack_weights", pack_weights},
              {"memplan", memplan_run},           {"prepare", prepare_plan},
              {"row_groups", row_groups}};
#define NPASSES ((int)(sizeof passes / sizeof passes[0]))

/* is pass named in the comma-separated list? */
static bool pass_listed(const char *list, const char *pass) {
  size_t n = strlen(pass);
  for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
    size_t len = strcspn(p, ",");
    if ((len == n && !strncmp(p, pass, n)) || (len == 3 && !strncmp(p, "all", 3)))
      return true;
  }
  return false;
}

/* "lua, fold, ..., memplan, all": the names --dump-after takes */
static const char *pass_names(void) {
  const char *names = "lua";
  for (int k = 0; k < NPASSES; k++)
    names = xformat("%s, %s", names, passes[k].name);
  return xformat("%s, all", names);
}

/* the first name in the --dump-after list that is no pass, or NULL */
static const char *unknown_pass(const char *list) {
  for (const char *p = list;; p += strcspn(p, ",") + 1) {
    const char *name = xformat("%.*s", (int)strcspn(p, ","), p);
    bool known = !strcmp(name, "lua") || !strcmp(name, "all");
    for (int k = 0; k < NPASSES; k++)
      known |= !strcmp(name, passes[k].name);
    if (!known)
      return name;
    if (!p[strcspn(p, ",")])
      return NULL;
  }
}

static int parse_args(int argc, char **argv, Args *a) {
  a->tol = 1e-4;
  a->weights_blob = -1;
  a->time_limit = 60;
  a->defines = xalloc(sizeof(Define) * (size_t)argc);
  a->command_line = "attncc"; /* built in the arena: an early error return leaks nothing */
  int first = 1;
  if (argc > 1 && (!strcmp(argv[1], "check") || !strcmp(argv[1], "debug"))) {
    a->check = true;
    a->debug = a->debug_cmd = !strcmp(argv[1], "debug");
    first = 2;
    a->command_line = xformat("attncc %s", argv[1]);
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
    } else if ((v = flag_value(argc, argv, &i, "--emulator"))) {
      a->emulator = v;
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
    } else if ((v = flag_value(argc, argv, &i, "--time-limit"))) {
      char *end;
      long t = strtol(v, &end, 10);
      if (!*v || *end || t < 0 || t > 86400)
        return arg_error("--time-limit needs a number of seconds from 0 to 86400, got '%s'", v);
      a->time_limit = (int)t;
    } else if ((v = flag_value(argc, argv, &i, "--repeat"))) {
      a->repeat = atoi(v);
    } else if (!strcmp(argv[i], "--runtime-weights")) {
      a->runtime_weights = true;
    } else if (!strcmp(argv[i], "-MD")) {
      a->md = true;
    } else if ((v = flag_value(argc, argv, &i, "-MF"))) {
      a->depfile = v;
      a->md = true;
    } else if (!strcmp(argv[i], "--weights-blob") || !strcmp(argv[i], "--no-weights-blob")) {
      a->weights_blob = argv[i][2] != 'n';
    } else if (!strcmp(argv[i], "--profile")) {
      a->profile = true;
    } else if (!strcmp(argv[i], "--debug")) {
      a->debug = true;
    } else if (!strcmp(argv[i], "--report")) {
      a->report = true;
    } else if (!strcmp(argv[i], "--dump-graph")) {
      a->dump = true;
    } else if (!strncmp(argv[i], "--dump-graph=", 13)) {
      a->dump = true;
      a->dump_dot = !strcmp(argv[i] + 13, "dot");
      if (!a->dump_dot && strcmp(argv[i] + 13, "text"))
        return arg_error("--dump-graph=FORMAT: text or dot, got '%s'", argv[i] + 13);
    } else if ((v = flag_value(argc, argv, &i, "--dump-after"))) {
      a->dump = true;
      a->dump_after = v;
      const char *bad = unknown_pass(v);
      if (bad)
        return arg_error("%s", xformat("--dump-after: unknown pass '%s' (%s)", bad, pass_names()));
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
    return arg_error("%s needs --ref REF.safetensors", a->debug_cmd ? "debug" : "check");
  if (a->check && a->runtime_weights && !a->weights)
    return arg_error("%s", "--runtime-weights needs --weights FILE");
  if (a->profile && (!a->check || a->debug_cmd))
    return arg_error("%s", "--profile is an option of attncc check");
  if (a->profile && a->repeat <= 0)
    a->repeat = 20;
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

/* "dir/model.c" -> "dir/model<suffix>" (the suffix is appended when OUT has no .c) */
static const char *out_sibling(const char *out, const char *suffix) {
  size_t n = strlen(out);
  if (n > 2 && !strcmp(out + n - 2, ".c"))
    return xformat("%.*s%s", (int)(n - 2), out, suffix);
  return xformat("%s%s", out, suffix);
}

static const char *header_path(const char *out) { return out_sibling(out, ".h"); }

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
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

/* OUT.c OUT.h ...: model.lua required.lua ... weights (and an empty rule for each, as -MP),
 * written into a temporary file beside path; returns its name, or NULL */
static const char *depfile_to_temp(const Graph *g, const char *const *outs, int nouts,
                                   const char *weights, const char *path) {
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
  for (int i = 0; i < nouts; i++) {
    put_dep_path(f, outs[i]);
    fputc(i + 1 < nouts ? ' ' : ':', f);
  }
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

/* the files one compile writes: OUT.c, OUT.h and, with a weights blob, OUT.weights.bin
 * and OUT.weights.S; returns how many */
static int output_paths(const EmitOptions *o, const char *out, const char **paths) {
  paths[0] = out;
  paths[1] = header_path(out);
  if (!o->blob || !o->blob->used)
    return 2;
  paths[2] = out_sibling(out, ".weights.bin");
  paths[3] = out_sibling(out, ".weights.S");
  return 4;
}

/* every output (and the depfile, when depfile is not NULL) to temporaries first, then
 * renamed: all of them or none, and an error leaves the old outputs alone */
static int write_outputs(const Graph *g, const EmitOptions *o, const char *out,
                         const char *weights, const char *depfile) {
  static const EmitFn fns[] = {emit_source, emit_header, emit_weights_bin, emit_weights_asm};
  const char *paths[5], *tmp[5] = {0};
  tmp[0] = emit_to_temp(out, emit_source, g, o); /* it decides whether there is a blob */
  if (!tmp[0])
    return 1;
  int n = output_paths(o, out, paths), ok = 1;
  while (ok < n && (tmp[ok] = emit_to_temp(paths[ok], fns[ok], g, o)))
    ok++;
  if (ok == n && depfile) {
    paths[n] = depfile;
    if ((tmp[n] = depfile_to_temp(g, paths, n, weights, depfile)))
      ok++;
    n++;
  }
  for (int i = 0; ok == n && i < n; i++) {
    if (rename(tmp[i], paths[i]) != 0) {
      fprintf(stderr, "attncc: error: cannot write %s: %s\n", paths[i], strerror(errno));
      ok = -1;
    }
    tmp[i] = NULL;
  }
  for (int i = 0; i < n; i++)
    if (tmp[i])
      unlink(tmp[i]);
  return ok == n ? 0 : 1;
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
  if (g->prepared_size) {
    printf("report:   prepared         %12lld bytes (what _prepare computes once)\n",
           (long long)g->prepared_size);
    printf("report:   run_prepared ws  %12lld bytes (the prepared run's workspace)\n",
           (long long)g->run_prepared_workspace_size);
    printf("report:   prepare ws       %12lld bytes (_prepare's workspace)\n",
           (long long)g->prepare_workspace_size);
  }
}

/* --dump-graph / --dump-after: the graph after a pass, as text or Graphviz */
static void dump_after(const Args *a, Graph *g, const char *pass) {
  if (!a->dump || !(a->dump_after ? pass_listed(a->dump_after, pass) : !strcmp(pass, passes[NPASSES - 1].name)))
    return;
  graph_prune(g); /* the nodes that reach an output now */
  if (a->dump_dot) {
    graph_dump_dot(g, xformat("%s after %s", a->model, pass), stdout);
  } else {
    if (a->dump_after)
      printf("# after %s\n", pass);
    graph_dump(g, stdout);
  }
}

static int compile(const Args *a) {
  HostOptions ho = {a->model, a->defines, a->ndefines, a->verbose, a->time_limit};
  Graph *g = lua_host_run(&ho);
  if (!g)
    return 1;
  if (a->debug)
    debug_record(g);
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
  g->target = target;
  g->threads = a->threads > 1 ? a->threads : 1;
  dump_after(a, g, "lua");
  for (int k = 0; k < NPASSES; k++) {
    passes[k].run(g);
    dump_after(a, g, passes[k].name);
  }
  if (a->report)
    print_report(g, a->model);
  EmitOptions eo = {0};
  eo.embed_weights = embed || g->nparams == 0;
  eo.command_line = a->command_line;
  eo.target = target;
  eo.threads = a->threads > 1 ? a->threads : 1;
  WeightBlob blob = {.mode = a->weights_blob};
  eo.blob = &blob;
  eo.debug = a->debug;
  eo.profile = a->profile;
  eo.fault = a->debug ? getenv("ATTNCC_FAULT") : NULL;
  if (a->check) {
    eo.prefix = a->prefix ? a->prefix : "model";
    bool native = !a->target || !strcmp(a->target, "native");
    CheckOptions co = {a->ref, a->weights, a->runtime_weights && g->nparams > 0,
                       a->cc ? a->cc : (getenv("CC") ? getenv("CC") : "clang"),
                       a->keep, a->tol, a->repeat,
                       xformat("%s%s", native ? "-march=native" : target->cflags,
                               eo.threads > 1 ? " -fopenmp" : ""),
                       a->emulator && *a->emulator ? a->emulator : NULL};
#if !defined(__aarch64__) && !defined(_M_ARM64)
    if (!strcmp(target->name, "neon") && !co.emulator)
      fprintf(stderr, "attncc: note: --target neon is AArch64 code and this machine is not "
                      "AArch64: check it with --cc naming an AArch64 cross compiler and "
                      "--emulator (e.g. --cc aarch64-linux-gnu-gcc --emulator qemu-aarch64)\n");
#endif
    return a->debug_cmd ? debug_run(g, &eo, &co, &ho) : check_run(g, &eo, &co);
  }
  eo.prefix = a->prefix ? a->prefix : default_prefix(a->out);
  if (!valid_prefix(eo.prefix)) {
    fprintf(stderr, "attncc: error: --prefix '%s' is not a C identifier\n", eo.prefix);
    return 1;
  }
  eo.header_name = base_name(header_path(a->out));
  eo.blob_name = base_name(out_sibling(a->out, ".weights.bin"));
  eo.blob_asm_name = base_name(out_sibling(a->out, ".weights.S"));
  const char *d = a->md ? (a->depfile ? a->depfile : out_sibling(a->out, ".d")) : NULL;
  int rc = write_outputs(g, &eo, a->out, a->weights, d);
  if (rc == 0 && blob.used && a->weights_blob < 0)
    fprintf(stderr, "attncc: note: %lld MB of weights and constants went to %s, linked by %s "
                    "(build it with the C file; --no-weights-blob writes C arrays instead)\n",
            (long long)((blob.floats * 4) >> 20), out_sibling(a->out, ".weights.bin"),
            out_sibling(a->out, ".weights.S"));
  return rc;
}

int main(int argc, char **argv) {
  Args a = {0};
  int rc = parse_args(argc, argv, &a);
  if (rc == 0)
    rc = compile(&a);
  arena_free_all();
  return rc;
}
