#!/usr/bin/env bash
# run.sh: the bad-input corpus. Every case must make attncc exit with status 1 (never 0,
# never a signal), print its expected diagnostic as one whole line of stderr, print no
# sanitizer report (make test runs this with build/attncc-asan), leave an earlier out.c
# untouched and leave no other file behind (no out.h, no temporary, nothing a sandboxed
# model tried to create). The cases:
#   model/*.lua       first line "-- expect: DIAGNOSTIC"; run as  attncc NAME.lua -o out.c
#   weights/cases.txt NAME | DIAGNOSTIC; run as  attncc lin.lua --weights NAME.safetensors -o out.c
#                     (gen_weights.py writes the files at test time)
#   cli_cases.txt     NAME | ARGUMENTS | DIAGNOSTIC; run beside lin.lua, bytecode.lua, nul.lua,
#                     backtrack.lua
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

# run_case NAME EXPECTED ARGS...: runs attncc in $TMP/work (already holding the case's
# input files) and checks everything the corpus promises
run_case() {
  local name=$1 want=$2
  shift 2
  local work=$TMP/work
  echo "/* out.c from an earlier good run */" > "$work/out.c"
  cp "$work/out.c" "$TMP/out.c.before"
  local before
  before=$(ls -A "$work")
  (cd "$work" && "$ATTNCC" "$@" > "$TMP/stdout" 2> "$TMP/stderr")
  local rc=$?
  if [ $rc -ne 1 ]; then
    bad "$name: exit status $rc, expected 1"; sed 's/^/    /' "$TMP/stderr" | head -20; return
  fi
  if ! grep -qxF -- "$want" "$TMP/stderr"; then
    bad "$name: stderr lacks the line: $want"; sed 's/^/    /' "$TMP/stderr" | head -20; return
  fi
  if grep -qE 'Sanitizer|runtime error:' "$TMP/stderr"; then
    bad "$name: sanitizer report"; sed 's/^/    /' "$TMP/stderr" | head -40; return
  fi
  if ! cmp -s "$work/out.c" "$TMP/out.c.before"; then bad "$name: the earlier out.c was changed"; return; fi
  if [ "$(ls -A "$work")" != "$before" ]; then
    bad "$name: files were left behind:"; diff <(echo "$before") <(ls -A "$work") | sed 's/^/    /'; return
  fi
  pass=$((pass + 1))
}

fresh_work() { rm -rf "$TMP/work" && mkdir "$TMP/work"; }

# ---- model.lua ----
for f in "$HERE"/model/*.lua; do
  name=$(basename "$f")
  want=$(sed -n '1s/^-- expect: //p' "$f")
  [ -n "$want" ] || { bad "$name: no '-- expect:' first line"; continue; }
  fresh_work
  cp "$f" "$TMP/work/"
  run_case "model/$name" "$want" "$name" -o out.c
done

# ---- weights files ----
mkdir "$TMP/weights"
"$PY" "$HERE/weights/gen_weights.py" "$TMP/weights" || bad "gen_weights.py failed"
while IFS='|' read -r name want; do
  name=$(echo $name)
  want=${want# }
  fresh_work
  cp "$HERE/weights/lin.lua" "$TMP/work/"
  [ -e "$TMP/weights/$name.safetensors" ] && cp "$TMP/weights/$name.safetensors" "$TMP/work/"
  run_case "weights/$name" "$want" lin.lua --weights "$name.safetensors" -o out.c
done < <(grep -v '^#' "$HERE/weights/cases.txt")
# the same model and the good file compile: the cases fail for their own reason only
fresh_work
cp "$HERE/weights/lin.lua" "$TMP/weights/good.safetensors" "$TMP/work/"
(cd "$TMP/work" && "$ATTNCC" lin.lua --weights good.safetensors -o ok.c) && pass=$((pass + 1)) ||
  bad "weights: lin.lua with good.safetensors does not compile"

# ---- command line ----
while IFS='|' read -r name args want; do
  name=$(echo $name)
  want=${want# }
  fresh_work
  cp "$HERE/weights/lin.lua" "$TMP/work/"
  printf '\033LuaT\000\031\223\r\n\032\n' > "$TMP/work/bytecode.lua"
  printf 'local x = input("x", {2, 3})\000\noutput("y", x)\n' > "$TMP/work/nul.lua"
  cp "$HERE/backtrack.lua" "$TMP/work/"
  # shellcheck disable=SC2086 # the arguments are split at spaces on purpose
  run_case "cli/$name" "$want" $args
done < <(grep -v '^#' "$HERE/cli_cases.txt")

echo "bad-input corpus: $pass passed, $fail failed"
[ $fail -eq 0 ]
