#!/usr/bin/env bash
# run.sh: command-line tests of attncc that succeed: --help/--version, embedded weights,
# deterministic output, clean builds of every example's generated code with gcc and clang,
# fusion, depfiles, the memory plan, and an installed attncc used from elsewhere.
# (Every failing input is in the bad-input corpus, tests/bad/run.sh.)
source "$(dirname "$0")/../lib.sh"

# a good model and weights file (the bad-input corpus, tests/bad/, has the failing ones)
"$PY" "$ROOT/tests/bad/weights/gen_weights.py" "$TMP" || bad "gen_weights.py"
cp "$ROOT/tests/bad/weights/lin.lua" "$TMP/lin.lua"

# ---- success paths ----
"$ATTNCC" --help | grep -q "usage: attncc" && ok || bad "--help"
"$ATTNCC" --version | grep -q "^attncc [0-9]" && ok || bad "--version"
"$ATTNCC" "$TMP/lin.lua" --weights "$TMP/good.safetensors" -o "$TMP/a.c" && ok || bad "compile lin.lua"
grep -q "0x1p-1f" "$TMP/a.c" && ok || bad "embedded weights are not exact hex floats"
grep -q "command: attncc .*lin.lua --weights" "$TMP/a.c" && ok || bad "head comment lacks the command"
mkdir -p "$TMP/d1" "$TMP/d2"
for d in d1 d2; do (cd "$TMP/$d" && "$ATTNCC" "$ROOT/examples/lstm_attention.lua" -o out.c); done
if cmp -s "$TMP/d1/out.c" "$TMP/d2/out.c" && cmp -s "$TMP/d1/out.h" "$TMP/d2/out.h"; then ok
else bad "output is not deterministic"; fi

# every example: the generated code builds warning-free with both compilers, as
# portable C (--target generic, no flags) and for this machine (-march=native), at -O2
# (where gcc runs the loop analyses that warn)
for ex in "$ROOT"/examples/*.lua; do
  name=$(basename "$ex" .lua)
  for target in generic native; do
    if ! "$ATTNCC" "$ex" --target $target -o "$TMP/$name.c" 2> "$TMP/err"; then
      bad "$name: $(cat "$TMP/err")"; continue
    fi
    flags=""
    [ $target = native ] && flags="-march=native"
    for cc in clang gcc; do
      if $cc -std=c11 -Wall -Wextra -Werror -O2 $flags -c "$TMP/$name.c" -o "$TMP/$name.o" 2> "$TMP/err"; then ok
      else bad "$name: generated code ($target) does not build with $cc"; head -20 "$TMP/err"; fi
    done
  done
done
# --target neon (AArch64 intrinsics): warning-free with the cross gcc and clang for aarch64,
# when the cross compiler is installed (.ci/run installs it); elsewhere it stops with #error
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  for ex in "$ROOT"/examples/*.lua; do
    name=$(basename "$ex" .lua)
    "$ATTNCC" "$ex" --target neon -o "$TMP/$name.c" 2> "$TMP/err" || { bad "$name: $(cat "$TMP/err")"; continue; }
    for cc in aarch64-linux-gnu-gcc "clang --target=aarch64-linux-gnu"; do
      if $cc -std=c11 -Wall -Wextra -Werror -O2 -c "$TMP/$name.c" -o "$TMP/$name.o" 2> "$TMP/err"; then ok
      else bad "$name: generated code (neon) does not build with $cc"; head -20 "$TMP/err"; fi
    done
  done
  if clang -std=c11 -c "$TMP/transformer_block.c" -o "$TMP/x86.o" 2> "$TMP/err"; then
    bad "neon code built for x86-64"
  elif grep -q "attncc --target neon: this code needs a compiler for AArch64" "$TMP/err"; then ok
  else bad "neon code on x86-64: no clear #error"; head -5 "$TMP/err"; fi
else
  echo "test-cli: neon builds skipped (aarch64-linux-gnu-gcc not found)"
fi
# --target generic is plain C11: it builds with -pedantic too
"$ATTNCC" "$ROOT/examples/transformer_block.lua" --target generic -o "$TMP/ped.c" &&
  clang -std=c11 -pedantic -Wall -Wextra -Werror -c "$TMP/ped.c" -o "$TMP/ped.o" && ok || bad "generic output is not pedantic C11"

# attention is fused (one streaming kernel) in every example; where the weights are an
# output, that kernel writes them too (an attention node with "weights=%N", the node N an
# attn_probs the outputs read): no softmax and no P V matmul is left
graph_of() { "$ATTNCC" "$ROOT/examples/$1.lua" "${@:2}" -o "$TMP/f.c" --dump-graph; }
fused() { graph_of "$@" | grep ' = attention ' | grep -vc ' weights'; }
for ex in fc_self_attention selfattention_einsum transformer_block timesformer_attention d2l_multihead; do
  [ "$(fused $ex)" -ge 1 ] && ok || bad "$ex: attention was not fused"
done
[ "$(fused timesformer_attention -D WITH_QKV=0)" -ge 1 ] && ok || bad "timesformer without qkv: not fused"
[ "$(fused d2l_multihead -D VALID_LENS_DIMS=2)" -ge 1 ] && ok || bad "d2l per-query valid_lens: not fused"
[ "$(fused torch_mha -D NEED_WEIGHTS=0 -D ATTN_MASK=1)" -ge 1 ] && ok || bad "torch_mha without weights: not fused"
for ex in torch_mha mha_mask_weights; do
  graph_of $ex > "$TMP/w.txt" &&
    [ "$(grep -c ' = attention .* weights=%[0-9]* ' "$TMP/w.txt")" -eq 1 ] &&
    grep -q ' = attn_probs ' "$TMP/w.txt" && ! grep -q ' = softmax \| = matmul .*float32\[[0-9]*,[0-9]*,[0-9]*,[0-9]*\]' "$TMP/w.txt" &&
    ok || bad "$ex: its attention and weights are not computed by one kernel"
done
# the staged queries carry the scale times log2(e) (the softmax then works in base 2) when
# the score chain allows it: none, or a constant mask filled with a literal (scaled too:
# transformer_block divides by sqrt(64), the causal fill is -1e20); a bias tensor added to
# the scores (timesformer's relative position bias) keeps them in base e, the staged
# queries carrying only the scale before the bias (* 16^-0.5, no pass over the scores)
"$ATTNCC" "$ROOT/examples/transformer_block.lua" -D MASK=3 -o "$TMP/p.c" &&
  grep -q 'qs\[i \* 272 + c\] = q\[i \* 64 + c\] \* 0x1.715476p-3f;' "$TMP/p.c" &&
  grep -q 'sv = s[0-9]*\[o[0-9]* + jj\] ? -0x1.f4891p+63f : sv;' "$TMP/p.c" &&
  ok || bad "transformer_block, causal: queries not scaled in base 2, or the fill not scaled"
"$ATTNCC" "$ROOT/examples/timesformer_attention.lua" -o "$TMP/p.c" &&
  grep -q 'qs\[i \* 272 + c\] = q\[i \* 192 + c\] \* 0x1p-2f;' "$TMP/p.c" && ! grep -q 'sv = sv \*' "$TMP/p.c" &&
  ok || bad "timesformer_attention: queries not scaled by the scale alone, or the scores scaled"
# ViT's qkv split (reshape, permute(2, 0, 3, 1, 4), select): the attention reads Q, K and
# V from the qkv product's rows (3 x 64 floats apart above), the permute is not copied
"$ATTNCC" "$ROOT/examples/timesformer_attention.lua" -o "$TMP/p.c" --dump-graph > "$TMP/p.txt" &&
  grep -q ' = attention .* strided: q,k,v,out : ' "$TMP/p.txt" &&
  ! grep -q ' = permute .*float32\[3,' "$TMP/p.txt" && ok || bad "timesformer_attention: the qkv split is copied"
# multi-head attention reads Q, K, V from the projections through the head split's
# permutes and writes its result in the merged [B, L, H, d] layout: no permute copy is
# left before or after it (torch_mha's query scaling goes with the staged queries); a
# weight's transpose that model_prepare computes (a folded projection's) is no such copy
heads() {
  "$ATTNCC" "$ROOT/examples/$1.lua" "${@:3}" -o "$TMP/h.c" --dump-graph > "$TMP/h.txt" &&
    grep -q " = attention .* strided: $2 : " "$TMP/h.txt" &&
    ! grep ' = permute ' "$TMP/h.txt" | grep -vq ' prepared\['
}
heads transformer_block q,k,v,out && ok || bad "transformer_block: permute copies around the attention"
heads transformer_block q,k,v,out -D MASK=0 -D HEADS=8 && ok || bad "transformer_block (8 heads): permute copies"
heads d2l_multihead q,k,v,out && ok || bad "d2l_multihead: permute copies around the attention"
heads torch_mha q,k,v,out -D NEED_WEIGHTS=0 -D HEADS=2 && ok || bad "torch_mha: permute copies around the attention"
heads encoder q,k,v,out && ok || bad "encoder: permute copies around the attention"
# a constant causal mask (built by tril in the model): the kernel skips the key blocks
# it fully masks; 300 queries = 4 blocks of 96, 300 keys = 3 blocks of 128: 9 of 12 pairs
"$ATTNCC" "$ROOT/examples/transformer_block.lua" -D B=1 -D QLEN=300 -D KLEN=300 -D MASK=3 -o "$TMP/c.c" &&
  grep -q "9 of 12 (query, key) block pairs" "$TMP/c.c" && ok || bad "causal mask: key blocks not skipped"
# and within a visited block, a strip of queries stops after the last key it keeps: query q
# keeps keys 0..q (the table ends at key 300)
grep -q "static const int32_t ke\[300\] = {1, 2, 3, 4, 5," "$TMP/c.c" &&
  grep -q "296, 297, 298, 299, 300};" "$TMP/c.c" && ok || bad "causal mask: no key ends per query"
"$ATTNCC" "$ROOT/examples/transformer_block.lua" -D B=1 -D QLEN=300 -D KLEN=300 -D MASK=2 -o "$TMP/c.c" &&
  ! grep -q "block pairs" "$TMP/c.c" && ok || bad "a mask given as input must not skip blocks"
# an LSTM step's recurrent GEMM adds that step's slice of the input projection [B, L, 4H]
# in its epilogue, read in place (rows L * 4H apart) instead of copied out by a narrow;
# with --threads 2 the gate loops over the 40 rows are split as the GEMM's rows are: the
# recurrence is a row group, each thread its 20 batch rows through every step
"$ATTNCC" "$ROOT/examples/lstm_attention.lua" -D B=40 -D SEQ=5 -D EMBED=24 -D HIDDEN=128 \
  -D LAYERS=1 --threads 2 -o "$TMP/l.c" --dump-graph > "$TMP/l.txt" &&
  grep -q "residual=%[0-9]*\[+1024, rows 2560 apart\]" "$TMP/l.txt" &&
  [ "$(grep -c ' = narrow ' "$TMP/l.txt")" = 1 ] && ok || bad "lstm: input projection step not read in place"
grep -q "const int64_t r0 = t \* 20, r1 = r0 + 20 < 40 ? r0 + 20 : 40;" "$TMP/l.c" &&
  grep -q "for (int64_t i0 = r0; i0 < r1; i0++)" "$TMP/l.c" &&
  ok || bad "lstm: gate loops not split between the threads"
# --threads 2 splits an attention between threads only when it is worth a fork and join
# (2 MFLOP): fc_self_attention's 2 x 16 x 16 is not split, the same at 256 tokens is
"$ATTNCC" "$ROOT/examples/fc_self_attention.lua" --threads 2 -o "$TMP/f.c" &&
  ! grep -q "omp parallel" "$TMP/f.c" && ok || bad "a tiny attention is split between threads"
"$ATTNCC" "$ROOT/examples/fc_self_attention.lua" -D SEQ=256 --threads 2 -o "$TMP/f.c" &&
  grep -B3 "each thread: its work items" "$TMP/f.c" | grep -q "omp parallel for num_threads(2)" &&
  ok || bad "a 2 x 256 x 256 attention is not split between threads"
# at batch 1 the step's slice is one row: the GEMM's bias, read in place the same way
"$ATTNCC" "$ROOT/examples/lstm_attention.lua" -D B=1 -D SEQ=5 -D EMBED=24 -D HIDDEN=128 \
  -D LAYERS=1 -o "$TMP/l.c" --dump-graph > "$TMP/l.txt" &&
  grep -q "bias=%[0-9]*\[+1024\]" "$TMP/l.txt" &&
  [ "$(grep -c ' = narrow ' "$TMP/l.txt")" = 1 ] && ok || bad "lstm batch 1: input projection step not read in place"

# fold_scale: a power-of-two scale of a Linear's output moves into its embedded weights
# (the div/mul disappears); not without embedded weights, not for 3, and not when a
# scaled weight would lose bits (a weight just above the smallest normal float, / 8).
# qkv.lua: only the q columns of a fused qkv projection are scaled, k stays.
cat > "$TMP/scale.lua" <<'LUA'
local M = nn.Module("M")
function M:init() self.fc = nn.Linear(3, 4) end
function M:forward(x) return self.fc(x) / define("DIVISOR", 8) end
output("y", M()(input("x", {2, 3})))
LUA
cat > "$TMP/qkv.lua" <<'LUA'
local M = nn.Module("M")
function M:init() self.fc = nn.Linear(3, 4) end
function M:forward(x)
  local p = self.fc(x):chunk(2, -1)
  return p[1] * 0.5, p[2]
end
local q, k = M()(input("x", {2, 3}))
output("q", q)
output("k", k)
LUA
"$PY" - "$TMP" <<'PY'
import struct, sys
def save(path, vals):
    hdr = (b'{"fc.weight":{"dtype":"F32","shape":[4,3],"data_offsets":[0,48]},'
           b'"fc.bias":{"dtype":"F32","shape":[4],"data_offsets":[48,64]}}')
    hdr += b" " * (-len(hdr) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hdr)) + hdr + struct.pack("<16f", *vals))
save(sys.argv[1] + "/tiny.safetensors", [1.1754945e-38] * 12 + [0.5] * 4)
save(sys.argv[1] + "/ramp.safetensors", [0.25 * i for i in range(16)])
PY
scaled() { "$ATTNCC" "$TMP/$1.lua" -D DIVISOR="$2" "${@:3}" -o "$TMP/s.c" --dump-graph | grep -cE ' = (div|mul) |ops: .*(div|mul)'; }
[ "$(scaled scale 8 --weights "$TMP/good.safetensors")" -eq 0 ] && ok || bad "fold_scale: / 8 stayed"
[ "$(scaled scale 8)" -eq 1 ] && ok || bad "fold_scale: folded without embedded weights"
[ "$(scaled scale 8 --weights "$TMP/good.safetensors" --runtime-weights)" -eq 1 ] && ok ||
  bad "fold_scale: folded with run-time weights"
[ "$(scaled scale 3 --weights "$TMP/good.safetensors")" -eq 1 ] && ok || bad "fold_scale: / 3 folded"
[ "$(scaled scale 8 --weights "$TMP/tiny.safetensors")" -eq 1 ] && ok || bad "fold_scale: inexact fold"
[ "$(scaled qkv 1 --weights "$TMP/ramp.safetensors")" -eq 0 ] && ok || bad "fold_scale: q chunk * 0.5 stayed"
"$ATTNCC" "$TMP/qkv.lua" --weights "$TMP/ramp.safetensors" -o "$TMP/q.c" && ok || bad "qkv.lua"
sed 's/local p = self.fc(x):chunk(2, -1)/local y = self.fc(x); local p = y:chunk(2, -1)/; s/p\[1\] \* 0.5, p\[2\]/p[1] * 0.5, y:narrow(-1, 1, 2)/' \
  "$TMP/qkv.lua" > "$TMP/qkv2.lua"
[ "$(scaled qkv2 1 --weights "$TMP/ramp.safetensors")" -eq 1 ] && ok ||
  bad "fold_scale: folded although another narrow reads a q column"
# fold_projection: seed 001's key and value projections (16 x 16, no bias) fold into the
# queries' and fc_out's weights: two products of four remain in the run; with run-time
# weights the folded weights are two more products, computed by model_prepare
"$PY" - "$TMP/sa.safetensors" <<'PY'
import json, struct, sys
shapes = {"values.weight": [16, 16], "keys.weight": [16, 16], "queries.weight": [16, 16],
          "fc_out.weight": [64, 64], "fc_out.bias": [64]}
hdr, data = {}, b""
for i, (name, shape) in enumerate(shapes.items()):
    n = 1
    for d in shape:
        n *= d
    vals = [((j * 7 + i * 13) % 23 - 11) / 64 for j in range(n)]
    hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
    data += struct.pack("<%df" % n, *vals)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
products() { graph_of selfattention_einsum "$@" | grep ' = matmul ' | grep -c "${WHERE:-}"; }
[ "$(products --weights "$TMP/sa.safetensors")" -eq 2 ] && ok || bad "fold_projection: K and V products stayed"
[ "$(WHERE=' prepared\[temporary\]' products --weights "$TMP/sa.safetensors" --runtime-weights)" -eq 2 ] &&
  [ "$(products --weights "$TMP/sa.safetensors" --runtime-weights)" -eq 4 ] && [ "$(products)" -eq 4 ] &&
  ok || bad "fold_projection: run-time weights not folded by two prepared products"
[ "$(products --debug)" -eq 4 ] && [ "$(WHERE=prepared products --debug)" -eq 0 ] &&
  ok || bad "fold_projection: folded in a --debug build"
for w in "" --runtime-weights; do
  graph_of selfattention_einsum --weights "$TMP/sa.safetensors" $w | grep ' = attention ' |
    grep -q 'attention %[0-9]*, %10, %9, ' &&
    ok || bad "fold_projection${w:+ $w}: the attention does not read the keys' and values' reshaped inputs"
done
# the bias 3, 3.25 | 3.5, 3.75 becomes 1.5, 1.625 | 3.5, 3.75
grep -q "0x1.8p+0f,0x1.ap+0f,0x1.cp+1f,0x1.ep+1f," "$TMP/q.c" && ok ||
  bad "fold_scale: the q half of the bias was not halved, or the k half changed"
# --dump-graph=dot: a Graphviz digraph with the fused attention node; --dump-after: the
# graph after each named pass (text, or one digraph each)
"$ATTNCC" "$ROOT/examples/transformer_block.lua" -o "$TMP/g.c" --dump-graph=dot > "$TMP/g.dot" &&
  head -1 "$TMP/g.dot" | grep -q '^digraph "' && tail -1 "$TMP/g.dot" | grep -q '^}$' &&
  grep -q '^  n[0-9]* \[label="%[0-9]* attention\\n' "$TMP/g.dot" && grep -q -- '-> out0;' "$TMP/g.dot" &&
  ok || bad "--dump-graph=dot: $(head -3 "$TMP/g.dot")"
if command -v dot > /dev/null; then
  dot -Tsvg "$TMP/g.dot" -o "$TMP/g.svg" && grep -q "<svg" "$TMP/g.svg" && ok || bad "dot does not parse the digraph"
fi
"$ATTNCC" "$ROOT/examples/transformer_block.lua" -o "$TMP/g.c" --dump-graph=dot --dump-after=simplify,fuse_attention > "$TMP/g2.dot" &&
  [ "$(grep -c '^digraph' "$TMP/g2.dot")" -eq 2 ] && ! sed -n '/after simplify/,/^}/p' "$TMP/g2.dot" | grep -q '[0-9] attention' &&
  sed -n '/after fuse_attention/,/^}/p' "$TMP/g2.dot" | grep -q '[0-9] attention' &&
  ok || bad "--dump-after=simplify,fuse_attention (dot)"
"$ATTNCC" "$ROOT/examples/transformer_block.lua" -o "$TMP/g.c" --dump-after=all > "$TMP/all.txt" &&
  [ "$(grep -c '^# after ' "$TMP/all.txt")" -eq 14 ] && grep -q '^# after lua$' "$TMP/all.txt" &&
  grep -q '^# after row_groups$' "$TMP/all.txt" && ok || bad "--dump-after=all: $(grep '^#' "$TMP/all.txt")"
[ "$("$ATTNCC" "$ROOT/examples/transformer_block.lua" -o "$TMP/g.c" --dump-graph | md5sum)" = \
  "$(sed -n '/^# after row_groups$/,$p' "$TMP/all.txt" | tail -n +2 | md5sum)" ] && ok || bad "--dump-graph is not the graph after the last pass (row_groups)"
# (a bad --dump-after pass or --dump-graph format: tests/bad/cli_cases.txt)

# -MD: a make depfile naming the model, every file it required, and the weights file
"$ATTNCC" "$ROOT/examples/transformer_block.lua" -o "$TMP/dep.c" -MD && ok || bad "-MD"
grep -q "modules/seed001_attention.lua" "$TMP/dep.d" && grep -q "^$TMP/dep.c $TMP/dep.h:" "$TMP/dep.d" &&
  ok || bad "-MD depfile: $(cat "$TMP/dep.d")"
"$ATTNCC" "$TMP/lin.lua" --weights "$TMP/good.safetensors" -o "$TMP/dep2.c" -MF "$TMP/lin.deps" &&
  grep -q "good.safetensors" "$TMP/lin.deps" && ok || bad "-MF depfile lacks the weights file"

# memory plan: the workspace is at most 1.25x the largest live set, for every example,
# and attention needs no seq x seq buffer: 8x the sequence is at most 8x the workspace
for ex in "$ROOT"/examples/*.lua; do
  r=$("$ATTNCC" "$ex" -o "$TMP/r.c" --report | sed -n 's/.*largest live set = //p')
  awk -v r="$r" 'BEGIN { exit !(r > 0 && r <= 1.25) }' && ok || bad "$(basename "$ex"): workspace/live = $r"
done
# the block's second FFN product is written over its residual (norm1's result, dead after
# it); fc_out's residual is the caller's input, never written
graph_of transformer_block > "$TMP/ip.txt" &&
  [ "$(grep -c 'residual=%[0-9]* in_place' "$TMP/ip.txt")" = 1 ] &&
  grep 'feed_forward.2' "$TMP/ip.txt" | grep -q ' in_place ' &&
  grep 'attention.fc_out' "$TMP/ip.txt" | grep 'residual=' | grep -vq in_place && ok ||
  bad "residual in place: $(grep residual= "$TMP/ip.txt")"
# run-time weights: what depends on the parameters alone is prepared once (prepare.c):
# nn.MultiheadAttention's three in_proj slices are PREFIX_prepare's temporaries, their
# packs, the bias slices and out_proj's pack are kept; nothing that reads an input is;
# TimeSformer's bias gathered from its table is a temporary, its permuted copy kept
graph_of torch_mha > "$TMP/pr.txt" &&
  [ "$(grep -c 'prepared\[temporary\]' "$TMP/pr.txt")" = 3 ] &&
  [ "$(grep ' = pack ' "$TMP/pr.txt" | grep -c 'prepared\[+')" = 4 ] &&
  [ "$(grep -c 'prepared\[+' "$TMP/pr.txt")" = 7 ] &&
  ! grep -E ' = (matmul|where|attention|mean) ' "$TMP/pr.txt" | grep -q prepared && ok ||
  bad "torch_mha's prepared nodes: $(grep prepared "$TMP/pr.txt")"
graph_of timesformer_attention > "$TMP/pr.txt" &&
  grep ' = gather ' "$TMP/pr.txt" | grep -q 'prepared\[temporary\]' &&
  grep ' = permute ' "$TMP/pr.txt" | grep -q 'prepared\[+' && ok ||
  bad "TimeSformer's prepared bias: $(grep prepared "$TMP/pr.txt")"
# --threads 2: the LSTM at batch 64 runs each layer's recurrence as one row group (each
# thread its batch rows through every step: 3 kernels a step, one parallel region), so the
# file has a few parallel regions instead of one per step; at batch 2 (the default) the
# steps are too small to be worth a region, and one thread has none
lstm64="-D B=64 -D SEQ=128"
graph_of lstm_attention $lstm64 --threads 2 > "$TMP/rg.txt" &&
  [ "$(grep -o 'row_group=[0-9]*' "$TMP/rg.txt" | sort | uniq -c | awk '$1 >= 300' | wc -l)" = 2 ] &&
  [ "$(grep -c 'omp parallel' "$TMP/f.c")" -lt 20 ] && ok ||
  bad "LSTM row groups: $(grep -o 'row_group=[0-9]*' "$TMP/rg.txt" | sort | uniq -c), $(grep -c 'omp parallel' "$TMP/f.c") regions"
[ "$(graph_of lstm_attention --threads 2 | grep -c row_group)" = 0 ] &&
  [ "$(graph_of lstm_attention $lstm64 | grep -c row_group)" = 0 ] && ok || bad "row groups where not worth it"
# a debug build's hook reads every tensor from its workspace slot: nothing prepared
[ "$(graph_of torch_mha --debug | grep -c prepared)" = 0 ] && ok || bad "--debug has prepared nodes"
# the header declares the prepared variant, its size is the report's; not with embedded weights
"$ATTNCC" "$ROOT/examples/torch_mha.lua" -o "$TMP/pr.c" --report > "$TMP/pr.rep" &&
  size=$(awk '/#define PR_PREPARED_SIZE/{print $3}' "$TMP/pr.h") &&
  grep -q "int pr_prepare(const pr_params \*params, void \*prepared, void \*workspace);" "$TMP/pr.h" &&
  grep -q "int pr_run_prepared(.*const pr_params \*params, const void \*prepared, void \*workspace);" "$TMP/pr.h" &&
  [ -n "$size" ] && grep -q "prepared *$size bytes" "$TMP/pr.rep" && ok ||
  bad "the prepared variant's declarations: $(grep -i prepare "$TMP/pr.h" "$TMP/pr.rep")"
# its two workspaces: the prepared run's without the packs' slots, which are _prepare's;
# model_run's holds both (the report's figures are the header's)
define() { awk "/#define PR_$1 /{print \$3}" "$TMP/pr.h"; }
w=$(define WORKSPACE_SIZE) wp=$(define PREPARE_WORKSPACE_SIZE) wr=$(define RUN_PREPARED_WORKSPACE_SIZE)
[ -n "$w" ] && [ -n "$wp" ] && [ -n "$wr" ] && [ "$wp" -gt 0 ] && [ "$wr" -lt "$w" ] &&
  [ "$((wp + wr))" = "$w" ] && grep -q "run_prepared ws  *$wr bytes" "$TMP/pr.rep" &&
  grep -q "prepare ws  *$wp bytes" "$TMP/pr.rep" && ok ||
  bad "the prepared variant's workspaces: $w = $wp + $wr? $(grep ' ws ' "$TMP/pr.rep")"
"$ATTNCC" "$TMP/lin.lua" -o "$TMP/pe.c" --weights "$TMP/good.safetensors" --dump-graph > "$TMP/pe.txt" 2>&1 &&
  ! grep -q prepare "$TMP/pe.h" "$TMP/pe.c" "$TMP/pe.txt" && ok ||
  bad "embedded weights have a prepared variant: $(grep -n prepare "$TMP/pe.h" "$TMP/pe.txt" | head -3)"
ws() { "$ATTNCC" "$ROOT/examples/transformer_block.lua" -D B=1 -D QLEN=$1 -D KLEN=$1 -D EMBED=64 \
         -D HEADS=4 -D MASK=0 -o "$TMP/r.c" --report | awk '/workspace  /{print $3}'; }
w1=$(ws 1024) w8=$(ws 8192)
[ "$w8" -le $((8 * w1 + 65536)) ] && ok || bad "workspace grows faster than the sequence: $w1 -> $w8"

# check's compiler words: the leading ones are the programs, the flags among them come after
# check's own (-O3 over -O2); a compiler that logs its arguments and fails shows the order
printf '#!/bin/sh\necho "$@" >> "%s/cc.log"\nexit 1\n' "$TMP" > "$TMP/logcc" && chmod +x "$TMP/logcc"
"$ATTNCC" check "$TMP/lin.lua" --ref none.safetensors --runtime-weights --weights none.safetensors \
  --cc "env $TMP/logcc -O3 -DFROM_CC=1" --target generic --keep "$TMP/cc" > /dev/null 2>&1
if grep -q -- "^-std=c11 -O0 -Wall -Wextra -Werror -O3 -DFROM_CC=1 -I$TMP/cc -c " "$TMP/cc.log"; then ok
else bad "check --cc: the compiler's flags are not after check's own: $(head -1 "$TMP/cc.log" 2>/dev/null)"; fi

# check --profile: one timed line per kernel call, named by its model.lua line and module
# (lin.lua's fc: every weight and bias 0.5, so x = 1 gives y = 2)
"$PY" - "$TMP/lin_ref.safetensors" <<'PYEOF' || bad "writing lin_ref.safetensors"
import json, struct, sys
def f32(n, v): return struct.pack("<%df" % n, *([v] * n))
h = json.dumps({"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                "y": {"dtype": "F32", "shape": [2, 4], "data_offsets": [24, 56]}}).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + f32(6, 1.0) + f32(8, 2.0))
PYEOF
for th in 1 2; do
  "$ATTNCC" check "$TMP/lin.lua" --weights "$TMP/good.safetensors" --ref "$TMP/lin_ref.safetensors" \
    --threads $th --profile --repeat 5 > "$TMP/prof.out" 2>&1
  if grep -q "^check: PASS" "$TMP/prof.out" &&
     grep -q "^check: profile: 1 kernel calls, medians over 5 runs" "$TMP/prof.out" &&
     grep -Eq "^check: call +0 +[0-9.]+ ms +[0-9.]+ % +([0-9.]+ GFLOP/s)?  %[0-9]+ matmul float32\[2,4\] at .*lin.lua:[0-9]+ in fc$" "$TMP/prof.out"
  then ok; else bad "check --profile --threads $th: $(cat "$TMP/prof.out")"; fi
done
# without --profile the generated code has no timing in it
"$ATTNCC" "$TMP/lin.lua" -o "$TMP/noprof.c" && ! grep -q "_TIMED\|timespec_get" "$TMP/noprof.c" &&
  ok || bad "timing code in a build without --profile"

# installed binary, used from another directory with nothing beside it
make -s -C "$ROOT" install PREFIX="$TMP/inst" > /dev/null 2>&1 || bad "make install"
(cd / && "$TMP/inst/bin/attncc" "$TMP/lin.lua" -o "$TMP/inst.c") && ok || bad "installed attncc"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
