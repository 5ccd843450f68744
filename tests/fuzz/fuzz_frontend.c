/* fuzz_frontend.c: libFuzzer target for the whole front end. The input is a model.lua
 * text; it goes through the same pipeline as `attncc model.lua -o out.c` (compiler/main.c,
 * built here with its main renamed to attncc_main), in process. Every input must end in
 * a diagnostic (status 1) or in C output (status 0): a crash, a sanitizer report, an
 * internal error (exit 2) or any other status is a finding. The fuzz build lowers the Lua
 * instruction and memory limits (Makefile), so every input terminates quickly. Run from
 * the repository root, the model's directory links examples/modules, so the examples in
 * the seed corpus find the files they require. */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int attncc_main(int argc, char **argv);

static char dir[] = "/tmp/attncc-fuzz-frontend-XXXXXX";
static char model_path[64], out_path[64];

static void remove_dir(void) {
  const char *names[] = {"model.lua", "out.c", "out.h", "modules"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char p[96];
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(1);
  }
  atexit(remove_dir);
  char modules[64], target[4096];
  snprintf(modules, sizeof modules, "%s/modules", dir);
  if (realpath("examples/modules", target) && symlink(target, modules) != 0)
    perror(modules);
  snprintf(model_path, sizeof model_path, "%s/model.lua", dir);
  snprintf(out_path, sizeof out_path, "%s/out.c", dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f = fopen(model_path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
    perror(model_path);
    abort();
  }
  char *argv[] = {"attncc", model_path, "-o", out_path, NULL};
  int rc = attncc_main(4, argv);
  if (rc != 0 && rc != 1) {
    fprintf(stderr, "fuzz_frontend: attncc returned %d (expected 0 or 1)\n", rc);
    abort();
  }
  return 0;
}
