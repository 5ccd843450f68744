/* tensor_io.c: reading model tensors from a reference .safetensors file and comparing
 * results with the rule of `attncc check` (see tensor_io.h). Part of the programs
 * attncc builds around a generated model; not part of the generated model itself. */
#include "tensor_io.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void format_shape(const long long *shape, int ndim, char *buf, size_t len) {
  size_t at = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < ndim && at < len; d++)
    at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? "," : "", shape[d]);
  if (at < len)
    snprintf(buf + at, len - at, "]");
}

static int same_shape(const attncc_st_tensor *t, const check_tensor *c) {
  if (t->ndim != c->ndim)
    return 0;
  for (int d = 0; d < c->ndim; d++)
    if (t->shape[d] != c->shape[d])
      return 0;
  return 1;
}

const attncc_st_tensor *find_checked(const attncc_st_file *f, const check_tensor *c,
                                     const char *kind) {
  const attncc_st_tensor *t = attncc_st_find(f, c->name);
  char want[128], got[128];
  format_shape(c->shape, c->ndim, want, sizeof want);
  if (!t) {
    fprintf(stderr, "check: error: the reference file has no %s '%s' %s\n", kind, c->name, want);
    return NULL;
  }
  long long shape[8];
  for (int d = 0; d < t->ndim; d++)
    shape[d] = (long long)t->shape[d];
  format_shape(shape, t->ndim, got, sizeof got);
  if (!same_shape(t, c)) {
    fprintf(stderr, "check: error: %s '%s' has shape %s in the reference file, the model expects %s\n",
            kind, c->name, got, want);
    return NULL;
  }
  return t;
}

void *load_input(const attncc_st_tensor *t, const check_tensor *c) {
  void *buf = malloc((size_t)c->numel * 4 + 1);
  if (!buf)
    return NULL;
  if (c->dtype == 0) {
    if (attncc_st_to_f32(t, buf) == 0)
      return buf;
  } else {
    int32_t *tmp = malloc((size_t)c->numel * 4 + 1);
    int ok = tmp && attncc_st_to_i32(t, tmp) == 0;
    for (long long i = 0; ok && i < c->numel; i++) {
      if (c->dtype == 1)
        ((int32_t *)buf)[i] = tmp[i];
      else
        ((uint8_t *)buf)[i] = tmp[i] != 0;
    }
    free(tmp);
    if (ok)
      return buf;
  }
  fprintf(stderr, "check: error: input '%s': cannot convert %s to the model's dtype\n", c->name,
          attncc_st_dtype_name(t->dtype));
  free(buf);
  return NULL;
}

double value_at(const void *p, int dtype, long long i) {
  if (dtype == 0)
    return ((const float *)p)[i];
  if (dtype == 1)
    return ((const int32_t *)p)[i];
  return ((const uint8_t *)p)[i];
}

tensor_error compare_tensor(const void *out, int out_dtype, const void *ref, int ref_dtype,
                            long long numel, double tol) {
  tensor_error e = {0, 0, 0, 1};
  for (long long i = 0; i < numel; i++) {
    double o = value_at(out, out_dtype, i), r = value_at(ref, ref_dtype, i);
    double err;
    if (isnan(r) || isnan(o))
      err = (isnan(r) && isnan(o)) ? 0 : INFINITY;
    else if (isinf(r) || isinf(o))
      err = (o == r) ? 0 : INFINITY;
    else
      err = fabs(o - r);
    double rel = err / (1.0 + (isfinite(r) ? fabs(r) : 0));
    if (err > e.max_abs)
      e.max_abs = err;
    if (rel > e.max_rel) {
      e.max_rel = rel;
      e.worst = i;
    }
    if (!(rel <= tol))
      e.ok = 0;
  }
  return e;
}
