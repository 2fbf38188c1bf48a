#!/bin/bash
# test-net-daemon.sh -- the daemon's plumbing for the network frontends
# together (NFS, 9P on TCP and a Unix socket, NBD on TCP and a Unix
# socket): `run --check` rejects a malformed address as `run` would, a
# busy address fails the start before the store is touched, status names
# every listener, SIGTERM stops within seconds while one client is blocked
# mid-request and another floods requests and never reads its replies,
# and a read-only replica serves every network frontend.
set -u
. "$(dirname "$0")/tap.sh"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-netd-XXXXXX)
STORE="file://$TMP/store" SOCK=$TMP/admin.sock LOG=$TMP/daemon.log
: >"$LOG"
PID= HOLD=
export BUCKETFS_PASSWORD=net-daemon-test-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_RUN_DIR
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	[ -n "$HOLD" ] && kill -9 "$HOLD" 2>/dev/null
	jobs -p | xargs -r kill -9 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
n=0 fail=0
ALL=(--nfs 127.0.0.1:0 --ninep 127.0.0.1:0 --ninep-socket "$TMP/9p.sock"
     --nbd 127.0.0.1:0 --nbd-socket "$TMP/nbd.sock")

# ---- run --check: addresses are checked (without binding) ----
for f in --nfs --ninep --nbd; do
	run 1 "bad listen address \"garbage\"" "run --check rejects $f garbage" -- \
		"$BIN" run --store "$STORE" --check "$f" garbage
	run 0 "" "run --check takes $f 127.0.0.1:1 (not bound)" -- \
		"$BIN" run --store "$STORE" --check "$f" 127.0.0.1:1
done
run 0 "^nfs .*\(read-only\)" "run --check --read-only says NFS is read-only" -- \
	"$BIN" run --store "$STORE" --check --read-only "${ALL[@]}"
run 0 "^nbd .*\(read-only\)" "run --check --read-only says NBD is read-only" -- \
	"$BIN" run --store "$STORE" --check --read-only "${ALL[@]}"

# ---- a busy address fails before the store is opened ----
HOLDPORT=$(( 20000 + $$ % 20000 ))
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(120)' "$HOLDPORT" & HOLD=$!
for _ in $(seq 50); do ss -Hltn "sport = :$HOLDPORT" | grep -q . && break; sleep 0.1; done
for f in --nfs --nbd --ninep; do
	run 1 "Address already in use" "$f on a busy port fails the start" -- \
		"$BIN" run --store "$STORE" --socket "$SOCK" "$f" "127.0.0.1:$HOLDPORT"
done
[ ! -e "$TMP/store" ] || [ -z "$(ls -A "$TMP/store")" ]
ok $? "... before the store was opened (no filesystem made)"
kill -9 "$HOLD"; wait "$HOLD" 2>/dev/null; HOLD=

# ---- every network frontend, and a stop with stuck clients ----
start() {
	local old; old=$(grep -c "info: serving " "$LOG")
	"$BIN" run --store "$STORE" --socket "$SOCK" "$@" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ "$(grep -c "info: serving " "$LOG")" -gt "$old" ] && return 0
		alive "$PID" || return 1
		sleep 0.05
	done
	return 1
}
port_of() { "$BIN" status --socket "$SOCK" | sed -n "s/^frontend $1 tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p"; }
start "${ALL[@]}"
ok $? "a daemon with every network frontend starts"
st=$("$BIN" status --socket "$SOCK" 2>&1)
grep -qE "^frontend nfs tcp 127\.0\.0\.1:[0-9]+$" <<<"$st" &&
	grep -qE "^frontend 9p tcp 127\.0\.0\.1:[0-9]+, unix $TMP/9p\.sock$" <<<"$st" &&
	grep -qE "^frontend nbd tcp 127\.0\.0\.1:[0-9]+, unix $TMP/nbd\.sock$" <<<"$st"
ok $? "status names every listener" || sed 's/^/# /' <<<"$st"

NFSP=$(port_of nfs) NINEP=$(port_of 9p) NBDP=$(port_of nbd)
# NFS NULL calls, record-marked, that the client never reads the replies of
printf '\x80\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\x86\xa3\x00\x00\x00\x03%040d' 0 |
	head -c 44 >"$TMP/null.rec"
for _ in $(seq 8); do cat "$TMP/null.rec" "$TMP/null.rec" >"$TMP/x" && cat "$TMP/x" "$TMP/x" >"$TMP/null.rec"; done
exec 5<>"/dev/tcp/127.0.0.1/$NFSP"
cat "$TMP/null.rec" "$TMP/null.rec" "$TMP/null.rec" >&5 &
# the others blocked mid-request: half a header each
exec 6<>"/dev/tcp/127.0.0.1/$NINEP" 7<>"/dev/tcp/127.0.0.1/$NBDP" 8<>"/dev/tcp/127.0.0.1/$NFSP"
printf '\x40\x00' >&6; printf '\x00\x00' >&7; printf '\x80\x00' >&8
sleep 2
alive "$PID"
ok $? "the daemon serves on under the flood"
t0=$(date +%s)
kill -TERM "$PID"; wait_exit "$PID"; st=$?; PID=
t=$(( $(date +%s) - t0 ))
is "$st" 0 "SIGTERM with stuck clients: a clean stop"
[ "$t" -le 10 ]
ok $? "... within seconds (${t}s)"
exec 5>&- 6>&- 7>&- 8>&-
jobs -p | xargs -r kill -9 2>/dev/null; wait 2>/dev/null

# ---- a read-only replica with every network frontend ----
start --read-only "${ALL[@]}"
ok $? "a replica with every network frontend starts"
run 0 "role replica" "status: the replica's role" -- "$BIN" status --socket "$SOCK"
run 0 "^frontend nbd tcp" "status: the replica's NBD" -- "$BIN" status --socket "$SOCK"
kill -TERM "$PID"; wait_exit "$PID"; st=$?; PID=
is "$st" 0 "the replica stops cleanly"

echo "1..$n"
[ "$fail" -eq 0 ]
