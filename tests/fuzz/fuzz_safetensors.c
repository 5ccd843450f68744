/* fuzz_safetensors.c: libFuzzer target for the .safetensors reader
 * (runtime/attncc_safetensors.c) and the parameter matching on top of it
 * (runtime/attncc_params.c). Any byte string must parse or be rejected with a message;
 * a file that parses must convert every tensor and be matched against fixed parameters
 * without a sanitizer report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attncc_params.h"
#include "attncc_safetensors.h"

static void convert(const attncc_st_tensor *t) {
  if (t->numel > (1 << 20))
    return;
  float *f = malloc(sizeof(float) * (size_t)(t->numel + 1));
  int32_t *i = malloc(sizeof(int32_t) * (size_t)(t->numel + 1));
  if (f && attncc_st_to_f32(t, f) != 0)
    abort(); /* every dtype converts to float32 */
  if (i)
    (void)attncc_st_to_i32(t, i);
  free(f);
  free(i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  attncc_st_file f;
  if (attncc_st_parse(&f, data, size, err, sizeof err) != 0) {
    if (!err[0] || !memchr(err, 0, sizeof err))
      abort(); /* a rejection always says why */
    return 0;
  }
  for (int k = 0; k < f.ntensors; k++) {
    const attncc_st_tensor *t = &f.tensors[k];
    if (attncc_st_find(&f, t->name) != t || t->data + t->nbytes > f.buf + f.size)
      abort();
    convert(t);
  }
  attncc_param_info params[2] = {{"fc.weight", 2, {4, 3}, 0}, {"fc.bias", 1, {4}, 0}};
  const char *ignore[] = {"buf", NULL};
  (void)attncc_match_params(&f, params, 2, ignore, err, sizeof err);
  attncc_st_close(&f);
  return 0;
}
