/* kernels.c: the target-independent C kernels the emitter copies into generated code
 * (the GEMM and its packing are in kernels_<target>.c). Each section starts with a line
 * "//@ NAME" and is copied only when the model uses NAME; PREFIX_ becomes the model's
 * symbol prefix. */

//@ pack_panels
/* B(k, n) = B[k * ldb_k + n * ldb_n] (row-major [K,N]: ldb_k = N, ldb_n = 1; a Linear
 * weight [N,K] used transposed: ldb_k = 1, ldb_n = K) -> Bp, panels of nr columns:
 * Bp[(p*K + k)*nr + j] = B(k, p*nr + j), zero past N. Every target's pack_b calls it. */
static inline void PREFIX_pack_panels(int64_t K, int64_t N, const float *B, int64_t ldb_k,
                                      int64_t ldb_n, int64_t nr, float *Bp) {
  for (int64_t j0 = 0; j0 < N; j0 += nr) {
    const int64_t nn = N - j0 < nr ? N - j0 : nr;
    float *dst = Bp + j0 * K; /* panel j0 / nr starts at (j0 / nr) * K * nr */
    if (ldb_n == 1) {
      for (int64_t k = 0; k < K; k++) {
        memcpy(dst + k * nr, B + k * ldb_k + j0, (size_t)nn * sizeof(float));
        for (int64_t j = nn; j < nr; j++)
          dst[k * nr + j] = 0.0f;
      }
    } else {
      for (int64_t k0 = 0; k0 < K; k0 += 64) { /* 64 x NR blocks: reads and writes stay in cache */
        const int64_t k1 = K - k0 < 64 ? K : k0 + 64;
        for (int64_t j = 0; j < nr; j++) {
          if (j < nn) {
            const float *src = B + (j0 + j) * ldb_n;
            for (int64_t k = k0; k < k1; k++)
              dst[k * nr + j] = src[k * ldb_k];
          } else {
            for (int64_t k = k0; k < k1; k++)
              dst[k * nr + j] = 0.0f;
          }
        }
      }
    }
  }
}

//@ gemm_blocking
/* The GEMM blocking every target's kernels share (compiler/target.c mirrors it; the target's
 * gemm_common adds its register tile, MR x NR, and its N and B blocks): */
#ifndef PREFIX_GEMM_KC
#define PREFIX_GEMM_KC 256 /* K block: columns of a packed A chunk */
#endif
/* row stride of packed A: one cache line more than KC, so rows do not share L1 sets */
#define PREFIX_GEMM_KCP (PREFIX_GEMM_KC + 16)
#define PREFIX_GEMM_KS (3 * PREFIX_GEMM_KC) /* K block: packed A chunks per strip x KC */

//@ gemm_ukr
/* The skeleton of a register-tile microkernel, filled in by the gemm section of
 * kernels_avx512.c, kernels_avx2.c and kernels_neon.c (kernels_generic.c and
 * kernels_reference.c replace this section with an empty one). One mrv x (nv vectors)
 * tile, n columns valid: acc = cin (or 0) + bias + rin; acc += a[.., 0:kc] * b[0:kc, ..];
 * acc = act(acc) + rout; c = acc. a: packed A, rows ARS apart (KCP, or the strided tile's
 * ars_in: A read in place), in chunks of KC columns MR * KCP apart (kc <= KC: one chunk);
 * b: a packed B panel at row k0. cin may be c and rin may be c; with gelu, rout must not
 * overlap c (the pre-activation tile goes through c). The target defines:
 *   PREFIX_GEMM_TILE_SETUP(MRV, NV)  the constants mrv and nv, and the column masks
 *   PREFIX_GEMM_ROWS(X)              X(0) .. X(MR - 1); each X(i) tests mrv > i
 *   PREFIX_GEMM_DECL / _LOAD / _ADDRIN / _BIAS / _RELU / _ADDROUT / _STORE (i): row i's
 *     accumulators declared zero / = cin / += rin / += bv / = relu / += rout / stored to c
 *   PREFIX_GEMM_BIAS_SETUP           declares bv, the bias vectors
 *   PREFIX_GEMM_ONE_ROW              the k loop of a lone row (several FMA chains), run
 *                                    first when mrv == 1; it advances k, a and b
 *   PREFIX_GEMM_STEP                 one k step of every row
 * and, to have its tiles stamped out by PREFIX_GEMM_TILES_DEFINE (below),
 *   PREFIX_GEMM_HEIGHTS(X)           X(1) .. X(MR)
 *   PREFIX_GEMM_ONE_WIDTH            (optional) its NV, when it has one tile width */
#define PREFIX_GEMM_UKR_DEFINE(NAME, MRV, NV, ARS)                                                \
  static inline void NAME(                                                                        \
      int64_t kc, const float *a, int64_t ars_in, const float *b, int64_t n, const float *cin,    \
      int64_t ldcin, float *c, int64_t ldc, const float *bias, const float *rin,                  \
      const float *rout, int64_t ldr, int act) {                                                  \
    PREFIX_GEMM_TILE_SETUP(MRV, NV)                                                               \
    const int64_t ars = ARS; /* row stride of A: KCP (packed) or ars_in (read in place) */        \
    (void)ars_in;                                                                                 \
    PREFIX_GEMM_ROWS(PREFIX_GEMM_DECL)                                                            \
    if (cin) {                                                                                    \
      PREFIX_GEMM_ROWS(PREFIX_GEMM_LOAD)                                                          \
    }                                                                                             \
    if (rin) {                                                                                    \
      PREFIX_GEMM_ROWS(PREFIX_GEMM_ADDRIN)                                                        \
    }                                                                                             \
    if (bias) {                                                                                   \
      PREFIX_GEMM_BIAS_SETUP                                                                      \
      PREFIX_GEMM_ROWS(PREFIX_GEMM_BIAS)                                                          \
    }                                                                                             \
    const float *a0 = a;                                                                          \
    for (int64_t k0 = 0; k0 < kc; k0 += PREFIX_GEMM_KC) {                                         \
      const int64_t ke = kc - k0 < PREFIX_GEMM_KC ? kc - k0 : PREFIX_GEMM_KC;                     \
      a = a0 + k0 / PREFIX_GEMM_KC * (PREFIX_GEMM_MR * PREFIX_GEMM_KCP);                          \
      int64_t k = 0;                                                                              \
      if (mrv == 1) {                                                                             \
        PREFIX_GEMM_ONE_ROW                                                                       \
      }                                                                                           \
      for (; k < ke; k++, a++, b += PREFIX_GEMM_NR) {                                             \
        PREFIX_GEMM_STEP                                                                          \
      }                                                                                           \
    }                                                                                             \
    if (act == 2) { /* gelu: store, then one vector pass over the tile */                         \
      PREFIX_GEMM_ROWS(PREFIX_GEMM_STORE)                                                         \
      PREFIX_gemm_post(mrv, n, c, ldc, act, rout, ldr, c, ldc);                                   \
      return;                                                                                     \
    }                                                                                             \
    if (act == 1) {                                                                               \
      PREFIX_GEMM_ROWS(PREFIX_GEMM_RELU)                                                          \
    }                                                                                             \
    if (rout) {                                                                                   \
      PREFIX_GEMM_ROWS(PREFIX_GEMM_ADDROUT)                                                       \
    }                                                                                             \
    PREFIX_GEMM_ROWS(PREFIX_GEMM_STORE)                                                           \
  }

/* The tile heights a model's GEMMs use: bit r of PREFIX_GEMM_PARTIAL_ROWS is set when a
 * strip of r < MR rows occurs (the last strip of an M that is not a multiple of MR); the
 * emitter defines it from the model's shapes (compiler/emit.c), every height by default.
 * The tile switch of PREFIX_GEMM_TILES_DEFINE (every target with a register tile) sends a
 * height without its bit a row at a time (on the one-row tile: right, but slow; a
 * build with ATTNCC_TRAP_UNPLANNED_ROWS defined stops there instead, as the
 * compile-and-compare tests build it), so its tiles are never referenced and the C
 * compiler skips them: about a quarter of the generated file's build time at -O2. */
#ifndef PREFIX_GEMM_PARTIAL_ROWS
#define PREFIX_GEMM_PARTIAL_ROWS 0xFFFFFFFFu
#endif
#ifdef ATTNCC_TRAP_UNPLANNED_ROWS
#define PREFIX_GEMM_UNPLANNED_ROWS __builtin_trap();
#else
#define PREFIX_GEMM_UNPLANNED_ROWS
#endif
/* A target's tile widths: two (x86: one or two vectors per row, the narrower for a tile of
 * at most NR / 2 columns, PREFIX_gemm_ukr_<h>_1 and _2), or one when the target defines
 * PREFIX_GEMM_ONE_WIDTH as its NV (neon: every tile computes all NR columns,
 * PREFIX_gemm_ukr_<h>_1 only) */
#define PREFIX_GEMM_UKR_ARGS kc, a, PREFIX_GEMM_KCP, b, n, cin, ldcin, c, ldc, bias, rin, rout, ldr, act
#ifdef PREFIX_GEMM_ONE_WIDTH
#define PREFIX_GEMM_UKR_WIDTHS(MRV)                                                               \
  PREFIX_GEMM_UKR_DEFINE(PREFIX_gemm_ukr_##MRV##_1, MRV, PREFIX_GEMM_ONE_WIDTH, PREFIX_GEMM_KCP)
#define PREFIX_GEMM_UKR_CALL(MRV) PREFIX_gemm_ukr_##MRV##_1(PREFIX_GEMM_UKR_ARGS);
#define PREFIX_GEMM_UKR_WHOLE PREFIX_GEMM_UKR_NAME(PREFIX_GEMM_MR, 1)
#else
#define PREFIX_GEMM_UKR_WIDTHS(MRV)                                                               \
  PREFIX_GEMM_UKR_DEFINE(PREFIX_gemm_ukr_##MRV##_1, MRV, 1, PREFIX_GEMM_KCP)                      \
  PREFIX_GEMM_UKR_DEFINE(PREFIX_gemm_ukr_##MRV##_2, MRV, 2, PREFIX_GEMM_KCP)
#define PREFIX_GEMM_UKR_CALL(MRV)                                                                 \
  if (n > PREFIX_GEMM_NR / 2)                                                                     \
    PREFIX_gemm_ukr_##MRV##_2(PREFIX_GEMM_UKR_ARGS);                                              \
  else                                                                                            \
    PREFIX_gemm_ukr_##MRV##_1(PREFIX_GEMM_UKR_ARGS);
#define PREFIX_GEMM_UKR_WHOLE PREFIX_GEMM_UKR_NAME(PREFIX_GEMM_MR, 2)
#endif
/* the tile of MRV rows, NV vectors wide (MRV a macro for a number expands first) */
#define PREFIX_GEMM_UKR_NAME(MRV, NV) PREFIX_GEMM_UKR_NAME_(MRV, NV)
#define PREFIX_GEMM_UKR_NAME_(MRV, NV) PREFIX_gemm_ukr_##MRV##_##NV
/* one case of the target's tile switch (PREFIX_gemm_tile's parameters): MRV rows; an
 * unplanned height a row at a time, each row through the switch again */
#define PREFIX_GEMM_TILE_CASE(MRV)                                                                \
  case MRV:                                                                                       \
    if (MRV > 1 && MRV < PREFIX_GEMM_MR && !((PREFIX_GEMM_PARTIAL_ROWS >> MRV) & 1u)) {           \
      PREFIX_GEMM_UNPLANNED_ROWS                                                                  \
      for (int64_t i = 0; i < mr; i++)                                                            \
        PREFIX_gemm_tile(1, kc, a + i * PREFIX_GEMM_KCP, b, n, cin ? cin + i * ldcin : NULL,      \
                         ldcin, c + i * ldc, ldc, bias, rin ? rin + i * ldr : NULL,               \
                         rout ? rout + i * ldr : NULL, ldr, act);                                 \
    } else {                                                                                      \
      PREFIX_GEMM_UKR_CALL(MRV)                                                                   \
    }                                                                                             \
    break;
/* A target's tiles from its list of heights, PREFIX_GEMM_HEIGHTS(X): X(1) .. X(MR), in its
 * widths, and PREFIX_gemm_tile (mr (1..MR) rows, n (1..NR) columns), the one the driver
 * calls; PREFIX_gemm_tile_whole, c = A B on a whole MR x NR tile with no epilogue (the fused
 * attention's Q K^T tiles but the last strip's and panel's): called directly, it is inlined
 * there with its checks folded away and no height switch (the d=256 block at 1024 tokens,
 * head dim 32: 0.9953 and 1/1.004 in alternated whole runs; P V's deeper tiles: nothing) */
#define PREFIX_GEMM_TILES_DEFINE                                                                  \
  PREFIX_GEMM_HEIGHTS(PREFIX_GEMM_UKR_WIDTHS)                                                     \
  static inline void PREFIX_gemm_tile_whole(int64_t kc, const float *a, const float *b, float *c, \
                                            int64_t ldc) {                                        \
    PREFIX_GEMM_UKR_WHOLE(kc, a, PREFIX_GEMM_KCP, b, PREFIX_GEMM_NR, NULL, 0, c, ldc, NULL, NULL, \
                          NULL, 0, 0);                                                            \
  }                                                                                               \
  static inline void PREFIX_gemm_tile(int64_t mr, int64_t kc, const float *a, const float *b,     \
                                      int64_t n, const float *cin, int64_t ldcin, float *c,       \
                                      int64_t ldc, const float *bias, const float *rin,           \
                                      const float *rout, int64_t ldr, int act) {                  \
    switch (mr < PREFIX_GEMM_MR ? mr : PREFIX_GEMM_MR) {                                          \
      PREFIX_GEMM_HEIGHTS(PREFIX_GEMM_TILE_CASE)                                                  \
    }                                                                                             \
  }

//@ exp
/* a * b + c, c + a * b, c - a * b (e^x below, the portable GEMM tile of kernels_generic.c):
 * clang fuses each into one FMA where the target has one, gcc in ISO C mode (-std=c11) never
 * does; where the target has a hardware FMA (FP_FAST_FMAF) gcc gets fmaf, so both compute
 * the same way (clang sees the same expressions as before). With gcc -O2: e^x makes the
 * portable d=256 block at 128 tokens (-mavx2 -mfma) and the LSTM at batch 1 (-march=native,
 * its gates' sigmoid and tanh) 2-4 % faster. */
#if defined(FP_FAST_FMAF) && !defined(__clang__)
#define PREFIX_MULADD(a, b, c) fmaf((a), (b), (c))
#define PREFIX_ADDMUL(c, a, b) fmaf((a), (b), (c))
#define PREFIX_SUBMUL(c, a, b) fmaf(-(a), (b), (c))
#else
#define PREFIX_MULADD(a, b, c) ((a) * (b) + (c))
#define PREFIX_ADDMUL(c, a, b) ((c) + (a) * (b))
#define PREFIX_SUBMUL(c, a, b) ((c) - (a) * (b))
#endif

/* e^x for float, branch-free so loops of it vectorize: range reduction by ln 2 and a
 * degree-6 polynomial (relative error about 2e-7); NaN stays NaN (it passes through every
 * step). n = round(x log2(e)) comes from adding 1.5 * 2^23, which leaves n in the sum's low
 * mantissa bits: no float -> int conversion, and 2^n is those bits + 127 shifted into the
 * exponent field. Here x is clamped to [-87.3, 88.37], so the ends give 2^-126 * 1.2 and
 * 2^127 * 1.97; PREFIX_exp makes them 0 and +inf, PREFIX_sigmoid needs only one of them. */
static inline float PREFIX_exp_clamped(float x) {
  const float hi = 88.37f, lo = -87.3f, shifter = 0x1.8p23f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  float t = PREFIX_MULADD(xc, 1.44269504088896341f, shifter);
  float n = t - shifter;
  float r = PREFIX_SUBMUL(xc, n, 0.693359375f);
  r = PREFIX_ADDMUL(r, n, 2.12194440e-4f);
  float p = 1.9875691500e-4f;
  p = PREFIX_MULADD(p, r, 1.3981999507e-3f);
  p = PREFIX_MULADD(p, r, 8.3334519073e-3f);
  p = PREFIX_MULADD(p, r, 4.1665795894e-2f);
  p = PREFIX_MULADD(p, r, 1.6666665459e-1f);
  p = PREFIX_MULADD(p, r, 5.0000001201e-1f);
  p = PREFIX_MULADD(p * r, r, r) + 1.0f;
  uint32_t bits;
  memcpy(&bits, &t, sizeof bits);
  bits = (bits + 127u) << 23; /* (n + 127) << 23, n in [-126, 127] */
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* e^x: 0 below -87.3, +inf above 88.37 */
static inline float PREFIX_exp(float x) {
  const float e = x < -87.3f ? 0.0f : PREFIX_exp_clamped(x);
  return x > 88.37f ? (float)INFINITY : e;
}

//@ math
/* tanh and erf, branch-free so elementwise loops vectorize (glibc's tanhf and erff are
 * scalar calls). tanh(x) = x P(x^2) / Q(x^2) on |x| <= 9, where |tanh| reaches 1 in float
 * (the clamp keeps NaN, whose comparisons are false, and takes +-inf to +-1): P and Q of
 * degree 4 in x^2, fitted for relative error by tools/fit_tanh.py (2e-8 in exact
 * arithmetic; in float 3.3e-7 at most, about 2e-7 below 3), one division and no e^x:
 * 0.36 -> 0.10 ns per value (AVX-512, 4096-value loops; the form before, an odd polynomial
 * below 0.625 and 1 - 2 / (e^(2|x|) + 1) above, computed both and selected). erf:
 * Abramowitz-Stegun 7.1.26 with e^(-x^2); absolute error below 2e-7. */
static inline float PREFIX_tanh(float x) {
  const float c = x > 9.0f ? 9.0f : (x < -9.0f ? -9.0f : x), z = c * c;
  float p = 1.3354474859283982e-08f, q = 7.77650484451442e-07f;
  p = PREFIX_MULADD(p, z, 2.0609031707863323e-05f);
  p = PREFIX_MULADD(p, z, 0.003495589829981327f);
  p = PREFIX_MULADD(p, z, 0.13381028175354004f);
  p = PREFIX_MULADD(p, z, 1.0f);
  q = PREFIX_MULADD(q, z, 0.00032856338657438755f);
  q = PREFIX_MULADD(q, z, 0.02587699331343174f);
  q = PREFIX_MULADD(q, z, 0.4671434462070465f);
  q = PREFIX_MULADD(q, z, 1.0f);
  return c * p / q;
}

static inline float PREFIX_erf(float x) {
  float a = x < 0 ? -x : x;
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  float r = 1.0f - p * t * PREFIX_exp(-a * a);
  r = x < 0 ? -r : r;
  return x != x ? x : r;
}

/* 1 / (1 + e^-x) with one select, not e^x's two: above 87.3 the clamped e^-x (1.2e-38)
 * gives 1 anyway; below -88.37, 0 (as before; the exact value is below 2.9e-39) */
static inline float PREFIX_sigmoid(float x) {
  return x < -88.37f ? 0.0f : 1.0f / (1.0f + PREFIX_exp_clamped(-x));
}

//@ skinny
/* C[M, N] = act(A W^T + bias) + R for a product by a weight with few columns (N <= 8,
 * compiler/pack.c's pack_skinny: the GEMM's tile would spend up to 32 / N of its FMAs on
 * the zero columns of its panel, e.g. a Linear(64, 1) scoring 8192 rows ran at 7 GFLOP/s):
 * W row-major [N, K] as PyTorch stores a Linear weight (a [K, 1] matrix is the same), so
 * each output is a dot product over K, in 16 lanes for 4 rows at a time (4 independent
 * chains to hide the FMA latency; a partial group repeats its first row, not stored).
 * R may be C itself (each output is read before it is written). act 1 relu, 2 gelu. */
static inline void PREFIX_gemm_skinny(int64_t M, int64_t N, int64_t K, const float *A,
                                      int64_t lda, const float *W, float *C, int64_t ldc,
                                      const float *bias, const float *R, int64_t ldr, int act) {
  const int64_t k16 = K / 16 * 16;
  for (int64_t i0 = 0; i0 < M; i0 += 4) {
    const int64_t mr = M - i0 < 4 ? M - i0 : 4;
    const float *a[4];
    for (int r = 0; r < 4; r++)
      a[r] = A + (i0 + (r < mr ? r : 0)) * lda;
    for (int64_t j = 0; j < N; j++) {
      const float *w = W + j * K;
      /* four separate 16-lane accumulators, each a loop of its own, and the lanes summed
       * by fixed-width steps: written as one [4][16] array with its rows in a loop and the
       * sum as a loop of halving widths, neither compiler kept it in vector registers
       * (Linear(64, 1) over 8192 rows alone, -O2 -march=native: clang 254-302 us, gcc
       * 146-183, scalar FMAs through the stack; this way 48-88 and 45-55 us; the same
       * sums in the same order, so the same results) */
      float acc0[16] = {0}, acc1[16] = {0}, acc2[16] = {0}, acc3[16] = {0};
      for (int64_t k0 = 0; k0 < k16; k0 += 16) {
        for (int l = 0; l < 16; l++)
          acc0[l] = PREFIX_ADDMUL(acc0[l], a[0][k0 + l], w[k0 + l]);
        for (int l = 0; l < 16; l++)
          acc1[l] = PREFIX_ADDMUL(acc1[l], a[1][k0 + l], w[k0 + l]);
        for (int l = 0; l < 16; l++)
          acc2[l] = PREFIX_ADDMUL(acc2[l], a[2][k0 + l], w[k0 + l]);
        for (int l = 0; l < 16; l++)
          acc3[l] = PREFIX_ADDMUL(acc3[l], a[3][k0 + l], w[k0 + l]);
      }
      float acc[4][16];
      for (int l = 0; l < 16; l++) {
        acc[0][l] = acc0[l];
        acc[1][l] = acc1[l];
        acc[2][l] = acc2[l];
        acc[3][l] = acc3[l];
      }
      for (int64_t r = 0; r < mr; r++) {
        /* the sum of the 16 lanes, as rowops' PREFIX_lanes_total sums them (written out
         * here: that helper, in a section of its own called here, made gcc 12 slower, 46
         * against 40 us on the product above and 1.6x with K known only at run time) */
        float t8[8], t4[4];
        for (int l = 0; l < 8; l++)
          t8[l] = acc[r][l] + acc[r][l + 8];
        for (int l = 0; l < 4; l++)
          t4[l] = t8[l] + t8[l + 4];
        float v = (t4[0] + t4[2]) + (t4[1] + t4[3]);
        for (int64_t k = k16; k < K; k++)
          v = PREFIX_ADDMUL(v, a[r][k], w[k]);
        if (bias)
          v += bias[j];
        if (act == 1)
          v = v < 0.0f ? 0.0f : v;
        else if (act == 2)
          v = 0.5f * v * (1.0f + PREFIX_erf(v * 0.70710678118654752f));
        if (R)
          v += R[(i0 + r) * ldr + j];
        C[(i0 + r) * ldc + j] = v;
      }
    }
  }
}

//@ rowops
/* the sum of 16 lanes as a tree (8 + 8, then 4 + 4, ...: shuffles and vector adds, a chain
 * of 4 adds where the lanes one after another made 15, which a LayerNorm row pays twice:
 * 32 rows of 64 took 0.72 us, 512 rows of 768 about 91 us), written as steps of fixed
 * widths: as a loop of halving widths gcc 12 -O2 summed it in scalars through memory (the
 * row sums of 4096 rows of 64: 56 us, this way 11.7; of 512 rows of 768: 17.8 and 14.0;
 * clang the same either way; the same additions in the same order) */
static inline float PREFIX_lanes_total(const float lane[16]) {
  float t8[8], t4[4];
  for (int l = 0; l < 8; l++)
    t8[l] = lane[l] + lane[l + 8];
  for (int l = 0; l < 4; l++)
    t4[l] = t8[l] + t8[l + 4];
  return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

/* sum of x[0..n), accumulated in 16 lanes */
static inline float PREFIX_row_sum(const float *x, int64_t n) {
  float lane[16] = {0};
  const int64_t full = n - n % 16; /* (tails as j = full..n: gcc 12 misjudges j + 16 <= n) */
  int64_t j = 0;
  for (; j < full; j += 16)
    for (int l = 0; l < 16; l++)
      lane[l] += x[j + l];
  for (j = full; j < n; j++)
    lane[0] += x[j];
  return PREFIX_lanes_total(lane);
}

//@ softmax_merge
/* One key block of the online softmax meets a row's running max, c > 0: when the
 * block's max mb is -inf (every key masked) x[0..n) becomes 0, *corr = 1 and the row
 * keeps its state (returns 0); else mn = max(*rmax, mb) (NaN wins), *corr =
 * e^((*rmax - mn) c), *rmax = mn (returns 1). Both softmax_rows sections call it. */
static inline int PREFIX_softmax_merge(float *x, int64_t n, float mb, float *rmax, float c,
                                       float *corr) {
  if (mb == -INFINITY) {
    for (int64_t j = 0; j < n; j++)
      x[j] = 0.0f;
    *corr = 1.0f;
    return 0;
  }
  const float mn = (mb > *rmax || mb != mb) ? mb : *rmax;
  /* e^0 and e^-inf without the call: the first block, and blocks that keep the max */
  *corr = mn == *rmax ? 1.0f : *rmax == -INFINITY ? 0.0f : PREFIX_exp((*rmax - mn) * c);
  *rmax = mn;
  return 1;
}

//@ softmax_rows
/* The online softmax's row operations (fused attention). A target file may replace this
 * section with intrinsics (kernels_avx512.c and kernels_neon.c do); tests that include
 * both files define PREFIX_TARGET_SOFTMAX_ROWS to keep only the target's. */
#ifndef PREFIX_TARGET_SOFTMAX_ROWS
/* max of 16 lanes (NaN wins, as in PyTorch) */
static inline float PREFIX_lanes_max(const float *lane) {
  float m = lane[0];
  for (int l = 1; l < 16; l++)
    m = (lane[l] > m || lane[l] != lane[l]) ? lane[l] : m;
  return m;
}

/* max of x[0..n) (NaN wins), in 16 lanes so it vectorizes */
static inline float PREFIX_row_max(const float *x, int64_t n) {
  float lane[16];
  for (int l = 0; l < 16; l++)
    lane[l] = -INFINITY;
  const int64_t full = n - n % 16; /* (tails as j = full..n: gcc 12 misjudges j + 16 <= n) */
  int64_t j = 0;
  for (; j < full; j += 16)
    for (int l = 0; l < 16; l++) {
      float v = x[j + l];
      lane[l] = (v > lane[l] || v != v) ? v : lane[l];
    }
  for (j = full; j < n; j++)
    lane[0] = (x[j] > lane[0] || x[j] != x[j]) ? x[j] : lane[0];
  return PREFIX_lanes_max(lane);
}

/* x = e^((x - m) c) over x[0..n); returns the sum, accumulated in 16 lanes */
static inline float PREFIX_row_exp_sum(float *x, int64_t n, float m, float c) {
  float lane[16] = {0};
  const int64_t full = n - n % 16; /* (tails as j = full..n: gcc 12 misjudges j + 16 <= n) */
  int64_t j = 0;
  for (; j < full; j += 16)
    for (int l = 0; l < 16; l++) {
      float e = PREFIX_exp((x[j + l] - m) * c);
      x[j + l] = e;
      lane[l] += e;
    }
  for (j = full; j < n; j++) {
    x[j] = PREFIX_exp((x[j] - m) * c);
    lane[0] += x[j];
  }
  float sum = 0.0f;
  for (int l = 0; l < 16; l++)
    sum += lane[l];
  return sum;
}

/* sum of 16 lanes */
static inline float PREFIX_lanes_sum(const float *lane) {
  float sum = 0.0f;
  for (int l = 0; l < 16; l++)
    sum += lane[l];
  return sum;
}
#endif

//@ softmax_block
/* One key block of the online softmax, on softmax_rows' row operations (kernels.c's or a
 * target's: declared here, so the emitter may copy either section first). A target file
 * may replace this section too (kernels_avx512.c does); tests that include both files
 * then define PREFIX_TARGET_SOFTMAX_BLOCK. */
#ifndef PREFIX_TARGET_SOFTMAX_BLOCK
static inline float PREFIX_row_max(const float *x, int64_t n);
static inline float PREFIX_row_exp_sum(float *x, int64_t n, float m, float c);

/* One key block of the online softmax over `rows` rows of the score tile s (row stride
 * lds, n keys): row i's block max (NaN wins), its running max rmax[i] and its running
 * sum, kept as 16 partial sums rsum[16 i .. 16 i + 15] (lanes_sum adds them up at the
 * end), take the block in (softmax_merge), its scores become e^((s - max) c), and its
 * output row out + i * ldo (dv floats) is scaled by the correction, ready for the P V
 * product to add the block. */
static inline void PREFIX_softmax_block(float *s, int64_t lds, int64_t rows, int64_t n,
                                        float *rmax, float *rsum, float c,
                                        float *out, int64_t ldo, int64_t dv) {
  for (int64_t i = 0; i < rows; i++) {
    float *x = s + i * lds, *o = out + i * ldo, *rs = rsum + 16 * i, corr;
    if (!PREFIX_softmax_merge(x, n, PREFIX_row_max(x, n), &rmax[i], c, &corr))
      continue; /* every key of the block is masked with -inf */
    const float sum = PREFIX_row_exp_sum(x, n, rmax[i], c);
    if (corr != 1.0f) {
      for (int l = 0; l < 16; l++)
        rs[l] *= corr;
      for (int64_t j = 0; j < dv; j++)
        o[j] *= corr;
    }
    rs[0] += sum;
  }
}
#endif

//@ layernorm
/* y = (v - mean) / sqrt(var + eps) * gamma + beta over each row of d floats, v = x + r
 * (r, gamma, beta may be NULL); var is the biased variance, as in PyTorch. Per row: the
 * sum of v (stored to y), then the sum of squared deviations, then the normalized row,
 * each pass over a row that stays in L1; sums in 16 lanes, as PREFIX_row_sum. */
static inline void PREFIX_layernorm(int64_t rows, int64_t d, const float *x, const float *r,
                                    const float *gamma, const float *beta, float eps, float *y) {
  for (int64_t i = 0; i < rows; i++) {
    const float *xr = x + i * d;
    float *yr = y + i * d;
    if (r) {
      const float *rr = r + i * d;
      for (int64_t j = 0; j < d; j++)
        yr[j] = xr[j] + rr[j];
      xr = yr;
    }
    const float mean = PREFIX_row_sum(xr, d) / (float)d;
    float lane[16] = {0};
    const int64_t full = d - d % 16;
    int64_t j = 0;
    for (; j < full; j += 16)
      for (int l = 0; l < 16; l++) {
        float c = xr[j + l] - mean;
        lane[l] += c * c;
      }
    for (j = full; j < d; j++)
      lane[0] += (xr[j] - mean) * (xr[j] - mean);
    const float inv = 1.0f / sqrtf(PREFIX_lanes_total(lane) / (float)d + eps);
    for (j = 0; j < d; j++) {
      float v = (xr[j] - mean) * inv;
      if (gamma)
        v = v * gamma[j];
      if (beta)
        v = v + beta[j];
      yr[j] = v;
    }
  }
}

//@ softmax
/* softmax (or log_softmax) of x viewed as [outer, n, inner] along the middle dim; stable:
 * subtracts the max. A row that is all -inf gives NaN, as in PyTorch (so does a NaN in it).
 * Contiguous rows (inner 1) go through the online softmax's row kernels (softmax_rows: in
 * 16 lanes, with intrinsics on AVX-512 and NEON; scalar loops, whose max and sum cannot
 * vectorize, took 5.8 ns per score: 62 % of the mask-and-weights MHA example); strided ones
 * take up to 16 columns at a time, the columns inner, so those loops vectorize. */
#ifndef PREFIX_NO_PLAIN_SOFTMAX /* (test_gemm.c, which leaves out the softmax rows) */
static inline float PREFIX_row_max(const float *x, int64_t n);
static inline float PREFIX_row_exp_sum(float *x, int64_t n, float m, float c);

/* x[0..n) = e^((x - m) c) over their sum: a row's softmax given its max m (also the fused
 * attention's, when it outputs its weights) */
static inline void PREFIX_row_softmax(float *x, int64_t n, float m, float c) {
  const float inv = 1.0f / PREFIX_row_exp_sum(x, n, m, c);
  for (int64_t j = 0; j < n; j++)
    x[j] *= inv;
}

static inline void PREFIX_softmax(const float *restrict x, float *restrict y, int64_t outer,
                                  int64_t n, int64_t inner, int log_out) {
  if (inner == 1) {
    for (int64_t o = 0; o < outer; o++) {
      const float *restrict xr = x + o * n;
      float *restrict yr = y + o * n;
      const float max = PREFIX_row_max(xr, n);
      memcpy(yr, xr, (size_t)n * sizeof(float));
      if (log_out) {
        const float lse = max + logf(PREFIX_row_exp_sum(yr, n, max, 1.0f));
        for (int64_t r = 0; r < n; r++)
          yr[r] = xr[r] - lse;
      } else {
        PREFIX_row_softmax(yr, n, max, 1.0f);
      }
    }
    return;
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i0 = 0; i0 < inner; i0 += 16) {
      const int64_t w = inner - i0 < 16 ? inner - i0 : 16;
      const float *restrict xc = x + o * n * inner + i0;
      float *restrict yc = y + o * n * inner + i0;
      float max[16], sum[16];
      for (int64_t c = 0; c < w; c++) {
        max[c] = xc[c];
        sum[c] = 0.0f;
      }
      for (int64_t r = 1; r < n; r++)
        for (int64_t c = 0; c < w; c++) {
          const float v = xc[r * inner + c];
          max[c] = v > max[c] || v != v ? v : max[c];
        }
      for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < w; c++) {
          const float e = PREFIX_exp(xc[r * inner + c] - max[c]);
          yc[r * inner + c] = e;
          sum[c] += e;
        }
      for (int64_t c = 0; c < w; c++) {
        if (log_out)
          sum[c] = max[c] + logf(sum[c]);
        else
          sum[c] = 1.0f / sum[c];
      }
      for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < w; c++) {
          if (log_out)
            yc[r * inner + c] = xc[r * inner + c] - sum[c];
          else
            yc[r * inner + c] *= sum[c];
        }
    }
}
#endif
