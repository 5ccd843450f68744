/* test_rowops.c: the row kernels of templates/kernels.c against double precision:
 * layernorm (with and without the residual, gamma and beta; widths that are not a
 * multiple of 16), row_exp_sum with a scale inside the exponent, row_max with NaN and
 * -inf, and row_softmax_step (one key block of the online softmax: the block's max, the
 * running max, the correction and the exponentials) against the same sums in double. Built once with kernels.c alone and once with a target file whose softmax_rows
 * section replaces kernels.c's. Prints "N passed, M failed"; exits nonzero on a failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* -DTARGET_KERNELS='"../../templates/kernels_avx512.c"': that target's softmax rows */
#ifdef TARGET_KERNELS
#define PREFIX_TARGET_SOFTMAX_ROWS
#include "../../templates/kernels.c"
#include TARGET_KERNELS
#else
#include "../../templates/kernels.c"
#endif

static int passed, failed;
static uint64_t rng = 0x2545F4914F6CDD1Du;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 40) / (double)(1u << 23) - 1.0);
}

static void expect(int ok, const char *what, int64_t a, int64_t b, double err) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL: %s (%lld, %lld): error %g\n", what, (long long)a, (long long)b, err);
  }
}

#define MAXD 300
static void check_layernorm(int64_t rows, int64_t d, int with_r, int affine) {
  static float x[4 * MAXD], r[4 * MAXD], y[4 * MAXD], gam[MAXD], bet[MAXD];
  for (int64_t i = 0; i < rows * d; i++) {
    x[i] = 3.0f + 2.0f * frand(); /* a large mean: the two-pass variance must handle it */
    r[i] = frand();
  }
  for (int64_t j = 0; j < d; j++) {
    gam[j] = frand();
    bet[j] = frand();
  }
  PREFIX_layernorm(rows, d, x, with_r ? r : NULL, affine ? gam : NULL, affine ? bet : NULL,
                   1e-5f, y);
  double worst = 0;
  for (int64_t i = 0; i < rows; i++) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < d; j++)
      mean += x[i * d + j] + (with_r ? r[i * d + j] : 0.0);
    mean /= (double)d;
    for (int64_t j = 0; j < d; j++) {
      double c = x[i * d + j] + (with_r ? r[i * d + j] : 0.0) - mean;
      var += c * c;
    }
    var /= (double)d;
    for (int64_t j = 0; j < d; j++) {
      double v = (x[i * d + j] + (with_r ? r[i * d + j] : 0.0) - mean) / sqrt(var + 1e-5);
      if (affine)
        v = v * gam[j] + bet[j];
      double e = fabs(v - y[i * d + j]) / (1.0 + fabs(v));
      worst = e > worst ? e : worst;
    }
  }
  expect(worst < 2e-5, "layernorm rows x d", rows, d, worst);
}

static void check_exp_sum(int64_t n, float c) {
  float x[MAXD], x0[MAXD];
  for (int64_t j = 0; j < n; j++)
    x[j] = x0[j] = 8.0f * frand();
  float m = PREFIX_row_max(x, n);
  float sum = PREFIX_row_exp_sum(x, n, m, c);
  double ref = 0, worst = 0;
  for (int64_t j = 0; j < n; j++) {
    double e = exp(((double)x0[j] - m) * c);
    ref += e;
    worst = fmax(worst, fabs(e - x[j]) / e);
  }
  expect(worst < 1e-6 && fabs(sum - ref) / ref < 1e-6, "row_exp_sum n, c*1000", n,
         (int64_t)(c * 1000), worst);
}

/* masked scores (-inf, -1e9) weigh exactly 0; a NaN score makes the sum NaN */
static void check_exp_sum_masked(int64_t n) {
  float x[MAXD];
  for (int64_t j = 0; j < n; j++)
    x[j] = j % 3 == 0 ? -INFINITY : (j % 3 == 1 ? -1e9f : 0.5f);
  x[n - 1] = 0.5f;
  float sum = PREFIX_row_exp_sum(x, n, 0.5f, 0.125f);
  int zeros = 1;
  for (int64_t j = 0; j < n - 1; j++)
    zeros = zeros && (j % 3 == 2 ? x[j] == 1.0f : x[j] == 0.0f);
  expect(zeros && sum == (float)((n - 1) / 3 + 1), "row_exp_sum masked n", n, 0, sum);
  x[0] = NAN;
  expect(isnan(PREFIX_row_exp_sum(x, n, 0.5f, 1.0f)), "row_exp_sum NaN n", n, 0, 0);
}

/* one key block after another through row_softmax_step: the running max, the corrected
 * sum and every stored exponential against double, for running maxes below, above and
 * at -inf, and block widths on both sides of the 128 scores the AVX-512 step keeps in
 * registers */
static void check_softmax_step(int64_t n, float c, float start) {
  float x[MAXD], x0[MAXD];
  float rmax = start, corr = 0.0f;
  for (int64_t j = 0; j < n; j++)
    x[j] = x0[j] = 6.0f * frand();
  double m = -INFINITY;
  for (int64_t j = 0; j < n; j++)
    m = fmax(m, x0[j]);
  const double mn = fmax(m, start);
  float sum = PREFIX_row_softmax_step(x, n, &rmax, c, &corr);
  double ref = 0, worst = 0;
  for (int64_t j = 0; j < n; j++) {
    double e = exp(((double)x0[j] - mn) * c);
    ref += e;
    worst = fmax(worst, fabs(e - x[j]) / fmax(e, 1e-30));
  }
  const double cref = exp(((double)start - mn) * c);
  expect(rmax == (float)mn && worst < 1e-6 && fabs(sum - ref) / ref < 1e-6 &&
             fabs(corr - cref) <= 1e-6 * cref,
         "row_softmax_step n, start (-1000: -inf)", n,
         isinf(start) ? -1000 : (int64_t)start, worst);
}

/* an all -inf block leaves the row alone (sum 0, corr 1); a NaN score makes all NaN */
static void check_softmax_step_masked(int64_t n) {
  float x[MAXD];
  for (int64_t j = 0; j < n; j++)
    x[j] = -INFINITY;
  float rmax = 2.0f, corr = 0.0f;
  float sum = PREFIX_row_softmax_step(x, n, &rmax, 0.5f, &corr);
  int zeros = 1;
  for (int64_t j = 0; j < n; j++)
    zeros = zeros && x[j] == 0.0f;
  expect(zeros && sum == 0.0f && corr == 1.0f && rmax == 2.0f, "row_softmax_step all -inf", n,
         0, sum);
  for (int64_t j = 0; j < n; j++)
    x[j] = j % 2 ? -1e9f : 1.0f;
  x[n - 1] = NAN;
  rmax = -INFINITY;
  sum = PREFIX_row_softmax_step(x, n, &rmax, 1.0f, &corr);
  expect(isnan(sum) && isnan(rmax) && isnan(x[0]), "row_softmax_step NaN", n, 0, sum);
}

static void check_row_max(void) {
  float x[40];
  for (int j = 0; j < 40; j++)
    x[j] = -INFINITY;
  expect(PREFIX_row_max(x, 40) == -INFINITY, "row_max all -inf", 40, 0, 0);
  x[33] = -5.0f;
  expect(PREFIX_row_max(x, 40) == -5.0f, "row_max tail lane", 40, 33, 0);
  x[3] = NAN;
  expect(isnan(PREFIX_row_max(x, 40)), "row_max NaN wins", 40, 3, 0);
}

int main(void) {
  static const int64_t ds[] = {1, 7, 16, 20, 64, 129, 300};
  for (size_t i = 0; i < sizeof ds / sizeof *ds; i++)
    for (int with_r = 0; with_r < 2; with_r++)
      for (int affine = 0; affine < 2; affine++)
        check_layernorm(ds[i] > 100 ? 2 : 4, ds[i], with_r, affine);
  for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
    check_exp_sum(ds[i], 1.0f);
    check_exp_sum(ds[i], 0.125f);
    check_exp_sum(ds[i], 0.17677669f);
  }
  for (size_t i = 1; i < sizeof ds / sizeof *ds; i++)
    check_exp_sum_masked(ds[i]);
  static const int64_t ws[] = {1, 7, 16, 20, 64, 127, 128, 129, 300};
  for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
    check_softmax_step(ws[i], 0.17677669f, -INFINITY);
    check_softmax_step(ws[i], 1.0f, -3.0f);
    check_softmax_step(ws[i], 0.125f, 9.0f);
    check_softmax_step_masked(ws[i]);
  }
  check_row_max();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
