/* sanitize_main.c: runs a generated model once, built with -fsanitize=address,undefined
 * (tests/sanitize/run.sh): any out-of-bounds access, misaligned load, overflow or leak in
 * the generated code is a sanitizer report and a failure. With run-time weights it then
 * runs the prepared variant (PREFIX_prepare into a buffer of exactly PREFIX_PREPARED_SIZE
 * bytes, PREFIX_run_prepared; each in a workspace of exactly its own size), whose outputs
 * must be bit-identical to the first run's. */
#include "model_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  ModelData d;
  data_init(&d);
  void **out = outputs_new(&d), **again = outputs_new(&d);
  void *ws = workspace_new();
  int rc = run_model(&d, out, ws);
  void *prepared = prepared_new();
  if (rc == 0 && prepared) {
    rc = run_prepared_model(&d, again, prepared);
    for (int k = 0; rc == 0 && k < d.nout; k++)
      if (memcmp(out[k], again[k], output_bytes(k)) != 0) {
        fprintf(stderr, "sanitize: output %d of the prepared variant differs from run's\n", k);
        rc = 1;
      }
  }
  free(prepared);
  outputs_free(&d, out);
  outputs_free(&d, again);
  free(ws);
  data_free(&d);
  return rc == 0 ? 0 : 1;
}
