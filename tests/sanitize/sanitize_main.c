/* sanitize_main.c: runs a generated model once, built with -fsanitize=address,undefined
 * (tests/sanitize/run.sh): any out-of-bounds access, misaligned load, overflow or leak in
 * the generated code is a sanitizer report and a failure. */
#include "model_data.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  ModelData d;
  data_init(&d);
  void **out = outputs_new(&d);
  void *ws = workspace_new();
  int rc = run_model(&d, out, ws);
  outputs_free(&d, out);
  free(ws);
  data_free(&d);
  return rc == 0 ? 0 : 1;
}
