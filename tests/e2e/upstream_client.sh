#!/usr/bin/env bash
# Usage: PUTFS_BIN=target/debug/putfs PUTFS_PYENV=target/pyenv tests/e2e/upstream_client.sh
#   (scripts/test sets both and runs this with every other tests/e2e/*.sh)
#
# Upstream's own `putfs` CLI (PyPI putfs[client] 0.6.2) against our server:
#   - `putfs cp` a local file up and back down: identical bytes, on disk too;
#   - `putfs ls` a prefix: exactly the keys put there;
#   - `putfs sync` a ~50-file tree (nested dirs, spaces, unicode, URL
#     metacharacters, an empty file, a multi-MiB file) twice: the first run
#     uploads everything (checked byte for byte on the server's disk), the
#     second succeeds and changes nothing: no new `created` PUT outcome in
#     /.putfs/metrics, no file on disk with a new inode, size or mtime;
#   - `putfs sync` the tree back down: identical to the source.
# Starts its own server on a temp root at 127.0.0.1:0 and removes everything
# on exit. Exits non-zero if any check failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/putfs.bash
source "$HERE/../../scripts/lib/putfs.bash"
# shellcheck source=tests/e2e/lib/checks.bash
source "$HERE/lib/checks.bash"
client_setup client
SERVER_PID=
cleanup() {
  local rc=$?
  # PUTFS_PID too: a server still starting when a signal came.
  stop_pid "${SERVER_PID:-${PUTFS_PID:-}}" 10
  if ((rc != 0)) && [[ -d $PUTFS_LOG_DIR ]]; then
    echo "--- server stderr (last 30 lines):" >&2
    tail -n 30 "$PUTFS_LOG_DIR/server.err" >&2 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT


# putfs_put_outcomes_total{outcome="created"}, 0 while the series is absent.
created_count() {
  local body
  body=$(curl -fsS --max-time 10 "http://$ADDR/.putfs/metrics") || return 1
  awk '/^putfs_put_outcomes_total\{/ && /outcome="created"/ { v += $NF; found = 1 }
       END { printf "%d\n", found ? v : 0 }' <<<"$body"
}

# One line per object file under $1: path, inode, size, mtime (ns). The
# server's own .putfs/ folder is left out: it is not object data.
disk_snapshot() {
  (cd "$1" && find . -path ./.putfs -prune -o -type f -printf '%P\t%i\t%s\t%T@\n' | LC_ALL=C sort)
}

# Not created beforehand: a writable server creates and marks a new root.
DATA="$WORK/root"
putfs_start server "$PUTFS_BIN" "$DATA"
SERVER_PID=$PUTFS_PID
ADDR=$PUTFS_ADDR
BASE="putfs://$ADDR"
echo "# server at http://$ADDR, root $DATA"

# --- cp up and down ----------------------------------------------------------

head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$WORK/up.bin"
printf 'second object\n' >"$WORK/small.txt"
printf 'not in the prefix\n' >"$WORK/other.txt"

check "cp local -> server" cli cp "$WORK/up.bin" "$BASE/cp/up.bin"
check "cp: bytes on the server's disk are identical" cmp -s "$WORK/up.bin" "$DATA/cp/up.bin"
check "cp a second key into the prefix" cli cp "$WORK/small.txt" "$BASE/cp/nested/small.txt"
check "cp a key outside the prefix" cli cp "$WORK/other.txt" "$BASE/cp-other/other.txt"
check "cp server -> local" cli cp "$BASE/cp/up.bin" "$WORK/down.bin"
check "cp: downloaded bytes are identical" cmp -s "$WORK/up.bin" "$WORK/down.bin"
check "cp server -> local (small)" cli cp "$BASE/cp/nested/small.txt" "$WORK/small.down"
check "cp: small download identical" cmp -s "$WORK/small.txt" "$WORK/small.down"

# --- ls ------------------------------------------------------------------------

if cli ls "$BASE/cp/"; then
  got=$(LC_ALL=C sort <<<"$CLI_OUT")
  want=$(printf '%s\n' nested/small.txt up.bin)
  if [[ $got == "$want" ]]; then
    ok "ls lists exactly the keys in the prefix"
  else
    not_ok "ls lists exactly the keys in the prefix"
    diff <(echo "$want") <(echo "$got") | sed 's/^/  | /' >&2 || true
  fi
else
  not_ok "ls exits 0"
fi

# --- sync ----------------------------------------------------------------------

SRC="$WORK/tree"
N_FILES=$(
  python3 - "$SRC" <<'EOF'
import os, random, sys

root = sys.argv[1]
rng = random.Random(20240601)
dirs = [
    "", "docs", "docs/sub dir", "docs/sub dir/deeper still",
    "ünïcödé", "ünïcödé/日本語のフォルダ", "deep/a/b/c/d/e", "with space",
    "punct (1) [x]", "emoji 🎉",
]
names = [
    "plain.txt", "file with spaces.txt", "naïve café.bin", "Ωμέγα.dat",
    "日本語.txt", "emoji 🎉.dat", "100% done.txt", "hash#tag.txt",
    "plus+sign.txt", "amp&eq=.txt", "semi;colon.txt", "quote's.txt",
    "question?.txt", "tilde~comma,.txt", "dollar$at@.txt",
]
files = []
for i, d in enumerate(dirs):
    for name in rng.sample(names, 5):
        files.append(os.path.join(d, f"{i:02d} {name}") if d else name)
files.append("docs/empty file.txt")
files.append("big/three mebibytes.bin")
for rel in files:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if rel.startswith("docs/empty"):
        size = 0
    elif rel.startswith("big/"):
        size = 3 * 1024 * 1024 + 7
    else:
        size = rng.randint(1, 64 * 1024)
    with open(path, "wb") as f:
        f.write(rng.randbytes(size))
print(len(files))
EOF
)
echo "# local tree: $N_FILES files"

created_before=$(created_count) || created_before=
check "metrics endpoint answers with a created counter" test -n "$created_before"

if cli sync "$SRC" "$BASE/tree"; then
  ok "sync #1 exits 0"
  check "sync #1 reports $N_FILES keys synced" grep -q "^$N_FILES keys synced" <<<"$CLI_OUT"
else
  not_ok "sync #1 exits 0"
fi

if diff_out=$(diff -r "$SRC" "$DATA/tree" 2>&1); then
  ok "sync #1: every file is on the server's disk with identical bytes, nothing else"
else
  not_ok "sync #1: every file is on the server's disk with identical bytes, nothing else"
  head -n 30 <<<"$diff_out" | sed 's/^/  | /' >&2
fi

created_after1=$(created_count) || created_after1=
if [[ -n $created_before && -n $created_after1 ]]; then
  check "sync #1: created counter rose by $N_FILES ($created_before -> $created_after1)" \
    test $((created_after1 - created_before)) -eq "$N_FILES"
fi

if cli ls "$BASE/tree/"; then
  if [[ $(LC_ALL=C sort <<<"$CLI_OUT") == "$(cd "$SRC" && find . -type f -printf '%P\n' | LC_ALL=C sort)" ]]; then
    ok "ls of the synced prefix lists every file by its exact name"
  else
    not_ok "ls of the synced prefix lists every file by its exact name"
    diff <(cd "$SRC" && find . -type f -printf '%P\n' | LC_ALL=C sort) \
      <(LC_ALL=C sort <<<"$CLI_OUT") | head -n 20 | sed 's/^/  | /' >&2 || true
  fi
else
  not_ok "ls of the synced prefix exits 0"
fi

snap1=$(disk_snapshot "$DATA")

if cli sync "$SRC" "$BASE/tree"; then
  ok "sync #2 exits 0"
  # The listing's `stat` mtimes are newer than the sources, so nothing is sent.
  if grep -q '^0 keys synced' <<<"$CLI_OUT"; then
    ok "sync #2 reports 0 keys synced"
  else
    not_ok "sync #2 reports 0 keys synced (it said: $(grep 'keys synced' <<<"$CLI_OUT" || tail -n 1 <<<"$CLI_OUT"))"
  fi
else
  not_ok "sync #2 exits 0"
fi

created_after2=$(created_count) || created_after2=
if [[ -n $created_after1 && -n $created_after2 ]]; then
  check "sync #2: no PUT answered 201 (created $created_after1 -> $created_after2)" \
    test "$created_after2" -eq "$created_after1"
fi

snap2=$(disk_snapshot "$DATA")
if [[ $snap1 == "$snap2" ]]; then
  ok "sync #2: no file on the server changed inode, size or mtime"
else
  not_ok "sync #2: no file on the server changed inode, size or mtime"
  diff <(echo "$snap1") <(echo "$snap2") | head -n 20 | sed 's/^/  | /' >&2 || true
fi
check "sync #2: the tree is still identical" diff -rq "$SRC" "$DATA/tree"

# The other direction walks the server's `QUERY 1 dirs stat` listings and
# streams every object back under its exact name.
if cli sync "$BASE/tree" "$WORK/back"; then
  ok "sync server -> local exits 0"
  check "sync server -> local: the copy is identical to the source tree" diff -r "$SRC" "$WORK/back"
else
  not_ok "sync server -> local exits 0"
fi

echo "upstream_client: $PASSED passed, $FAILED failed"
((FAILED == 0))
