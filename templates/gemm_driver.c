/* gemm_driver.c: the blocked GEMM loop nest every target shares (avx512, avx2, neon, and
 * generic in portable C); their template files define the register tile and this
 * file drives it. Same section format
 * as kernels.c; the emitter copies this section after the target's sections.
 *
 * Needs from kernels.c's gemm_blocking section: PREFIX_GEMM_KC (columns of a packed A
 * chunk), _KCP (row stride of packed A), _KS (deepest K block: a whole number of KC
 * chunks); from the target's gemm_common and gemm sections: PREFIX_GEMM_MR (rows of the
 * register tile), _NR (columns of a packed B panel), _NC (widest N block), _BBLOCK (floats of packed B kept in L2), PREFIX_GEMM_PREFETCH(p)
 * (a cache-line prefetch, or nothing), PREFIX_gemm_tile (one register tile over a K block
 * of packed A chunks; it may read all MR rows: rows past the strip's mr are zero) and
 * PREFIX_gemm_post; optionally (PREFIX_GEMM_STRIDED_TILE) PREFIX_gemm_ukr_strided, the
 * full MR-row tile over one chunk of an A read in place at its own row stride.
 *
 * Packed A (a strip of up to MR rows): chunks of KC columns, chunk c of row i at
 *   ap[c * MR * KCP + i * KCP], so a tile runs up to KS deep with the rows KCP apart.
 * gemm: C = act(A * B + bias) + R. Loops: N blocks of nc columns > K blocks of up to KS
 * (the kc x nc block of Bp, about BBLOCK floats, stays in L2) > MR-row strips of A (packed
 * to a stack buffer; with gemm_ws's workspace, all of A is packed on the first N block and
 * read from there by the others) > NR-column panels, each an MR x NR register tile that runs the whole
 * K block, so C is touched once per K block (once in all when K <= KS). Bias, act and R
 * are applied once. */

//@ gemm_driver
/* The prefetch helpers below are always inlined: a function whose only effect is prefetches
 * looks side-effect free to gcc's pure/const discovery (gcc 12 -O2: "looping const"), which
 * then deletes every call to it, so gcc builds ran every product without its C, R and A
 * prefetches. Inlined, the prefetches stay (gcc 12, bench_gemm: 512x768x3072 + bias + gelu
 * 1.5 % faster with them; clang inlined them anyway, its code is the same). */
#if defined(__GNUC__)
#define PREFIX_PREFETCH_INLINE static inline __attribute__((always_inline))
#else
#define PREFIX_PREFETCH_INLINE static inline
#endif

/* prefetches rows [0, mr) x columns [0, n) of c (and of r, if not NULL) */
PREFIX_PREFETCH_INLINE void PREFIX_gemm_prefetch(int64_t mr, int64_t n, const float *c,
                                                 int64_t ldc, const float *r, int64_t ldr) {
  for (int64_t i = 0; i < mr; i++) {
    PREFIX_GEMM_PREFETCH(c + i * ldc);
    PREFIX_GEMM_PREFETCH(c + i * ldc + n - 1);
    if (r) {
      PREFIX_GEMM_PREFETCH(r + i * ldr);
      PREFIX_GEMM_PREFETCH(r + i * ldr + n - 1);
    }
  }
}

/* prefetches part `part` of `parts` of the cache lines of an A strip, rows [0, mr) x
 * columns [0, kc) at row stride lda: the next strip, spread over this strip's tiles */
PREFIX_PREFETCH_INLINE void PREFIX_gemm_prefetch_a(const float *a, int64_t lda, int64_t mr,
                                                   int64_t kc, int64_t part, int64_t parts) {
  const int64_t lines = (kc + 15) / 16, total = mr * lines, end = (part + 1) * total / parts;
  int64_t l = part * total / parts, row = l / lines, col = l - row * lines;
  for (; l < end; l++) {
    PREFIX_GEMM_PREFETCH(a + row * lda + col * 16);
    if (++col == lines) {
      col = 0;
      row++;
    }
  }
}

/* prefetches cache lines [l0, l1) of a: the strided tile's next strip is one straight run
 * of lines (its rows are at most a few lines apart), a share of it per tile, with no
 * per-row bookkeeping, which costs the strided tile's few k steps too much (the row walk
 * above made 8192x32x32 16 % slower with A in cache) */
PREFIX_PREFETCH_INLINE void PREFIX_gemm_prefetch_lines(const float *a, int64_t l0,
                                                       int64_t l1) {
  for (int64_t l = l0; l < l1; l++)
    PREFIX_GEMM_PREFETCH(a + l * 16);
}

/* rows [0, mr) x columns [0, kc) of A (row stride lda) -> ap in KC-column chunks, rows
 * [mr, MR) zero */
static inline void PREFIX_gemm_pack_a(int64_t mr, int64_t kc, const float *A, int64_t lda,
                                      float *ap) {
  for (int64_t k0 = 0; k0 < kc; k0 += PREFIX_GEMM_KC) {
    const size_t n = (size_t)(kc - k0 < PREFIX_GEMM_KC ? kc - k0 : PREFIX_GEMM_KC);
    float *chunk = ap + k0 / PREFIX_GEMM_KC * (PREFIX_GEMM_MR * PREFIX_GEMM_KCP);
    for (int64_t i = 0; i < PREFIX_GEMM_MR; i++)
      if (i < mr)
        memcpy(chunk + i * PREFIX_GEMM_KCP, A + i * lda + k0, n * sizeof(float));
      else
        memset(chunk + i * PREFIX_GEMM_KCP, 0, n * sizeof(float));
  }
}

/* equal K blocks of at most `depth` (kcb), and the N block (nc, a multiple of NR) that
 * keeps kcb x nc floats of Bp within BBLOCK, in L2 */
static inline void PREFIX_gemm_blocks(int64_t K, int64_t depth, int64_t *kcb, int64_t *nc) {
  const int64_t nkb = K > depth ? (K + depth - 1) / depth : 1;
  *kcb = nkb > 1 ? (K + nkb - 1) / nkb : K;
  const int64_t c = PREFIX_GEMM_BBLOCK / (*kcb > 0 ? *kcb : 1) / PREFIX_GEMM_NR * PREFIX_GEMM_NR;
  *nc = c < PREFIX_GEMM_NR ? PREFIX_GEMM_NR : c > PREFIX_GEMM_NC ? PREFIX_GEMM_NC : c;
}

/* The K block depth (kcb) and N block width (nc) of an M x K x N product: K blocks up to
 * KS deep touch C once per block, but their N blocks are narrower and A is packed again
 * for each N block: when that means more N blocks and A is the bigger operand (K > N),
 * KC-deep blocks instead, and KC / 2 deep when all of N then fits one block (512x3072x768,
 * the FFN's second product: 2-3 % faster on Zen 5 with AVX-512, 1.6 % with AVX2; with
 * several N blocks, as 512x4096x1024, 2-4 % slower, so not there). */
static inline void PREFIX_gemm_plan(int64_t N, int64_t K, int64_t *kcb, int64_t *nc) {
  int64_t kcb1, nc1;
  PREFIX_gemm_blocks(K, PREFIX_GEMM_KS, kcb, nc);
  PREFIX_gemm_blocks(K, PREFIX_GEMM_KC, &kcb1, &nc1);
  if (K > N && (N + *nc - 1) / *nc > (N + nc1 - 1) / nc1)
    PREFIX_gemm_blocks(K, N <= nc1 ? PREFIX_GEMM_KC / 2 : PREFIX_GEMM_KC, kcb, nc);
  /* An A strip of more than 32 KiB (avx512 from 683 deep) whose N is split anyway: half
   * the B block. The strip and a tile's B panel do not fit L1 together, so every tile
   * reads the strip again from L2 beside its panel, and a B block of all of BBLOCK loses
   * lines to that stream (Zen 5, avx512: 512x768x3072, the FFN's first product, 2-3 %
   * faster, 196x768x2304 and 128x768x3072 1.5-2.5 %; avx2's 6-row strips unaffected;
   * shapes with one N block stay as they are: splitting them packs A again per block) */
  if (PREFIX_GEMM_MR * *kcb * (int64_t)sizeof(float) > 32768 && N > *nc) {
    const int64_t half = PREFIX_GEMM_BBLOCK / 2 / *kcb / PREFIX_GEMM_NR * PREFIX_GEMM_NR;
    *nc = half < PREFIX_GEMM_NR ? PREFIX_GEMM_NR : half;
  }
  /* as many N blocks, of equal widths (1024 as 512 + 512, not 768 + 256) */
  const int64_t nb = (N + *nc - 1) / *nc;
  *nc = ((N + nb - 1) / nb + PREFIX_GEMM_NR - 1) / PREFIX_GEMM_NR * PREFIX_GEMM_NR;
}

/* Floats of the workspace PREFIX_gemm_ws packs the whole of A into (every MR-row strip of
 * every K block, once, instead of once per N block), 0 when it would not help (one N block).
 * The compiler's target.c computes the same (or more) to size the workspace it passes. */
static inline int64_t PREFIX_gemm_ws_floats(int64_t M, int64_t N, int64_t K) {
  int64_t kcb, nc;
  if (M <= 0 || N <= 0 || K <= 0)
    return 0;
  PREFIX_gemm_plan(N, K, &kcb, &nc);
  if (N <= nc)
    return 0;
  const int64_t strips = (M + PREFIX_GEMM_MR - 1) / PREFIX_GEMM_MR, blocks = (K + kcb - 1) / kcb;
  return blocks * strips * ((kcb + PREFIX_GEMM_KC - 1) / PREFIX_GEMM_KC) * PREFIX_GEMM_MR *
         PREFIX_GEMM_KCP;
}

/* C[M,N] = act(A[M,K] * B + bias) + R; A row stride lda (lda == KCP and K <= KC: full
 * strips of A are read in place, as the packed strips they already are; a partial last
 * strip is packed, so the tile can read MR rows), Bp = pack_b(B), C row stride ldc,
 * bias[N] and R (row stride ldr) may be NULL; act 0 none, 1 relu, 2 gelu (erf).
 * C must not overlap A, Bp or bias; R may be C itself (C == R, ldc == ldr) or apart from it.
 * ws: NULL or wsn floats (64-byte aligned); when wsn >= PREFIX_gemm_ws_floats(M, N, K) > 0,
 * each strip of A is packed there once for all N blocks, else once per N block (from A,
 * which is in L3 when it is big). */
static inline void PREFIX_gemm_ws(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                  const float *Bp, float *C, int64_t ldc, const float *bias,
                                  const float *R, int64_t ldr, int act, float *ws, int64_t wsn) {
  const int64_t MR = PREFIX_GEMM_MR, NR = PREFIX_GEMM_NR, KC = PREFIX_GEMM_KC,
                KCP = PREFIX_GEMM_KCP;
  /* the packed A strip, KS / KC chunks (avx512 38.25 KiB, avx2 and neon 19.1, generic 12.75), all
   * the scratch */
  _Alignas(64) float ap[PREFIX_GEMM_KS / PREFIX_GEMM_KC * PREFIX_GEMM_MR * PREFIX_GEMM_KCP];
  if (M <= 0 || N <= 0)
    return;
  if (K < 0)
    K = 0;
  int64_t kcb, nc;
  PREFIX_gemm_plan(N, K, &kcb, &nc);
  const int in_place = lda == KCP && K <= KC; /* A is a packed strip already */
  /* one K block of at most KC, the MR rows of a strip within 4 KiB: a target with a strided
   * tile reads full strips of A in place at A's own row stride (packing them costs about as
   * much as the tile when K is small, e.g. per-head projections 32 deep). Rows further
   * apart are packed: at a large power-of-two stride they would share a few L1 sets. */
#ifdef PREFIX_GEMM_STRIDED_TILE
  const int strided = !in_place && K <= KC && lda * MR <= 1024;
#else
  const int strided = 0;
#endif
  /* the strips packed once, in ws: strip s of K block b at ws + (b * strips + s) * sfl */
  const int64_t strips = (M + MR - 1) / MR, sfl = (kcb + KC - 1) / KC * MR * KCP;
  const int64_t need = PREFIX_gemm_ws_floats(M, N, K);
  const int once = ws != NULL && need > 0 && wsn >= need && !in_place && !strided;
  /* Without an act, R is added before the K loop (so C == R works); with one, after the
   * act at the last K block. Then, if C overlaps R, neither partial sums nor the
   * pre-activation tile can go through C: each tile runs all its K blocks in a stack
   * tile, and act(tile) + R goes to C elementwise. */
  const int r_late = R != NULL && act != 0;
  int spill = 0;
  if (r_late) {
    const uintptr_t c0 = (uintptr_t)C, c1 = (uintptr_t)(C + (M - 1) * ldc + N);
    const uintptr_t r0 = (uintptr_t)R, r1 = (uintptr_t)(R + (M - 1) * ldr + N);
    spill = c0 < r1 && r0 < c1;
  }
  if (!spill) {
    for (int64_t jc = 0; jc < N; jc += nc) {
      const int64_t je = N - jc < nc ? N : jc + nc;
      int64_t pc = 0;
      do {
        const int64_t kc = K - pc < kcb ? K - pc : kcb;
        const int first = pc == 0, last = pc + kc >= K;
        const int r_now = R && (r_late ? last : first);
        for (int64_t ic = 0; ic < M; ic += MR) {
          const int64_t mr = M - ic < MR ? M - ic : MR;
          /* the strip: packed (into ws, on the first N block), or A itself */
          float *const sp = once ? ws + (pc / kcb * strips + ic / MR) * sfl : ap;
          const float *as = sp;
          if ((in_place || strided) && mr == MR)
            as = A + ic * lda;
          else if (!once || jc == 0)
            PREFIX_gemm_pack_a(mr, kc, A + ic * lda + pc, lda, sp);
          const int64_t next = M - ic - MR < MR ? M - ic - MR : MR, parts = (je - jc + NR - 1) / NR;
          /* the strided tile's next strip: its lines, and each tile's share of them */
          const int64_t span_lines = next > 0 ? ((next - 1) * lda + kc + 15) / 16 : 0,
                        span_per = (span_lines + parts - 1) / parts;
          for (int64_t j = jc; j < je; j += NR) {
            float *c = C + ic * ldc + j;
            /* the next strip's A lines, before its packing (a strip packed already is
             * contiguous: the hardware prefetcher does better with it than this); for the
             * strided tile, the span of rows it reads next: with A in cache this costs 0-3 %
             * of 6144x64x64 (noise), with A coming from memory (the per-head projections of
             * a model's inputs, d=768 at 512 tokens) the whole block runs 1-2 % faster */
            if (!in_place && !strided && next > 0 && !(once && jc > 0))
              PREFIX_gemm_prefetch_a(A + (ic + MR) * lda + pc, lda, next, kc, (j - jc) / NR, parts);
            else if (strided && next > 0) {
              const int64_t l0 = (j - jc) / NR * span_per;
              PREFIX_gemm_prefetch_lines(A + (ic + MR) * lda, l0,
                                         l0 + span_per < span_lines ? l0 + span_per : span_lines);
            }
            const float *r = r_now ? R + ic * ldr + j : NULL;
            if (j + NR < je) /* the next tile's C (and R) lines, early */
              PREFIX_gemm_prefetch(mr, je - j - NR < NR ? je - j - NR : NR, c + NR, ldc,
                                   r ? r + NR : NULL, ldr);
            else if (next > 0) /* the next strip's first tile, its R too: rows of R are
                                * pages apart, no hardware prefetcher fetches them (with R
                                * from memory, standalone: 512x768x768 + R 4 %, 512x3072x768
                                * + R 2.5 % faster, Zen 5; with R in cache, no change) */
              PREFIX_gemm_prefetch(next, je - jc < NR ? je - jc : NR, C + (ic + MR) * ldc + jc,
                                   ldc, r ? R + (ic + MR) * ldr + jc : NULL, ldr);
#ifdef PREFIX_GEMM_STRIDED_TILE
            if (strided && as != ap)
              PREFIX_gemm_ukr_strided(kc, as, lda, Bp + (j * K + pc * NR),
                                      je - j < NR ? je - j : NR, first ? NULL : c, ldc, c, ldc,
                                      first && bias ? bias + j : NULL, r_late ? NULL : r,
                                      r_late ? r : NULL, ldr, last ? act : 0);
            else
#endif
              PREFIX_gemm_tile(mr, kc, as, Bp + (j * K + pc * NR), je - j < NR ? je - j : NR,
                               first ? NULL : c, ldc, c, ldc, first && bias ? bias + j : NULL,
                               r_late ? NULL : r, r_late ? r : NULL, ldr, last ? act : 0);
          }
        }
        pc += kc;
      } while (pc < K);
    }
  } else {
    /* the stack tile lives in the last NR floats of each packed A row (row stride KCP),
     * so the K blocks here are at most KCP - NR long */
    float *t = ap + (KCP - NR);
    const int64_t nks = K > 0 ? (K + KCP - NR - 1) / (KCP - NR) : 1;
    const int64_t kcs = K > 0 ? (K + nks - 1) / nks : 0;
    for (int64_t ic = 0; ic < M; ic += MR) {
      const int64_t mr = M - ic < MR ? M - ic : MR;
      for (int64_t j = 0; j < N; j += NR) {
        const int64_t n = N - j < NR ? N - j : NR;
        int64_t pc = 0;
        do {
          const int64_t kc = K - pc < kcs ? K - pc : kcs;
          if (nks > 1 || j == 0) /* one K block: the strip is packed once */
            PREFIX_gemm_pack_a(mr, kc, A + ic * lda + pc, lda, ap);
          PREFIX_gemm_tile(mr, kc, ap, Bp + (j * K + pc * NR), n, pc == 0 ? NULL : t, KCP, t,
                           KCP, pc == 0 && bias ? bias + j : NULL, NULL, NULL, 0, 0);
          pc += kc;
        } while (pc < K);
        PREFIX_gemm_post(mr, n, t, KCP, act, R + ic * ldr + j, ldr, C + ic * ldc + j, ldc);
      }
    }
  }
}

/* PREFIX_gemm_ws without the workspace: each strip of A is packed once per N block */
static inline void PREFIX_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *Bp, float *C, int64_t ldc, const float *bias,
                               const float *R, int64_t ldr, int act) {
  PREFIX_gemm_ws(M, N, K, A, lda, Bp, C, ldc, bias, R, ldr, act, NULL, 0);
}

//@ pack_transposed
#ifdef PREFIX_PACK_TBLOCK /* the targets with a register transpose (avx512, avx2) */
/* B(k, n) = B[k * ldb_k + n * ldb_n] -> Bp in panels of the target's NR columns (the layout:
 * kernels.c, section pack_panels). A B that is contiguous along k (ldb_k == 1: the
 * attention's K^T, a Linear weight packed at run time) is a transpose: TBLOCK columns x
 * TBLOCK k at a time by the target's PREFIX_pack_tblock (TBLOCK loads along k, a register
 * transpose, TBLOCK stores along the panel rows); others are copied by pack_panels. */
static inline void PREFIX_pack_b(int64_t K, int64_t N, const float *B, int64_t ldb_k, int64_t ldb_n,
                                 float *Bp) {
  if (ldb_k != 1 || ldb_n == 1) {
    PREFIX_pack_panels(K, N, B, ldb_k, ldb_n, PREFIX_GEMM_NR, Bp);
    return;
  }
  const int64_t T = PREFIX_PACK_TBLOCK;
  for (int64_t j0 = 0; j0 < N; j0 += PREFIX_GEMM_NR) {
    float *dst = Bp + j0 * K; /* panel j0 / NR starts at (j0 / NR) * K * NR */
    for (int64_t h = 0; h < PREFIX_GEMM_NR; h += T) /* the panel's columns, T at a time */
      for (int64_t k0 = 0; k0 < K; k0 += T)
        PREFIX_pack_tblock(B + (j0 + h) * ldb_n + k0, ldb_n, N - j0 - h, K - k0 < T ? K - k0 : T,
                           dst + k0 * PREFIX_GEMM_NR + h);
  }
}
#endif
