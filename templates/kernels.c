/* kernels.c: the C kernels the emitter copies into generated code. Each section
 * starts with a line "//@ NAME" and is copied only when the model uses NAME;
 * PREFIX_ becomes the model's symbol prefix. */

//@ gemm_nn
/* C[M,N] = A[M,K] * B[K,N], all dense row-major */
static inline void PREFIX_gemm_nn(int64_t M, int64_t N, int64_t K, const float *restrict A,
                                  const float *restrict B, float *restrict C) {
  for (int64_t i = 0; i < M; i++) {
    float *restrict c = C + i * N;
    for (int64_t j = 0; j < N; j++)
      c[j] = 0.0f;
    for (int64_t k = 0; k < K; k++) {
      const float a = A[i * K + k];
      const float *restrict b = B + k * N;
      for (int64_t j = 0; j < N; j++)
        c[j] += a * b[j];
    }
  }
}

//@ gemm_nt
/* C[M,N] = A[M,K] * B[N,K]^T */
static inline void PREFIX_gemm_nt(int64_t M, int64_t N, int64_t K, const float *restrict A,
                                  const float *restrict B, float *restrict C) {
  for (int64_t i = 0; i < M; i++) {
    const float *restrict a = A + i * K;
    for (int64_t j = 0; j < N; j++) {
      const float *restrict b = B + j * K;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++)
        acc += a[k] * b[k];
      C[i * N + j] = acc;
    }
  }
}

//@ softmax
/* softmax (or log_softmax) of x viewed as [outer, n, inner] along the middle dim;
 * stable: subtracts the row max. A row that is all -inf gives NaN, as in PyTorch. */
static inline void PREFIX_softmax(const float *restrict x, float *restrict y, int64_t outer,
                                  int64_t n, int64_t inner, int log_out) {
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      const float *restrict xr = x + o * n * inner + i;
      float *restrict yr = y + o * n * inner + i;
      float max = xr[0];
      for (int64_t r = 1; r < n; r++)
        if (xr[r * inner] > max || xr[r * inner] != xr[r * inner])
          max = xr[r * inner];
      float sum = 0.0f;
      for (int64_t r = 0; r < n; r++) {
        float e = expf(xr[r * inner] - max);
        yr[r * inner] = e;
        sum += e;
      }
      if (log_out) {
        float lse = max + logf(sum);
        for (int64_t r = 0; r < n; r++)
          yr[r * inner] = xr[r * inner] - lse;
      } else {
        float inv = 1.0f / sum;
        for (int64_t r = 0; r < n; r++)
          yr[r * inner] *= inv;
      }
    }
  }
}
