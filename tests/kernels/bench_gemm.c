/* bench_gemm.c: single-thread GFLOP/s of one GEMM kernel template (pick it with
 * -DKERNELS='"../../templates/kernels_avx512.c"', the default, kernels_avx2.c or
 * kernels_generic.c). Shapes are M x K x N: C[M,N] = A[M,K] * B[K,N]. Prints the median
 * wall time of many runs (batches of calls, >= 0.2 ms each), its GFLOP/s and % of the nominal
 * 240 GFLOP/s; then the same from the median thread CPU time (not inflated when other
 * processes share the cores), and that as % of the FMA peak measured here with the widest
 * vectors the build enables. `bench_gemm M K N [bias act]` times one shape. From the
 * repository root:
 *   clang -std=c11 -O2 -march=native -Wall -Wextra -Werror \
 *     -DKERNELS='"../../templates/kernels_avx512.c"' tests/kernels/bench_gemm.c -lm -o /tmp/bg
 *   (avx2: -mavx2 -mfma and kernels_avx2.c; generic: no flags and kernels_generic.c) */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef KERNELS
#define KERNELS "../../templates/kernels_avx512.c"
#endif
#define PREFIX_TARGET_SOFTMAX_ROWS /* the target file may define its own */
#define PREFIX_TARGET_SOFTMAX_BLOCK
#include "../../templates/kernels.c" /* PREFIX_exp, PREFIX_erf: the gelu epilogue */
#include KERNELS
#include "../../templates/gemm_driver.c"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#define NOMINAL_PEAK 240.0

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of this thread: robust when other processes share the cores */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* FMA throughput with 12 independent chains of the widest vector available */
static double measure_peak(void) {
#if defined(__AVX2__) && defined(__FMA__)
#if defined(__AVX512F__)
#define VEC __m512
#define VSET1 _mm512_set1_ps
#define VFMA _mm512_fmadd_ps
#define VLANES 16
#else
#define VEC __m256
#define VSET1 _mm256_set1_ps
#define VFMA _mm256_fmadd_ps
#define VLANES 8
#endif
  VEC v[12];
  const VEC x = VSET1(0.999999f), y = VSET1(1e-7f);
  for (int i = 0; i < 12; i++)
    v[i] = VSET1((float)i);
  const long n = 20000000;
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    const double t0 = cpu_now();
    for (long k = 0; k < n; k++) {
      v[0] = VFMA(v[0], x, y), v[1] = VFMA(v[1], x, y), v[2] = VFMA(v[2], x, y);
      v[3] = VFMA(v[3], x, y), v[4] = VFMA(v[4], x, y), v[5] = VFMA(v[5], x, y);
      v[6] = VFMA(v[6], x, y), v[7] = VFMA(v[7], x, y), v[8] = VFMA(v[8], x, y);
      v[9] = VFMA(v[9], x, y), v[10] = VFMA(v[10], x, y), v[11] = VFMA(v[11], x, y);
    }
    const double t = cpu_now() - t0;
    best = t < best ? t : best;
  }
  float out[VLANES], s = 0;
  for (int i = 0; i < 12; i++) {
    memcpy(out, &v[i], sizeof out);
    s += out[0];
  }
  if (s == 12345.0f) /* keeps the chains alive */
    printf("?\n");
  return 12.0 * 2 * VLANES * (double)n / best / 1e9;
#else
  return 0.0;
#endif
}

static int64_t offset; /* floats */

static float *alloc_floats(int64_t n) {
  const size_t bytes = ((size_t)(n + offset) * sizeof(float) + 63) / 64 * 64;
  float *p = aligned_alloc(64, bytes);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p + offset;
}

static void bench(const char *label, int64_t M, int64_t K, int64_t N, int use_bias, int act,
                  int use_res, double peak) {
  /* 64-byte aligned, as the generated code's arrays; BENCH_OFFSET=n shifts each by n floats */
  float *A = alloc_floats(M * K), *B = alloc_floats(K * N);
  float *Bp = alloc_floats(PREFIX_packed_b_floats(K, N)), *C = alloc_floats(M * N);
  float *bias = alloc_floats(N), *R = alloc_floats(M * N);
  for (int64_t i = 0; i < M * K; i++)
    A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (int64_t i = 0; i < K * N; i++)
    B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  for (int64_t i = 0; i < N; i++)
    bias[i] = 0.01f * (float)(i % 13);
  for (int64_t i = 0; i < M * N; i++)
    R[i] = 0.5f;
  PREFIX_pack_b(K, N, B, N, 1, Bp);
  /* the packed-A workspace, as the generated code passes it (BENCH_NO_WS=1: none) */
  const int64_t wsf = getenv("BENCH_NO_WS") ? 0 : PREFIX_gemm_ws_floats(M, N, K);
  float *ws = wsf > 0 ? alloc_floats(wsf) : NULL;
  const double flops = 2.0 * (double)M * (double)N * (double)K;
  /* warm up; then samples of `batch` calls (each sample >= 0.2 ms), about 0.5 s in all */
  double t0 = now();
  int warm = 0;
  do {
    PREFIX_gemm_ws(M, N, K, A, K, Bp, C, N, use_bias ? bias : NULL, use_res ? R : NULL, N, act,
                     ws, wsf);
    warm++;
  } while (now() - t0 < 0.05);
  const double per_call = (now() - t0) / warm;
  int batch = (int)(2e-4 / per_call) + 1, samples = (int)(0.5 / (per_call * batch));
  samples = samples < 15 ? 15 : samples > 5000 ? 5000 : samples;
  double *tw = malloc((size_t)samples * sizeof(double));
  double *tc = malloc((size_t)samples * sizeof(double));
  if (!tw || !tc) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  for (int r = 0; r < samples; r++) {
    const double w = now(), c = cpu_now();
    for (int b = 0; b < batch; b++)
      PREFIX_gemm_ws(M, N, K, A, K, Bp, C, N, use_bias ? bias : NULL, use_res ? R : NULL, N, act,
                     ws, wsf);
    tc[r] = (cpu_now() - c) / batch;
    tw[r] = (now() - w) / batch;
  }
  qsort(tw, (size_t)samples, sizeof *tw, cmp_double);
  qsort(tc, (size_t)samples, sizeof *tc, cmp_double);
  const double med = tw[samples / 2], gf = flops / med / 1e9, gfc = flops / tc[samples / 2] / 1e9;
  char shape[64];
  snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)M, (long long)K, (long long)N);
  printf("%-15s %-14s %10.4f %9.1f %8.1f%% %9.1f %8.1f%%", shape, label, med * 1e3, gf,
         100.0 * gf / NOMINAL_PEAK, gfc, 100.0 * gfc / NOMINAL_PEAK);
  if (peak > 0)
    printf(" %8.1f%%", 100.0 * gfc / peak);
  printf("\n");
  free(tw);
  free(tc);
  free(A - offset);
  free(B - offset);
  free(Bp - offset);
  free(C - offset);
  free(bias - offset);
  free(R - offset);
  if (ws)
    free(ws - offset);
}

int main(int argc, char **argv) {
  if (getenv("BENCH_OFFSET"))
    offset = atoll(getenv("BENCH_OFFSET"));
  if (argc == 4 || argc == 6) { /* bench M K N [bias act]: one shape, no peak measurement */
    bench("-", atoll(argv[1]), atoll(argv[2]), atoll(argv[3]), argc == 6 && atoi(argv[4]),
          argc == 6 ? atoi(argv[5]) : 0, 0, 0.0);
    return 0;
  }
  const double peak = measure_peak();
  printf("kernels: %s\n", KERNELS);
  if (peak > 0)
    printf("measured FMA peak: %.1f GFLOP/s (nominal %.0f)\n", peak, NOMINAL_PEAK);
  printf("%-15s %-14s %10s %9s %9s %9s %9s %9s\n", "MxKxN", "epilogue", "median ms", "GFLOP/s",
         "%of240", "cpuGFLOP/s", "%of240", "%ofpeak");
  bench("-", 128, 256, 768, 0, 0, 0, peak);
  bench("-", 512, 768, 3072, 0, 0, 0, peak);
  bench("-", 128, 64, 128, 0, 0, 0, peak);
  bench("-", 64, 256, 256, 0, 0, 0, peak);
  bench("-", 1, 256, 768, 0, 0, 0, peak);
  bench("bias+gelu", 512, 768, 3072, 1, 2, 0, peak);
  bench("bias+residual", 512, 3072, 768, 1, 0, 1, peak);
  return 0;
}
