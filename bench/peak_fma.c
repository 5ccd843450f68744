/* peak_fma.c: measures this machine's peak float32 FMA throughput, the ceiling that
 * bench/run_bench.py quotes (peak_pct).  Each thread runs CHAINS independent chains
 * acc = acc * a + b in vector registers, enough to hide the FMA latency on every
 * pipe (Zen 4: 2 pipes x 4 cycles; Intel: 2 x 4), with AVX-512 intrinsics when the
 * compiler targets AVX-512, else AVX2+FMA, else scalar fmaf.  Build with
 *
 *   clang -O2 -march=native -o peak_fma bench/peak_fma.c -lpthread
 *
 * usage: peak_fma [THREADS [SECONDS_PER_TRIAL [TRIALS]]]      (default 1 0.1 7)
 * Prints one line:
 *   peak_fma: isa avx512f chains 16 threads 1 gflops 103.21 median_gflops 101.9 trials 7 ...
 * where gflops is the best trial (total over all threads; a trial is timed from a
 * barrier that every thread passes to the moment the last one finishes). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define ISA "avx512f"
#define VLEN 16
#define CHAINS 16
typedef __m512 vec;
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(acc, a, b) _mm512_fmadd_ps(acc, a, b)
#define VADD(x, y) _mm512_add_ps(x, y)
static float vsum(vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ISA "avx2+fma"
#define VLEN 8
#define CHAINS 12 /* 16 ymm registers: 12 accumulators + a + b */
typedef __m256 vec;
#define VSET1(x) _mm256_set1_ps(x)
#define VFMA(acc, a, b) _mm256_fmadd_ps(acc, a, b)
#define VADD(x, y) _mm256_add_ps(x, y)
static float vsum(vec v) {
  float t[8];
  _mm256_storeu_ps(t, v);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#else
#define ISA "scalar"
#define VLEN 1
#define CHAINS 8
typedef float vec;
#define VSET1(x) (x)
#define VFMA(acc, a, b) fmaf(acc, a, b)
#define VADD(x, y) ((x) + (y))
static float vsum(vec v) { return v; }
#endif

#define FLOPS_PER_ITER ((double)CHAINS * VLEN * 2.0)

static volatile float sink;
static volatile float g_a = 0.9999999f, g_b = 1e-7f; /* volatile: not constants */

/* iters rounds of CHAINS independent FMAs; returns a value that depends on all of them */
static float fma_kernel(long iters, float seed) {
  vec a = VSET1(g_a), b = VSET1(g_b);
  vec c0 = VSET1(seed + 0.01f), c1 = VSET1(seed + 0.02f), c2 = VSET1(seed + 0.03f);
  vec c3 = VSET1(seed + 0.04f), c4 = VSET1(seed + 0.05f), c5 = VSET1(seed + 0.06f);
  vec c6 = VSET1(seed + 0.07f), c7 = VSET1(seed + 0.08f);
#if CHAINS > 8
  vec c8 = VSET1(seed + 0.09f), c9 = VSET1(seed + 0.10f), c10 = VSET1(seed + 0.11f);
  vec c11 = VSET1(seed + 0.12f);
#endif
#if CHAINS > 12
  vec c12 = VSET1(seed + 0.13f), c13 = VSET1(seed + 0.14f), c14 = VSET1(seed + 0.15f);
  vec c15 = VSET1(seed + 0.16f);
#endif
  for (long i = 0; i < iters; i++) {
    c0 = VFMA(c0, a, b);
    c1 = VFMA(c1, a, b);
    c2 = VFMA(c2, a, b);
    c3 = VFMA(c3, a, b);
    c4 = VFMA(c4, a, b);
    c5 = VFMA(c5, a, b);
    c6 = VFMA(c6, a, b);
    c7 = VFMA(c7, a, b);
#if CHAINS > 8
    c8 = VFMA(c8, a, b);
    c9 = VFMA(c9, a, b);
    c10 = VFMA(c10, a, b);
    c11 = VFMA(c11, a, b);
#endif
#if CHAINS > 12
    c12 = VFMA(c12, a, b);
    c13 = VFMA(c13, a, b);
    c14 = VFMA(c14, a, b);
    c15 = VFMA(c15, a, b);
#endif
  }
  vec s = VADD(VADD(VADD(c0, c1), VADD(c2, c3)), VADD(VADD(c4, c5), VADD(c6, c7)));
#if CHAINS > 8
  s = VADD(s, VADD(VADD(c8, c9), VADD(c10, c11)));
#endif
#if CHAINS > 12
  s = VADD(s, VADD(VADD(c12, c13), VADD(c14, c15)));
#endif
  return vsum(s);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
  int id;
  long iters;
  int trials;
  pthread_barrier_t *start, *end;
} Worker;

static void *worker(void *p) {
  Worker *w = p;
  float acc = 0;
  for (int t = 0; t < w->trials; t++) {
    pthread_barrier_wait(w->start);
    acc += fma_kernel(w->iters, (float)w->id);
    pthread_barrier_wait(w->end);
  }
  sink = acc;
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double secs = argc > 2 ? atof(argv[2]) : 0.1;
  int trials = argc > 3 ? atoi(argv[3]) : 7;
  if (threads < 1 || threads > 256 || !(secs > 0) || trials < 1 || trials > 1000) {
    fprintf(stderr, "usage: %s [THREADS [SECONDS_PER_TRIAL [TRIALS]]]\n", argv[0]);
    return 2;
  }

  /* calibrate on one thread: grow iters until a run takes >= 20 ms, then scale */
  long iters = 1 << 16;
  double dt = 0;
  for (;;) {
    double t0 = now_s();
    sink = fma_kernel(iters, 0.5f);
    dt = now_s() - t0;
    if (dt >= 0.02 || iters > (1L << 40))
      break;
    iters *= 4;
  }
  iters = (long)((double)iters * secs / dt);
  if (iters < 1)
    iters = 1;

  pthread_barrier_t start, end;
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  pthread_barrier_init(&end, NULL, (unsigned)threads + 1);
  pthread_t *tid = calloc((size_t)threads, sizeof *tid);
  Worker *ws = calloc((size_t)threads, sizeof *ws);
  double *gf = calloc((size_t)trials, sizeof *gf);
  if (!tid || !ws || !gf)
    return 2;
  for (int i = 0; i < threads; i++) {
    ws[i] = (Worker){i, iters, trials, &start, &end};
    if (pthread_create(&tid[i], NULL, worker, &ws[i]) != 0) {
      fprintf(stderr, "peak_fma: cannot start thread %d\n", i);
      return 2;
    }
  }
  for (int t = 0; t < trials; t++) {
    pthread_barrier_wait(&start);
    double t0 = now_s();
    pthread_barrier_wait(&end);
    double el = now_s() - t0;
    gf[t] = FLOPS_PER_ITER * (double)iters * threads / el * 1e-9;
  }
  for (int i = 0; i < threads; i++)
    pthread_join(tid[i], NULL);
  qsort(gf, (size_t)trials, sizeof *gf, cmp_double);
  printf("peak_fma: isa %s chains %d threads %d gflops %.2f median_gflops %.2f trials %d "
         "seconds_per_trial %.3f\n",
         ISA, CHAINS, threads, gf[trials - 1], gf[trials / 2], trials, secs);
  free(tid);
  free(ws);
  free(gf);
  return 0;
}
