#!/bin/bash
# test-ninep-frontend.sh -- the 9P2000.L frontend in the daemon, through a real client,
# diod's diodls and diodcat: a daemon serving only 9P (no mount) starts
# and `bucketfs status` names its TCP and Unix addresses; then, beside a
# FUSE mount of the same store, files made through the mount are listed
# (with their attributes) and read through 9P, and a clean stop.
# In a private mount namespace (the FUSE part); needs diod (install-deps).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-9p-XXXXXX)
STORE="file://$TMP/store" MNT=$TMP/mnt LOG=$TMP/daemon.log SOCK=$TMP/admin.sock
PORT=$((20000 + $$ % 10000))   # below the ephemeral range
PID=
export BUCKETFS_PASSWORD=ninep-diod-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
mkdir -p "$MNT"
: >"$LOG"
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
n=0 fail=0

# start ARGS...: a daemon on the store, until its admin socket answers.
start() {
	"$BIN" run --store "$STORE" --socket "$SOCK" "$@" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		"$BIN" status --socket "$SOCK" >/dev/null 2>&1 && return 0
		alive "$PID" || return 1
		sleep 0.05
	done
	return 1
}
stop() {
	kill -TERM "$PID"
	wait_exit "$PID"
	local st=$?
	PID=
	return $st
}

start --ninep "127.0.0.1:$PORT" --ninep-socket "$TMP/run/9p.sock"
ok $? "a daemon with only the 9P frontend starts"
run 0 "frontend 9p tcp 127.0.0.1:$PORT, unix $TMP/run/9p.sock" "status names the 9P addresses" -- \
	"$BIN" status --socket "$SOCK"
[ -S "$TMP/run/9p.sock" ]
ok $? "the Unix socket exists"
run 0 "" "diodls lists the empty root" -- diodls -s "127.0.0.1:$PORT" -a /
run 0 "^srw-rw---- " "the socket's mode is 0660" -- ls -l "$TMP/run/9p.sock"
run 0 "^d.* \.\.$" "diodls over the Unix socket" -- diodls -s "$TMP/run/9p.sock" -a / -l
stop
ok $? "clean stop"
[ ! -e "$TMP/run/9p.sock" ]
ok $? "the Unix socket is gone after the stop"

start --ninep "127.0.0.1:$PORT" --mount "$MNT"
ok $? "FUSE and 9P together"
run 1 "cannot listen on 127.0.0.1:$PORT" "a second daemon on the same port is refused" -- \
	"$BIN" run --store "file://$TMP/other" --socket "$TMP/other.sock" --ninep "127.0.0.1:$PORT"
[ ! -e "$TMP/other" ]
ok $? "... before it opened (or created) its store"
mkdir "$MNT/dir" && echo "through fuse" >"$MNT/dir/file" && echo top >"$MNT/top" &&
	ln -s dir/file "$MNT/link" && chmod 640 "$MNT/top"
ok $? "files made through the mount"
out=$(diodls -s "127.0.0.1:$PORT" -a / -l 2>&1)
grep -qE '^d.* dir$' <<<"$out" && grep -qE '^-rw-r-----.* 4 .* top$' <<<"$out" &&
	grep -qE ' link$' <<<"$out"
ok $? "diodls -l shows them with their modes and sizes" || sed 's/^/#   /' <<<"$out"
run 0 "^file$" "diodls of a subdirectory (aname /dir)" -- diodls -s "127.0.0.1:$PORT" -a /dir
is "$(diodcat -s "127.0.0.1:$PORT" -a / dir/file top 2>&1)" "through fuse
top" "diodcat reads them"
is "$(diodcat -s "127.0.0.1:$PORT" -a /dir file 2>&1)" "through fuse" "diodcat under aname /dir"
run 1 "No such file" "diodcat of a missing file fails" -- diodcat -s "127.0.0.1:$PORT" -a / nope
run 1 "" "an aname that is a file is refused" -- diodls -s "127.0.0.1:$PORT" -a /top
pids=
for _ in $(seq 20); do diodls -s "127.0.0.1:$PORT" -a / >/dev/null 2>&1 & pids="$pids $!"; done
# shellcheck disable=SC2086
wait $pids
run 0 "top" "twenty clients at once, then one more" -- diodls -s "127.0.0.1:$PORT" -a /
umount "$MNT"
wait_exit "$PID"
ok $? "the unmount stops the daemon (and its 9P server) cleanly"
PID=

[ "$fail" -ne 0 ] && { echo "# daemon log:"; tail -n 30 "$LOG" | sed 's/^/#   /'; }
echo "1..$n"
[ "$fail" -eq 0 ]
