/* check.c: `attncc check`, compile-and-compare for users. Writes the generated model,
 * a small driver (templates/check_main.c) and the runtime's safetensors reader into
 * a temporary directory, builds them with the C compiler, runs the program on the
 * reference inputs and reports each output's error against the reference outputs.
 * With a weights blob, model.weights.bin and its assembler stub are built in too. */
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

typedef void (*EmitFn)(const Graph *, const EmitOptions *, FILE *);

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

static const char *const runtime_files[] = {"attncc_safetensors.c", "attncc_safetensors.h",
                                            "attncc_params.c", "attncc_params.h",
                                            "check_main.c", "check_main.h", NULL};

int check_run(const Graph *g, const EmitOptions *eo, const CheckOptions *co) {
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
      return 2;
    }
  }
  int status = 2;
  EmitOptions o = *eo;
  o.header_name = "model.h";
  o.blob_name = "model.weights.bin";
  o.blob_asm_name = "model.weights.S";
  if (!write_emitted(xformat("%s/model.c", dir), emit_source, g, &o) ||
      !write_emitted(xformat("%s/model.h", dir), emit_header, g, &o) ||
      !write_emitted(xformat("%s/driver.c", dir), emit_check_driver, g, &o))
    goto out;
  if (o.blob && o.blob->used && (!write_emitted(xformat("%s/%s", dir, o.blob_name), emit_weights_bin, g, &o) ||
                 !write_emitted(xformat("%s/%s", dir, o.blob_asm_name), emit_weights_asm, g, &o)))
    goto out;
  for (int i = 0; runtime_files[i]; i++) {
    const EmbeddedFile *f = embedded_find(runtime_files[i]);
    ATTN_ASSERT(f);
    if (!write_text(xformat("%s/%s", dir, f->name), f->text, f->len))
      goto out;
  }
  const char *exe = xformat("%s/check", dir);
  char *cc_argv[32] = {(char *)co->cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"};
  int n = 6;
  char *flags = xstrdup(co->cflags);
  for (char *f = strtok(flags, " "); f && n < 20; f = strtok(NULL, " "))
    cc_argv[n++] = f;
  const char *rest[] = {xformat("-I%s", dir), "-o", exe, xformat("%s/model.c", dir),
                        xformat("%s/driver.c", dir), xformat("%s/check_main.c", dir),
                        xformat("%s/attncc_safetensors.c", dir),
                        xformat("%s/attncc_params.c", dir), "-lcjson", "-lm", NULL};
  for (int i = 0; rest[i]; i++)
    cc_argv[n++] = (char *)rest[i];
  if (o.blob && o.blob->used)
    cc_argv[n++] = xformat("%s/%s", dir, o.blob_asm_name);
  cc_argv[n] = NULL;
  if (run(cc_argv) != 0) {
    fprintf(stderr, "attncc: error: the generated code did not build with %s%s\n", co->cc,
            co->keep_dir ? "" : " (--keep DIR keeps the files)");
    goto out;
  }
  char *run_argv[8] = {(char *)exe, (char *)co->ref_path, (char *)xformat("%g", co->tol), NULL};
  int k = 3;
  if (co->runtime_weights) {
    run_argv[k++] = "--weights";
    run_argv[k++] = (char *)co->weights_path;
  }
  if (co->repeat > 0) {
    run_argv[k++] = "--repeat";
    run_argv[k++] = (char *)xformat("%d", co->repeat);
  }
  run_argv[k] = NULL;
  fflush(stdout);
  int rc = run(run_argv); /* 0 match, 1 mismatch or bad reference file, else a crash */
  status = rc == 0 ? 0 : rc == 1 ? 1 : 2;
  printf("check: %s\n", status == 0 ? "PASS" : "FAIL");
out:
  if (!co->keep_dir)
    remove_dir(dir);
  return status;
}
