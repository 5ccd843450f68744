#!/bin/bash
# tests/big/run.sh: the big-model path at a size `make test` can afford. A 2-layer, d=768
# encoder (examples/encoder.lua, 14.2M parameters, 57 MB of weights) with random weights
# from tests/big/encoder_ref.py is compiled and compared with PyTorch by `attncc check`:
#   - embedded weights, which above 4 MiB go to a blob (model.weights.bin + .incbin stub)
#     by default, and with an explicit --weights-blob;
#   - run-time weights (runtime/attncc_params.c);
# and `attncc -o` writes the four files (the C file stays small) with a depfile naming
# them all, the .S assembles and the program links with gcc and clang.
# Exits 1 when anything fails. Environment: ATTNCC (default ./attncc), PYTHON.
OK_ECHO=1
source "$(dirname "$0")/../lib.sh"
ENC=(-D LAYERS=2 -D SEQ=16)

"$PY" "$ROOT/tests/big/encoder_ref.py" "$TMP" --layers 2 --seq 16 >/dev/null || { echo "FAIL: encoder_ref.py"; exit 1; }
W=$TMP/weights.safetensors R=$TMP/ref.safetensors
"$ATTNCC" check "$ROOT/examples/encoder.lua" "${ENC[@]}" --weights "$W" --ref "$R" --keep "$TMP/k" > "$TMP/out" 2>&1 &&
  grep -q "check: PASS" "$TMP/out" && [ -s "$TMP/k/model.weights.bin" ] &&
  ok "check, embedded weights: blob by default above 4 MiB" || { bad "check, embedded (blob)"; cat "$TMP/out"; }
"$ATTNCC" check "$ROOT/examples/encoder.lua" "${ENC[@]}" --weights "$W" --ref "$R" --runtime-weights > "$TMP/out" 2>&1 &&
  ok "check, run-time weights" || { bad "check, run-time weights"; cat "$TMP/out"; }

# attncc -o: four files, a small C file, a depfile naming all of them
mkdir -p "$TMP/gen"
(cd "$TMP" && "$ATTNCC" "$ROOT/examples/encoder.lua" "${ENC[@]}" --weights weights.safetensors -o gen/enc.c -MD 2> note)
[ -s "$TMP/gen/enc.weights.bin" ] && [ -s "$TMP/gen/enc.weights.S" ] && grep -q "note: .*enc.weights.bin" "$TMP/note" &&
  ok "auto blob: enc.weights.bin, enc.weights.S and a note" || { bad "auto blob files"; cat "$TMP/note"; }
[ "$(stat -c %s "$TMP/gen/enc.c")" -lt 200000 ] && ok "enc.c is small ($(stat -c %s "$TMP/gen/enc.c") bytes)" || bad "enc.c is large"
head -1 "$TMP/gen/enc.d" | grep -q "^gen/enc.c gen/enc.h gen/enc.weights.bin gen/enc.weights.S:" &&
  ok "depfile targets" || { bad "depfile targets"; head -3 "$TMP/gen/enc.d"; }
cat > "$TMP/main.c" <<'CEOF'
#include "enc.h"
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  float *x = calloc(ENC_X_NUMEL, sizeof *x), *y = calloc(ENC_Y_NUMEL, sizeof *y);
  void *ws = aligned_alloc(ENC_WORKSPACE_ALIGN, (ENC_WORKSPACE_SIZE + 63) / 64 * 64 + 64);
  for (int i = 0; i < ENC_X_NUMEL; i++)
    x[i] = (float)(i % 13) / 13.0f - 0.5f;
  int rc = enc_run(x, y, ws);
  printf("%d %.4f\n", rc, y[0]);
  return rc;
}
CEOF
for cc in gcc clang; do
  (cd "$TMP" && $cc -std=c11 -O1 -march=native -Igen -c gen/enc.c -o enc.o && $cc -c -Igen gen/enc.weights.S -o w.o &&
    $cc -O1 -Igen main.c enc.o w.o -lm -o app_$cc && ./app_$cc > run_$cc) && ok "build and run with $cc" || bad "build with $cc"
done
cmp -s "$TMP/run_gcc" "$TMP/run_clang" && ok "gcc and clang builds agree" || bad "gcc and clang builds differ"
# a blob that does not match the C file fails to build, never links silently
printf 'x' >> "$TMP/gen/enc.weights.bin"
(cd "$TMP" && cc -c -Igen gen/enc.weights.S -o w2.o 2> err); [ $? -ne 0 ] && grep -q "does not have the size" "$TMP/err" &&
  ok "a blob of the wrong size does not assemble" || bad "a wrong blob assembled"
# a small model: C arrays by default, the blob with --weights-blob, C arrays with --no-weights-blob
"$PY" "$ROOT/tests/big/encoder_ref.py" "$TMP/small" --layers 1 --embed 32 --heads 2 --no-ref >/dev/null
SMALL=("$ROOT/examples/encoder.lua" -D LAYERS=1 -D EMBED=32 -D HEADS=2 --weights small/weights.safetensors)
(cd "$TMP" && "$ATTNCC" "${SMALL[@]}" -o gen/c.c 2> note_c && "$ATTNCC" "${SMALL[@]}" --weights-blob -o gen/b.c &&
  "$ATTNCC" "${SMALL[@]}" --weights-blob --no-weights-blob -o gen/n.c)
[ ! -e "$TMP/gen/c.weights.bin" ] && [ ! -s "$TMP/note_c" ] && grep -q "^static _Alignas(64) const float c_c" "$TMP/gen/c.c" &&
  ok "small model: C arrays by default" || bad "small model wrote a blob or a note"
[ -s "$TMP/gen/b.weights.bin" ] && ! grep -q "^static _Alignas(64) const float" "$TMP/gen/b.c" &&
  ok "--weights-blob: no float arrays in the C file" || bad "--weights-blob"
[ ! -e "$TMP/gen/n.weights.bin" ] && grep -q "^static _Alignas(64) const float n_c" "$TMP/gen/n.c" &&
  ok "--no-weights-blob (the last of the two wins): C arrays" || bad "--no-weights-blob"

echo "big: $fail failed"
[ $fail -eq 0 ]
