#!/usr/bin/env bash
# run.sh SECONDS: first replays every input in tests/fuzz/regress/<target>/ (each one a
# crash found once and fixed), then fuzzes each target for SECONDS seconds starting from
# its seed corpus (tests/fuzz/corpus/safetensors/; for the front end, the example models
# and the bad model cases, gathered into build/fuzz/seeds-frontend/ so that they are not
# kept twice), with tests/fuzz/<target>.dict if there is one. New interesting inputs go to build/fuzz/<target>/ (not into the repo); a crash
# leaves its input in build/fuzz/crash-<target>-* and fails the run. Prints the
# executions per target.
set -u
SECONDS_EACH=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
status=0
for target in safetensors frontend; do
  bin=build/fuzz_$target
  mkdir -p "build/fuzz/$target"
  # attncc's own diagnostics (stderr) are noise here: -close_fd_mask=3 hides them,
  # libFuzzer and the sanitizers still report on their own stream
  common=(-close_fd_mask=3 -timeout=30 -rss_limit_mb=2560 -max_len=8192
          -artifact_prefix="build/fuzz/crash-$target-")
  if [ -n "$(ls -A "tests/fuzz/regress/$target" 2> /dev/null)" ] &&
     ! "$bin" "${common[@]}" -runs=0 "tests/fuzz/regress/$target" > "build/fuzz/$target.log" 2>&1; then
    echo "fuzz_$target: a regression input fails:"; tail -40 "build/fuzz/$target.log"; status=1; continue
  fi
  seeds="tests/fuzz/corpus/$target"
  if [ $target = frontend ]; then
    seeds=build/fuzz/seeds-frontend
    rm -rf "$seeds" && mkdir -p "$seeds"
    cp examples/*.lua "$seeds/"
    for f in tests/bad/model/*.lua; do cp "$f" "$seeds/bad_$(basename "$f")"; done
  fi
  dict=()
  [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
  if ! "$bin" "${common[@]}" "${dict[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
       "build/fuzz/$target" "$seeds" > "build/fuzz/$target.log" 2>&1; then
    echo "fuzz_$target: crash:"; tail -60 "build/fuzz/$target.log"; status=1; continue
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz/$target.log")
  echo "fuzz_$target: $runs executions in ${SECONDS_EACH}s, no crash"
done
exit $status
