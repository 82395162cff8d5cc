#!/usr/bin/env bash
# Usage: PUTFS_BIN=target/debug/putfs PUTFS_PYENV=target/pyenv tests/e2e/upstream_client_lb.sh
#   (scripts/test sets both and runs this with every other tests/e2e/*.sh)
#
# Upstream's own `putfs` CLI (PyPI putfs[client] 0.6.2) through the shipped
# nginx/putfs-cluster.conf, in front of a primary and two read-only replicas
# fed by the shipped scripts/replicate-rsync:
#   - `putfs cp` up through the balancer (writes go to the primary);
#   - `putfs ls` of that prefix before replication (the replicas answer 404
#     for a prefix they lack; nginx retries up to the primary) and after;
#   - `putfs ls` of a prefix that exists on no node exits 0 and lists nothing;
#   - `putfs cp` down through the balancer, before and after replication:
#     identical bytes;
#   - `putfs sync` a small tree up into a prefix no node has yet, and back
#     down after replication: identical.
# Everything runs on loopback in a temp dir, and every process it started is
# stopped by its PID on exit. Needs nginx and rsync. Exits non-zero if any
# check failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/lib/putfs.bash
source "$REPO/scripts/lib/putfs.bash"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

NGINX=$(command -v nginx) || {
  echo "nginx is not installed" >&2
  exit 1
}
command -v rsync >/dev/null || {
  echo "rsync is not installed" >&2
  exit 1
}

# shellcheck source=tests/e2e/lib/checks.bash
source "$HERE/lib/checks.bash"
client_setup lb
PIDS=()
NGINX_PID=
cleanup() {
  local rc=$?
  stop_pid "${NGINX_PID:-}" 10
  local p
  for p in "${PIDS[@]}" "${PUTFS_PID:-}"; do
    stop_pid "$p" 10
  done
  if ((rc != 0)); then
    for f in "$PUTFS_LOG_DIR"/*.err "$WORK"/nginx/logs/*.log "$WORK/nginx.out"; do
      [[ -s $f ]] || continue
      echo "--- $f (last 20 lines):" >&2
      tail -n 20 "$f" >&2
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# ls_is DESCRIPTION URL EXPECTED-LINES...: `putfs ls URL` exits 0 and lists
# exactly those names.
ls_is() {
  local what=$1 url=$2
  shift 2
  if ! cli ls "$url"; then
    not_ok "$what (ls exits 0)"
    return
  fi
  local got want=
  got=$(LC_ALL=C sort <<<"$CLI_OUT" | sed '/^$/d')
  if (($#)); then want=$(printf '%s\n' "$@" | LC_ALL=C sort); fi
  if [[ $got == "$want" ]]; then
    ok "$what"
  else
    not_ok "$what"
    diff <(echo "$want") <(echo "$got") | sed 's/^/  | /' >&2 || true
  fi
}

# --- nodes ---------------------------------------------------------------------

putfs_start primary "$PUTFS_BIN" "$WORK/primary" --heartbeat-interval 1s
PIDS+=("$PUTFS_PID")
PRIMARY=$PUTFS_ADDR
REPLICAS=()
for n in 1 2; do
  # Marked once at install: the replication script refuses a bare directory.
  mkdir -p "$WORK/replica-$n/.putfs"
  putfs_start "replica-$n" "$PUTFS_BIN" "$WORK/replica-$n" --read-only
  PIDS+=("$PUTFS_PID")
  REPLICAS+=("$PUTFS_ADDR")
done
PUTFS_PID=
replicate() {
  local n
  for n in 1 2; do
    "$REPO/scripts/replicate-rsync" "$WORK/primary" "$WORK/replica-$n" \
      >"$PUTFS_LOG_DIR/replicate-$n.out" 2>&1 </dev/null || return 1
  done
}
echo "# primary $PRIMARY, replicas ${REPLICAS[*]}"

# --- nginx, as shipped, rendered for loopback ------------------------------------

NGINX_DIR=$WORK/nginx
mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/temp"
USER_LINE="# user www-data; (dropped: nginx runs as $(id -un), not root)"
if ((EUID == 0)); then
  # The workers drop to an unprivileged user, which must reach their paths.
  if id -u www-data >/dev/null 2>&1; then
    worker=www-data USER_LINE='user www-data;'
  else
    worker=nobody USER_LINE="user nobody $(id -gn nobody);"
  fi
  chmod 0755 "$WORK" "$NGINX_DIR"
  chown "$worker" "$NGINX_DIR/temp"
fi
render() { # render SRC DEST FROM TO...: stop if a FROM is gone from SRC
  local src=$1 dest=$2 text
  shift 2
  text=$(<"$src")
  while (($#)); do
    [[ $text == *"$1"* ]] || {
      echo "$src has no '$1' any more: update this suite's rendering" >&2
      return 1
    }
    text=${text//"$1"/"$2"}
    shift 2
  done
  printf '%s\n' "$text" >"$dest"
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_nginx() { # 0 serving, 1 failed, 2 port taken
  local port=$1 deadline
  render "$REPO/nginx/nginx.conf" "$NGINX_DIR/nginx.conf" \
    'user www-data;' "$USER_LINE" \
    /run/nginx-putfs.pid "$NGINX_DIR/nginx.pid" \
    /var/log/nginx/ "$NGINX_DIR/logs/" \
    /var/lib/nginx/ "$NGINX_DIR/temp/" || return 1
  render "$REPO/nginx/putfs-cluster.conf" "$NGINX_DIR/putfs-cluster.conf" \
    'listen 80;' "listen 127.0.0.1:$port;" \
    putfs-primary:8000 "$PRIMARY" \
    putfs-replica-1:8000 "${REPLICAS[0]}" \
    putfs-replica-2:8000 "${REPLICAS[1]}" || return 1
  rm -f "$NGINX_DIR"/logs/*.log
  "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/startup.log" \
    -g 'daemon off;' </dev/null >"$WORK/nginx.out" 2>&1 &
  NGINX_PID=$!
  deadline=$((SECONDS + 20))
  while :; do
    if ! pid_alive "$NGINX_PID"; then
      wait "$NGINX_PID" 2>/dev/null || true
      NGINX_PID=
      grep -qs 'Address already in use' "$WORK/nginx.out" "$NGINX_DIR"/logs/*.log && return 2
      return 1
    fi
    curl -fsS --max-time 2 -o /dev/null -D - "http://127.0.0.1:$port/.putfs/live" 2>/dev/null |
      grep -qi '^server: nginx' && return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}
LB=
for _ in 1 2 3 4 5; do
  port=$(free_port)
  rc=0
  start_nginx "$port" || rc=$?
  if ((rc == 0)); then
    LB=127.0.0.1:$port
    break
  fi
  ((rc == 2)) || break
done
[[ -n $LB ]] || {
  echo "nginx did not start" >&2
  exit 1
}
BASE="putfs://$LB"
echo "# nginx at http://$LB"

# --- through the balancer ----------------------------------------------------------

head -c $((1024 * 1024 + 321)) /dev/urandom >"$WORK/up.bin"
printf 'second object\n' >"$WORK/small.txt"

check "cp local -> balancer" cli cp "$WORK/up.bin" "$BASE/lb/up.bin"
check "cp a second key" cli cp "$WORK/small.txt" "$BASE/lb/nested/small.txt"
check "the write reached the primary's disk" cmp -s "$WORK/up.bin" "$WORK/primary/lb/up.bin"
check "no replica has it before replication" test ! -e "$WORK/replica-1/lb/up.bin" -a ! -e "$WORK/replica-2/lb/up.bin"

ls_is "ls before replication: the primary's keys (replicas' 404s retried)" \
  "$BASE/lb/" nested/small.txt up.bin
ls_is "ls of a prefix no node has: exits 0, lists nothing" "$BASE/nowhere-yet/"
check "cp balancer -> local before replication" cli cp "$BASE/lb/up.bin" "$WORK/down1.bin"
check "downloaded bytes identical (before replication)" cmp -s "$WORK/up.bin" "$WORK/down1.bin"

check "replicate-rsync to both replicas" replicate
check "replicas hold the object" cmp -s "$WORK/up.bin" "$WORK/replica-2/lb/up.bin"

# Several times: round-robin reaches every node.
for i in 1 2 3; do
  ls_is "ls after replication (#$i)" "$BASE/lb/" nested/small.txt up.bin
  check "cp balancer -> local after replication (#$i)" cli cp "$BASE/lb/up.bin" "$WORK/down2.bin"
  check "downloaded bytes identical (#$i)" cmp -s "$WORK/up.bin" "$WORK/down2.bin"
  rm -f "$WORK/down2.bin"
done
ls_is "ls of a prefix no node has, after replication" "$BASE/nowhere-yet/"

# `putfs sync` up through the balancer into a prefix no node has yet (its
# listing of the destination is retried up to the primary), then back down
# after replication, with reads spread over every node.
mkdir -p "$WORK/tree/a/b" "$WORK/tree/with space"
for i in 1 2 3 4 5; do
  head -c $((i * 1000 + 17)) /dev/urandom >"$WORK/tree/a/file $i.bin"
  printf 'small %s\n' "$i" >"$WORK/tree/with space/ünï $i.txt"
done
head -c 70000 /dev/urandom >"$WORK/tree/a/b/deep.bin"
check "sync local -> balancer into a new prefix" cli sync "$WORK/tree" "$BASE/synced"
check "sync: the tree is on the primary's disk, identical" diff -r "$WORK/tree" "$WORK/primary/synced"
check "sync again before replication exits 0" cli sync "$WORK/tree" "$BASE/synced"
check "replicate-rsync to both replicas (after sync)" replicate
check "sync balancer -> local after replication" cli sync "$BASE/synced" "$WORK/back"
check "sync back: identical to the source tree" diff -r "$WORK/tree" "$WORK/back"

echo "upstream_client_lb: $PASSED passed, $FAILED failed"
((FAILED == 0))
