/* kernels_reference.c: the kernels of the reference build of `attncc debug`: the
 * simplest correct code for each section of kernels.c and kernels_<target>.c (libm's
 * expf/tanhf/erff, a plain triple-loop GEMM and sums in double), sharing no code with
 * the kernels they check. Slow; never used outside `attncc debug`. Same section format
 * as kernels.c; the packed B layout is the one every target uses:
 *   Bp[(p * K + k) * NR + j] = B(k, p * NR + j), zero for columns >= N. Its empty gemm_ukr
 * section keeps out kernels.c's microkernel skeleton, which the plain GEMM does not use,
 * and its empty softmax_rows kernels.c's row kernels, which its softmax does not use. */

//@ exp
static inline float PREFIX_exp(float x) { return expf(x); }

//@ math
static inline float PREFIX_tanh(float x) { return tanhf(x); }
static inline float PREFIX_erf(float x) { return erff(x); }
static inline float PREFIX_sigmoid(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }

//@ gemm_common
#define PREFIX_GEMM_NR 16 /* columns per packed B panel */

/* act 1 = relu (NaN stays NaN), 2 = exact gelu 0.5 x (1 + erf(x / sqrt 2)), else identity */
static inline double PREFIX_gemm_act(double x, int act) {
  if (act == 1)
    return x < 0.0 ? 0.0 : x;
  if (act == 2)
    return 0.5 * x * (1.0 + erf(x * 0.70710678118654752));
  return x;
}

//@ pack_b
/* B(k, n) = B[k * ldb_k + n * ldb_n] -> Bp in panels of NR columns */
static inline void PREFIX_pack_b(int64_t K, int64_t N, const float *B, int64_t ldb_k, int64_t ldb_n,
                                 float *Bp) {
  const int64_t NR = PREFIX_GEMM_NR, panels = (N + NR - 1) / NR;
  for (int64_t p = 0; p < panels; p++)
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < NR; j++) {
        const int64_t n = p * NR + j;
        Bp[(p * K + k) * NR + j] = n < N ? B[k * ldb_k + n * ldb_n] : 0.0f;
      }
}

//@ gemm_ukr
//@ gemm
/* C[M,N] = act(A[M,K] * B + bias) + R, one element at a time, summed in double */
static inline void PREFIX_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *Bp, float *C, int64_t ldc, const float *bias,
                               const float *R, int64_t ldr, int act) {
  const int64_t NR = PREFIX_GEMM_NR;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      const float *b = Bp + (j / NR) * K * NR + j % NR;
      double acc = 0.0;
      for (int64_t k = 0; k < K; k++)
        acc += (double)A[i * lda + k] * b[k * NR];
      if (bias)
        acc += bias[j];
      acc = PREFIX_gemm_act(acc, act);
      if (R)
        acc += R[i * ldr + j];
      C[i * ldc + j] = (float)acc;
    }
}

//@ skinny
/* C[M, N] = act(A W^T + bias) + R, W row-major [N, K]: kernels.c's skinny product; R may
 * be C */
static inline void PREFIX_gemm_skinny(int64_t M, int64_t N, int64_t K, const float *A,
                                      int64_t lda, const float *W, float *C, int64_t ldc,
                                      const float *bias, const float *R, int64_t ldr, int act) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (int64_t k = 0; k < K; k++)
        acc += (double)A[i * lda + k] * W[j * K + k];
      acc = PREFIX_gemm_act(acc, act);
      C[i * ldc + j] = (float)(R ? acc + R[i * ldr + j] : acc);
    }
}

//@ softmax_rows
/* (empty: the softmax below needs no row kernels; keeps out kernels.c's) */

//@ rowops
static inline float PREFIX_row_max(const float *x, int64_t n) {
  float m = -INFINITY;
  for (int64_t j = 0; j < n; j++)
    if (x[j] > m || x[j] != x[j])
      m = x[j];
  return m;
}

static inline float PREFIX_row_sum(const float *x, int64_t n) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; j++)
    sum += x[j];
  return (float)sum;
}

/* x = e^(x - m) over x[0..n); returns the sum */
static inline float PREFIX_row_exp_sum(float *x, int64_t n, float m) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; j++) {
    x[j] = (float)exp((double)x[j] - m);
    sum += x[j];
  }
  return (float)sum;
}

//@ softmax
/* softmax (or log_softmax) of x viewed as [outer, n, inner] along the middle dim */
static inline void PREFIX_softmax(const float *restrict x, float *restrict y, int64_t outer,
                                  int64_t n, int64_t inner, int log_out) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *xr = x + o * n * inner + i;
      float *yr = y + o * n * inner + i;
      double max = xr[0], sum = 0.0;
      for (int64_t r = 1; r < n; r++)
        if (xr[r * inner] > max || xr[r * inner] != xr[r * inner])
          max = xr[r * inner];
      for (int64_t r = 0; r < n; r++)
        sum += exp(xr[r * inner] - max);
      for (int64_t r = 0; r < n; r++)
        yr[r * inner] = (float)(log_out ? xr[r * inner] - max - log(sum)
                                        : exp(xr[r * inner] - max) / sum);
    }
}
