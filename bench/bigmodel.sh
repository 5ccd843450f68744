#!/bin/bash
# bench/bigmodel.sh (`make bigmodel`): the 12-layer, d=768, 12-head encoder of
# examples/encoder.lua (85M parameters) in both weight modes. Prints, as tables:
#   - the time attncc takes and the files it writes (embedded weights go to a blob:
#     enc.weights.bin + enc.weights.S; run-time weights: no data at all);
#   - `$CC -O2` build times of the output (the C file, the .S stub, the link), wall clock;
#   - text size (`size`) of the C file's object for 1, 2 and 12 layers: it grows with the
#     number of distinct kernels, not with the layers;
#   - for comparison, one layer with --no-weights-blob (7M weights as C initializers);
#   - `attncc --report` workspace bytes at sequence 128, 1024 and 8192;
#   - `attncc check` of the 12-layer build against PyTorch (sequence 128).
# Needs about 3 GB of memory and 2 GB of disk in $TMPDIR. Environment: ATTNCC, PYTHON, CC.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ATTNCC=${ATTNCC:-$ROOT/attncc}
case "$ATTNCC" in /*) ;; *) ATTNCC=$PWD/$ATTNCC ;; esac
PY=${PYTHON:-/usr/bin/python3}
CC=${CC:-clang}
ARCH=${ARCH:--march=native}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
MODEL=$ROOT/examples/encoder.lua

secs() { local s=$(date +%s.%N); "$@" > /dev/null; awk -v s=$s -v e=$(date +%s.%N) "BEGIN { printf \"%.2f\", e - s }"; }
bytes() { stat -c %s "$1"; }
text() { size "$1" | awk 'NR == 2 {print $1}'; }

for L in 1 2 12; do
  "$PY" "$ROOT/tests/big/encoder_ref.py" "w$L" --layers $L $([ $L = 12 ] || echo --no-ref) > /dev/null
done
echo "== attncc, 12 layers, sequence 128 ($(du -m w12/weights.safetensors | cut -f1) MB of weights)"
printf "| mode | attncc s | enc.c bytes | enc.weights.bin bytes | $CC -O2 -c enc.c s | enc.weights.S s | link s | enc.o text | enc.weights.o size |\n|---|---|---|---|---|---|---|---|---|\n"
echo 'int main(void) { return 0; }' > main.c
for mode in embedded runtime; do
  mkdir -p $mode
  W=$([ $mode = embedded ] && echo "--weights w12/weights.safetensors" || true)
  a=$(secs "$ATTNCC" "$MODEL" $W -o $mode/enc.c)
  c=$(secs $CC -std=c11 -O2 $ARCH -c $mode/enc.c -o $mode/enc.o)
  if [ -e $mode/enc.weights.S ]; then
    s=$(secs $CC -c -I$mode $mode/enc.weights.S -o $mode/w.o)
    l=$(secs $CC $mode/enc.o $mode/w.o main.c -lm -o $mode/app)
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" $mode $a $(bytes $mode/enc.c) \
      $(bytes $mode/enc.weights.bin) $c $s $l $(text $mode/enc.o) $(text $mode/w.o)
  else
    l=$(secs $CC $mode/enc.o main.c -lm -o $mode/app)
    printf "| %s | %s | %s | - | %s | - | %s | %s | - |\n" $mode $a $(bytes $mode/enc.c) $c $l $(text $mode/enc.o)
  fi
done

echo
echo "== code size by depth: text of the C file's object (embedded: the blob is a separate object)"
printf "| layers | distinct kernels | calls in the run function | run-time weights: enc.c bytes | .o text | embedded: enc.c bytes | .o text |\n|---|---|---|---|---|---|---|\n"
for L in 1 2 12; do
  "$ATTNCC" "$MODEL" -D LAYERS=$L -o d$L.c
  "$ATTNCC" "$MODEL" -D LAYERS=$L --weights w$L/weights.safetensors -o e$L.c 2> /dev/null
  $CC -std=c11 -O2 $ARCH -c d$L.c -o d$L.o
  $CC -std=c11 -O2 $ARCH -c e$L.c -o e$L.o
  printf "| %s | %s | %s | %s | %s | %s | %s |\n" $L "$(grep -c '^static d'$L'_NOINLINE' d$L.c || true)" \
    "$(grep -c "^  d${L}_k[0-9]*(" d$L.c || true)" $(bytes d$L.c) $(text d$L.o) $(bytes e$L.c) $(text e$L.o)
  rm -f e$L.weights.bin
done

echo
echo "== for comparison: 1 layer, weights as C initializers (--no-weights-blob)"
a=$(secs "$ATTNCC" "$MODEL" -D LAYERS=1 --weights w1/weights.safetensors --no-weights-blob -o c1.c)
c=$(secs $CC -std=c11 -O2 $ARCH -c c1.c -o c1.o)
echo "attncc ${a} s, c1.c $(bytes c1.c) bytes, $CC -O2 -c ${c} s"
rm -f c1.c c1.o

echo
echo "== attncc --report, 12 layers (embedded weights)"
printf "| sequence | workspace bytes | largest live set | naive sum |\n|---|---|---|---|\n"
for S in 128 1024 8192; do
  "$ATTNCC" "$MODEL" -D SEQ=$S --weights w12/weights.safetensors -o r.c --report 2>/dev/null |
    awk -v s=$S '/workspace  /{w=$3} /largest live set  /{m=$5} /naive sum/{n=$4} END {printf "| %s | %s | %s | %s |\n", s, w, m, n}'
done
rm -f r.*

echo
echo "== attncc check, 12 layers, sequence 128, against PyTorch"
"$ATTNCC" check "$MODEL" --weights w12/weights.safetensors --ref w12/ref.safetensors
