/* model_data.c: see model_data.h. */
#define _POSIX_C_SOURCE 200809L
#include "model_data.h"

#include "check_main.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t next_random(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8;
}

/* uniform in [-scale, scale] */
static float random_float(uint32_t *state, float scale) {
  return scale * ((float)next_random(state) / (float)(1u << 23) - 1.0f);
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) {
    fprintf(stderr, "model_data: out of memory\n");
    exit(2);
  }
  return p;
}

static void fill_input(void *buf, const check_tensor *t, uint32_t *state) {
  for (long long i = 0; i < t->numel; i++) {
    if (t->dtype == 0)
      ((float *)buf)[i] = random_float(state, 1.0f);
    else if (t->dtype == 1)
      ((int32_t *)buf)[i] = 1; /* a valid index, length or count in every example */
    else
      ((uint8_t *)buf)[i] = (uint8_t)(i % 4 != 1);
  }
}

void data_init(ModelData *d) {
  uint32_t state = 12345;
  memset(d, 0, sizeof *d);
  while (model_under_check.inputs[d->nin].name)
    d->nin++;
  while (model_under_check.outputs[d->nout].name)
    d->nout++;
  d->in = xcalloc((size_t)d->nin, sizeof *d->in);
  for (int i = 0; i < d->nin; i++) {
    d->in[i] = xcalloc((size_t)model_under_check.inputs[i].numel, 4);
    fill_input(d->in[i], &model_under_check.inputs[i], &state);
  }
  d->params = xcalloc(1, model_under_check.params_size);
  size_t total = 0;
  for (int p = 0; p < model_under_check.num_params; p++) {
    long long n = 1;
    for (int k = 0; k < model_under_check.param_info[p].ndim; k++)
      n *= model_under_check.param_info[p].shape[k];
    total += (size_t)n;
  }
  d->param_storage = xcalloc(total, sizeof(float));
  float *next = d->param_storage;
  for (int p = 0; p < model_under_check.num_params; p++) {
    long long n = 1;
    for (int k = 0; k < model_under_check.param_info[p].ndim; k++)
      n *= model_under_check.param_info[p].shape[k];
    for (long long i = 0; i < n; i++)
      next[i] = random_float(&state, 0.25f);
    memcpy((char *)d->params + model_under_check.param_info[p].offset, &next, sizeof next);
    next += n;
  }
}

void data_free(ModelData *d) {
  for (int i = 0; i < d->nin; i++)
    free(d->in[i]);
  free(d->in);
  free(d->params);
  free(d->param_storage);
}

size_t output_bytes(int k) { return (size_t)model_under_check.outputs[k].numel * 4; }

void **outputs_new(const ModelData *d) {
  void **out = xcalloc((size_t)d->nout, sizeof *out);
  for (int k = 0; k < d->nout; k++)
    out[k] = xcalloc(output_bytes(k), 1);
  return out;
}

void outputs_free(const ModelData *d, void **out) {
  for (int k = 0; k < d->nout; k++)
    free(out[k]);
  free(out);
}

size_t workspace_bytes(void) { return model_under_check.workspace_size; }

/* exactly `bytes`, 64-byte aligned; NULL for 0 */
static void *aligned_exact(size_t bytes, const char *what) {
  void *p = NULL;
  if (bytes && posix_memalign(&p, 64, bytes) != 0) {
    fprintf(stderr, "model_data: out of memory for %s\n", what);
    exit(2);
  }
  return p;
}

void *workspace_new(void) { return aligned_exact(model_under_check.workspace_size, "the workspace"); }

void *prepared_new(void) {
  const size_t bytes = model_under_check.prepared_size;
  return model_under_check.prepare ? aligned_exact(bytes ? bytes : 1, "the prepared buffer") : NULL;
}

int run_prepared_model(const ModelData *d, void **out, void *prepared) {
  void *pws = aligned_exact(model_under_check.prepare_workspace_size, "prepare's workspace");
  void *rws = aligned_exact(model_under_check.run_prepared_workspace_size, "the workspace");
  int rc = model_under_check.prepare(d->params, prepared, pws);
  rc |= model_under_check.call_prepared(d->in, out, d->params, prepared, rws);
  if (rc != 0)
    fprintf(stderr, "model_data: the prepared variant returned %d\n", rc);
  free(pws);
  free(rws);
  return rc;
}

int run_model(const ModelData *d, void **out, void *ws) {
  int rc = model_under_check.call(d->in, out, d->params, ws);
  if (rc != 0)
    fprintf(stderr, "model_data: the model returned %d\n", rc);
  return rc;
}
