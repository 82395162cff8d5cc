# Helpers shared by scripts/bench and tests/e2e/*.sh: start `putfs serve` on
# port 0 and read its address from the line it prints once ready, and stop
# processes by PID. Source it; it defines functions only.
#
#   putfs_start NAME BIN ROOT [ARGS...]   start BIN serve --root ROOT --listen
#                                         127.0.0.1:0 ARGS; on return
#                                         PUTFS_ADDR=host:port, PUTFS_PID=pid,
#                                         logs in $PUTFS_LOG_DIR/NAME.{out,err};
#                                         the server gets none of the caller's
#                                         PUTFS_* variables (pass flags instead)
#   stop_pid PID [GRACE_SECONDS]          SIGTERM, wait, then SIGKILL
#   pid_alive PID                         true while PID runs (not a zombie)
#
# PUTFS_LOG_DIR must be set (a temp dir the caller removes).
# PUTFS_START_TIMEOUT (seconds, default 30) bounds the wait for the line.

# True while PID runs. `kill -0` alone also succeeds on a zombie (an exited
# child not yet reaped), which would turn a crash into a wait for the deadline.
pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# Wait until the file $1 has a `putfs listening on http://HOST:PORT` line or
# the process $2 exits or the deadline passes. The line is polled, never
# assumed after a fixed sleep: a cold start under load may take seconds.
_putfs_wait_listening() {
  local out=$1 pid=$2 deadline=$((SECONDS + ${PUTFS_START_TIMEOUT:-30})) line
  while :; do
    line=$(grep -m1 -oE 'putfs listening on http://[^[:space:]]+' "$out" 2>/dev/null || true)
    if [[ -n $line ]]; then
      PUTFS_ADDR=${line#putfs listening on http://}
      PUTFS_ADDR=${PUTFS_ADDR%/}
      return 0
    fi
    if ! pid_alive "$pid"; then
      echo "putfs (pid $pid) exited before printing its listening line" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "putfs (pid $pid) printed no listening line within ${PUTFS_START_TIMEOUT:-30}s" >&2
      return 1
    fi
    sleep 0.05
  done
}

putfs_start() {
  local name=$1 bin=$2 root=$3
  shift 3
  : "${PUTFS_LOG_DIR:?PUTFS_LOG_DIR must be set}"
  local out="$PUTFS_LOG_DIR/$name.out" err="$PUTFS_LOG_DIR/$name.err" var
  # Every serve flag also reads a PUTFS_* variable: drop the caller's, so a
  # stray PUTFS_READ_ONLY or PUTFS_WRITE_TOKEN cannot change a test or a bench.
  local -a unset_env=()
  for var in $(compgen -e); do
    [[ $var == PUTFS_* ]] && unset_env+=(-u "$var")
  done
  env "${unset_env[@]}" "$bin" serve --root "$root" --listen 127.0.0.1:0 "$@" >"$out" 2>"$err" &
  PUTFS_PID=$!
  if ! _putfs_wait_listening "$out" "$PUTFS_PID"; then
    echo "--- $name stdout:" >&2
    tail -n 20 "$out" >&2 || true
    echo "--- $name stderr:" >&2
    tail -n 20 "$err" >&2 || true
    stop_pid "$PUTFS_PID" 2
    return 1
  fi
}

# Stop one process we started: TERM, then KILL after the grace period.
stop_pid() {
  local pid=$1 grace=${2:-10} deadline
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + grace))
  while pid_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.05
  done
  if pid_alive "$pid"; then
    echo "pid $pid still running after ${grace}s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
