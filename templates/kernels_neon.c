/* kernels_neon.c: FP32 GEMM and the online softmax's row operations for AArch64 with
 * Advanced SIMD (NEON), written with the ACLE intrinsics of arm_neon.h: every AArch64 CPU
 * has them, so the generated code needs no flags. Unlike kernels_generic.c it does not
 * depend on the C compiler's vectorizer (gcc -O2 leaves kernels_generic.c's loops scalar,
 * without FMAs, on aarch64).
 * Same section format as kernels.c (a section starts at its "//@" marker line, the emitter
 * copies only the sections a model uses and replaces PREFIX_ by the symbol prefix).
 * gemm_common is always copied together with gemm; pack_b (gemm_driver.c, section
 * pack_transposed) calls kernels.c's pack_panels and this file's pack_tblock.
 *
 * Layout of a packed B (K x N): panels of NR = 16 columns, panel p holds all K rows:
 *   Bp[(p * K + k) * NR + j] = B(k, p * NR + j), zero for columns >= N.
 * gemm: the MR x 16 register tile (6 x 4 q-register accumulators, 4 for the B row, the
 * A values as scalars: fmla by element) over packed A chunks; gemm_driver.c (the loop
 * nest every target shares) drives it. NEON has no masked loads: a tile with fewer than
 * 16 valid columns moves its C, R and bias through a 16-float stack copy. */

//@ gemm_common
#if !defined(__aarch64__) && !defined(_M_ARM64)
#error "attncc --target neon: this code needs a compiler for AArch64 (ARMv8-A or later)"
#endif
#include <arm_neon.h>
#ifndef PREFIX_GEMM_NR
#define PREFIX_GEMM_NR 16 /* columns per packed B panel: 4 q registers */
#endif
#define PREFIX_GEMM_MR 6 /* rows of the register tile: 24 q-register accumulators */
#ifndef PREFIX_GEMM_NC
#define PREFIX_GEMM_NC 512 /* largest N block (multiple of NR) */
#endif
/* floats of Bp kept in L2 (256 KiB: half the L2 of a Cortex-A76 or Neoverse N1 core) */
#define PREFIX_GEMM_BBLOCK 65536
#define PREFIX_GEMM_PREFETCH(p) __builtin_prefetch((p), 0, 3)

/* columns [0, n) of p as 4 vectors, zero past n (n may be >= 16) */
static inline float32x4x4_t PREFIX_gemm_ld16(const float *p, int64_t n) {
  float32x4x4_t v;
  if (n >= 16) {
    v.val[0] = vld1q_f32(p);
    v.val[1] = vld1q_f32(p + 4);
    v.val[2] = vld1q_f32(p + 8);
    v.val[3] = vld1q_f32(p + 12);
    return v;
  }
  float t[16] = {0};
  memcpy(t, p, (size_t)(n > 0 ? n : 0) * sizeof(float));
  return PREFIX_gemm_ld16(t, 16);
}

/* columns [0, n) of the 4 vectors to p (n may be >= 16) */
static inline void PREFIX_gemm_st16(float *p, int64_t n, float32x4x4_t v) {
  if (n >= 16) {
    vst1q_f32(p, v.val[0]);
    vst1q_f32(p + 4, v.val[1]);
    vst1q_f32(p + 8, v.val[2]);
    vst1q_f32(p + 12, v.val[3]);
    return;
  }
  float t[16];
  PREFIX_gemm_st16(t, 16, v);
  memcpy(p, t, (size_t)(n > 0 ? n : 0) * sizeof(float));
}

/* e^x for 4 lanes, x <= 0 (or NaN: stays NaN); 0 below -87 (e^-87 is near the smallest
 * normal float): n = round(x log2(e)), f = x log2(e) - n from fused multiply-adds with
 * log2(e) in two parts, 2^f by a degree-6 polynomial, 2^n put in the exponent bits */
static inline float32x4_t PREFIX_exp4_nonpos(float32x4_t x) {
  const float32x4_t lo = vdupq_n_f32(-87.0f);
  const uint32x4_t under = vcltq_f32(x, lo);
  x = vmaxq_f32(lo, x); /* NaN stays NaN (FMAX) */
  const float32x4_t chi = vdupq_n_f32(1.44269502162933349609f), clo = vdupq_n_f32(1.925963e-8f);
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, chi));
  const float32x4_t f = vfmaq_f32(vfmaq_f32(vnegq_f32(n), x, chi), x, clo);
  float32x4_t p = vdupq_n_f32(1.5353201888501644e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3398766750469804e-3f), p, f);
  p = vfmaq_f32(vdupq_n_f32(9.6184369176626205e-3f), p, f);
  p = vfmaq_f32(vdupq_n_f32(5.5503327399492264e-2f), p, f);
  p = vfmaq_f32(vdupq_n_f32(2.4022647738456726e-1f), p, f);
  p = vfmaq_f32(vdupq_n_f32(6.9314718246459961e-1f), p, f);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, f);
  /* (NaN converts to 0: the polynomial keeps the NaN) */
  const int32x4_t e = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
  const float32x4_t r = vmulq_f32(p, vreinterpretq_f32_s32(vshlq_n_s32(e, 23)));
  return vbslq_f32(under, vdupq_n_f32(0.0f), r);
}

/* exact gelu 0.5 x (1 + erf(x / sqrt 2)) for 4 lanes: erf by Abramowitz-Stegun 7.1.26
 * (absolute error below 2e-7, as kernels.c's PREFIX_erf) */
static inline float32x4_t PREFIX_gelu4(float32x4_t x) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  const float32x4_t z = vmulq_f32(x, vdupq_n_f32(0.70710678118654752f));
  const float32x4_t a = vabsq_f32(z);
  const float32x4_t t = vdivq_f32(one, vfmaq_f32(one, a, vdupq_n_f32(0.3275911f)));
  float32x4_t p = vdupq_n_f32(1.061405429f);
  p = vfmaq_f32(vdupq_n_f32(-1.453152027f), p, t);
  p = vfmaq_f32(vdupq_n_f32(1.421413741f), p, t);
  p = vfmaq_f32(vdupq_n_f32(-0.284496736f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0.254829592f), p, t);
  const float32x4_t ex = PREFIX_exp4_nonpos(vnegq_f32(vmulq_f32(a, a)));
  float32x4_t r = vfmsq_f32(one, vmulq_f32(p, t), ex); /* erf(|z|) */
  /* erf(z): z's sign bit */
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(z), vdupq_n_u32(0x80000000u));
  r = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(r), sign));
  return vmulq_f32(vmulq_f32(vdupq_n_f32(0.5f), x), vaddq_f32(one, r));
}

/* act 1 = relu (NaN stays NaN: FMAX), 2 = exact gelu, else identity */
static inline float32x4_t PREFIX_gemm_act4(float32x4_t x, int act) {
  if (act == 1)
    return vmaxq_f32(vdupq_n_f32(0.0f), x);
  if (act == 2)
    return PREFIX_gelu4(x);
  return x;
}

/* dst = act(src) + r over mr rows x n columns (any n), elementwise: dst may be src or r */
static inline void PREFIX_gemm_post(int64_t mr, int64_t n, const float *src, int64_t lds, int act,
                                    const float *r, int64_t ldr, float *dst, int64_t ldd) {
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < n; j += 16) {
      float32x4x4_t v = PREFIX_gemm_ld16(src + i * lds + j, n - j);
      for (int q = 0; q < 4; q++)
        v.val[q] = PREFIX_gemm_act4(v.val[q], act);
      if (r) {
        const float32x4x4_t w = PREFIX_gemm_ld16(r + i * ldr + j, n - j);
        for (int q = 0; q < 4; q++)
          v.val[q] = vaddq_f32(v.val[q], w.val[q]);
      }
      PREFIX_gemm_st16(dst + i * ldd + j, n - j, v);
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

/* one block of gemm_driver.c's transposed pack_b: rows [0, kk) x columns [0, 4) of the
 * panel (row stride NR) at dst from columns [0, cols) x k [0, kk) of src (column j at
 * src + j * ldb_n, contiguous along k; columns past cols are zero): 4 loads along k, a
 * 4 x 4 transpose (trn1/trn2 of the floats, then of the float pairs), kk stores */
#define PREFIX_PACK_TBLOCK 4
static inline void PREFIX_pack_tblock(const float *src, int64_t ldb_n, int64_t cols, int64_t kk,
                                      float *dst) {
  float32x4_t r[4];
  for (int64_t j = 0; j < 4; j++) {
    if (j < cols && kk == 4) {
      r[j] = vld1q_f32(src + j * ldb_n);
    } else {
      float t[4] = {0};
      if (j < cols)
        memcpy(t, src + j * ldb_n, (size_t)kk * sizeof(float));
      r[j] = vld1q_f32(t);
    }
  }
  const float32x4_t t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
  const float32x4_t t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
  const float64x2_t d0 = vreinterpretq_f64_f32(t0), d1 = vreinterpretq_f64_f32(t1);
  const float64x2_t d2 = vreinterpretq_f64_f32(t2), d3 = vreinterpretq_f64_f32(t3);
  const float32x4_t k[4] = {vreinterpretq_f32_f64(vtrn1q_f64(d0, d2)),
                            vreinterpretq_f32_f64(vtrn1q_f64(d1, d3)),
                            vreinterpretq_f32_f64(vtrn2q_f64(d0, d2)),
                            vreinterpretq_f32_f64(vtrn2q_f64(d1, d3))};
  for (int64_t q = 0; q < kk; q++)
    vst1q_f32(dst + q * PREFIX_GEMM_NR, k[q]);
}

//@ gemm
/* The microkernel is stamped out for every row count 1..MR (mrv); every tile computes
 * all 16 columns (packed B is zero past N) and the X(i) row macros test the constant mrv. */
#define PREFIX_GEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define PREFIX_GEMM_DECL(i) float32x4_t c##i##_0 = z, c##i##_1 = z, c##i##_2 = z, c##i##_3 = z;
#define PREFIX_GEMM_ADD4(i, V)                                                                    \
  {                                                                                               \
    const float32x4x4_t v_ = (V);                                                                 \
    c##i##_0 = vaddq_f32(c##i##_0, v_.val[0]);                                                    \
    c##i##_1 = vaddq_f32(c##i##_1, v_.val[1]);                                                    \
    c##i##_2 = vaddq_f32(c##i##_2, v_.val[2]);                                                    \
    c##i##_3 = vaddq_f32(c##i##_3, v_.val[3]);                                                    \
  }
#define PREFIX_GEMM_ADDR(i, P, LD)                                                                \
  if (mrv > i)                                                                                    \
  PREFIX_GEMM_ADD4(i, PREFIX_gemm_ld16((P) + i * (LD), n))
#define PREFIX_GEMM_LOAD(i)                                                                       \
  if (mrv > i) {                                                                                  \
    const float32x4x4_t v_ = PREFIX_gemm_ld16(cin + i * ldcin, n);                                \
    c##i##_0 = v_.val[0];                                                                         \
    c##i##_1 = v_.val[1];                                                                         \
    c##i##_2 = v_.val[2];                                                                         \
    c##i##_3 = v_.val[3];                                                                         \
  }
#define PREFIX_GEMM_ADDRIN(i) PREFIX_GEMM_ADDR(i, rin, ldr)
#define PREFIX_GEMM_ADDROUT(i) PREFIX_GEMM_ADDR(i, rout, ldr)
#define PREFIX_GEMM_BIAS(i)                                                                       \
  if (mrv > i)                                                                                    \
  PREFIX_GEMM_ADD4(i, bv)
#define PREFIX_GEMM_FMA(i)                                                                        \
  if (mrv > i) {                                                                                  \
    const float av = a[i * ars];                                                                  \
    c##i##_0 = vfmaq_n_f32(c##i##_0, b0, av);                                                     \
    c##i##_1 = vfmaq_n_f32(c##i##_1, b1, av);                                                     \
    c##i##_2 = vfmaq_n_f32(c##i##_2, b2, av);                                                     \
    c##i##_3 = vfmaq_n_f32(c##i##_3, b3, av);                                                     \
  }
#define PREFIX_GEMM_RELU(i)                                                                       \
  if (mrv > i) {                                                                                  \
    c##i##_0 = vmaxq_f32(z, c##i##_0);                                                            \
    c##i##_1 = vmaxq_f32(z, c##i##_1);                                                            \
    c##i##_2 = vmaxq_f32(z, c##i##_2);                                                            \
    c##i##_3 = vmaxq_f32(z, c##i##_3);                                                            \
  }
#define PREFIX_GEMM_STORE(i)                                                                      \
  if (mrv > i) {                                                                                  \
    const float32x4x4_t v_ = {{c##i##_0, c##i##_1, c##i##_2, c##i##_3}};                          \
    PREFIX_gemm_st16(c + i * ldc, n, v_);                                                         \
  }

/* the tile's constants (kernels.c, section gemm_ukr, has the rest of the microkernel);
 * nv is always 4 */
#define PREFIX_GEMM_TILE_SETUP(MRV, NV)                                                           \
  const int mrv = MRV;                                                                            \
  const float32x4_t z = vdupq_n_f32(0.0f);
#define PREFIX_GEMM_BIAS_SETUP const float32x4x4_t bv = PREFIX_gemm_ld16(bias, n);
/* 1 row: two k steps at a time into two sets of accumulators, 8 independent FMA chains */
#define PREFIX_GEMM_ONE_ROW                                                                       \
  float32x4_t d0 = z, d1 = z, d2 = z, d3 = z;                                                     \
  for (; k + 2 <= ke; k += 2, a += 2, b += 2 * PREFIX_GEMM_NR) {                                  \
    c0_0 = vfmaq_n_f32(c0_0, vld1q_f32(b), a[0]);                                                 \
    c0_1 = vfmaq_n_f32(c0_1, vld1q_f32(b + 4), a[0]);                                             \
    c0_2 = vfmaq_n_f32(c0_2, vld1q_f32(b + 8), a[0]);                                             \
    c0_3 = vfmaq_n_f32(c0_3, vld1q_f32(b + 12), a[0]);                                            \
    d0 = vfmaq_n_f32(d0, vld1q_f32(b + 16), a[1]);                                                \
    d1 = vfmaq_n_f32(d1, vld1q_f32(b + 20), a[1]);                                                \
    d2 = vfmaq_n_f32(d2, vld1q_f32(b + 24), a[1]);                                                \
    d3 = vfmaq_n_f32(d3, vld1q_f32(b + 28), a[1]);                                                \
  }                                                                                               \
  c0_0 = vaddq_f32(c0_0, d0);                                                                     \
  c0_1 = vaddq_f32(c0_1, d1);                                                                     \
  c0_2 = vaddq_f32(c0_2, d2);                                                                     \
  c0_3 = vaddq_f32(c0_3, d3);
#define PREFIX_GEMM_STEP                                                                          \
  {                                                                                               \
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8),            \
                      b3 = vld1q_f32(b + 12);                                                     \
    PREFIX_GEMM_ROWS(PREFIX_GEMM_FMA)                                                             \
  }
/* the tile heights: an mrv x 16 tile each, n (<= 16) columns valid, in one width (kernels.c,
 * section gemm_ukr, stamps them out with PREFIX_GEMM_TILES_DEFINE) */
#define PREFIX_GEMM_HEIGHTS(X) X(1) X(2) X(3) X(4) X(5) X(6)
#define PREFIX_GEMM_ONE_WIDTH 4
/* gcc's first scheduling pass hoists the six A loads of a k step above its FMAs, which
 * needs 34 vector registers: gcc 12 -O2 then spilled 3 accumulators to the stack in every
 * k step of the 6-row tile. The tiles are compiled without that pass (clang needs nothing). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-schedule-insns")
#endif
/* the full MR-row tile, n (1..NR) columns, over A read in place at row stride ars_in
 * (kc <= KC, one chunk): gemm_driver.c calls it for a strip of an A that is not packed */
#define PREFIX_GEMM_STRIDED_TILE 1
PREFIX_GEMM_UKR_DEFINE(PREFIX_gemm_ukr_strided, PREFIX_GEMM_MR, 4, ars_in)
PREFIX_GEMM_TILES_DEFINE
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

//@ softmax_rows
/* The online softmax's row operations with NEON (they replace kernels.c's section of the
 * same name; kernels.c's softmax_block calls them), on gemm_common's e^x (the attention
 * always has a GEMM). */

/* max of 16 lanes (NaN wins, as in PyTorch: FMAX and FMAXV return NaN when an input is) */
static inline float PREFIX_lanes_max(const float *lane) {
  const float32x4_t m = vmaxq_f32(vmaxq_f32(vld1q_f32(lane), vld1q_f32(lane + 4)),
                                  vmaxq_f32(vld1q_f32(lane + 8), vld1q_f32(lane + 12)));
  return vmaxvq_f32(m);
}

/* max of x[0..n) (NaN wins) */
static inline float PREFIX_row_max(const float *x, int64_t n) {
  float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
  const int64_t full = n - n % 8; /* (tails as j = full..n: gcc 12 misjudges j + 8 <= n) */
  int64_t j = 0;
  for (; j < full; j += 8) {
    m0 = vmaxq_f32(m0, vld1q_f32(x + j));
    m1 = vmaxq_f32(m1, vld1q_f32(x + j + 4));
  }
  float m = vmaxvq_f32(vmaxq_f32(m0, m1));
  for (j = full; j < n; j++)
    m = (x[j] > m || x[j] != x[j]) ? x[j] : m;
  return m;
}

/* x = e^((x - m) c) over x[0..n), every x <= m (or NaN), c > 0; returns the sum */
static inline float PREFIX_row_exp_sum(float *x, int64_t n, float m, float c) {
  const float32x4_t mv = vdupq_n_f32(m), cv = vdupq_n_f32(c);
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
  const int64_t full = n - n % 8;
  int64_t j = 0;
  for (; j < full; j += 8) {
    const float32x4_t e0 = PREFIX_exp4_nonpos(vmulq_f32(vsubq_f32(vld1q_f32(x + j), mv), cv));
    const float32x4_t e1 = PREFIX_exp4_nonpos(vmulq_f32(vsubq_f32(vld1q_f32(x + j + 4), mv), cv));
    vst1q_f32(x + j, e0);
    vst1q_f32(x + j + 4, e1);
    s0 = vaddq_f32(s0, e0);
    s1 = vaddq_f32(s1, e1);
  }
  float sum = vaddvq_f32(vaddq_f32(s0, s1));
  for (j = full; j < n; j++) {
    x[j] = PREFIX_exp((x[j] - m) * c);
    sum += x[j];
  }
  return sum;
}

/* sum of 16 lanes */
static inline float PREFIX_lanes_sum(const float *lane) {
  return vaddvq_f32(vaddq_f32(vaddq_f32(vld1q_f32(lane), vld1q_f32(lane + 4)),
                              vaddq_f32(vld1q_f32(lane + 8), vld1q_f32(lane + 12))));
}
