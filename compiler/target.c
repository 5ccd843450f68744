/* target.c: the CPUs attncc generates code for. A target names the template file
 * holding its GEMM kernels, the panel width those kernels read packed weights in
 * (weights are packed at compile time to match), and the C flags its code needs. */
#include "attncc.h"

#include <string.h>

static const Target targets[] = {
    {"avx512", "kernels_avx512.c", "gemm_driver.c", 32, "-mavx512f -mavx512vl -mavx512dq -mfma"},
    {"avx2", "kernels_avx2.c", "gemm_driver.c", 16, "-mavx2 -mfma"},
    {"neon", "kernels_generic.c", "gemm_driver.c", 16, ""}, /* portable C, vectorized by the compiler */
    {"generic", "kernels_generic.c", "gemm_driver.c", 16, ""},
};

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
