#!/bin/bash
# tests/build/run.sh: attncc as a build step, with the Make and CMake rules of
# docs/EMBEDDING.md. The rules are the files of tests/build/project/, and this test first
# checks that the doc shows each of them verbatim. Then it copies the project, writes
# weights.safetensors (fc.weight, fc.bias), and for make and for cmake: builds, runs the
# program, compares its output with the value computed here, checks that a second build
# does nothing, and that touching the required blocks.lua or the weights reruns attncc
# (CMake with its default generator, and with Ninja when ninja is installed).
# Exits 1 when anything fails. Environment: ATTNCC (default ./attncc), PYTHON.
OK_ECHO=1
source "$(dirname "$0")/../lib.sh"
# the project builds as a user's would: not with the flags of a make that runs this test
# (make -s would silence the recipe lines the rerun checks look for)
unset MAKEFLAGS MFLAGS MAKELEVEL

# the doc shows the project's files verbatim
for f in Makefile CMakeLists.txt model.lua blocks.lua main.c; do
  "$PY" -c 'import sys; sys.exit(open(sys.argv[2]).read() not in open(sys.argv[1]).read())' \
    "$ROOT/docs/EMBEDDING.md" "$ROOT/tests/build/project/$f" && ok "docs/EMBEDDING.md shows $f" ||
    bad "docs/EMBEDDING.md does not show tests/build/project/$f verbatim"
done

# the weights, and the output they give: y = relu(x W^T + b) with x[i] = i/4 - 1
expected=$("$PY" - "$TMP/weights.safetensors" <<'PYEOF'
import json, struct, sys
W = [[0.25 * (i + j) - 0.3 * (i == j) for j in range(4)] for i in range(3)]
b = [0.5, -0.25, 0.125]
def save(path, tensors):
    header, data = {}, b""
    for name, shape, values in tensors:
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * len(values)]}
        data += struct.pack("<%df" % len(values), *values)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
save(sys.argv[1], [("fc.weight", [3, 4], sum(W, [])), ("fc.bias", [3], b)])
x = [[(r * 4 + k) / 4 - 1 for k in range(4)] for r in range(2)]
y = [max(0.0, sum(x[r][k] * W[o][k] for k in range(4)) + b[o]) for r in range(2) for o in range(3)]
print(" ".join("%g" % v for v in y))
PYEOF
)

# $1: name, $2: project dir, $3: build command, $4: the program; $5: "a build ran attncc" test
check_build() {
  local name=$1 dir=$2 build=$3 app=$4
  (cd "$dir" && eval "$build") > "$TMP/$name.log" 2>&1 || { bad "$name: build failed"; tail -20 "$TMP/$name.log"; return; }
  local out
  out=$("$dir/$app")
  [ "$out" = "$expected" ] && ok "$name: the program prints $out" || bad "$name: prints '$out', expected '$expected'"
  (cd "$dir" && eval "$build") > "$TMP/$name.log2" 2>&1
  ! grep -q "model.lua" "$TMP/$name.log2" && ok "$name: a second build does not rerun attncc" ||
    { bad "$name: a second build reran attncc"; cat "$TMP/$name.log2"; }
  for dep in blocks.lua weights.safetensors; do
    sleep 1; touch "$TMP/$name-src/$dep"
    (cd "$dir" && eval "$build") > "$TMP/$name.log3" 2>&1
    grep -q "model.lua" "$TMP/$name.log3" && [ "$("$dir/$app")" = "$expected" ] &&
      ok "$name: touching $dep reruns attncc" || { bad "$name: touching $dep did not rerun attncc"; cat "$TMP/$name.log3"; }
  done
}

# make, in a copy of the project
cp -r "$ROOT/tests/build/project" "$TMP/make-src" && cp "$TMP/weights.safetensors" "$TMP/make-src/"
check_build make "$TMP/make-src" "make ATTNCC='$ATTNCC'" app

# cmake, source and build directories apart: the default generator, and Ninja if it is here
if command -v cmake > /dev/null; then
  gens=("Unix Makefiles")
  command -v ninja > /dev/null && gens+=("Ninja")
  for gen in "${gens[@]}"; do
    name=cmake-${gen%% *}
    cp -r "$ROOT/tests/build/project" "$TMP/$name-src" && cp "$TMP/weights.safetensors" "$TMP/$name-src/"
    rm "$TMP/$name-src/Makefile"
    if cmake -S "$TMP/$name-src" -B "$TMP/$name-build" -G "$gen" -DATTNCC="$ATTNCC" > "$TMP/$name.cfg" 2>&1; then
      check_build "$name" "$TMP/$name-build" "cmake --build . --verbose" app
    else
      bad "$name: configure"; cat "$TMP/$name.cfg"
    fi
  done
else
  bad "cmake is not installed"
fi

echo "build: $fail failed"
[ $fail -eq 0 ]
