/* kernels_generic.c: FP32 GEMM in portable C11 (no intrinsics, no extensions), written as
 * fixed-size loops that clang -O2 vectorizes for whatever vector ISA the target has.
 * Same section format as kernels.c (a section starts at its "//@" marker line, the emitter
 * copies only the sections a model uses and replaces PREFIX_ by the symbol prefix).
 * gemm_common is always copied together with gemm; pack_b calls kernels.c's pack_panels.
 *
 * Layout of a packed B (K x N): panels of NR = 16 columns, panel p holds all K rows:
 *   Bp[(p * K + k) * NR + j] = B(k, p * NR + j), zero for columns >= N.
 * gemm: C = act(A * B + bias) + R. Loops: N blocks of NC columns > K blocks of KC > MR-row
 * strips of A (packed k-major, zero-padded to MR rows, in a small stack buffer) > NR-column
 * panels, each an MR x NR tile with one local array per row (MR = 4; 2 on x86 without AVX,
 * which has only 16 vector registers of 4 floats). Partial sums go through C; bias, act
 * and R are applied once. */

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
#ifndef PREFIX_GEMM_KC
#define PREFIX_GEMM_KC 256 /* K block */
#endif
#ifndef PREFIX_GEMM_NC
#define PREFIX_GEMM_NC 512 /* N block (multiple of NR) */
#endif

/* act 1 = relu (NaN stays NaN), 2 = exact gelu 0.5 x (1 + erf(x / sqrt 2)), else identity */
static inline float PREFIX_gemm_act(float x, int act) {
  if (act == 1)
    return x < 0.0f ? 0.0f : x;
  if (act == 2)
    return 0.5f * x * (1.0f + PREFIX_erf(x * 0.70710678118654752f));
  return x;
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

//@ gemm
/* A full MR x NR tile: acc = cin (or 0) + bias + rin; acc += a * b over k < kc
 * (a: packed A, k-major: a[k * MR + i]; b: a packed B panel at row k0: b[k * NR + j]);
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
  for (int64_t k = 0; k < kc; k++) {
    const float *restrict bk = b + k * NR;
    const float a0 = a[k * PREFIX_GEMM_MR], a1 = a[k * PREFIX_GEMM_MR + 1];
#if PREFIX_GEMM_MR == 4
    const float a2 = a[k * 4 + 2], a3 = a[k * 4 + 3];
#endif
    for (int j = 0; j < NR; j++) {
      c0[j] += a0 * bk[j];
      c1[j] += a1 * bk[j];
#if PREFIX_GEMM_MR == 4
      c2[j] += a2 * bk[j];
      c3[j] += a3 * bk[j];
#endif
    }
  }
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

/* a tile with mr (<= MR) rows and n (<= NR) columns valid (packed A has zero rows past
 * mr): a partial tile goes through zero-padded local copies of C, R and bias */
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

/* A rows [0, mr) x columns [0, kc) -> ap[k * MR + i], zero rows past mr */
static inline void PREFIX_gemm_pack_a(int64_t mr, int64_t kc, const float *A, int64_t lda,
                                      float *ap) {
  for (int64_t k = 0; k < kc; k++)
    for (int64_t i = 0; i < PREFIX_GEMM_MR; i++)
      ap[k * PREFIX_GEMM_MR + i] = i < mr ? A[i * lda + k] : 0.0f;
}

/* C[M,N] = act(A[M,K] * B + bias) + R; A row stride lda, Bp = pack_b(B), C row stride ldc,
 * bias[N] and R (row stride ldr) may be NULL; act 0 none, 1 relu, 2 gelu (erf).
 * C must not overlap A, Bp or bias; R may be C itself (C == R, ldc == ldr) or apart from it. */
static inline void PREFIX_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *Bp, float *C, int64_t ldc, const float *bias,
                               const float *R, int64_t ldr, int act) {
  const int64_t MR = PREFIX_GEMM_MR, NR = PREFIX_GEMM_NR, KC = PREFIX_GEMM_KC,
                NC = PREFIX_GEMM_NC;
  _Alignas(64) float ap[PREFIX_GEMM_MR * PREFIX_GEMM_KC]; /* packed A strip */
  if (M <= 0 || N <= 0)
    return;
  if (K < 0)
    K = 0;
  const int64_t nkb = K > KC ? (K + KC - 1) / KC : 1;
  const int64_t kcb = nkb > 1 ? (K + nkb - 1) / nkb : K; /* equal K blocks */
  /* Without an act, R is added before the K loop (so C == R works); with one, after the
   * act at the last K block. Then, with several K blocks and C overlapping R, partial sums
   * cannot go through C: each tile runs all its K blocks in a stack tile instead. */
  const int r_late = R != NULL && act != 0;
  int spill = 0;
  if (r_late && nkb > 1) {
    const uintptr_t c0 = (uintptr_t)C, c1 = (uintptr_t)(C + (M - 1) * ldc + N);
    const uintptr_t r0 = (uintptr_t)R, r1 = (uintptr_t)(R + (M - 1) * ldr + N);
    spill = c0 < r1 && r0 < c1;
  }
  if (!spill) {
    for (int64_t jc = 0; jc < N; jc += NC) {
      const int64_t je = N - jc < NC ? N : jc + NC;
      int64_t pc = 0;
      do {
        const int64_t kc = K - pc < kcb ? K - pc : kcb;
        const int first = pc == 0, last = pc + kc >= K;
        const int r_now = R && (r_late ? last : first);
        for (int64_t ic = 0; ic < M; ic += MR) {
          const int64_t mr = M - ic < MR ? M - ic : MR;
          PREFIX_gemm_pack_a(mr, kc, A + ic * lda + pc, lda, ap);
          for (int64_t j = jc; j < je; j += NR) {
            float *c = C + ic * ldc + j;
            const float *r = r_now ? R + ic * ldr + j : NULL;
            PREFIX_gemm_tile(mr, kc, ap, Bp + (j * K + pc * NR), je - j < NR ? je - j : NR,
                             first ? NULL : c, ldc, c, ldc, first && bias ? bias + j : NULL,
                             r_late ? NULL : r, r_late ? r : NULL, ldr, last ? act : 0);
          }
        }
        pc += kc;
      } while (pc < K);
    }
  } else {
    _Alignas(64) float t[PREFIX_GEMM_MR * PREFIX_GEMM_NR];
    for (int64_t ic = 0; ic < M; ic += MR) {
      const int64_t mr = M - ic < MR ? M - ic : MR;
      for (int64_t j = 0; j < N; j += NR) {
        float *c = C + ic * ldc + j;
        const int64_t n = N - j < NR ? N - j : NR;
        for (int64_t pc = 0; pc < K;) {
          const int64_t kc = K - pc < kcb ? K - pc : kcb;
          const int first = pc == 0, last = pc + kc >= K;
          PREFIX_gemm_pack_a(mr, kc, A + ic * lda + pc, lda, ap);
          PREFIX_gemm_tile(mr, kc, ap, Bp + (j * K + pc * NR), n, first ? NULL : t, NR,
                           last ? c : t, last ? ldc : NR, first && bias ? bias + j : NULL, NULL,
                           last ? R + ic * ldr + j : NULL, ldr, last ? act : 0);
          pc += kc;
        }
      }
    }
  }
}
