/* kernels_generic.c: FP32 GEMM in portable C11 (no intrinsics, no extensions), written as
 * fixed-size loops that clang and gcc (-O2 or -O3) vectorize for whatever vector ISA the
 * target has.
 * Same section format as kernels.c (a section starts at its "//@" marker line, the emitter
 * copies only the sections a model uses and replaces PREFIX_ by the symbol prefix).
 * gemm_common is always copied together with gemm, and kernels.c's exp section (its gelu epilogue, and
 * PREFIX_ADDMUL for the tile); pack_b calls kernels.c's pack_panels.
 *
 * Layout of a packed B (K x N): panels of NR = 16 columns, panel p holds all K rows:
 *   Bp[(p * K + k) * NR + j] = B(k, p * NR + j), zero for columns >= N.
 * gemm: the MR x NR tile with one local array per row (MR = 4; 2 on x86 without AVX, which
 * has only 16 vector registers of 4 floats) over packed A chunks; gemm_driver.c (the loop
 * nest every target shares) drives it. Its empty gemm_ukr section keeps out kernels.c's
 * microkernel skeleton, which the plain C tile does not use. */

//@ gemm_common
#ifndef PREFIX_GEMM_NR
#define PREFIX_GEMM_NR 16 /* columns per packed B panel */
#endif
/* rows of the tile (the code has 2 or 4): 4 x 16 accumulators need 16 vector registers of
 * 4 floats, all that x86 without AVX has, so it gets 2 rows; the rest get 4 */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__AVX__)
#define PREFIX_GEMM_MR 2
#else
#define PREFIX_GEMM_MR 4
#endif
#ifndef PREFIX_GEMM_NC
#define PREFIX_GEMM_NC 512 /* largest N block (multiple of NR) */
#endif
#define PREFIX_GEMM_BBLOCK 131072           /* floats of Bp kept in L2 (512 KiB): kc x nc */
#if defined(__GNUC__)
#define PREFIX_GEMM_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define PREFIX_GEMM_PREFETCH(p) ((void)(p))
#endif

/* act 1 = relu (NaN stays NaN), 2 = exact gelu 0.5 x (1 + erf(x / sqrt 2)), else identity */
static inline float PREFIX_gemm_act(float x, int act) {
  if (act == 1)
    return x < 0.0f ? 0.0f : x;
  if (act == 2)
    return 0.5f * x * (1.0f + PREFIX_erf(x * 0.70710678118654752f));
  return x;
}

/* dst = act(src) + r over mr rows x n columns, elementwise: dst may be src or r */
static inline void PREFIX_gemm_post(int64_t mr, int64_t n, const float *src, int64_t lds, int act,
                                    const float *r, int64_t ldr, float *dst, int64_t ldd) {
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < n; j++)
      dst[i * ldd + j] = PREFIX_gemm_act(src[i * lds + j], act) + (r ? r[i * ldr + j] : 0.0f);
}

//@ pack_b
#ifndef PREFIX_GEMM_NR
#define PREFIX_GEMM_NR 16
#endif
/* floats in a packed B of K x N */
static inline int64_t PREFIX_packed_b_floats(int64_t K, int64_t N) {
  return (N + PREFIX_GEMM_NR - 1) / PREFIX_GEMM_NR * PREFIX_GEMM_NR * K;
}

/* B(k, n) = B[k * ldb_k + n * ldb_n] -> Bp in panels of this kernel's NR columns
 * (the layout code is shared: kernels.c, section pack_panels) */
static inline void PREFIX_pack_b(int64_t K, int64_t N, const float *B, int64_t ldb_k, int64_t ldb_n,
                                 float *Bp) {
  PREFIX_pack_panels(K, N, B, ldb_k, ldb_n, PREFIX_GEMM_NR, Bp);
}

//@ gemm_ukr
//@ gemm
/* gcc -O3's vectorizer cost model ("dynamic") turns the tile's k loop into shuffles: the
 * d=256 block at 128 tokens, gcc -O3, 24-27 ms against 6.6-7.0 at -O2 (x86-64 baseline),
 * 25-27 against 2.5-2.9 with -mavx2 -mfma. The tile keeps -O2's model ("very-cheap")
 * under gcc at every level: 6.7-7.0 and 3.2-3.4 ms at -O3. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("vect-cost-model=very-cheap")
#endif
/* A full MR x NR tile: acc = cin (or 0) + bias + rin; acc += a * b over k < kc
 * (a: packed A, rows KCP apart, in chunks of KC columns MR * KCP apart; b: a packed B
 * panel at row k0: b[k * NR + j]);
 * acc = act(acc) + rout; c = acc. One array per row, every loop of fixed trip count, one
 * j loop for all rows in the k loop: compilers keep the accumulators in vector registers.
 * cin/c (and rin/rout) may be the same memory. */
static inline void PREFIX_gemm_tile_full(int64_t kc, const float *restrict a,
                                         const float *restrict b, const float *cin, int64_t ldcin,
                                         float *c, int64_t ldc, const float *bias,
                                         const float *rin, const float *rout, int64_t ldr,
                                         int act) {
  enum { NR = PREFIX_GEMM_NR };
  float c0[NR], c1[NR];
#if PREFIX_GEMM_MR == 4
  float c2[NR], c3[NR];
  for (int j = 0; j < NR; j++)
    c2[j] = c3[j] = 0.0f;
#endif
  for (int j = 0; j < NR; j++)
    c0[j] = c1[j] = 0.0f;
  if (cin)
    for (int j = 0; j < NR; j++) {
      c0[j] = cin[j];
      c1[j] = cin[ldcin + j];
#if PREFIX_GEMM_MR == 4
      c2[j] = cin[2 * ldcin + j];
      c3[j] = cin[3 * ldcin + j];
#endif
    }
  if (rin)
    for (int j = 0; j < NR; j++) {
      c0[j] += rin[j];
      c1[j] += rin[ldr + j];
#if PREFIX_GEMM_MR == 4
      c2[j] += rin[2 * ldr + j];
      c3[j] += rin[3 * ldr + j];
#endif
    }
  if (bias)
    for (int j = 0; j < NR; j++) {
      c0[j] += bias[j];
      c1[j] += bias[j];
#if PREFIX_GEMM_MR == 4
      c2[j] += bias[j];
      c3[j] += bias[j];
#endif
    }
  enum { KC = PREFIX_GEMM_KC, KCP = PREFIX_GEMM_KCP };
  /* c + a * b is an FMA with gcc too (kernels.c, section exp: gcc -std=c11 does not fuse it
   * by itself; the d=256 block at 128 tokens, -mavx2 -mfma, gcc -O2: 11.6-13.0 -> 2.5-2.9 ms).
   * gcc (12) vectorizes the j loop but keeps c0.. in memory: a load and a store per vector
   * per k step. Unrolled, the accumulators become registers (the d=256 block at 128 tokens
   * on x86-64, gcc -O2: 13.9 -> 8.1 ms); clang needs it not (4.9 ms), and unrolled ran
   * slower (11.3 ms). With clang the j loop does two k steps: with one, its body was small
   * enough for clang -O3's full unroll (threshold 300, -O2's 150) to unroll it before the
   * loop vectorizer, and the vectors rebuilt from the scalars took 24 register moves per k
   * step (2.6x the time of -O2); with two, the vectorizer sees the loop at both levels
   * (gcc, given two, ran 1.3-5x slower). */
/* each row i of the tile += A's value a##i (x0.. or y0..) times row bk + off of B's panel */
#if PREFIX_GEMM_MR == 4
#define PREFIX_GEMM_ROWS_ADD(a, off)                                                              \
  c0[j] = PREFIX_ADDMUL(c0[j], a##0, bk[off + j]);                                                \
  c1[j] = PREFIX_ADDMUL(c1[j], a##1, bk[off + j]);                                                \
  c2[j] = PREFIX_ADDMUL(c2[j], a##2, bk[off + j]);                                                \
  c3[j] = PREFIX_ADDMUL(c3[j], a##3, bk[off + j]);
#define PREFIX_GEMM_COLUMN(a, kk)                                                                 \
  const float a##0 = ak[kk], a##1 = ak[KCP + kk], a##2 = ak[2 * KCP + kk], a##3 = ak[3 * KCP + kk];
#else
#define PREFIX_GEMM_ROWS_ADD(a, off)                                                              \
  c0[j] = PREFIX_ADDMUL(c0[j], a##0, bk[off + j]);                                                \
  c1[j] = PREFIX_ADDMUL(c1[j], a##1, bk[off + j]);
#define PREFIX_GEMM_COLUMN(a, kk) const float a##0 = ak[kk], a##1 = ak[KCP + kk];
#endif
  for (int64_t k0 = 0; k0 < kc; k0 += KC) {
    const float *restrict ak = a + k0 / KC * (PREFIX_GEMM_MR * KCP);
    const int64_t ke = kc - k0 < KC ? kc - k0 : KC;
    int64_t k = 0;
#if defined(__clang__)
    for (; k + 2 <= ke; k += 2) { /* A's columns k (x0..) and k + 1 (y0..) */
      const float *restrict bk = b + (k0 + k) * NR;
      PREFIX_GEMM_COLUMN(x, k)
      PREFIX_GEMM_COLUMN(y, k + 1)
      for (int j = 0; j < NR; j++) {
        PREFIX_GEMM_ROWS_ADD(x, 0)
        PREFIX_GEMM_ROWS_ADD(y, NR)
      }
    }
#endif
    for (; k < ke; k++) {
      const float *restrict bk = b + (k0 + k) * NR;
      PREFIX_GEMM_COLUMN(x, k)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
      for (int j = 0; j < NR; j++) {
        PREFIX_GEMM_ROWS_ADD(x, 0)
      }
    }
  }
#undef PREFIX_GEMM_ROWS_ADD
#undef PREFIX_GEMM_COLUMN
  if (act)
    for (int j = 0; j < NR; j++) {
      c0[j] = PREFIX_gemm_act(c0[j], act);
      c1[j] = PREFIX_gemm_act(c1[j], act);
#if PREFIX_GEMM_MR == 4
      c2[j] = PREFIX_gemm_act(c2[j], act);
      c3[j] = PREFIX_gemm_act(c3[j], act);
#endif
    }
  if (rout)
    for (int j = 0; j < NR; j++) {
      c0[j] += rout[j];
      c1[j] += rout[ldr + j];
#if PREFIX_GEMM_MR == 4
      c2[j] += rout[2 * ldr + j];
      c3[j] += rout[3 * ldr + j];
#endif
    }
  for (int j = 0; j < NR; j++) {
    c[j] = c0[j];
    c[ldc + j] = c1[j];
#if PREFIX_GEMM_MR == 4
    c[2 * ldc + j] = c2[j];
    c[3 * ldc + j] = c3[j];
#endif
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* c = A B on a whole MR x NR tile (kernels.c's PREFIX_GEMM_TILES_DEFINE has the other
 * targets' version) */
static inline void PREFIX_gemm_tile_whole(int64_t kc, const float *a, const float *b, float *c,
                                          int64_t ldc) {
  PREFIX_gemm_tile_full(kc, a, b, NULL, 0, c, ldc, NULL, NULL, NULL, 0, 0);
}

/* a tile with mr (<= MR) rows and n (<= NR) columns valid (packed A has zero rows past
 * mr, see gemm_driver.c): a partial tile goes through zero-padded local copies of C, R
 * and bias */
static inline void PREFIX_gemm_tile(int64_t mr, int64_t kc, const float *a, const float *b,
                                    int64_t n, const float *cin, int64_t ldcin, float *c,
                                    int64_t ldc, const float *bias, const float *rin,
                                    const float *rout, int64_t ldr, int act) {
  enum { MR = PREFIX_GEMM_MR, NR = PREFIX_GEMM_NR };
  if (mr == MR && n == NR) {
    PREFIX_gemm_tile_full(kc, a, b, cin, ldcin, c, ldc, bias, rin, rout, ldr, act);
    return;
  }
  float tc[MR * NR], tr[MR * NR], tb[NR];
  const float *r = rin ? rin : rout;
  for (int i = 0; i < MR * NR; i++)
    tc[i] = tr[i] = 0.0f;
  for (int j = 0; j < NR; j++)
    tb[j] = bias && j < n ? bias[j] : 0.0f;
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < n; j++) {
      if (cin)
        tc[i * NR + j] = cin[i * ldcin + j];
      if (r)
        tr[i * NR + j] = r[i * ldr + j];
    }
  PREFIX_gemm_tile_full(kc, a, b, cin ? tc : NULL, NR, tc, NR, bias ? tb : NULL,
                        rin ? tr : NULL, rout ? tr : NULL, NR, act);
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < n; j++)
      c[i * ldc + j] = tc[i * NR + j];
}
