/* test_gemm.c: checks pack_b, gemm and the whole-tile entry (gemm_tile_whole) of one GEMM
 * kernel template against a double precision reference, over awkward shapes, both B
 * layouts, bias / no bias, every act, no residual / a separate residual / the residual in
 * place (C == R), padded strides, and
 * one call or four on row x column parts (the way --threads splits a GEMM).
 * Pick the template with -DKERNELS='"../../templates/kernels_avx512.c"' (the default),
 * kernels_avx2.c, kernels_neon.c or kernels_generic.c; the last line printed is "N passed, M failed" and
 * the exit status is nonzero on a failure. From the repository root:
 *   clang -std=c11 -O2 -march=native -Wall -Wextra -Werror \
 *     -DKERNELS='"../../templates/kernels_avx512.c"' tests/kernels/test_gemm.c -lm -o /tmp/tg
 *   (avx2: -mavx2 -mfma and kernels_avx2.c; generic: no flags and kernels_generic.c; neon:
 *   aarch64-linux-gnu-gcc, no flags, kernels_neon.c, run by qemu-aarch64;
 *   add -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all for the sanitizers) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KERNELS
#define KERNELS "../../templates/kernels_avx512.c"
#endif
/* the online softmax's sections are not tested here (test_rowops.c); the target file may
 * define its own (emit picks one) */
#define PREFIX_TARGET_SOFTMAX_ROWS
#define PREFIX_TARGET_SOFTMAX_BLOCK
#define PREFIX_NO_PLAIN_SOFTMAX /* it calls the softmax rows */
#include "../../templates/kernels.c" /* PREFIX_exp, PREFIX_erf: the gelu epilogue */
#include KERNELS
#include "../../templates/gemm_driver.c"

static uint64_t rng = 0x9E3779B97F4A7C15u;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 40) / (double)(1u << 23) - 1.0);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

static int passed, failed;

static void fail(const char *what, int64_t M, int64_t N, int64_t K, int combo, int64_t i,
                 int64_t j, double got, double want) {
  if (failed < 20)
    fprintf(stderr, "FAIL %s M=%lld N=%lld K=%lld combo=%d at (%lld,%lld): got %.9g want %.9g\n",
            what, (long long)M, (long long)N, (long long)K, combo, (long long)i, (long long)j, got,
            want);
  failed++;
}

/* checks pack_b of the logical B (Bl[k * N + n]) stored with layout `layout` */
static int check_pack(int64_t K, int64_t N, const float *Bl, const float *Bp) {
  const int64_t nr = PREFIX_GEMM_NR, np = (N + nr - 1) / nr;
  if (PREFIX_packed_b_floats(K, N) != np * nr * K)
    return 0;
  for (int64_t p = 0; p < np; p++)
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < nr; j++) {
        const float want = p * nr + j < N ? Bl[k * N + p * nr + j] : 0.0f;
        if (memcmp(&Bp[(p * K + k) * nr + j], &want, sizeof want))
          return 0;
      }
  return 1;
}

static double act_ref(double x, int act) {
  if (act == 1)
    return x > 0 ? x : 0;
  if (act == 2)
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  return x;
}

/* combo bits: layout (2) x bias (2) x act (3) x residual (3: none, separate, C == R) */
/* lda_kcp: A's row stride is the kernel's packed-strip stride (PREFIX_GEMM_KCP), which
 * the avx2/avx512 kernels read in place when K fits one K block */
static void run_shape_lda(int64_t M, int64_t N, int64_t K, int ncombos, int combo0, int lda_kcp) {
#ifdef PREFIX_GEMM_KCP
  const int64_t kcp = PREFIX_GEMM_KCP;
#else
  const int64_t kcp = K + 16;
#endif
  const int64_t lda = lda_kcp && K <= kcp ? kcp : K + (M * 7 + K) % 5, ldc = N + (N * 3 + M) % 4, ldr_sep = N + 3;
  float *A = xmalloc((size_t)(M * lda) * sizeof(float));
  float *Bl = xmalloc((size_t)(K * N) * sizeof(float)); /* logical B, [K,N] */
  float *Bt = xmalloc((size_t)(K * N) * sizeof(float)); /* stored [N,K] */
  float *bias = xmalloc((size_t)N * sizeof(float));
  double *P = xmalloc((size_t)(M * N) * sizeof(double));
  double *mag = xmalloc((size_t)(M * N) * sizeof(double));
  const int64_t pbf = PREFIX_packed_b_floats(K, N);
  float *Bp = xmalloc((size_t)pbf * sizeof(float));
  float *C = xmalloc((size_t)(M * ldc) * sizeof(float));
  float *R = xmalloc((size_t)(M * ldr_sep) * sizeof(float));
  float *R0 = xmalloc((size_t)(M * (ldc > ldr_sep ? ldc : ldr_sep)) * sizeof(float));
  const int64_t wsn = PREFIX_gemm_ws_floats(M, N, K);
  float *ws = xmalloc((size_t)(wsn + 16) * sizeof(float));
  for (int64_t i = 0; i < M * lda; i++)
    A[i] = frand();
  for (int64_t k = 0; k < K; k++)
    for (int64_t n = 0; n < N; n++)
      Bt[n * K + k] = Bl[k * N + n] = frand();
  for (int64_t n = 0; n < N; n++)
    bias[n] = frand();
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0, m = 0;
      for (int64_t k = 0; k < K; k++) {
        const double t = (double)A[i * lda + k] * (double)Bl[k * N + j];
        s += t;
        m += fabs(t);
      }
      P[i * N + j] = s;
      mag[i * N + j] = m;
    }
  int packed_layout = -1;
  for (int t = 0; t < ncombos; t++) {
    const int combo = (combo0 + t) % 36;
    const int layout = combo & 1, use_bias = (combo >> 1) & 1, act = (combo >> 2) % 3,
              res = combo / 12;
    if (packed_layout != layout) {
      for (int64_t i = 0; i < pbf; i++)
        Bp[i] = NAN;
      if (layout == 0)
        PREFIX_pack_b(K, N, Bl, N, 1, Bp);
      else
        PREFIX_pack_b(K, N, Bt, 1, K, Bp);
      packed_layout = layout;
      if (!check_pack(K, N, Bl, Bp)) {
        fail("pack_b", M, N, K, combo, -1, -1, 0, 0);
        continue;
      }
    }
    /* the residual and the output; padding columns hold sentinels that must survive */
    const int64_t ldr = res == 2 ? ldc : ldr_sep;
    float *Rp = res == 2 ? C : res == 1 ? R : NULL;
    for (int64_t i = 0; i < M * ldc; i++)
      C[i] = 12345.0f;
    if (Rp) {
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldr; j++)
          Rp[i * ldr + j] = j < N ? frand() : -777.0f;
      memcpy(R0, Rp, (size_t)(M * ldr) * sizeof(float));
    }
    if (t % 3 == 0) {
      PREFIX_gemm(M, N, K, A, lda, Bp, C, ldc, use_bias ? bias : NULL, Rp, ldr, act);
    } else if (t % 3 == 1) { /* with the packed-A workspace (sentinels after it survive) */
      for (int64_t i = 0; i < wsn + 16; i++)
        ws[i] = i < wsn ? NAN : -555.0f;
      PREFIX_gemm_ws(M, N, K, A, lda, Bp, C, ldc, use_bias ? bias : NULL, Rp, ldr, act, ws, wsn);
      for (int64_t i = wsn; i < wsn + 16; i++)
        if (ws[i] != -555.0f) {
          fail("wrote past the workspace", M, N, K, combo, -1, i, ws[i], -555.0f);
          break;
        }
    } else { /* as threads split it: 4 calls on row halves x column halves (at a panel edge) */
      const int64_t nr = PREFIX_GEMM_NR, m0 = M / 2, n0 = N / 2 / nr * nr;
      for (int q = 0; q < 4; q++) {
        const int64_t i0 = q & 1 ? m0 : 0, i1 = q & 1 ? M : m0;
        const int64_t j0 = q & 2 ? n0 : 0, j1 = q & 2 ? N : n0;
        if (i0 < i1 && j0 < j1)
          PREFIX_gemm(i1 - i0, j1 - j0, K, A + i0 * lda, lda, Bp + j0 * K, C + i0 * ldc + j0, ldc,
                      use_bias ? bias + j0 : NULL, Rp ? Rp + i0 * ldr + j0 : NULL, ldr, act);
      }
    }
    int ok = 1;
    for (int64_t i = 0; i < M && ok; i++)
      for (int64_t j = 0; j < ldc && ok; j++) {
        const double got = C[i * ldc + j];
        if (j >= N) {
          const double want = res == 2 ? -777.0 : 12345.0;
          if (got != want) {
            fail("wrote padding", M, N, K, combo, i, j, got, want);
            ok = 0;
          }
          continue;
        }
        const double b = use_bias ? bias[j] : 0.0, r = Rp ? R0[i * ldr + j] : 0.0;
        const double want = act_ref(P[i * N + j] + b, act) + r;
        const double tol = 1e-5 * (1.0 + mag[i * N + j] + fabs(b) + fabs(r));
        if (!(fabs(got - want) <= tol)) {
          fail("value", M, N, K, combo, i, j, got, want);
          ok = 0;
        }
      }
    if (res == 1) /* a separate residual is read only */
      for (int64_t i = 0; i < M * ldr && ok; i++)
        if (memcmp(&R[i], &R0[i], sizeof(float))) {
          fail("wrote R", M, N, K, combo, i / ldr, i % ldr, R[i], R0[i]);
          ok = 0;
        }
    passed += ok;
  }
  free(A);
  free(Bl);
  free(Bt);
  free(bias);
  free(P);
  free(mag);
  free(Bp);
  free(C);
  free(R);
  free(R0);
  free(ws);
}

static void run_shape(int64_t M, int64_t N, int64_t K, int ncombos, int combo0) {
  run_shape_lda(M, N, K, ncombos, combo0, 0);
}

#ifdef TARGET_NAME
/* the compiler sizes the workspace it passes by its own mirror of the driver's blocking
 * (compiler/target.c): it must be at least what the driver uses, and 0 exactly when the
 * driver would use none */
#include "../../compiler/target.c"

static void check_ws_sizes(void) {
  const Target *t = target_find(TARGET_NAME);
  static const int64_t sizes[] = {1, 5, 12, 13, 64, 100, 255, 256, 257, 300, 511, 512, 513, 700,
                                  768, 769, 1000, 1024, 1536, 1600, 2304, 3072, 4096, 5000};
  const int n = (int)(sizeof sizes / sizeof *sizes);
  int bad = 0;
  for (int a = 0; a < n; a++)
    for (int b = 0; b < n; b++)
      for (int c = 0; c < n; c++) {
        const int64_t M = sizes[a], N = sizes[b], K = sizes[c];
        const int64_t need = PREFIX_gemm_ws_floats(M, N, K), got = target_gemm_ws_floats(t, M, N, K);
        if (!t || got < need || (got == 0) != (need == 0)) {
          if (bad++ < 5)
            printf("FAIL workspace %s M=%lld N=%lld K=%lld: the compiler sizes %lld floats, the "
                   "driver needs %lld\n", TARGET_NAME, (long long)M, (long long)N, (long long)K,
                   (long long)got, (long long)need);
        }
      }
  failed += bad;
  passed += bad == 0;
}
#else
static void check_ws_sizes(void) {}
#endif

/* PREFIX_gemm_tile_whole (the fused attention's Q K^T tiles): C = A B on one MR x NR tile
 * of a packed A strip (chunks of KC columns when deeper) and a packed B panel */
static void check_tile_whole(int64_t K) {
  enum { MR = PREFIX_GEMM_MR, NR = PREFIX_GEMM_NR };
  const int64_t chunks = (K + PREFIX_GEMM_KC - 1) / PREFIX_GEMM_KC, ldc = NR + 5;
  float *A = xmalloc((size_t)(MR * K) * sizeof(float)), *B = xmalloc((size_t)(K * NR) * sizeof(float));
  float *ap = xmalloc((size_t)(chunks * MR * PREFIX_GEMM_KCP) * sizeof(float));
  float *bp = xmalloc((size_t)(K * NR) * sizeof(float)), *C = xmalloc((size_t)(MR * ldc) * sizeof(float));
  for (int64_t i = 0; i < MR * K; i++)
    A[i] = frand();
  for (int64_t i = 0; i < K * NR; i++)
    B[i] = frand();
  for (int64_t i = 0; i < MR * ldc; i++)
    C[i] = 1e30f; /* every element of the tile is written */
  PREFIX_gemm_pack_a(MR, K, A, K, ap);
  PREFIX_pack_b(K, NR, B, NR, 1, bp);
  PREFIX_gemm_tile_whole(K, ap, bp, C, ldc);
  int bad = 0;
  for (int64_t i = 0; i < MR; i++)
    for (int64_t j = 0; j < NR; j++) {
      double want = 0.0, mag = 0.0;
      for (int64_t k = 0; k < K; k++) {
        want += (double)A[i * K + k] * (double)B[k * NR + j];
        mag += fabs((double)A[i * K + k] * (double)B[k * NR + j]);
      }
      if (fabs(C[i * ldc + j] - want) > 1e-5 * (mag + 1.0)) {
        fail("tile_whole", MR, NR, K, 0, i, j, C[i * ldc + j], want);
        bad = 1;
      }
    }
  passed += !bad;
  free(A), free(B), free(ap), free(bp), free(C);
}

/* argument --quick (the emulated neon run, 3-4 times shorter): fewer combos per shape,
 * every shape still run */
int main(int argc, char **argv) {
  const int quick = argc > 1 && !strcmp(argv[1], "--quick");
  check_ws_sizes();
  static const int64_t whole_k[] = {1, 5, 32, 64, 256, 300, 768};
  for (size_t i = 0; i < sizeof whole_k / sizeof *whole_k; i++)
    check_tile_whole(whole_k[i]);
  static const int64_t Ms[] = {1, 2, 3, 7, 12, 13, 14, 17, 100, 129};
  static const int64_t Ns[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 129};
  static const int64_t Ks[] = {1, 3, 17, 100, 129, 256, 257, 513, 800};
  int shape = 0;
  for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
    for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
      for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++, shape++) {
        const int64_t M = Ms[a], N = Ns[b], K = Ks[c];
        /* every combo for small shapes, a rotating third of them for the others (quick: a
         * rotating third and sixth) */
        if (M * N * K <= 40000 && !quick)
          run_shape(M, N, K, 36, 0);
        else if (M * N * K <= 40000 || !quick)
          run_shape(M, N, K, 12, (shape * 12) % 36);
        else
          run_shape(M, N, K, 6, (shape * 6) % 36);
      }
  /* the named awkward sizes, and bigger ones that cross the N blocking and the K blocks
   * (AVX-512: up to 768 deep in 256-column chunks, 128-column ones from 683 deep when N
   * takes several: 700 x 2049 and 768 x 800; or 256 deep when K > N would need more N
   * blocks, 128 deep when all of N then fits one: 900 x 40 runs deep, 1600 x 1000 256
   * deep, 1600 x 600 128 deep) */
  static const int64_t big[][3] = {{513, 7, 129}, {7, 513, 513}, {100, 513, 3},
                                   {129, 1000, 300}, {33, 1600, 40}, {3, 2049, 700},
                                   {64, 128, 64},   {1, 768, 256},   {14, 800, 768},
                                   {30, 700, 769},  {25, 1000, 1600}, {13, 40, 900},
                                   {20, 600, 1600}};
  for (size_t s = 0; s < sizeof big / sizeof *big; s++)
    run_shape(big[s][0], big[s][1], big[s][2], quick ? 12 : 36, quick ? (int)(s * 12 % 36) : 0);
  /* A already strided like the packed strip (the attention's score tile and queries) */
  static const int64_t strided[][3] = {{96, 32, 128}, {96, 128, 32}, {7, 33, 64}, {13, 17, 256}};
  for (size_t s = 0; s < sizeof strided / sizeof *strided; s++)
    run_shape_lda(strided[s][0], strided[s][1], strided[s][2], 36, 0, 1);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
