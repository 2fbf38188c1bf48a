#!/bin/bash
# test-nfs-tools.sh -- libnfs' command-line tools (nfs-ls, nfs-cp, nfs-cat)
# against one `bucketfs run --nfs 127.0.0.1:PORT --mount DIR` daemon, so
# every file is seen through NFS and through the FUSE mount of the same
# daemon: a 50 MiB random file copied in and out with nfs-cp and compared,
# nfs-cat, listings of what FUSE made, files written through NFS read through
# FUSE and the other way, overwrites seen on the other side (nfs-cp creates
# exclusively, so NFS overwrites go through helper-nfs put); then
# durability: a file written and COMMITted (helper-nfs put, as fsync does;
# nfs-cp never sends COMMIT) survives SIGKILL of the daemon and a restart,
# and the write verifier changes across that restart (and not within a run).
#
# NFS URLs name the port for both NFS and MOUNT, as no portmapper runs:
#   nfs://127.0.0.1/PATH?nfsport=P&mountport=P
# Runs in a private mount namespace (unshare -m).  Needs root and /dev/fuse.
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TESTS=${BUCKETFS_TESTS:-$(cd "$(dirname "$0")/.." && pwd)/build/tests}
H=$TESTS/helper-nfs
TMP=$(mktemp -d /tmp/bucketfs-nfstools-XXXXXX)
STORE="file://$TMP/store" MNT=$TMP/mnt CONF=$TMP/test.conf LOG=$TMP/daemon.log
: >"$LOG"
PID=
export BUCKETFS_PASSWORD=nfs-tools-test-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_RUN_DIR
chmod 755 "$TMP"
mkdir -p "$MNT"

cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
show_log() { echo "# daemon log:"; tail -n 30 "$LOG" | sed 's/^/#   /'; }

for t in nfs-ls nfs-cp nfs-cat "$H"; do
	command -v "$t" >/dev/null || { echo "Bail out! $t missing (scripts/install-deps.sh installs libnfs-utils; make builds helper-nfs)"; exit 1; }
done

PORT=$("$H" freeport)
# libnfs mounts the URL's directory part as the export and opens the rest in
# it: "//" makes the export "/" (a single "/" would MNT an empty path)
url() { echo "nfs://127.0.0.1//$1?nfsport=$PORT&mountport=$PORT"; }

cat >"$CONF" <<EOF
[filesystem]
flush_interval = "500ms"
lease_interval = "300ms"
[cache]
dir = "$TMP/cache"
[admin]
socket = "$TMP/admin.sock"
[nfs]
squash = "none"
EOF

serving_count() { grep -c "info: serving " "$LOG"; }
start() {
	local old i; old=$(serving_count)
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" --nfs "127.0.0.1:$PORT" >>"$LOG" 2>&1 &
	PID=$!
	for i in $(seq 600); do
		[ "$(serving_count)" -gt "$old" ] && break
		alive "$PID" || return 1
		sleep 0.05
	done
	is_mounted "$MNT" && "$H" wait "$PORT"
}
stop() {
	kill "-${1:-TERM}" "$PID"
	wait_exit "$PID"
	local st=$?
	PID=
	return $st
}

start
ok $? "the daemon serves NFS on 127.0.0.1:$PORT and FUSE on $MNT" || { show_log; echo "1..$n"; exit 1; }

# ---- listings ----
echo hello >"$MNT/fromfuse"
mkdir -p "$MNT/a/b"
echo deep >"$MNT/a/b/c"
run 0 "fromfuse" "nfs-ls lists a file made through FUSE" -- nfs-ls "$(url "")"
run 0 " 6 fromfuse" "with its size" -- nfs-ls "$(url "")"
run 0 "a/b/c" "nfs-ls -R walks into directories made through FUSE" -- nfs-ls -R "$(url "")"
mkdir "$MNT/many"
for i in $(seq 1000); do : >"$MNT/many/f$i"; done
is "$(nfs-ls "$(url many)" 2>&1 | grep -cE ' f[0-9]+$')" 1000 "nfs-ls of a 1,000-entry directory shows 1,000 names"
is "$(nfs-ls "$(url many)" 2>&1 | awk '{ print $NF }' | grep -E '^f[0-9]+$' | sort -u | wc -l)" 1000 "each once"

# ---- nfs-cp and nfs-cat of 50 MiB, both directions ----
SEED=${TEST_SEED:-$RANDOM$RANDOM}
echo "# random data seed $SEED (replay with TEST_SEED=$SEED)"
# the 50 MiB file: AES-CTR of zeros keyed by the seed (reproducible, incompressible)
openssl enc -aes-128-ctr -pass "pass:$SEED" -nosalt -pbkdf2 -in /dev/zero 2>/dev/null | head -c $((50 << 20)) >"$TMP/big"
is "$(stat -c %s "$TMP/big")" $((50 << 20)) "made a 50 MiB random file"
run 0 "" "nfs-cp of 50 MiB into the export" -- nfs-cp "$TMP/big" "$(url big)"
cmp "$TMP/big" "$MNT/big"
ok $? "the file nfs-cp wrote reads back identical through FUSE"
run 0 "" "nfs-cp of 50 MiB out of the export" -- nfs-cp "$(url big)" "$TMP/big.out"
cmp "$TMP/big" "$TMP/big.out"
ok $? "and it is identical"
nfs-cat "$(url big)" 2>/dev/null | cmp - "$TMP/big"
ok $? "nfs-cat gives the same 50 MiB"
run 0 " 52428800 big" "nfs-ls shows its size" -- nfs-ls "$(url "")"

head -c $((20 << 20)) "$TMP/big" | tail -c $((7 << 20)) >"$MNT/fuse.bin"
sync "$MNT/fuse.bin"
nfs-cat "$(url fuse.bin)" 2>/dev/null | cmp - "$MNT/fuse.bin"
ok $? "a 7 MiB file written through FUSE reads back identical with nfs-cat"
run 0 "" "and with nfs-cp" -- nfs-cp "$(url fuse.bin)" "$TMP/fuse.out"
cmp "$TMP/fuse.out" "$MNT/fuse.bin"
ok $? "identical"
is "$(nfs-cat "$(url a/b/c)" 2>&1)" deep "nfs-cat of a nested file made through FUSE"

# ---- overwrites seen on the other side ----
echo version-1 >"$MNT/co"
is "$(nfs-cat "$(url co)" 2>&1)" version-1 "NFS reads what FUSE wrote"
echo version-2-longer >"$MNT/co"
is "$(nfs-cat "$(url co)" 2>&1)" version-2-longer "NFS reads what FUSE overwrote"
cat "$MNT/co" >/dev/null   # FUSE has it in its page cache now
# nfs-cp creates exclusively (an existing target is EXIST, on any server),
# so overwrites go through helper-nfs put: open O_TRUNC, write, COMMIT
echo nfs-version-3 >"$TMP/v3"
nfs-cp "$TMP/v3" "$(url co)" >/dev/null 2>&1
ok $((! $?)) "nfs-cp refuses to replace an existing file (it creates exclusively)"
run 0 "committed" "an overwrite of that file over NFS" -- "$H" put "$PORT" "$TMP/v3" co
is "$(cat "$MNT/co" 2>&1)" nfs-version-3 "FUSE reads what NFS overwrote (its cache was invalidated)"
echo small >"$TMP/small"
"$H" put "$PORT" "$TMP/small" fuse.bin >/dev/null 2>&1
is "$(stat -c %s "$MNT/fuse.bin")" 6 "FUSE sees the size of a file NFS truncated by overwriting"
is "$(cat "$MNT/fuse.bin")" small "and its new bytes"

# ---- errors ----
nfs-cat "$(url no-such-file)" >/dev/null 2>&1
ok $((! $?)) "nfs-cat of a missing file fails"
nfs-cp "$TMP/small" "$(url no-such-dir/x)" >/dev/null 2>&1
ok $((! $?)) "nfs-cp into a missing directory fails"
run 0 "" "the daemon still serves after those" -- nfs-ls "$(url "")"

# ---- the write verifier ----
V1=$("$H" verf "$PORT" 2>&1)
V1b=$("$H" verf "$PORT" 2>&1)
case "$V1" in [0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ok 0 "the write verifier is $V1" ;; *) echo "# $V1"; ok 1 "the write verifier" ;; esac
is "$V1b" "$V1" "the write verifier is the same for writes within one run"

# ---- fsync durability across SIGKILL ----
head -c $((9 << 20)) "$TMP/big" | tail -c $((3 << 20)) >"$TMP/dur"
run 0 "committed" "a 3 MiB file written and COMMITted over NFS" -- "$H" put "$PORT" "$TMP/dur" dur
kill -9 "$PID"
wait "$PID" 2>/dev/null
PID=
umount -l "$MNT" 2>/dev/null
start
ok $? "a new daemon starts on the same store" || { show_log; echo "1..$n"; exit 1; }
nfs-cat "$(url dur)" 2>/dev/null | cmp - "$TMP/dur"
ok $? "every committed byte is there after SIGKILL and restart (NFS)"
cmp "$MNT/dur" "$TMP/dur"
ok $? "and through FUSE"
V2=$("$H" verf "$PORT" 2>&1)
[ -n "$V2" ] && [ "$V2" != "$V1" ]
ok $? "the write verifier changed across the restart ($V1 -> $V2)"

# ---- an orderly stop keeps what was written without COMMIT too ----
echo "unstable but flushed at stop" >"$TMP/u"
nfs-cp "$TMP/u" "$(url unstable)" >/dev/null 2>&1
stop TERM
ok $? "the daemon stops cleanly at SIGTERM"
start
ok $? "and starts again" || { show_log; echo "1..$n"; exit 1; }
is "$(nfs-cat "$(url unstable)" 2>&1)" "unstable but flushed at stop" "an uncommitted nfs-cp write survives an orderly stop"
cmp "$MNT/big" "$TMP/big"
ok $? "the 50 MiB file is intact after two restarts"
stop TERM
ok $? "the daemon stops cleanly at the end"

[ "$fail" -ne 0 ] && show_log
echo "1..$n"
[ "$fail" -eq 0 ]
