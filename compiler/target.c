/* target.c: the CPUs attncc generates code for. A target names the template file
 * holding its GEMM kernels, the panel width those kernels read packed weights in
 * (weights are packed at compile time to match), their blocking (to size the workspace
 * the GEMM packs A into), and the C flags its code needs. */
#include "attncc.h"

#include <string.h>

/* name, kernels, driver, then the kernels' PREFIX_GEMM_NR, _MR, _NC, _BBLOCK, flags, and
 * whether a tile of fewer rows touches only those (the tiles PREFIX_GEMM_TILES_DEFINE
 * stamps out per height; the portable tile computes all MR rows and stores mr) */
static const Target targets[] = {
    {"avx512", "kernels_avx512.c", "gemm_driver.c", 32, 12, 768, 196608,
     "-mavx512f -mavx512vl -mavx512dq -mfma", true},
    {"avx2", "kernels_avx2.c", "gemm_driver.c", 16, 6, 768, 196608, "-mavx2 -mfma", true},
    /* AArch64 Advanced SIMD (every AArch64 CPU has it: no flags) */
    {"neon", "kernels_neon.c", "gemm_driver.c", 16, 6, 512, 65536, "", true},
    /* portable C, vectorized by the compiler (2 rows on x86 without AVX, else 4) */
    {"generic", "kernels_generic.c", "gemm_driver.c", 16, 4, 512, 131072, "", false},
};

/* every target's PREFIX_GEMM_KC (columns of a packed A chunk), _KCP (its row stride) and
 * _KS (the deepest K block) */
#define GEMM_KC 256
#define GEMM_KCP (GEMM_KC + 16)
#define GEMM_KS (3 * GEMM_KC)

/* gemm_driver.c's PREFIX_gemm_blocks: equal K blocks of at most depth, the N block of
 * them that fits the target's B block */
static void gemm_blocks(const Target *t, int64_t K, int64_t depth, int64_t *kcb, int64_t *nc) {
  const int64_t nkb = K > depth ? (K + depth - 1) / depth : 1;
  *kcb = nkb > 1 ? (K + nkb - 1) / nkb : K;
  const int64_t c = t->gemm_bblock / (*kcb > 0 ? *kcb : 1) / t->gemm_nr * t->gemm_nr;
  *nc = c < t->gemm_nr ? t->gemm_nr : c > t->gemm_nc ? t->gemm_nc : c;
}

/* gemm_driver.c's PREFIX_gemm_plan and PREFIX_gemm_ws_floats */
int64_t target_gemm_ws_floats(const Target *t, int64_t M, int64_t N, int64_t K) {
  int64_t kcb, nc, kcb1, nc1;
  if (!t->driver || M <= 0 || N <= 0 || K <= 0) /* the reference kernels: no workspace */
    return 0;
  gemm_blocks(t, K, GEMM_KS, &kcb, &nc);
  gemm_blocks(t, K, GEMM_KC, &kcb1, &nc1);
  if (K > N && (N + nc - 1) / nc > (N + nc1 - 1) / nc1)
    gemm_blocks(t, K, N <= nc1 ? GEMM_KC / 2 : GEMM_KC, &kcb, &nc);
  const int64_t nb = (N + nc - 1) / nc; /* N blocks of equal widths */
  nc = ((N + nb - 1) / nb + t->gemm_nr - 1) / t->gemm_nr * t->gemm_nr;
  if (N <= nc)
    return 0;
  const int64_t strips = (M + t->gemm_mr - 1) / t->gemm_mr, blocks = (K + kcb - 1) / kcb;
  return blocks * strips * ((kcb + GEMM_KC - 1) / GEMM_KC) * t->gemm_mr * GEMM_KCP;
}

static const char *native_name(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "avx2";
  return "generic";
#elif defined(__aarch64__)
  return "neon";
#else
  return "generic";
#endif
}

const Target *target_find(const char *name) {
  if (!strcmp(name, "native"))
    name = native_name();
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
    if (!strcmp(targets[i].name, name))
      return &targets[i];
  return NULL;
}
