#!/usr/bin/env bash
# run.sh: tests of `attncc debug` (docs/CLI.md#attncc-debug). On examples with random
# weights and inputs (random_reference.py): a correct build reports no divergence; a
# fault planted in one op of the generated code (ATTNCC_FAULT, read only by debug
# builds) is reported as the first divergence with that op's model.lua line and module
# path, which must match the line --dump-graph gives for it; and an attncc built from
# a copy of the sources whose softmax template is wrong is caught at the softmax.
source "$(dirname "$0")/../lib.sh"

# make_ref NAME MODEL [-D ...]: random weights and inputs in $TMP/NAME.{w,r}.safetensors
make_ref() {
  local name=$1 model=$2
  shift 2
  "$ATTNCC" "$model" "$@" --dump-graph -o "$TMP/$name.c" > "$TMP/$name.graph" &&
    "$PY" "$ROOT/tests/debug/random_reference.py" "$TMP/$name.w.safetensors" "$TMP/$name.r.safetensors" \
      < "$TMP/$name.graph" || bad "$name: could not make the reference files"
}

# run_debug NAME EXPECTED_STATUS [attncc args]: output in $TMP/out
run_debug() {
  local name=$1 want=$2
  shift 2
  (cd "$ROOT/examples" && "$ATTNCC" debug "$@" > "$TMP/out" 2>&1)
  local rc=$?
  [ $rc -eq "$want" ] || { bad "$name: exit status $rc, expected $want"; sed 's/^/    /' "$TMP/out"; return 1; }
}

expect_line() { # NAME TEXT: the output has a line starting with TEXT
  if grep -qF -- "$2" "$TMP/out" && grep -F -- "$2" "$TMP/out" | head -1 | grep -q "^$(printf '%s' "$2" | sed 's/[][\.*^$]/\\&/g')"; then
    ok
  else
    bad "$1: no line starting with: $2"; sed 's/^/    /' "$TMP/out"
  fi
}

# where the dump says a node of this op is: "file:line" (and module path) of its first line
dump_loc() { # GRAPH OP -> "fc_self_attention.lua:29 self_attention_layers.0"
  grep -E "^%[0-9]+ = $2 " "$1" | head -1 | sed -E 's/.*; (.*)$/\1/; s|^.*/||'
}

# ---- two layers of fused attention, epilogues and elementwise fusion ----
M=fc_self_attention.lua
make_ref fc "$ROOT/examples/$M" -D LAYERS=2
W=(--weights "$TMP/fc.w.safetensors" --ref "$TMP/fc.r.safetensors")
run_debug correct 0 $M -D LAYERS=2 "${W[@]}" && {
  expect_line correct "debug: no divergence"
  expect_line correct "debug: PASS"
}
# the fused attention kernel of layer 0 is wrong: the value it computes is the P V matmul
loc=$(dump_loc "$TMP/fc.graph" attention) # "fc_self_attention.lua:29 self_attention_layers.0"
ATTNCC_FAULT=attention run_debug fault_attention 1 $M -D LAYERS=2 "${W[@]}" && {
  expect_line fault_attention "${loc%% *}: first divergence: matmul (${loc#* }) [2,16,64] max |err|"
  expect_line fault_attention "${loc%% *}:   tensor self_attention_layers.0/matmul1, computed by the kernel attention (it computes "
  grep -q "self_attention_layers.0/softmax0@" "$TMP/out" && ok || bad "fault_attention: the fused ops are not listed"
  expect_line fault_attention "debug: FAIL"
}
# a fault in the second layer, named by its stable name: the first layer is checked clean
ATTNCC_FAULT=feed_forward_layers.1/relu0 run_debug fault_by_name 1 $M -D LAYERS=2 "${W[@]}" && {
  expect_line fault_by_name "fc_self_attention.lua:45: first divergence: relu (feed_forward_layers.1) [2,16,256]"
  n=$(grep -c '^debug: .* [0-9.e+-]* *fc_self_attention.lua' "$TMP/out")
  [ "$n" -ge 10 ] && ok || bad "fault_by_name: expected the table of the tensors before it, got $n rows"
}
# with run-time weights and two threads: same verdict
ATTNCC_FAULT=attention run_debug fault_runtime_weights 1 $M -D LAYERS=2 "${W[@]}" --runtime-weights --threads 2 &&
  expect_line fault_runtime_weights "${loc%% *}: first divergence: matmul (${loc#* })"

# ---- attention weights as an output: the fused attention writes them too, into a tensor
# of their own (an attn_probs node) named after the softmax, checked after the kernel ----
M=mha_mask_weights.lua
make_ref mha "$ROOT/examples/$M"
W=(--weights "$TMP/mha.w.safetensors" --ref "$TMP/mha.r.safetensors")
loc=$(dump_loc "$TMP/mha.graph" attn_probs)
ATTNCC_FAULT=softmax run_debug fault_softmax 1 $M "${W[@]}" &&
  expect_line fault_softmax "${loc%% *}: first divergence: softmax [2,4,16,16] max |err|"

# ---- a wrong kernel template: attncc built from a copy whose softmax divides wrongly,
# on the op-level softmax model (the plain softmax kernel; the attention weights are the
# fused kernel's) ----
SM=../tests/e2e/ops/softmax.lua
make_ref sm_template "$ROOT/examples/$SM"
sm_loc=$(dump_loc "$TMP/sm_template.graph" softmax)
mkdir -p "$TMP/src"
cp -r "$ROOT/compiler" "$ROOT/dsl" "$ROOT/runtime" "$ROOT/templates" "$ROOT/tools" "$ROOT/Makefile" "$TMP/src/"
sed -i 's|float inv = 1.0f / PREFIX_row_exp_sum(x, n, m, c);|float inv = 1.0f / (PREFIX_row_exp_sum(x, n, m, c) + 0.01f); /* planted */|' \
  "$TMP/src/templates/kernels.c"
grep -q planted "$TMP/src/templates/kernels.c" || bad "wrong_template: the softmax line to break was not found"
if CFLAGS=-O1 make -s -C "$TMP/src" attncc > "$TMP/make.log" 2>&1; then
  (cd "$ROOT/examples" && "$TMP/src/attncc" debug $SM --weights "$TMP/sm_template.w.safetensors" \
     --ref "$TMP/sm_template.r.safetensors" > "$TMP/out" 2>&1)
  [ $? -eq 1 ] && ok || bad "wrong_template: expected exit status 1"
  expect_line wrong_template "../tests/e2e/ops/${sm_loc%% *}: first divergence: softmax [3,5,7]"
else
  bad "wrong_template: the copy did not build"; cat "$TMP/make.log"
fi

# ---- the --debug build mode on its own: a hook sees every tensor of the table ----
"$ATTNCC" --debug "$ROOT/examples/$M" --target generic --weights "$TMP/mha.w.safetensors" -o "$TMP/mha.c" &&
  cat > "$TMP/hook.c" <<'CEOF'
#include "mha.h"
#include <stdio.h>
#include <stdlib.h>
static int seen;
static void hook(int index, const void *data, void *user) {
  const attncc_debug_tensor *t = &mha_debug_tensors[index];
  (void)data, (void)user;
  if (index != seen++ || !t->name || t->line <= 0 || t->numel <= 0)
    abort();
}
int main(void) {
  static float q[MHA_Q_NUMEL], k[MHA_K_NUMEL], v[MHA_V_NUMEL], o[MHA_OUTPUT_NUMEL], a[MHA_ATTENTION_NUMEL];
  static int32_t mask[MHA_MASK_NUMEL];
  static _Alignas(64) unsigned char ws[MHA_WORKSPACE_SIZE + 64];
  for (int i = 0; i < MHA_MASK_NUMEL; i++) mask[i] = 1;
  mha_set_debug_hook(hook, NULL);
  mha_run(q, k, v, mask, o, a, ws);
  printf("%d %d\n", seen, MHA_DEBUG_NUM_TENSORS);
  return seen == MHA_DEBUG_NUM_TENSORS && mha_debug_tensors[seen].name == NULL ? 0 : 1;
}
CEOF
for cc in gcc clang; do
  if $cc -std=c11 -O1 -Wall -Wextra -Werror -I"$TMP" -o "$TMP/hook" "$TMP/hook.c" "$TMP/mha.c" -lm &&
     "$TMP/hook" > "$TMP/hook.out"; then ok; else bad "debug build with $cc: hook test failed"; fi
done
# without --debug the generated code has no hook
"$ATTNCC" "$ROOT/examples/$M" --weights "$TMP/mha.w.safetensors" -o "$TMP/plain.c"
grep -q debug_hook "$TMP/plain.c" "$TMP/plain.h" && bad "plain build mentions the debug hook" || ok

# ---- the reference build has each kernel section the compiled build uses (a section the
# reference file lacks comes from kernels.c, which must then build beside it): the LSTM
# example (skinny products, a strided sum, a plain softmax) and the op-level models agree ----
for m in lstm_attention.lua ../tests/e2e/ops/reductions.lua ../tests/e2e/ops/skinny.lua \
         ../tests/e2e/ops/softmax.lua ../tests/e2e/ops/attn_weights.lua \
         ../tests/e2e/ops/attn_weights_pv.lua; do
  n=$(basename "$m" .lua)
  make_ref "$n" "$ROOT/examples/$m"
  run_debug "$n" 0 "$m" --weights "$TMP/$n.w.safetensors" --ref "$TMP/$n.r.safetensors" &&
    expect_line "$n" "debug: PASS"
done

echo "debug tests: $pass passed, $fail failed"
[ $fail -eq 0 ]
