/* kernels_avx2.c: FP32 GEMM for x86-64 with AVX2 and FMA (build with -mavx2 -mfma).
 * Same section format as kernels.c (a section starts at its "//@" marker line, the emitter
 * copies only the sections a model uses and replaces PREFIX_ by the symbol prefix).
 * gemm_common is always copied together with gemm; pack_b (gemm_driver.c, section
 * pack_transposed) calls kernels.c's pack_panels and this file's pack_tblock.
 *
 * Layout of a packed B (K x N): panels of NR = 16 columns, panel p holds all K rows:
 *   Bp[(p * K + k) * NR + j] = B(k, p * NR + j), zero for columns >= N.
 * gemm: the MR x 16 register tile (6 x 2 ymm accumulators, 2 for B, 1 for the broadcast
 * A: all 16 ymm) over packed A chunks; gemm_driver.c (the loop nest shared with avx512)
 * drives it. Column tails use maskload / maskstore. */

//@ gemm_common
#include <immintrin.h>
#ifndef PREFIX_GEMM_NR
#define PREFIX_GEMM_NR 16 /* columns per packed B panel: 2 ymm */
#endif
#define PREFIX_GEMM_MR 6 /* rows of the register tile: 12 ymm accumulators */
#ifndef PREFIX_GEMM_NC
#define PREFIX_GEMM_NC 768 /* largest N block (multiple of NR) */
#endif
#define PREFIX_GEMM_BBLOCK 196608           /* floats of Bp kept in L2 (768 KiB): kc x nc */
#define PREFIX_GEMM_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)

/* lanes [0, n) of an 8-lane mask, n may be <= 0 or >= 8 */
static inline __m256i PREFIX_gemm_mask8(int64_t n) {
  const int c = n <= 0 ? 0 : n >= 8 ? 8 : (int)n;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* e^x for 8 lanes, x <= 0 (or NaN: stays NaN), clamped below at -87 (e^-87 is near the
 * smallest normal float): n = round(x log2(e)), f = x log2(e) - n from fused multiply-adds
 * with log2(e) in two parts, 2^f by a degree-6 polynomial, 2^n put in the exponent bits */
static inline __m256 PREFIX_exp8_nonpos(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x); /* NaN: the second operand */
  const __m256 chi = _mm256_set1_ps(1.44269502162933349609f), clo = _mm256_set1_ps(1.925963e-8f);
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, chi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_fmadd_ps(x, clo, _mm256_fmsub_ps(x, chi, n));
  __m256 p = _mm256_set1_ps(1.5353201888501644e-4f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3398766750469804e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6184369176626205e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5503327399492264e-2f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022647738456726e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718246459961e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

/* exact gelu 0.5 x (1 + erf(x / sqrt 2)) for 8 lanes: erf by Abramowitz-Stegun 7.1.26
 * (absolute error below 2e-7, as kernels.c's PREFIX_erf) */
static inline __m256 PREFIX_gelu8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
  const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), one));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  const __m256 ex = PREFIX_exp8_nonpos(_mm256_sub_ps(zero, _mm256_mul_ps(a, a)));
  __m256 r = _mm256_fnmadd_ps(_mm256_mul_ps(p, t), ex, one); /* erf(|z|) */
  r = _mm256_or_ps(r, _mm256_and_ps(_mm256_set1_ps(-0.0f), z)); /* erf(z): z's sign */
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, r));
}

/* act 1 = relu (NaN stays NaN), 2 = exact gelu, else identity */
static inline __m256 PREFIX_gemm_act8(__m256 x, int act) {
  if (act == 1)
    return _mm256_max_ps(_mm256_setzero_ps(), x);
  if (act == 2)
    return PREFIX_gelu8(x);
  return x;
}

/* dst = act(src) + r over mr rows x n columns (any n), elementwise: dst may be src or r */
static inline void PREFIX_gemm_post(int64_t mr, int64_t n, const float *src, int64_t lds, int act,
                                    const float *r, int64_t ldr, float *dst, int64_t ldd) {
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < n; j += 8) {
      const __m256i m = PREFIX_gemm_mask8(n - j);
      __m256 v = PREFIX_gemm_act8(_mm256_maskload_ps(src + i * lds + j, m), act);
      if (r)
        v = _mm256_add_ps(v, _mm256_maskload_ps(r + i * ldr + j, m));
      _mm256_maskstore_ps(dst + i * ldd + j, m, v);
    }
}

//@ pack_b
#ifndef PREFIX_GEMM_NR
#define PREFIX_GEMM_NR 16
#endif
/* floats in a packed B of K x N */
static inline int64_t PREFIX_packed_b_floats(int64_t K, int64_t N) {
  return (N + PREFIX_GEMM_NR - 1) / PREFIX_GEMM_NR * PREFIX_GEMM_NR * K;
}

/* 8 x 8 transpose in registers: lane j of r[i] goes to lane i of r[j] (floats of row pairs
 * interleave, then pairs of floats, then the 128-bit halves swap: 24 shuffles) */
static inline void PREFIX_transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  /* now 128-bit half h of u[4g + q] holds rows 4g..4g+3 of column 4h + q */
  for (int q = 0; q < 4; q++) {
    r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
    r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
  }
}

/* one block of gemm_driver.c's transposed pack_b: rows [0, kk) x columns [0, 8) of the
 * panel (row stride NR) at dst from columns [0, cols) x k [0, kk) of src (column j at
 * src + j * ldb_n, contiguous along k; columns past cols are zero): 8 loads along k, one
 * register transpose, kk stores (the scalar copy wrote one float per store) */
#define PREFIX_PACK_TBLOCK 8
static inline void PREFIX_pack_tblock(const float *src, int64_t ldb_n, int64_t cols, int64_t kk,
                                      float *dst) {
  const __m256i m = PREFIX_gemm_mask8(kk);
  __m256 r[8];
  for (int64_t j = 0; j < 8; j++)
    r[j] = j < cols ? _mm256_maskload_ps(src + j * ldb_n, m) : _mm256_setzero_ps();
  PREFIX_transpose8(r);
  for (int64_t q = 0; q < kk; q++)
    _mm256_storeu_ps(dst + q * PREFIX_GEMM_NR, r[q]);
}

//@ gemm
/* The microkernel is stamped out for every row count 1..MR (mrv) and 1 or 2 ymm per row
 * (nv), so tails do no wasted work (a generated file compiles only the row counts its
 * strips use: kernels.c, PREFIX_GEMM_PARTIAL_ROWS); the X(i) row macros test the constants
 * mrv, nv. C, R and bias use plain loads and stores for full tiles (n == 16), masked ones
 * otherwise. */
#define PREFIX_GEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define PREFIX_GEMM_LD(P, MK) (full ? _mm256_loadu_ps(P) : _mm256_maskload_ps((P), MK))
#define PREFIX_GEMM_DECL(i) __m256 c##i##_0 = _mm256_setzero_ps(), c##i##_1 = _mm256_setzero_ps();
#define PREFIX_GEMM_LOAD(i)                                                                       \
  if (mrv > i) {                                                                                  \
    c##i##_0 = PREFIX_GEMM_LD(cin + i * ldcin, m0);                                               \
    if (nv > 1)                                                                                   \
      c##i##_1 = PREFIX_GEMM_LD(cin + i * ldcin + 8, m1);                                         \
  }
#define PREFIX_GEMM_ADDR(i, P, LD)                                                                \
  if (mrv > i) {                                                                                  \
    c##i##_0 = _mm256_add_ps(c##i##_0, PREFIX_GEMM_LD((P) + i * (LD), m0));                       \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm256_add_ps(c##i##_1, PREFIX_GEMM_LD((P) + i * (LD) + 8, m1));                 \
  }
#define PREFIX_GEMM_ADDRIN(i) PREFIX_GEMM_ADDR(i, rin, ldr)
#define PREFIX_GEMM_ADDROUT(i) PREFIX_GEMM_ADDR(i, rout, ldr)
#define PREFIX_GEMM_BIAS(i)                                                                       \
  if (mrv > i) {                                                                                  \
    c##i##_0 = _mm256_add_ps(c##i##_0, bv0);                                                      \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm256_add_ps(c##i##_1, bv1);                                                    \
  }
#define PREFIX_GEMM_FMA(i)                                                                        \
  if (mrv > i) {                                                                                  \
    const __m256 av = _mm256_broadcast_ss(a + i * ars);                                           \
    c##i##_0 = _mm256_fmadd_ps(av, bv0, c##i##_0);                                                \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm256_fmadd_ps(av, bv1, c##i##_1);                                              \
  }
/* one k step of the tile: row i adds a[i * KCP] * b[0 : 8 nv]; the B line 8 steps on is
 * prefetched */
#define PREFIX_GEMM_STEP                                                                          \
  {                                                                                               \
    _mm_prefetch((const char *)(b + 8 * PREFIX_GEMM_NR), _MM_HINT_T0);                            \
    const __m256 bv0 = _mm256_loadu_ps(b);                                                        \
    const __m256 bv1 = nv > 1 ? _mm256_loadu_ps(b + 8) : bv0;                                     \
    PREFIX_GEMM_ROWS(PREFIX_GEMM_FMA)                                                             \
  }
#define PREFIX_GEMM_RELU(i)                                                                       \
  if (mrv > i) {                                                                                  \
    c##i##_0 = _mm256_max_ps(_mm256_setzero_ps(), c##i##_0);                                      \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm256_max_ps(_mm256_setzero_ps(), c##i##_1);                                    \
  }
#define PREFIX_GEMM_STORE(i)                                                                      \
  if (mrv > i) {                                                                                  \
    if (full) {                                                                                   \
      _mm256_storeu_ps(c + i * ldc, c##i##_0);                                                    \
      _mm256_storeu_ps(c + i * ldc + 8, c##i##_1);                                                \
    } else {                                                                                      \
      _mm256_maskstore_ps(c + i * ldc, m0, c##i##_0);                                             \
      if (nv > 1)                                                                                 \
        _mm256_maskstore_ps(c + i * ldc + 8, m1, c##i##_1);                                       \
    }                                                                                             \
  }

/* the tile's constants (kernels.c, section gemm_ukr, has the rest of the microkernel) */
#define PREFIX_GEMM_TILE_SETUP(MRV, NV)                                                           \
  const int mrv = MRV, nv = NV, full = nv > 1 && n >= 16;                                         \
  const __m256i m0 = PREFIX_gemm_mask8(n), m1 = PREFIX_gemm_mask8(n - 8);
#define PREFIX_GEMM_BIAS_SETUP                                                                    \
  const __m256 bv0 = PREFIX_GEMM_LD(bias, m0);                                                    \
  const __m256 bv1 = nv > 1 ? PREFIX_GEMM_LD(bias + 8, m1) : bv0;
/* 1 row: 4 k-interleaved chains hide the FMA latency */
#define PREFIX_GEMM_ONE_ROW                                                                       \
  __m256 d0 = _mm256_setzero_ps(), d1 = d0, e0 = d0, e1 = d0, f0 = d0, f1 = d0;                   \
  for (; k + 4 <= ke; k += 4, a += 4, b += 4 * PREFIX_GEMM_NR) {                                  \
    c0_0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a), _mm256_loadu_ps(b), c0_0);                     \
    d0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 1), _mm256_loadu_ps(b + 16), d0);                \
    e0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 2), _mm256_loadu_ps(b + 32), e0);                \
    f0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 3), _mm256_loadu_ps(b + 48), f0);                \
    if (nv > 1) {                                                                                 \
      c0_1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a), _mm256_loadu_ps(b + 8), c0_1);               \
      d1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 1), _mm256_loadu_ps(b + 24), d1);              \
      e1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 2), _mm256_loadu_ps(b + 40), e1);              \
      f1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 3), _mm256_loadu_ps(b + 56), f1);              \
    }                                                                                             \
  }                                                                                               \
  c0_0 = _mm256_add_ps(_mm256_add_ps(c0_0, d0), _mm256_add_ps(e0, f0));                           \
  c0_1 = _mm256_add_ps(_mm256_add_ps(c0_1, d1), _mm256_add_ps(e1, f1));
/* the tile heights: an mrv x (8 nv) tile each, n (<= 8 nv) columns valid (kernels.c,
 * section gemm_ukr, stamps them out with PREFIX_GEMM_TILES_DEFINE) */
#define PREFIX_GEMM_HEIGHTS(X) X(1) X(2) X(3) X(4) X(5) X(6)
/* the full MR-row tile, n (1..NR) columns, over A read in place at row stride ars_in
 * (kc <= KC, one chunk): gemm_driver.c calls it for a strip of an A that is not packed */
#define PREFIX_GEMM_STRIDED_TILE 1
PREFIX_GEMM_UKR_DEFINE(PREFIX_gemm_ukr_strided, PREFIX_GEMM_MR, 2, ars_in)
PREFIX_GEMM_TILES_DEFINE
