/* check_main.c: the program `attncc check` builds around a generated model. It reads
 * the reference inputs and outputs from a .safetensors file (and, with run-time
 * weights, the parameters), runs the model, and prints for each output the largest
 * absolute error and the largest error relative to 1 + |ref|; exit 0 when every
 * element has |out - ref| <= tol * (1 + |ref|), 1 on a mismatch or a reference file
 * that does not fit the model. With run-time weights it runs the prepared variant too
 * (PREFIX_prepare, then PREFIX_run_prepared, each in a workspace of the size the header
 * gives it, the bytes past that checked untouched) and compares again. With --repeat N it also
 * times N runs (of each variant).
 * usage: check REF.safetensors TOL [--weights W.safetensors] [--repeat N] */
#define _POSIX_C_SOURCE 200809L
#include "check_main.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* a buffer's bytes: `bytes` rounded up to 64, and 64 more */
static size_t padded(size_t bytes) { return (bytes + 63) / 64 * 64 + 64; }

/* whether `who` left bytes [size, end) of its workspace p as they were filled (0x7f);
 * prints what it did when not */
static int within(const char *who, const unsigned char *p, size_t size, size_t end) {
  for (size_t i = size; i < end; i++)
    if (p[i] != 0x7f) {
      printf("check: %s wrote past its workspace's %zu bytes\n", who, size);
      return 0;
    }
  return 1;
}

/* prints one line per output ("check: output ..." after PREFIX_run, "check: prepared
 * output ..." after PREFIX_run_prepared: label); returns 1 when all are within tolerance */
static int compare(const check_tensor *c, const void *out, const float *ref, double tol,
                   const char *label) {
  tensor_error e = compare_tensor(out, c->dtype, ref, 0, c->numel, tol);
  char shape[128];
  format_shape(c->shape, c->ndim, shape, sizeof shape);
  printf("check: %soutput %s shape %s max_abs_err %.3g max_rel_err %.3g %s\n", label, c->name,
         shape, e.max_abs, e.max_rel, e.ok ? "ok" : "MISMATCH");
  if (!e.ok)
    printf("check:   worst element %lld: got %.9g, expected %.9g\n", e.worst,
           value_at(out, c->dtype, e.worst), (double)ref[e.worst]);
  return e.ok;
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

/* sorts ms[0..repeat) and prints its median and minimum: "check: time <label>median_ms ..." */
static void print_times(double *ms, int repeat, const char *label) {
  qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
  printf("check: time %smedian_ms %.4f min_ms %.4f runs %d\n", label, ms[repeat / 2], ms[0],
         repeat);
}

/* --profile: each kernel call's median over the runs (call_ms[call][run], sorted here),
 * its share of the median run, the GFLOP/s of its matrix products, and what it computes */
static void print_profile(const check_model *m, double *call_ms, size_t calls, int repeat,
                          double run_ms) {
  double sum = 0;
  for (size_t c = 0; c < calls; c++) {
    double *t = call_ms + c * (size_t)repeat;
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    sum += t[repeat / 2];
  }
  if (calls)
    printf("check: profile: %zu kernel calls, medians over %d runs (sum %.4f ms)\n", calls, repeat,
           sum);
  for (size_t c = 0; c < calls; c++) {
    const double ms = call_ms[c * (size_t)repeat + (size_t)(repeat / 2)];
    char rate[32] = "";
    if (m->kernel_flops[c] > 0 && ms > 0)
      snprintf(rate, sizeof rate, "%7.1f GFLOP/s", m->kernel_flops[c] / ms * 1e-6);
    printf("check: call %3zu %10.4f ms %5.1f %% %15s  %s\n", c, ms,
           run_ms > 0 ? 100.0 * ms / run_ms : 0.0, rate, m->kernel_what[c]);
  }
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
  const check_model *m = &model_under_check;
  int nin = 0, nout = 0, status = 1; /* until the outputs are compared: a bad reference */
  while (m->inputs[nin].name)
    nin++;
  while (m->outputs[nout].name)
    nout++;
  void **in = calloc((size_t)nin + 1, sizeof *in), **out = calloc((size_t)nout + 1, sizeof *out);
  float **expect = calloc((size_t)nout + 1, sizeof *expect);
  void *params = calloc(1, m->params_size + 1);
  float *storage = NULL;
  void *prepared = NULL, *pws = NULL;
  size_t ws_bytes = padded(m->workspace_size);
  void *ws = aligned_alloc(64, ws_bytes);
  if (!in || !out || !expect || !params || !ws)
    goto done;
  for (int i = 0; i < nin; i++) {
    const attncc_st_tensor *t = find_checked(&ref, &m->inputs[i], "input");
    if (!t || !(in[i] = load_input(t, &m->inputs[i])))
      goto done;
  }
  for (int k = 0; k < nout; k++) {
    const attncc_st_tensor *t = find_checked(&ref, &m->outputs[k], "output");
    if (!t)
      goto done;
    out[k] = calloc((size_t)m->outputs[k].numel, 4);
    expect[k] = malloc((size_t)m->outputs[k].numel * 4);
    if (!out[k] || !expect[k] || attncc_st_to_f32(t, expect[k]) != 0)
      goto done;
  }
  if (m->param_info) {
    if (!weights) {
      fprintf(stderr, "check: error: this model loads its weights at run time: pass --weights\n");
      goto done;
    }
    if (attncc_load_params(weights, m->param_info, m->num_params, m->buffer_names,
                           params, &storage, err, sizeof err) != 0) {
      fprintf(stderr, "check: error: %s\n", err);
      goto done;
    }
  }
  /* every output and the workspace start as 0x7f bytes (floats of 3.4e38, not 0): an
   * element the model forgets to write, or scratch it reads before writing, shows */
  for (int k = 0; k < nout; k++)
    memset(out[k], 0x7f, (size_t)m->outputs[k].numel * 4);
  memset(ws, 0x7f, ws_bytes);
  int rc = m->call(in, out, params, ws);
  if (rc != 0)
    printf("check: the model returned %d (an index input out of range)\n", rc);
  int all_ok = 1;
  for (int k = 0; k < nout; k++)
    all_ok &= compare(&m->outputs[k], out[k], expect[k], tol, "");
  /* the prepared variant, from a buffer and a workspace of 0x7f bytes; the workspace
   * is as big as the larger of its two sizes, and 64 bytes more */
  const size_t pws_bytes = padded(m->prepare_workspace_size > m->run_prepared_workspace_size
                                      ? m->prepare_workspace_size
                                      : m->run_prepared_workspace_size);
  if (m->prepare) {
    size_t prep_bytes = padded(m->prepared_size);
    if (!(prepared = aligned_alloc(64, prep_bytes)) || !(pws = aligned_alloc(64, pws_bytes)))
      goto done;
    memset(prepared, 0x7f, prep_bytes);
    memset(pws, 0x7f, pws_bytes);
    int prep_rc = m->prepare(params, prepared, pws);
    all_ok &= within("prepare", pws, m->prepare_workspace_size, pws_bytes);
    memset(pws, 0x7f, pws_bytes); /* the run must not need what prepare left there */
    for (int k = 0; k < nout; k++)
      memset(out[k], 0x7f, (size_t)m->outputs[k].numel * 4);
    int run_rc = m->call_prepared(in, out, params, prepared, pws);
    all_ok &= within("run_prepared", pws, m->run_prepared_workspace_size, pws_bytes);
    if ((prep_rc | run_rc) != rc) {
      printf("check: the prepared variant returned %d (prepare %d) where run returned %d\n",
             run_rc, prep_rc, rc);
      all_ok = 0;
    }
    for (int k = 0; k < nout; k++)
      all_ok &= compare(&m->outputs[k], out[k], expect[k], tol, "prepared ");
  }
  if (repeat > 0) {
    const size_t calls = (size_t)m->num_timed;
    double *ms = malloc(sizeof(double) * (size_t)repeat);
    double *call_ms = malloc(sizeof(double) * (size_t)repeat * (calls + 1)); /* [call][run] */
    for (int r = 0; ms && call_ms && r < repeat; r++) {
      double t0 = now_ms();
      m->call(in, out, params, ws);
      ms[r] = now_ms() - t0;
      for (size_t c = 0; c < calls; c++)
        call_ms[c * (size_t)repeat + (size_t)r] = m->kernel_ms[c];
    }
    if (ms && call_ms) {
      print_times(ms, repeat, "");
      print_profile(m, call_ms, calls, repeat, ms[repeat / 2]);
    }
    free(ms);
    free(call_ms);
    ms = prepared ? malloc(sizeof(double) * (size_t)repeat) : NULL;
    for (int r = 0; ms && r < repeat; r++) {
      double t0 = now_ms();
      m->call_prepared(in, out, params, prepared, pws);
      ms[r] = now_ms() - t0;
    }
    if (ms)
      print_times(ms, repeat, "prepared ");
    free(ms);
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
  free(prepared);
  free(pws);
  attncc_st_close(&ref);
  return status;
}
