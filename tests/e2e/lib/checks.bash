# TAP-style checks and a runner for upstream's `putfs` CLI, shared by the
# e2e suites (sourced; WORK and CLI must be set before `cli` runs).

PASSED=0
FAILED=0
ok() {
  PASSED=$((PASSED + 1))
  echo "ok - $*"
}
not_ok() {
  FAILED=$((FAILED + 1))
  echo "not ok - $*"
}
check() { # check DESCRIPTION CMD...
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# Run the CLI with its output kept for the failure message.
cli() {
  local out="$WORK/cli.out" rc=0
  "$CLI" "$@" >"$out" 2>&1 </dev/null || rc=$?
  CLI_OUT=$(cat "$out")
  if ((rc != 0)); then
    echo "  \$ putfs $*  -> exit $rc" >&2
    sed 's/^/  | /' "$out" | tail -n 40 >&2
  fi
  return "$rc"
}
