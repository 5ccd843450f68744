/* main.c: runs the model compiled from model.lua and prints its output. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  float x[MODEL_X_NUMEL], y[MODEL_Y_NUMEL];
  for (int i = 0; i < MODEL_X_NUMEL; i++)
    x[i] = (float)i / 4 - 1;
  void *ws = aligned_alloc(MODEL_WORKSPACE_ALIGN,
                          (MODEL_WORKSPACE_SIZE / MODEL_WORKSPACE_ALIGN + 1) * MODEL_WORKSPACE_ALIGN);
  int rc = model_run(x, y, ws);
  for (int i = 0; i < MODEL_Y_NUMEL; i++)
    printf("%g%c", y[i], i + 1 < MODEL_Y_NUMEL ? ' ' : '\n');
  free(ws);
  return rc;
}
