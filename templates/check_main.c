/* check_main.c: the program `attncc check` builds around a generated model. It reads
 * the reference inputs and outputs from a .safetensors file (and, with run-time
 * weights, the parameters), runs the model, and prints for each output the largest
 * absolute error and the largest error relative to 1 + |ref|; exit 0 when every
 * element has |out - ref| <= tol * (1 + |ref|), 1 on a mismatch or a reference file
 * that does not fit the model. With --repeat N it also times N runs.
 * usage: check REF.safetensors TOL [--weights W.safetensors] [--repeat N] */
#define _POSIX_C_SOURCE 200809L
#include "check_main.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void format_shape(const long long *shape, int ndim, char *buf, size_t len) {
  size_t at = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < ndim && at < len; d++)
    at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? "," : "", shape[d]);
  if (at < len)
    snprintf(buf + at, len - at, "]");
}

static int same_shape(const attncc_st_tensor *t, const check_tensor *c) {
  if (t->ndim != c->ndim)
    return 0;
  for (int d = 0; d < c->ndim; d++)
    if (t->shape[d] != c->shape[d])
      return 0;
  return 1;
}

static const attncc_st_tensor *find_checked(const attncc_st_file *f, const check_tensor *c,
                                            const char *kind) {
  const attncc_st_tensor *t = attncc_st_find(f, c->name);
  char want[128], got[128];
  format_shape(c->shape, c->ndim, want, sizeof want);
  if (!t) {
    fprintf(stderr, "check: error: the reference file has no %s '%s' %s\n", kind, c->name, want);
    return NULL;
  }
  long long shape[8];
  for (int d = 0; d < t->ndim; d++)
    shape[d] = (long long)t->shape[d];
  format_shape(shape, t->ndim, got, sizeof got);
  if (!same_shape(t, c)) {
    fprintf(stderr, "check: error: %s '%s' has shape %s in the reference file, the model expects %s\n",
            kind, c->name, got, want);
    return NULL;
  }
  return t;
}

static void *load_input(const attncc_st_tensor *t, const check_tensor *c) {
  void *buf = malloc((size_t)c->numel * 4 + 1);
  if (!buf)
    return NULL;
  if (c->dtype == 0) {
    if (attncc_st_to_f32(t, buf) == 0)
      return buf;
  } else {
    int32_t *tmp = malloc((size_t)c->numel * 4 + 1);
    int ok = tmp && attncc_st_to_i32(t, tmp) == 0;
    for (long long i = 0; ok && i < c->numel; i++) {
      if (c->dtype == 1)
        ((int32_t *)buf)[i] = tmp[i];
      else
        ((uint8_t *)buf)[i] = tmp[i] != 0;
    }
    free(tmp);
    if (ok)
      return buf;
  }
  fprintf(stderr, "check: error: input '%s': cannot convert %s to the model's dtype\n", c->name,
          attncc_st_dtype_name(t->dtype));
  free(buf);
  return NULL;
}

static double value_at(const void *p, int dtype, long long i) {
  if (dtype == 0)
    return ((const float *)p)[i];
  if (dtype == 1)
    return ((const int32_t *)p)[i];
  return ((const uint8_t *)p)[i];
}

/* prints one line per output; returns 1 when all are within tolerance */
static int compare(const check_tensor *c, const void *out, const float *ref, double tol) {
  double max_abs = 0, max_rel = 0;
  long long worst = 0;
  int ok = 1;
  for (long long i = 0; i < c->numel; i++) {
    double o = value_at(out, c->dtype, i), r = ref[i];
    double err;
    if (isnan(r) || isnan(o))
      err = (isnan(r) && isnan(o)) ? 0 : INFINITY;
    else if (isinf(r) || isinf(o))
      err = (o == r) ? 0 : INFINITY;
    else
      err = fabs(o - r);
    double rel = err / (1.0 + (isfinite(r) ? fabs(r) : 0));
    if (err > max_abs)
      max_abs = err;
    if (rel > max_rel) {
      max_rel = rel;
      worst = i;
    }
    if (!(rel <= tol))
      ok = 0;
  }
  char shape[128];
  format_shape(c->shape, c->ndim, shape, sizeof shape);
  printf("check: output %s shape %s max_abs_err %.3g max_rel_err %.3g %s\n", c->name, shape,
         max_abs, max_rel, ok ? "ok" : "MISMATCH");
  if (!ok)
    printf("check:   worst element %lld: got %.9g, expected %.9g\n", worst,
           value_at(out, c->dtype, worst), (double)ref[worst]);
  return ok;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s REF.safetensors TOL [--weights W.safetensors] [--repeat N]\n", argv[0]);
    return 2;
  }
  const char *weights = NULL;
  int repeat = 0;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--weights"))
      weights = argv[i + 1];
    else if (!strcmp(argv[i], "--repeat"))
      repeat = atoi(argv[i + 1]);
  }
  double tol = atof(argv[2]);
  char err[1024];
  attncc_st_file ref;
  if (attncc_st_open(&ref, argv[1], err, sizeof err) != 0) {
    fprintf(stderr, "check: error: %s\n", err);
    return 1;
  }
  int nin = 0, nout = 0, status = 1; /* until the outputs are compared: a bad reference */
  while (check_inputs[nin].name)
    nin++;
  while (check_outputs[nout].name)
    nout++;
  void **in = calloc((size_t)nin + 1, sizeof *in), **out = calloc((size_t)nout + 1, sizeof *out);
  float **expect = calloc((size_t)nout + 1, sizeof *expect);
  void *params = calloc(1, check_params_size + 1);
  float *storage = NULL;
  size_t ws_bytes = (check_workspace_size + 63) / 64 * 64 + 64;
  void *ws = aligned_alloc(64, ws_bytes);
  if (!in || !out || !expect || !params || !ws)
    goto done;
  for (int i = 0; i < nin; i++) {
    const attncc_st_tensor *t = find_checked(&ref, &check_inputs[i], "input");
    if (!t || !(in[i] = load_input(t, &check_inputs[i])))
      goto done;
  }
  for (int k = 0; k < nout; k++) {
    const attncc_st_tensor *t = find_checked(&ref, &check_outputs[k], "output");
    if (!t)
      goto done;
    out[k] = calloc((size_t)check_outputs[k].numel, 4);
    expect[k] = malloc((size_t)check_outputs[k].numel * 4);
    if (!out[k] || !expect[k] || attncc_st_to_f32(t, expect[k]) != 0)
      goto done;
  }
  if (check_param_info) {
    if (!weights) {
      fprintf(stderr, "check: error: this model loads its weights at run time: pass --weights\n");
      goto done;
    }
    if (attncc_load_params(weights, check_param_info, check_num_params, check_buffer_names,
                           params, &storage, err, sizeof err) != 0) {
      fprintf(stderr, "check: error: %s\n", err);
      goto done;
    }
  }
  int rc = check_call(in, out, params, ws);
  if (rc != 0)
    printf("check: the model returned %d (an index input out of range)\n", rc);
  int all_ok = 1;
  for (int k = 0; k < nout; k++)
    all_ok &= compare(&check_outputs[k], out[k], expect[k], tol);
  if (repeat > 0) {
    double *ms = malloc(sizeof(double) * (size_t)repeat);
    for (int r = 0; ms && r < repeat; r++) {
      double t0 = now_ms();
      check_call(in, out, params, ws);
      ms[r] = now_ms() - t0;
    }
    if (ms) {
      qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
      printf("check: time median_ms %.4f min_ms %.4f runs %d\n", ms[repeat / 2], ms[0], repeat);
      free(ms);
    }
  }
  status = all_ok ? 0 : 1;
done:
  for (int i = 0; in && i < nin; i++)
    free(in[i]);
  for (int k = 0; out && k < nout; k++) {
    free(out[k]);
    free(expect[k]);
  }
  free(in);
  free(out);
  free(expect);
  free(params);
  free(storage);
  free(ws);
  attncc_st_close(&ref);
  return status;
}
