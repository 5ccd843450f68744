#!/usr/bin/env bash
# demo.sh (make demo): the main job end to end on seed 001's TransformerBlock.
#  1. PyTorch builds the block and saves its weights + a reference run (.safetensors)
#  2. attncc compiles examples/transformer_block.lua to standalone C
#  3. clang builds it with a 60-line application (examples/demo/main.c) and runs it
#  4. attncc check compares the compiled block with PyTorch's outputs
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
CC=${CC:-clang}
SEQ=64 EMBED=64 HEADS=4
D="-D B=1 -D QLEN=$SEQ -D KLEN=$SEQ -D EMBED=$EMBED -D HEADS=$HEADS -D MASK=1"
mkdir -p build/demo
set -x
$PY examples/demo/export.py build/demo $SEQ $EMBED $HEADS
./attncc examples/transformer_block.lua $D -o build/demo/block.c
# --target native (the default) uses this CPU's vector units: build with -march=native
$CC -std=c11 -O2 -march=native -Wall -Wextra -Werror -Ibuild/demo -Iruntime -o build/demo/demo \
  examples/demo/main.c build/demo/block.c runtime/attncc_params.c runtime/attncc_safetensors.c \
  $(pkg-config --cflags --libs libcjson) -lm
build/demo/demo build/demo/weights.safetensors
./attncc check examples/transformer_block.lua $D --weights build/demo/weights.safetensors \
  --ref build/demo/ref.safetensors
