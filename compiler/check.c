/* check.c: `attncc check`, compile-and-compare for users. Writes the generated model,
 * a small driver (templates/check_main.c) and the runtime's safetensors reader into
 * a temporary directory, builds them with the C compiler, runs the program on the
 * reference inputs and reports each output's error against the reference outputs. */
#define _POSIX_C_SOURCE 200809L
#include "attncc.h"

#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static bool write_text(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "attncc: error: cannot write %s: %s\n", path, strerror(errno));
    return false;
  }
  return true;
}

static bool write_emitted(const char *path, EmitFn fn, const Graph *g, const EmitOptions *o) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "attncc: error: cannot write %s: %s\n", path, strerror(errno));
    return false;
  }
  fn(g, o, f);
  return fclose(f) == 0;
}

/* runs argv, returns its exit status (or -1 if it could not run / died by a signal) */
static int run(char *const *argv) {
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
  if (rc != 0) {
    fprintf(stderr, "attncc: error: cannot run %s: %s\n", argv[0], strerror(rc));
    return -1;
  }
  int st;
  if (waitpid(pid, &st, 0) < 0)
    return -1;
  if (WIFSIGNALED(st)) {
    fprintf(stderr, "attncc: error: %s was killed by signal %d\n", argv[0], WTERMSIG(st));
    return -1;
  }
  return WEXITSTATUS(st);
}

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      unlink(xformat("%s/%s", dir, e->d_name));
  closedir(d);
  rmdir(dir);
}

static const char *const check_files[] = {"attncc_safetensors.c", "attncc_safetensors.h",
                                          "attncc_params.c", "attncc_params.h",
                                          "tensor_io.c", "tensor_io.h",
                                          "check_main.c", "check_main.h", NULL};

/* a file the compiler builds: C, or the weights blob's assembler stub */
static bool is_source(const char *name) {
  size_t n = strlen(name);
  return n > 2 && (!strcmp(name + n - 2, ".c") || !strcmp(name + n - 2, ".S"));
}

/* appends the words of text (split at spaces) to argv from argv[n], at most up to argv[max - 1];
 * returns the new count */
static int add_words(char **argv, int n, int max, const char *text) {
  char *copy = xstrdup(text ? text : "");
  for (char *w = strtok(copy, " "); w && n < max; w = strtok(NULL, " "))
    argv[n++] = w;
  return n;
}

int check_build_and_run(const CheckOptions *co, const GeneratedFile *files,
                        const char *const *embedded, char *const *args) {
  char tmpl[] = "/tmp/attncc-check-XXXXXX";
  const char *dir = co->keep_dir;
  if (dir) {
    mkdir(dir, 0777);
  } else {
    const char *tmpdir = getenv("TMPDIR");
    char *t = tmpdir ? xformat("%s/attncc-check-XXXXXX", tmpdir) : tmpl;
    dir = mkdtemp(t);
    if (!dir) {
      fprintf(stderr, "attncc: error: cannot create a temporary directory: %s\n", strerror(errno));
      return -1;
    }
  }
  int status = -1;
  /* the compiler's words (split at spaces, as make splits $(CC): "ccache clang",
   * "clang --target=aarch64-linux-gnu -O3"): its leading words (the programs), then the
   * common flags, then its own flags, so they win over the common ones (-O3 over -O2),
   * then the target's flags; opt: the common -O flag's slot */
  char *words[8], *cc_argv[64];
  const int n_words = add_words(words, 0, 8, co->cc);
  int n = 0, w = 0;
  while (w < n_words && (w == 0 || words[w][0] != '-'))
    cc_argv[n++] = words[w++];
  if (n == 0)
    cc_argv[n++] = (char *)co->cc;
  const int opt = n + 1;
  cc_argv[n++] = "-std=c11";
  cc_argv[n++] = "-O2";
  cc_argv[n++] = "-Wall";
  cc_argv[n++] = "-Wextra";
  cc_argv[n++] = "-Werror";
  while (w < n_words)
    cc_argv[n++] = words[w++];
  n = add_words(cc_argv, n, 28, co->cflags);
  const char *exe = xformat("%s/check", dir);
  cc_argv[n++] = xformat("-I%s", dir);
  const int n_common = n;
  /* the generated sources (-O2, linked) and the support sources (-O0, in support.c) */
  const char *gen[8];
  int n_gen = 0;
  for (int i = 0; files[i].fn; i++) {
    const WeightBlob *blob = files[i].o->blob;
    if (files[i].blob_part && !(blob && blob->used))
      continue; /* the weights stayed in the C file */
    const char *path = xformat("%s/%s", dir, files[i].name);
    if (!write_emitted(path, files[i].fn, files[i].g, files[i].o))
      goto out;
    ATTN_ASSERT(n_gen < 8);
    if (is_source(files[i].name))
      gen[n_gen++] = path;
  }
  /* the support code (safetensors reader, comparison driver) reads the files and compares
   * once: it is built at -O0, only the generated code at -O2 (at -O2 it was a third of the
   * build time of a small model), and as one translation unit that includes its sources
   * (support.c): 0.1 s instead of 0.5 s for four, a quarter of a small model's check. The
   * sources define no clashing static names; check_main.c and debug_main.c define
   * _POSIX_C_SOURCE as support.c does. */
  StrBuf support = {0};
  sb_puts(&support, "/* support.c: attncc check's support sources, one translation unit */\n"
                    "#define _POSIX_C_SOURCE 200809L\n");
  for (int i = 0; embedded[i]; i++) {
    const EmbeddedFile *f = embedded_find(embedded[i]);
    ATTN_ASSERT(f);
    const char *path = xformat("%s/%s", dir, f->name);
    if (!write_text(path, f->text, f->len)) {
      sb_free(&support);
      goto out;
    }
    if (is_source(f->name))
      sb_printf(&support, "#include \"%s\"\n", f->name);
  }
  const char *support_c = xformat("%s/support.c", dir), *support_o = xformat("%s/support.o", dir);
  bool built = write_text(support_c, support.buf, support.len);
  sb_free(&support);
  if (!built)
    goto out;
  char *support_argv[64];
  memcpy(support_argv, cc_argv, sizeof(char *) * (size_t)n_common);
  support_argv[opt] = "-O0";
  support_argv[n_common] = "-c";
  support_argv[n_common + 1] = (char *)support_c;
  support_argv[n_common + 2] = "-o";
  support_argv[n_common + 3] = (char *)support_o;
  support_argv[n_common + 4] = NULL;
  built = run(support_argv) == 0;
  cc_argv[n++] = "-o";
  cc_argv[n++] = (char *)exe;
  for (int i = 0; i < n_gen; i++)
    cc_argv[n++] = (char *)gen[i];
  cc_argv[n++] = (char *)support_o;
  ATTN_ASSERT(n < 60);
  cc_argv[n++] = "-lcjson";
  cc_argv[n++] = "-lm";
  cc_argv[n] = NULL;
  if (!built || run(cc_argv) != 0) {
    fprintf(stderr, "attncc: error: the generated code did not build with %s%s\n", co->cc,
            co->keep_dir ? "" : " (--keep DIR keeps the files)");
    goto out;
  }
  /* the program, or the emulator's words and then the program (a cross-built target) */
  char *run_argv[32] = {NULL};
  int m = add_words(run_argv, 0, 15, co->emulator);
  run_argv[m++] = (char *)exe;
  for (int i = 0; args[i] && i < 14; i++)
    run_argv[m++] = args[i];
  fflush(stdout);
  status = run(run_argv);
  if (status < 0)
    status = 3; /* it crashed */
out:
  if (!co->keep_dir)
    remove_dir(dir);
  return status;
}

int check_run(const Graph *g, const EmitOptions *eo, const CheckOptions *co) {
  EmitOptions o = *eo;
  o.header_name = "model.h";
  o.blob_name = "model.weights.bin";
  o.blob_asm_name = "model.weights.S";
  /* model.c first: emitting it decides whether the weights go to the blob */
  const GeneratedFile files[] = {{"model.c", emit_source, g, &o, false},
                                 {"model.h", emit_header, g, &o, false},
                                 {"driver.c", emit_check_driver, g, &o, false},
                                 {"model.weights.bin", emit_weights_bin, g, &o, true},
                                 {"model.weights.S", emit_weights_asm, g, &o, true},
                                 {NULL, NULL, NULL, NULL, false}};
  char *args[8] = {(char *)co->ref_path, (char *)xformat("%g", co->tol), NULL};
  int k = 2;
  if (co->runtime_weights) {
    args[k++] = "--weights";
    args[k++] = (char *)co->weights_path;
  }
  if (co->repeat > 0) {
    args[k++] = "--repeat";
    args[k++] = (char *)xformat("%d", co->repeat);
  }
  args[k] = NULL;
  int rc = check_build_and_run(co, files, check_files, args);
  if (rc < 0)
    return 2;
  /* 0 match, 1 mismatch or bad reference file, else a crash */
  int status = rc == 0 ? 0 : rc == 1 ? 1 : 2;
  printf("check: %s\n", status == 0 ? "PASS" : "FAIL");
  return status;
}
