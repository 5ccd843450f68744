#!/usr/bin/env bash
# run.sh: the generated code of every example and op-level model (tests/e2e/ops), at its
# default shape (the 12-layer BERT-base encoder at 2 layers of 32 tokens: still d=768 with
# every GEMM block path), for --target generic
# and for this machine (native), built with -fsanitize=address,undefined and run once
# (sanitize_main.c): no sanitizer report, status 0. Then the thread determinism test
# (determinism_main.c) on a few examples, single-threaded code and OpenMP code.
# attncc check --keep writes the model, its check driver and the runtime into a directory;
# --cc false stops check before it builds anything, the build here is our own.
source "$(dirname "$0")/../lib.sh"
CC=${CC:-clang}
# -O0: clang 14 takes minutes to optimize the kernels with ASan instrumentation
SAN="-O0 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# generate NAME MODEL TARGET [attncc flags...]: the model and its check driver in $TMP/NAME
generate() {
  local dir=$TMP/$1 model=$2 target=$3
  shift 3
  "$ATTNCC" check "$model" --ref none.safetensors --runtime-weights --weights none.safetensors \
    --target "$target" --keep "$dir" --cc false "$@" > /dev/null 2>&1
  [ -f "$dir/model.c" ] && [ -f "$dir/driver.c" ]
}

# the -D flags of an example here: its default shape, but for the BERT-base encoder, whose
# 12 layers of 128 tokens take minutes under -O0 and ASan and repeat one layer's code
shape_of() {
  case $1 in
    encoder) echo "-D LAYERS=2 -D SEQ=32" ;;
    *) echo "" ;;
  esac
}

# build NAME TARGET DRIVER.c FLAGS...: $TMP/NAME/exe
build() {
  local dir=$TMP/$1 target=$2 main=$3
  shift 3
  local arch=""
  [ "$target" = native ] && arch="-march=native"
  $CC -std=c11 -g -Wall -Wextra -Werror $arch "$@" -I"$dir" -I"$ROOT/tests/sanitize" \
    "$dir/model.c" "$dir/driver.c" "$ROOT/tests/sanitize/model_data.c" "$ROOT/tests/sanitize/$main" \
    -lm -o "$dir/exe" 2> "$dir/build.log"
}

for ex in "$ROOT"/examples/*.lua "$ROOT"/tests/e2e/ops/*.lua; do
  name=$(basename "$ex" .lua)
  for target in generic native; do
    case=$name-$target
    # shellcheck disable=SC2046
    if ! generate "$case" "$ex" $target $(shape_of "$name"); then bad "$case: attncc did not write the code"; continue; fi
    if ! build "$case" $target sanitize_main.c $SAN; then
      bad "$case: build failed"; head -20 "$TMP/$case/build.log"; continue
    fi
    if "$TMP/$case/exe" > "$TMP/$case/run.log" 2>&1; then pass=$((pass + 1))
    else bad "$case: the sanitized run failed"; head -40 "$TMP/$case/run.log"; fi
  done
done

# determinism: every example (native), single-threaded code run by two threads at once
# under ThreadSanitizer (shared mutable state in the generated code is a race report),
# and the OpenMP code (--threads 2) of four examples, optimized and unsanitized (the
# attention-weights model at a shape whose attention splits its batch items, each thread
# packing into its own scratch; the single-head layer at batch 1, whose attention splits
# its blocks of queries; the LSTM at batch 8, whose recurrences are row groups, each
# thread its batch rows through every step with no barrier)
determinism() { # CASE TARGET FLAGS...
  if ! build "$1" "$2" determinism_main.c -pthread "${@:3}"; then
    bad "$1: determinism build failed"; head -20 "$TMP/$1/build.log"; return
  fi
  if "$TMP/$1/exe" > "$TMP/$1/run.log" 2>&1; then pass=$((pass + 1))
  else bad "$1: not deterministic"; head -40 "$TMP/$1/run.log"; fi
}
for ex in "$ROOT"/examples/*.lua; do
  name=$(basename "$ex" .lua)
  determinism "$name-native" native -O0 -fsanitize=thread
done
omp_shape() { # the -D flags of an example's --threads 2 run
  case $1 in
    mha_mask_weights) echo "-D B=2 -D LQ=64 -D LK=80 -D D_MODEL=128 -D HEADS=4 -D MASK=1" ;;
    fc_self_attention) echo "-D B=1 -D SEQ=200 -D DIM=64" ;;
    lstm_attention) echo "-D B=8 -D SEQ=20" ;;
  esac
}
for name in transformer_block lstm_attention mha_mask_weights fc_self_attention; do
  # shellcheck disable=SC2046  # omp_shape's words are separate arguments
  generate "$name-omp" "$ROOT/examples/$name.lua" native --threads 2 $(omp_shape "$name") ||
    bad "$name --threads 2: no code"
  determinism "$name-omp" native -O2 -fopenmp
done

echo "sanitized and threaded runs of generated code: $pass passed, $fail failed"
[ $fail -eq 0 ]
