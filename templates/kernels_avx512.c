/* kernels_avx512.c: FP32 GEMM for x86-64 with AVX-512 (F, VL, DQ) and FMA.
 * Build the generated file with -mavx512f -mavx512vl -mavx512dq -mfma (or -march=native).
 * Same section format as kernels.c (a section starts at its "//@" marker line, the emitter
 * copies only the sections a model uses and replaces PREFIX_ by the symbol prefix).
 * gemm_common is always copied together with gemm; pack_b (gemm_driver.c, section
 * pack_transposed) calls kernels.c's pack_panels and this file's pack_tblock.
 *
 * Layout of a packed B (K x N): panels of NR = 32 columns, panel p holds all K rows:
 *   Bp[(p * K + k) * NR + j] = B(k, p * NR + j), zero for columns >= N.
 * gemm: the MR x 32 register tile (2 zmm per row, A broadcast from memory) over packed A
 * chunks; gemm_driver.c (the loop nest shared with avx2) drives it. */

//@ gemm_common
#include <immintrin.h>
#ifndef PREFIX_GEMM_NR
#define PREFIX_GEMM_NR 32 /* columns per packed B panel: 2 zmm */
#endif
#define PREFIX_GEMM_MR 12 /* rows of the register tile: 24 zmm accumulators */
#ifndef PREFIX_GEMM_NC
#define PREFIX_GEMM_NC 768 /* largest N block (multiple of NR) */
#endif
#define PREFIX_GEMM_BBLOCK 196608           /* floats of Bp kept in L2 (768 KiB): kc x nc */
#define PREFIX_GEMM_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
/* loops over the (up to) 4 vectors e^x keeps in lockstep, unrolled: gcc -O2 does not unroll
 * them itself and kept the vectors in memory (the d=768 attention 30-70 % slower than
 * clang's); clang unrolls them anyway */
#if defined(__GNUC__) || defined(__clang__)
#define PREFIX_UNROLL4 _Pragma("GCC unroll 4")
#else
#define PREFIX_UNROLL4
#endif

/* e^x in base 2 (the gelu epilogue, the online softmax): x <= 0 (or NaN) is clamped below
 * where the result is 0 in float, t = x c log2(e) (rounded, as c log2(e) is: a relative
 * error of at most about 1e-7 |t| in the result, 1.4e-6 seen at e^-16), n = round(t),
 * f = t - n in [-1/2, 1/2] (exact), 2^f by a degree-5 polynomial (relative error 1.1e-7
 * before float rounding) and 2^n applied by vscalefps: 11 vector operations per 16
 * values, 6 of them multiplies or FMAs (10 and 5 in base 2, below), no integer tricks, no
 * selects. (Splitting c log2(e) in two parts to make f exact cost two FMAs more, ~2 % of
 * the d=256 block.)
 * The constants of e^((v - m) c) for one row of scores: m, the clamp of v - m, c log2(e),
 * and whether c log2(e) is 1 (c = ln 2: the fused attention scaled the queries by the
 * scale times log2(e), so the scores are exponents of 2 already), which saves the multiply,
 * one of the FMA pipes' operations the exponentials are bound by. */
typedef struct {
  __m512 m, lo, cl;
  int base2;
} PREFIX_ExpRow;

static inline PREFIX_ExpRow PREFIX_exp_row(float m, float c) {
  const float cl = (float)((double)c * 1.4426950408889634074);
  PREFIX_ExpRow r = {_mm512_set1_ps(m), _mm512_set1_ps(-160.0f / cl), _mm512_set1_ps(cl),
                     cl == 1.0f};
  return r;
}

/* e^(x c) for k (<= 4) vectors of 16 lanes in lockstep, in place: each step for all k
 * before the next, so k chains of about 40 cycles run side by side (the exponential pass
 * is bound by how much of that chain the core keeps in flight: in a long row 4 vectors
 * at a time took 4.0 cycles per 16 values, 1 at a time 4.5); x <= 0 or NaN (NaN stays
 * NaN); e->m is not used */
static inline void PREFIX_expk_of(__m512 *x, int k, const PREFIX_ExpRow *e) {
  static const float c[6] = {1.326472731307149e-3f, 9.671512991189957e-3f, 5.550733581185341e-2f,
                             2.4022242426872253e-1f, 6.931470036506653e-1f, 1.0f};
  __m512 n[4], p[4];
  PREFIX_UNROLL4
  for (int i = 0; i < k; i++) {
    x[i] = _mm512_max_ps(e->lo, x[i]); /* NaN: the second operand */
    if (!e->base2)
      x[i] = _mm512_mul_ps(x[i], e->cl);
  }
  PREFIX_UNROLL4
  for (int i = 0; i < k; i++)
    n[i] = _mm512_roundscale_ps(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  PREFIX_UNROLL4
  for (int i = 0; i < k; i++) {
    x[i] = _mm512_sub_ps(x[i], n[i]);
    p[i] = _mm512_fmadd_ps(_mm512_set1_ps(c[0]), x[i], _mm512_set1_ps(c[1]));
  }
  PREFIX_UNROLL4
  for (int d = 2; d < 6; d++) {
    PREFIX_UNROLL4
    for (int i = 0; i < k; i++)
      p[i] = _mm512_fmadd_ps(p[i], x[i], _mm512_set1_ps(c[d]));
  }
  PREFIX_UNROLL4
  for (int i = 0; i < k; i++)
    x[i] = _mm512_scalef_ps(p[i], n[i]);
}

/* e^(x c) for 16 lanes (PREFIX_expk_of for one vector) */
static inline __m512 PREFIX_exp16_of(__m512 x, const PREFIX_ExpRow *e) {
  PREFIX_expk_of(&x, 1, e);
  return x;
}

/* exact gelu 0.5 x (1 + erf(x / sqrt 2)) for 16 lanes: erf by Abramowitz-Stegun 7.1.26
 * (absolute error below 2e-7, as kernels.c's PREFIX_erf) with the vector e^x above */
static inline __m512 PREFIX_gelu16(__m512 x) {
  const PREFIX_ExpRow e = PREFIX_exp_row(0.0f, 1.0f);
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
  const __m512 a = _mm512_abs_ps(z);
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), one));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  const __m512 ex = PREFIX_exp16_of(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)), &e);
  const __m512 r0 = _mm512_fnmadd_ps(_mm512_mul_ps(p, t), ex, one); /* erf(|z|) */
  /* erf(z): z's sign onto it by a logic operation (a merge-masked 0 - r would take an
   * FMA pipe on Zen 5; the same values, also at z = -0) */
  const __m512 r = _mm512_xor_ps(r0, _mm512_and_ps(z, _mm512_set1_ps(-0.0f)));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(one, r));
}

/* lanes [0, n) of a 16-lane mask, n may be <= 0 or >= 16 */
static inline __mmask16 PREFIX_gemm_mask16(int64_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* act 1 = relu (NaN stays NaN), 2 = exact gelu, else identity */
static inline __m512 PREFIX_gemm_act16(__m512 x, int act) {
  if (act == 1)
    return _mm512_max_ps(_mm512_setzero_ps(), x);
  if (act == 2)
    return PREFIX_gelu16(x);
  return x;
}

/* dst = act(src) + r over mr rows x n columns (any n), elementwise: dst may be src or r */
static inline void PREFIX_gemm_post(int64_t mr, int64_t n, const float *src, int64_t lds, int act,
                                    const float *r, int64_t ldr, float *dst, int64_t ldd) {
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 m = PREFIX_gemm_mask16(n - j);
      __m512 v = PREFIX_gemm_act16(_mm512_maskz_loadu_ps(m, src + i * lds + j), act);
      if (r)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, r + i * ldr + j));
      _mm512_mask_storeu_ps(dst + i * ldd + j, m, v);
    }
}

//@ pack_b
#ifndef PREFIX_GEMM_NR
#define PREFIX_GEMM_NR 32
#endif
/* floats in a packed B of K x N */
static inline int64_t PREFIX_packed_b_floats(int64_t K, int64_t N) {
  return (N + PREFIX_GEMM_NR - 1) / PREFIX_GEMM_NR * PREFIX_GEMM_NR * K;
}

/* 16 x 16 transpose in registers: lane j of r[i] goes to lane i of r[j]. Floats of row
 * pairs interleave, then pairs of floats, then two shuffles of 128-bit lanes: 64 shuffles
 * for 256 floats (a masked gather of 16 floats cost about as much as 16 loads). */
static inline void PREFIX_transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    const __m512d t0 = _mm512_castps_pd(t[i]), t1 = _mm512_castps_pd(t[i + 1]),
                  t2 = _mm512_castps_pd(t[i + 2]), t3 = _mm512_castps_pd(t[i + 3]);
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  /* now 128-bit lane l of r[4g + q] holds rows 4g..4g+3 of column 4l + q */
  for (int q = 0; q < 4; q++) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x44),
                 u1 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xEE),
                 u2 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x44),
                 u3 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xEE);
    t[q] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    t[4 + q] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    t[8 + q] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    t[12 + q] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
  for (int i = 0; i < 16; i++)
    r[i] = t[i];
}

/* one block of gemm_driver.c's transposed pack_b: rows [0, kk) x columns [0, 16) of the
 * panel (row stride NR) at dst from columns [0, cols) x k [0, kk) of src (column j at
 * src + j * ldb_n, contiguous along k; columns past cols are zero): 16 loads along k, one
 * register transpose, kk stores (masked gathers of 16 floats, one per panel row, took 5.9 %
 * of the d=768 attention at 512 tokens, this block about a fifth of their time) */
#define PREFIX_PACK_TBLOCK 16
static inline void PREFIX_pack_tblock(const float *src, int64_t ldb_n, int64_t cols, int64_t kk,
                                      float *dst) {
  const __mmask16 m = PREFIX_gemm_mask16(kk);
  __m512 r[16];
  for (int64_t j = 0; j < 16; j++)
    r[j] = j < cols ? _mm512_maskz_loadu_ps(m, src + j * ldb_n) : _mm512_setzero_ps();
  PREFIX_transpose16(r);
  for (int64_t q = 0; q < kk; q++)
    _mm512_storeu_ps(dst + q * PREFIX_GEMM_NR, r[q]);
}

//@ gemm
/* The microkernel is stamped out for every row count 1..MR (mrv) and 1 or 2 zmm per row
 * (nv), so tails do no wasted work (a generated file compiles only the row counts its
 * strips use: kernels.c, PREFIX_GEMM_PARTIAL_ROWS); the X(i) row macros test the constants
 * mrv, nv. */
#define PREFIX_GEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PREFIX_GEMM_DECL(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();
#define PREFIX_GEMM_LOAD(i)                                                                       \
  if (mrv > i) {                                                                                  \
    c##i##_0 = _mm512_maskz_loadu_ps(m0, cin + i * ldcin);                                        \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm512_maskz_loadu_ps(m1, cin + i * ldcin + 16);                                 \
  }
#define PREFIX_GEMM_ADDR(i, P, LD)                                                                \
  if (mrv > i) {                                                                                  \
    c##i##_0 = _mm512_add_ps(c##i##_0, _mm512_maskz_loadu_ps(m0, (P) + i * (LD)));                \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm512_add_ps(c##i##_1, _mm512_maskz_loadu_ps(m1, (P) + i * (LD) + 16));         \
  }
#define PREFIX_GEMM_ADDRIN(i) PREFIX_GEMM_ADDR(i, rin, ldr)
#define PREFIX_GEMM_ADDROUT(i) PREFIX_GEMM_ADDR(i, rout, ldr)
#define PREFIX_GEMM_BIAS(i)                                                                       \
  if (mrv > i) {                                                                                  \
    c##i##_0 = _mm512_add_ps(c##i##_0, bv0);                                                      \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm512_add_ps(c##i##_1, bv1);                                                    \
  }
#define PREFIX_GEMM_FMA(i)                                                                        \
  if (mrv > i) {                                                                                  \
    const __m512 av = _mm512_set1_ps(a[i * ars]);                                                 \
    c##i##_0 = _mm512_fmadd_ps(av, bv0, c##i##_0);                                                \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm512_fmadd_ps(av, bv1, c##i##_1);                                              \
  }
/* one k step of the tile: row i adds a[i * KCP] * b[0 : 16 nv]; the B lines 32 steps on
 * (4 KiB) are prefetched: the L1 prefetcher alone leaves the panel stream from L2 a few %
 * short, and the first strip of each B block streams its panels from L3, where 8 steps
 * (the distance before) did not cover the latency: 512x768x3072 2 %, 512x3072x768 1 %,
 * 512x768x768 2.5 % faster (paired A/B, Zen 5), the L2-resident shapes unchanged */
#define PREFIX_GEMM_STEP                                                                          \
  {                                                                                               \
    _mm_prefetch((const char *)(b + 32 * PREFIX_GEMM_NR), _MM_HINT_T0);                           \
    _mm_prefetch((const char *)(b + 32 * PREFIX_GEMM_NR + 16), _MM_HINT_T0);                      \
    const __m512 bv0 = _mm512_loadu_ps(b);                                                        \
    const __m512 bv1 = nv > 1 ? _mm512_loadu_ps(b + 16) : bv0;                                    \
    PREFIX_GEMM_ROWS(PREFIX_GEMM_FMA)                                                             \
  }
#define PREFIX_GEMM_RELU(i)                                                                       \
  if (mrv > i) {                                                                                  \
    c##i##_0 = _mm512_max_ps(_mm512_setzero_ps(), c##i##_0);                                      \
    if (nv > 1)                                                                                   \
      c##i##_1 = _mm512_max_ps(_mm512_setzero_ps(), c##i##_1);                                    \
  }
#define PREFIX_GEMM_STORE(i)                                                                      \
  if (mrv > i) {                                                                                  \
    _mm512_mask_storeu_ps(c + i * ldc, m0, c##i##_0);                                             \
    if (nv > 1)                                                                                   \
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c##i##_1);                                      \
  }

/* the tile's constants (kernels.c, section gemm_ukr, has the rest of the microkernel) */
#define PREFIX_GEMM_TILE_SETUP(MRV, NV)                                                           \
  const int mrv = MRV, nv = NV;                                                                   \
  const __mmask16 m0 = PREFIX_gemm_mask16(n), m1 = PREFIX_gemm_mask16(n - 16);
#define PREFIX_GEMM_BIAS_SETUP                                                                    \
  const __m512 bv0 = _mm512_maskz_loadu_ps(m0, bias);                                             \
  const __m512 bv1 = nv > 1 ? _mm512_maskz_loadu_ps(m1, bias + 16) : bv0;
/* 1 row: 4 k-interleaved chains hide the FMA latency */
#define PREFIX_GEMM_ONE_ROW                                                                       \
  __m512 d0 = _mm512_setzero_ps(), d1 = d0, e0 = d0, e1 = d0, f0 = d0, f1 = d0;                   \
  for (; k + 4 <= ke; k += 4, a += 4, b += 4 * PREFIX_GEMM_NR) {                                  \
    c0_0 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), _mm512_loadu_ps(b), c0_0);                       \
    d0 = _mm512_fmadd_ps(_mm512_set1_ps(a[1]), _mm512_loadu_ps(b + 32), d0);                      \
    e0 = _mm512_fmadd_ps(_mm512_set1_ps(a[2]), _mm512_loadu_ps(b + 64), e0);                      \
    f0 = _mm512_fmadd_ps(_mm512_set1_ps(a[3]), _mm512_loadu_ps(b + 96), f0);                      \
    if (nv > 1) {                                                                                 \
      c0_1 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), _mm512_loadu_ps(b + 16), c0_1);                \
      d1 = _mm512_fmadd_ps(_mm512_set1_ps(a[1]), _mm512_loadu_ps(b + 48), d1);                    \
      e1 = _mm512_fmadd_ps(_mm512_set1_ps(a[2]), _mm512_loadu_ps(b + 80), e1);                    \
      f1 = _mm512_fmadd_ps(_mm512_set1_ps(a[3]), _mm512_loadu_ps(b + 112), f1);                   \
    }                                                                                             \
  }                                                                                               \
  c0_0 = _mm512_add_ps(_mm512_add_ps(c0_0, d0), _mm512_add_ps(e0, f0));                           \
  c0_1 = _mm512_add_ps(_mm512_add_ps(c0_1, d1), _mm512_add_ps(e1, f1));
/* the tile heights: an mrv x (16 nv) tile each, n (<= 16 nv) columns valid (kernels.c,
 * section gemm_ukr, stamps them out with PREFIX_GEMM_TILES_DEFINE) */
#define PREFIX_GEMM_HEIGHTS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
/* the full MR-row tile, n (1..NR) columns, over A read in place at row stride ars_in
 * (kc <= KC, one chunk): gemm_driver.c calls it for a strip of an A that is not packed */
#define PREFIX_GEMM_STRIDED_TILE 1
PREFIX_GEMM_UKR_DEFINE(PREFIX_gemm_ukr_strided, PREFIX_GEMM_MR, 2, ars_in)
PREFIX_GEMM_TILES_DEFINE

//@ softmax_rows
/* The online softmax's row operations with AVX-512 (this section and the next replace
 * kernels.c's sections of the same names), on gemm_common's e^x (PREFIX_exp16_of; the
 * attention always has a GEMM). */
#include <immintrin.h>

/* max of 16 lanes (NaN wins, as in PyTorch) */
static inline float PREFIX_lanes_max(const float *lane) {
  const __m512 v = _mm512_loadu_ps(lane);
  if (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q))
    return NAN;
  return _mm512_reduce_max_ps(v);
}

/* lanes [0, n) of a 16-lane mask, n may be <= 0 or >= 16 */
static inline __mmask16 PREFIX_row_mask16(int64_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* max of x[0..n) (NaN wins) */
static inline float PREFIX_row_max(const float *x, int64_t n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  __mmask16 nan = 0;
  for (int64_t j = 0; j < n; j += 16) {
    const __m512 v = _mm512_mask_loadu_ps(m, PREFIX_row_mask16(n - j), x + j);
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    m = _mm512_max_ps(m, v);
  }
  return nan ? NAN : _mm512_reduce_max_ps(m);
}

/* x = e^((x - m) c) over x[0..n), every x <= m = e->m (or NaN); returns the sum in 16 lanes.
 * Whole vectors go without masks, the tail's lanes are summed zero-masked: a merge-masked
 * add takes an FMA pipe on Zen 5 (like a multiply; an add alone, or zero-masked, does not),
 * and e^x is bound by those pipes: the causal d=256 attention at 1024 tokens, whose rows
 * end at run-time lengths, runs 2.8 % faster this way than with the mask on every vector (the
 * median of six 80-run A/Bs in both orders; the whole block 1.1-1.2 %). */
static inline __m512 PREFIX_row_exp_sum_at(float *x, int64_t n, const PREFIX_ExpRow *e) {
  __m512 s4[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                  _mm512_setzero_ps()};
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) { /* 4 vectors in lockstep (PREFIX_expk_of) */
    __m512 v[4];
    PREFIX_UNROLL4
    for (int i = 0; i < 4; i++)
      v[i] = _mm512_sub_ps(_mm512_loadu_ps(x + j + 16 * i), e->m);
    PREFIX_expk_of(v, 4, e);
    PREFIX_UNROLL4
    for (int i = 0; i < 4; i++) {
      _mm512_storeu_ps(x + j + 16 * i, v[i]);
      s4[i] = _mm512_add_ps(s4[i], v[i]);
    }
  }
  __m512 sum = _mm512_add_ps(_mm512_add_ps(s4[0], s4[1]), _mm512_add_ps(s4[2], s4[3]));
  for (; j + 16 <= n; j += 16) {
    const __m512 ev = PREFIX_exp16_of(_mm512_sub_ps(_mm512_loadu_ps(x + j), e->m), e);
    _mm512_storeu_ps(x + j, ev);
    sum = _mm512_add_ps(sum, ev);
  }
  if (j < n) {
    const __mmask16 k = PREFIX_row_mask16(n - j);
    const __m512 ev = PREFIX_exp16_of(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), e->m), e);
    _mm512_mask_storeu_ps(x + j, k, ev);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, ev));
  }
  return sum;
}

/* x = e^((x - m) c) over x[0..n), every x <= m (or NaN), c > 0; returns the sum */
static inline float PREFIX_row_exp_sum(float *x, int64_t n, float m, float c) {
  const PREFIX_ExpRow er = PREFIX_exp_row(m, c);
  return _mm512_reduce_add_ps(PREFIX_row_exp_sum_at(x, n, &er));
}

/* sum of 16 lanes */
static inline float PREFIX_lanes_sum(const float *lane) {
  return _mm512_reduce_add_ps(_mm512_loadu_ps(lane));
}

//@ softmax_block
/* One key block of the online softmax over `rows` rows of the score tile (see kernels.c's
 * section of the same name for the contract), 16 rows at a time: their block maxima, then
 * the running maxima and corrections as vectors across the rows, so no row waits on the
 * scalar merge of the row before it; each row's sum stays in 16 lanes (no horizontal add). */
static inline void PREFIX_softmax_block(float *s, int64_t lds, int64_t rows, int64_t n,
                                        float *rmax, float *rsum, float c,
                                        float *out, int64_t ldo, int64_t dv) {
  PREFIX_ExpRow er = PREFIX_exp_row(0.0f, c);
  const __m512 one = _mm512_set1_ps(1.0f), ninf = _mm512_set1_ps(-INFINITY);
  float mb[16], base[16], corr[16];
  for (int64_t r0 = 0; r0 < rows; r0 += 16) {
    const int64_t g = rows - r0 < 16 ? rows - r0 : 16;
    const __mmask16 gm = PREFIX_row_mask16(g);
    /* the block maxima (a NaN score may be lost here, but its e^ makes the row's sum NaN) */
    for (int64_t i = 0; i < g; i++) {
      const float *x = s + (r0 + i) * lds;
      __m512 m0 = ninf, m1 = ninf;
      int64_t j = 0;
      for (; j + 32 <= n; j += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + j));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + j + 16));
      }
      for (; j < n; j += 16)
        m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(ninf, PREFIX_row_mask16(n - j), x + j));
      mb[i] = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    }
    const __m512 mo = _mm512_maskz_loadu_ps(gm, rmax + r0);
    const __m512 vb = _mm512_maskz_loadu_ps(gm, mb);
    /* the new running max (NaN wins; an all -inf block keeps the old one) and the
     * correction e^((old - new) c): exactly 1 where the max stays, -inf to -inf included */
    const __m512 mn = _mm512_mask_blend_ps(
        _mm512_cmp_ps_mask(vb, mo, _CMP_GT_OQ) | _mm512_cmp_ps_mask(vb, vb, _CMP_UNORD_Q), mo, vb);
    const __m512 cv = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mo, mn, _CMP_EQ_OQ),
                                           PREFIX_exp16_of(_mm512_sub_ps(mo, mn), &er), one);
    _mm512_mask_storeu_ps(rmax + r0, gm, mn);
    _mm512_storeu_ps(corr, cv);
    /* rows whose keys are all -inf so far: exponents from 0, so each score becomes 0 */
    _mm512_storeu_ps(base, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mn, ninf, _CMP_EQ_OQ), mn,
                                                _mm512_setzero_ps()));
    for (int64_t i = 0; i < g; i++) {
      er.m = _mm512_set1_ps(base[i]);
      float *rs = rsum + 16 * (r0 + i);
      _mm512_storeu_ps(rs, _mm512_fmadd_ps(_mm512_loadu_ps(rs), _mm512_set1_ps(corr[i]),
                                           PREFIX_row_exp_sum_at(s + (r0 + i) * lds, n, &er)));
    }
    const __mmask16 scale = _mm512_mask_cmp_ps_mask(gm, cv, one, _CMP_NEQ_UQ);
    for (int64_t i = 0; scale && i < g; i++) {
      if (!((scale >> i) & 1))
        continue;
      const __m512 f = _mm512_set1_ps(corr[i]);
      float *o = out + (r0 + i) * ldo;
      for (int64_t j = 0; j < dv; j += 16) {
        const __mmask16 k = PREFIX_row_mask16(dv - j);
        _mm512_mask_storeu_ps(o + j, k, _mm512_mul_ps(f, _mm512_maskz_loadu_ps(k, o + j)));
      }
    }
  }
}
