# TAP-style checks and a runner for upstream's `putfs` CLI, shared by the
# e2e suites (sourced; `client_setup` sets WORK and CLI, which `cli` uses).

# client_setup SUITE: the upstream CLI from PUTFS_PYENV (checked), the
# environment it runs in (plain http; no retries, so a failing request
# shows at once, not after five jittered back-offs; narrow progress bars),
# and a temp WORK dir with the servers' log dir. Run it after every other
# check that can exit, right before the suite sets its cleanup trap.
client_setup() {
  : "${PUTFS_BIN:?set PUTFS_BIN to the putfs binary}"
  : "${PUTFS_PYENV:?set PUTFS_PYENV to a virtualenv with putfs[client]}"
  CLI="$PUTFS_PYENV/bin/putfs"
  [[ -x $CLI ]] || {
    echo "no upstream CLI at $CLI" >&2
    exit 1
  }
  export PUTFS_HTTPS=false PUTFS_SYNC_RETRIES=0 COLUMNS=120
  WORK=$(mktemp -d -t "putfs-e2e-$1.XXXXXX")
  export PUTFS_LOG_DIR="$WORK/logs"
  mkdir -p "$PUTFS_LOG_DIR"
}

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
