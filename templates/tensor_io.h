/* tensor_io.h: what the programs attncc builds around a generated model (check_main.c,
 * debug_main.c) share: the description of a model tensor, reading it from a reference
 * .safetensors file, and the element-wise comparison rule of `attncc check`. */
#ifndef TENSOR_IO_H
#define TENSOR_IO_H

#include "attncc_safetensors.h"

#include <stddef.h>

typedef struct {
  const char *name;
  int dtype;                               /* 0 float32, 1 int32, 2 bool (uint8) */
  int ndim;
  long long shape[8];
  long long numel;
} check_tensor;

/* how far one tensor is from its reference */
typedef struct {
  double max_abs;                          /* largest |out - ref| */
  double max_rel;                          /* largest |out - ref| / (1 + |ref|) */
  long long worst;                         /* element with the largest relative error */
  int ok;                                  /* every element within the tolerance */
} tensor_error;

void format_shape(const long long *shape, int ndim, char *buf, size_t len); /* "[1,8,16]" */
/* the tensor of c's name in f, with c's shape; NULL after a message naming `kind` */
const attncc_st_tensor *find_checked(const attncc_st_file *f, const check_tensor *c,
                                     const char *kind);
void *load_input(const attncc_st_tensor *t, const check_tensor *c); /* in c's dtype (malloc) */
double value_at(const void *p, int dtype, long long i);
/* |out - ref| <= tol * (1 + |ref|) for every element; NaN equals NaN, inf only itself */
tensor_error compare_tensor(const void *out, int out_dtype, const void *ref, int ref_dtype,
                            long long numel, double tol);

#endif
