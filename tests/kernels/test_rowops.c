/* test_rowops.c: the row kernels of templates/kernels.c against double precision:
 * layernorm (with and without the residual, gamma and beta; widths that are not a
 * multiple of 16), row_exp_sum with a scale inside the exponent, row_max with NaN and
 * -inf, and softmax_block (one key block of the online softmax over a block of rows: the
 * block's max, the running max and sum, the correction of the output rows and the
 * exponentials) against the same sums in double; the plain softmax and log_softmax along
 * rows and columns; the elementwise math (exp, tanh,
 * sigmoid, erf) against libm's double. Built once with kernels.c alone and once with a target file whose softmax_rows
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

/* one key block of the online softmax over a block of rows (softmax_block): each row
 * with its own running max (below, above and at -inf), running sum (16 partial sums) and
 * output row; the new max, the corrected sum, the corrected output and every stored
 * exponential against double, for block widths on both sides of 128 and row counts on
 * both sides of the 16 rows the AVX-512 block handles at once */
#define LDS 304
#define DV 20
#define LDO 24
static void check_softmax_block(int64_t rows, int64_t n, float c) {
  static float x[40 * LDS], x0[40 * LDS], out[40 * LDO], out0[40 * LDO], rsum[40 * 16];
  static float rmax[40], start[40], bm[40];
  static double sum0[40];
  static const float starts[] = {-INFINITY, -3.0f, 9.0f, 0.5f};
  for (int64_t i = 0; i < rows; i++) {
    start[i] = rmax[i] = starts[i % 4];
    double m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
      x[i * LDS + j] = x0[i * LDS + j] = 6.0f * frand();
      m = fmax(m, x0[i * LDS + j]);
    }
    bm[i] = (float)m;
    sum0[i] = 0;
    for (int l = 0; l < 16; l++) {
      rsum[16 * i + l] = isinf(start[i]) ? 0.0f : 1.0f + frand();
      sum0[i] += rsum[16 * i + l];
    }
    for (int64_t j = 0; j < LDO; j++)
      out[i * LDO + j] = out0[i * LDO + j] = frand();
  }
  PREFIX_softmax_block(x, LDS, rows, n, rmax, rsum, c, out, LDO, DV);
  double worst = 0;
  int max_ok = 1;
  for (int64_t i = 0; i < rows; i++) {
    const double mn = fmax(bm[i], start[i]);
    max_ok = max_ok && rmax[i] == (float)mn;
    const double corr = isinf(start[i]) ? 0.0 : exp(((double)start[i] - mn) * c);
    double sum = sum0[i] * corr;
    for (int64_t j = 0; j < n; j++) {
      const double e = exp(((double)x0[i * LDS + j] - mn) * c);
      sum += e;
      /* relative to e, and to 1 + |t| / 10 (t = log2 e): a vector e^x that rounds t once
       * to float is off by about 1e-7 |t| relative (1.4e-6 at e^-16) */
      const double t = fabs(log2(fmax(e, 1e-30)));
      worst = fmax(worst, fabs(e - x[i * LDS + j]) / fmax(e, 1e-30) / (1.0 + t / 10.0));
    }
    worst = fmax(worst, fabs(sum - PREFIX_lanes_sum(rsum + 16 * i)) / sum);
    const double tc = corr > 0 ? fabs(log2(corr)) : 0.0; /* the correction's exponent */
    for (int64_t j = 0; j < LDO; j++) { /* columns past dv stay as they were */
      const double o = j < DV ? out0[i * LDO + j] * corr : out0[i * LDO + j];
      worst = fmax(worst, fabs(o - out[i * LDO + j]) / fmax(fabs(o), 1e-30) / (1.0 + tc / 10.0));
    }
  }
  expect(max_ok && worst < 1e-6, "softmax_block rows, n", rows, n, worst);
}

/* an all -inf block leaves its row alone (max, sum and output; the scores become 0); a
 * NaN score makes the row's sum NaN, and so its whole output row (its max and the other
 * scores too where the block max is NaN-first; the AVX-512 block's own maxima may skip
 * it); other rows are not touched */
static void check_softmax_block_masked(int64_t n, float c) {
  static float x[3 * LDS], out[3 * LDO], rsum[3 * 16];
  float rmax[3] = {2.0f, -INFINITY, 1.0f};
  for (int64_t j = 0; j < n; j++) {
    x[j] = -INFINITY;
    x[LDS + j] = j % 2 ? -1e9f : 1.0f;
    x[2 * LDS + j] = 0.5f;
  }
  x[LDS + n - 1] = NAN;
  for (int i = 0; i < 3 * 16; i++)
    rsum[i] = i < 16 ? 0.25f : 0.0f;
  for (int i = 0; i < 3 * LDO; i++)
    out[i] = 3.0f;
  PREFIX_softmax_block(x, LDS, 3, n, rmax, rsum, c, out, LDO, DV);
  int zeros = 1, kept = 1;
  for (int64_t j = 0; j < n; j++)
    zeros = zeros && x[j] == 0.0f;
  for (int j = 0; j < LDO; j++)
    kept = kept && out[j] == 3.0f;
  expect(zeros && kept && rmax[0] == 2.0f && PREFIX_lanes_sum(rsum) == 4.0f,
         "softmax_block all -inf row", n, 0, 0);
  expect(isnan(PREFIX_lanes_sum(rsum + 16)) && isnan(x[LDS + n - 1]),
         "softmax_block NaN row", n, 0, 0);
  expect(rmax[2] == 1.0f && fabs(PREFIX_lanes_sum(rsum + 32) - (double)n * exp(-0.5 * c)) < 1e-5 * n,
         "softmax_block row after a NaN row", n, 0, 0);
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

/* the scalar math the elementwise loops call (exp, tanh, sigmoid, erf) against double on
 * a grid over [-100, 100] (every 1/64, with the 1/64 steps' neighbours; tanh also at small
 * arguments down to 2^-120), the edges of exp's range, infinities and NaN */
static void check_math(void) {
  double exp_err = 0, tanh_err = 0, sig_err = 0, erf_err = 0;
  int specials = 1;
  for (int i = -6400; i <= 6400; i++) {
    for (int k = -1; k <= 1; k++) {
      float x = nextafterf((float)i / 64.0f, k < 0 ? -INFINITY : k > 0 ? INFINITY : 0.0f);
      if (k == 0)
        x = (float)i / 64.0f;
      double e = exp((double)x);
      if (x >= -87.3f && x <= 88.37f)
        exp_err = fmax(exp_err, fabs(PREFIX_exp(x) - e) / e);
      else
        specials &= PREFIX_exp(x) == (x < 0 ? 0.0f : INFINITY);
      tanh_err = fmax(tanh_err, fabs(PREFIX_tanh(x) - tanh((double)x)) / fmax(fabs(tanh((double)x)), 1e-30));
      double sg = 1.0 / (1.0 + exp(-(double)x)); /* relative, absolute below e^-87 */
      sig_err = fmax(sig_err, fabs(PREFIX_sigmoid(x) - sg) / (x > -87.0f ? sg : 1.0));
      erf_err = fmax(erf_err, fabs(PREFIX_erf(x) - erf((double)x)));
    }
  }
  for (int e = 0; e < 120; e++) /* small arguments, where tanh(x) ~ x: relative error too */
    for (int j = 0; j < 64; j++) {
      const float x = ldexpf(1.0f + (float)j / 64.0f, -e);
      tanh_err = fmax(tanh_err, fabs(PREFIX_tanh(x) - tanh((double)x)) / tanh((double)x));
      tanh_err = fmax(tanh_err, fabs(PREFIX_tanh(-x) + tanh((double)x)) / tanh((double)x));
    }
  expect(exp_err < 3e-7, "exp relative error", 0, 0, exp_err);
  expect(tanh_err < 4e-7, "tanh relative error", 0, 0, tanh_err);
  expect(sig_err < 6e-7, "sigmoid relative error", 0, 0, sig_err);
  expect(erf_err < 4e-7, "erf absolute error", 0, 0, erf_err);
  expect(specials, "exp: 0 below -87.3, inf above 88.37", 0, 0, 0);
  specials = PREFIX_exp(-INFINITY) == 0.0f && PREFIX_exp(INFINITY) == INFINITY &&
             isnan(PREFIX_exp(NAN)) && PREFIX_exp(0.0f) == 1.0f && isnan(PREFIX_tanh(NAN)) &&
             PREFIX_tanh(INFINITY) == 1.0f && PREFIX_tanh(-INFINITY) == -1.0f &&
             isnan(PREFIX_sigmoid(NAN)) && PREFIX_sigmoid(-INFINITY) == 0.0f &&
             PREFIX_sigmoid(INFINITY) == 1.0f && isnan(PREFIX_erf(NAN)) && PREFIX_erf(INFINITY) == 1.0f;
  expect(specials, "exp, tanh, sigmoid, erf at infinities and NaN", 0, 0, 0);
}

/* the plain softmax and log_softmax (section softmax) of x viewed as [2, n, inner] along n,
 * against double: contiguous rows (inner 1, the row kernels) and columns (inner > 1, up to 16
 * at a time), scores in the tens, one row or column all -inf (NaN, as in PyTorch) */
static void check_plain_softmax(int64_t n, int64_t inner, int log_out) {
  static float x[2 * 40 * 40], y[2 * 40 * 40];
  for (int64_t i = 0; i < 2 * n * inner; i++)
    x[i] = 30.0f * frand();
  for (int64_t r = 0; r < n; r++) /* (outer 1, column 0): all -inf */
    x[n * inner + r * inner] = -INFINITY;
  PREFIX_softmax(x, y, 2, n, inner, log_out);
  double worst = 0;
  int nan_ok = 1;
  for (int64_t o = 0; o < 2; o++)
    for (int64_t c = 0; c < inner; c++) {
      const float *xc = x + o * n * inner + c, *yc = y + o * n * inner + c;
      if (o == 1 && c == 0) {
        for (int64_t r = 0; r < n; r++)
          nan_ok = nan_ok && isnan(yc[r * inner]);
        continue;
      }
      double m = -INFINITY, sum = 0;
      for (int64_t r = 0; r < n; r++)
        m = fmax(m, xc[r * inner]);
      for (int64_t r = 0; r < n; r++)
        sum += exp((double)xc[r * inner] - m);
      for (int64_t r = 0; r < n; r++) {
        double v = (double)xc[r * inner] - m;
        v = log_out ? v - log(sum) : exp(v) / sum;
        worst = fmax(worst, fabs(v - yc[r * inner]) / (1.0 + fabs(v)));
      }
    }
  expect(nan_ok && worst < 2e-6, log_out ? "log_softmax n, inner" : "softmax n, inner", n, inner,
         worst);
}

int main(void) {
  check_math();
  static const int64_t sn[] = {1, 7, 16, 33}, si[] = {1, 5, 16, 37};
  for (size_t i = 0; i < sizeof sn / sizeof *sn; i++)
    for (size_t j = 0; j < sizeof si / sizeof *si; j++)
      for (int log_out = 0; log_out < 2; log_out++)
        check_plain_softmax(sn[i], si[j], log_out);
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
  static const int64_t rs[] = {1, 5, 16, 17, 40};
  for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
    for (size_t r = 0; r < sizeof rs / sizeof *rs; r++) {
      check_softmax_block(rs[r], ws[i], 0.17677669f);
      check_softmax_block(rs[r], ws[i], 1.0f);
      /* ln 2: the scores are exponents of 2 (the attention scaled its queries), AVX-512's
       * exponentials skip their multiply */
      check_softmax_block(rs[r], ws[i], 0.69314718f);
    }
    check_softmax_block_masked(ws[i], 0.5f);
    check_softmax_block_masked(ws[i], 0.69314718f);
  }
  check_row_max();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
