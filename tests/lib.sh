# lib.sh: the setup the shell tests share; each tests/*/run.sh sources it first. Sets -u,
# ROOT (the repository), ATTNCC (made absolute; default ROOT/attncc), PY (an interpreter
# with torch: PYTHON or /usr/bin/python3), TMP (a directory removed on exit), and ok/bad
# with their counters pass and fail (OK_ECHO=1 before sourcing: a line per passing check).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ATTNCC=$(realpath "${ATTNCC:-$ROOT/attncc}")
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() {
  pass=$((pass + 1))
  if [ -n "${OK_ECHO:-}" ]; then echo "ok: $*"; fi
}
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*"
}
