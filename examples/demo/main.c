/* main.c: a tiny application around the compiled transformer block (make demo).
 * It loads the trained weights at run time with the runtime's safetensors loader,
 * packs them once (block_prepare, in a workspace it frees then), feeds one batch of
 * inputs, and prints a few outputs and the time per call, with the prepared weights (the
 * prepared run needs the smaller workspace) and with block_run, which packs them on every
 * call. No framework: the model is the generated block.c, the loader is
 * runtime/. */
#define _POSIX_C_SOURCE 200809L
#include "attncc_params.h"
#include "block.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* a buffer of `bytes` aligned as the model's buffers must be (aligned_alloc wants a
 * multiple of the alignment) */
static void *model_buffer(size_t bytes) {
  return aligned_alloc(BLOCK_WORKSPACE_ALIGN, (bytes + BLOCK_WORKSPACE_ALIGN - 1) /
                                                  BLOCK_WORKSPACE_ALIGN * BLOCK_WORKSPACE_ALIGN +
                                                  BLOCK_WORKSPACE_ALIGN);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s WEIGHTS.safetensors\n", argv[0]);
    return 2;
  }
  block_params params;
  float *storage = NULL;
  char err[512];
  if (attncc_load_params(argv[1], block_param_info, BLOCK_NUM_PARAMS, block_buffer_names, &params,
                         &storage, err, sizeof err) != 0) {
    fprintf(stderr, "demo: %s\n", err);
    return 1;
  }
  static float value[BLOCK_VALUE_NUMEL], key[BLOCK_KEY_NUMEL], query[BLOCK_QUERY_NUMEL];
  static float out[BLOCK_OUT_NUMEL];
  static int32_t mask[BLOCK_MASK_NUMEL];
  for (int i = 0; i < BLOCK_QUERY_NUMEL; i++)
    value[i] = key[i] = query[i] = (float)((i * 7919) % 200 - 100) / 100.0f;
  for (int i = 0; i < BLOCK_MASK_NUMEL; i++)
    mask[i] = 1;
  void *prepared = model_buffer(BLOCK_PREPARED_SIZE); /* the packed weights, kept */
  void *prep_ws = model_buffer(BLOCK_PREPARE_WORKSPACE_SIZE);
  if (!prepared || !prep_ws || block_prepare(&params, prepared, prep_ws) != 0)
    return 1;
  free(prep_ws);
  void *ws = model_buffer(BLOCK_RUN_PREPARED_WORKSPACE_SIZE);
  void *run_ws = model_buffer(BLOCK_WORKSPACE_SIZE); /* block_run's, for the comparison */
  if (!ws || !run_ws)
    return 1;
  block_run_prepared(value, key, query, mask, out, &params, prepared, ws);
  const int runs = 200;
  double t0 = now_ms();
  for (int r = 0; r < runs; r++)
    block_run_prepared(value, key, query, mask, out, &params, prepared, ws);
  double ms = (now_ms() - t0) / runs;
  t0 = now_ms();
  for (int r = 0; r < runs; r++)
    block_run(value, key, query, mask, out, &params, run_ws);
  double ms_packing = (now_ms() - t0) / runs;
  printf("demo: out[0,0,0:4] = %.5f %.5f %.5f %.5f\n", out[0], out[1], out[2], out[3]);
  printf("demo: %.3f ms per call (%.3f packing the weights in each call), workspace %d bytes "
         "(%d packing in each call), prepared weights %d bytes\n", ms, ms_packing,
         BLOCK_RUN_PREPARED_WORKSPACE_SIZE, BLOCK_WORKSPACE_SIZE, BLOCK_PREPARED_SIZE);
  free(prepared);
  free(ws);
  free(run_ws);
  free(storage);
  return 0;
}
