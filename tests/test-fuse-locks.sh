#!/bin/bash
# test-fuse-locks.sh -- fcntl and flock locks on a FUSE mount of bucketfs,
# from real programs in separate processes: flock(1) exclusive and shared,
# a blocked flock and F_SETLKW released when the holder goes, F_GETLK
# naming the holder's pid, POSIX locks dropped at close, OFD locks
# dropped at the last close, a signal interrupting F_SETLKW (EINTR),
# EDEADLK for two processes waiting on each other, more blocked requests
# than the daemon has worker threads, proof that the
# daemon holds the locks (a lock request waits while the daemon is
# stopped), and a clean daemon stop with a request still blocked.
#
# Runs in a private mount namespace (unshare -m); needs root, /dev/fuse
# and flock(1) (util-linux).
set -u
. "$(dirname "$0")/tap.sh"
if ! command -v flock >/dev/null; then
	echo "1..0 # SKIP needs flock(1) (util-linux)"
	exit 0
fi
in_private_ns "$@"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BUCKETFS_BIN:-$ROOT/build/bucketfs}
HELPER=${BUCKETFS_TESTS:-$ROOT/build/tests}/helper-lock
TMP=$(mktemp -d /tmp/bucketfs-locks-XXXXXX)
STORE="file://$TMP/store"
MNT=$TMP/mnt LOG=$TMP/daemon.log CONF=$TMP/test.conf
PID=
BG=()
export BUCKETFS_PASSWORD=fuse-locks-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
mkdir -p "$MNT"
: >"$LOG"
printf '[filesystem]\nflush_interval = "500ms"\n[cache]\ndir = "%s/cache"\n' "$TMP" >"$CONF"

cleanup() {
	for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$PID" ] && kill -CONT "$PID" 2>/dev/null && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
# has FILE PATTERN DESCRIPTION: FILE has a line matching PATTERN.
has() {
	if grep -qE -- "$2" "$1"; then ok 0 "$3"; else echo "# $1 has no '$2':"; sed 's/^/#   /' "$1"; ok 1 "$3"; fi
}
# until_has FILE PATTERN: wait up to 20 s for a line (0), else 1.
until_has() {
	for _ in $(seq 400); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# bg OUT ARGS...: helper-lock in the background, output to OUT; $! in LAST.
bg() {
	local out=$1; shift
	"$HELPER" "$@" >"$out" 2>&1 &
	LAST=$!
	BG+=("$LAST")
}

# ---- mount ----

"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" >>"$LOG" 2>&1 &
PID=$!
for _ in $(seq 600); do is_mounted "$MNT" && break; alive "$PID" || break; sleep 0.05; done
is_mounted "$MNT"
ok $? "bucketfs mounts" || { tail "$LOG"; exit 1; }
F=$MNT/locked
echo data >"$F"

# ---- flock(1) ----

mkfifo "$TMP/release"
flock "$F" -c "echo held > $TMP/flock-held; read _ < $TMP/release" &
HOLDER=$!
BG+=("$HOLDER")
until_has "$TMP/flock-held" held
ok $? "flock: a first process holds an exclusive lock"
flock -n "$F" true
ok $((! $?)) "flock -n: a second process cannot take it"
flock -n -s "$F" true
ok $((! $?)) "flock -n -s: nor a shared one"
(flock "$F" -c "echo got > $TMP/flock-got") &
WAITER=$!
BG+=("$WAITER")
sleep 0.5
[ ! -e "$TMP/flock-got" ]
ok $? "flock (blocking) waits while it is held"
echo >"$TMP/release"
wait_exit "$HOLDER"
wait_exit "$WAITER"
ok $? "the blocked flock returns when the holder lets go"
[ -e "$TMP/flock-got" ]
ok $? "... and got the lock"
flock -n "$F" true
ok $? "flock -n succeeds once nobody holds it"

flock -s "$F" -c "echo held > $TMP/shared-held; read _ < $TMP/release" &
HOLDER=$!
BG+=("$HOLDER")
until_has "$TMP/shared-held" held
flock -n -s "$F" true
ok $? "flock -s: shared locks share"
flock -n "$F" true
ok $((! $?)) "flock: an exclusive lock waits for shared holders"
"$HELPER" "$F" lk:w:0:0 >"$TMP/indep" 2>&1
has "$TMP/indep" "lk w 0 0: ok" "flock and fcntl locks are independent"
echo >"$TMP/release"
wait_exit "$HOLDER"

# ---- fcntl locks ----

bg "$TMP/a" "$F" lk:w:0:10 say:held sleep:60000
A=$LAST
until_has "$TMP/a" held
has "$TMP/a" "lk w 0 10: ok" "F_SETLK: a process locks bytes 0-9"
"$HELPER" "$F" lk:w:5:1 lk:r:9:1 lk:w:10:5 get:r:3:1 get:w:20:5 >"$TMP/b" 2>&1
has "$TMP/b" "lk w 5 1: EAGAIN" "F_SETLK: another process's write lock conflicts"
has "$TMP/b" "lk r 9 1: EAGAIN" "F_SETLK: so does a read lock on its range"
has "$TMP/b" "lk w 10 5: ok" "F_SETLK: the bytes after it are free"
has "$TMP/b" "get r 3 1: w 0 10 pid=$A\$" "F_GETLK names the holder: type, range and pid"
has "$TMP/b" "get w 20 5: unlocked" "F_GETLK of a free range: F_UNLCK"

bg "$TMP/w" "$F" lkw:w:0:1 say:got
W=$LAST
sleep 0.5
! grep -q got "$TMP/w"
ok $? "F_SETLKW waits while the range is held"
kill "$A"; wait "$A" 2>/dev/null
wait_exit "$W"
has "$TMP/w" "lkw w 0 1: ok" "F_SETLKW is granted when the holder exits"

bg "$TMP/a" "$F" lk:w:100:1 close say:closed sleep:60000
A=$LAST
until_has "$TMP/a" closed
"$HELPER" "$F" lk:w:100:1 >"$TMP/b" 2>&1
has "$TMP/b" "lk w 100 1: ok" "close(2) drops the process's POSIX locks"
kill "$A"; wait "$A" 2>/dev/null

bg "$TMP/a" "$F" ofd:w:200:10 say:held sleep:60000
A=$LAST
until_has "$TMP/a" held
"$HELPER" "$F" lk:w:205:1 >"$TMP/b" 2>&1
has "$TMP/b" "lk w 205 1: EAGAIN" "an OFD lock conflicts with another process's POSIX lock"
kill "$A"; wait "$A" 2>/dev/null
"$HELPER" "$F" lk:w:205:1 >"$TMP/b" 2>&1
has "$TMP/b" "lk w 205 1: ok" "an OFD lock goes with the last close of its file"

bg "$TMP/a" "$F" lk:w:300:1 say:held sleep:60000
A=$LAST
until_has "$TMP/a" held
"$HELPER" "$F" alarm:500 lkw:w:300:1 >"$TMP/b" 2>&1
has "$TMP/b" "lkw w 300 1: EINTR" "a signal interrupts a blocked F_SETLKW (EINTR)"
kill "$A"; wait "$A" 2>/dev/null

bg "$TMP/a" "$F" lk:w:400:1 say:held sleep:1500 lkw:w:401:1
A=$LAST
until_has "$TMP/a" held
bg "$TMP/b" "$F" lk:w:401:1 say:held lkw:w:400:1
B=$LAST
wait_exit "$A"
has "$TMP/a" "lkw w 401 1: EDEADLK" "two processes waiting on each other: EDEADLK"
wait_exit "$B"
has "$TMP/b" "lkw w 400 1: ok" "the other one gets its lock when the first exits"

# The kernel forwards locks to the daemon: while it is stopped, a lock
# request from a file already open waits (a kernel-local lock would not).
bg "$TMP/a" "$F" say:opened sleep:1000 lk:w:500:1 say:done
A=$LAST
until_has "$TMP/a" opened
kill -STOP "$PID"
sleep 2
! grep -q "lk w 500 1" "$TMP/a"
ok $? "a lock request waits while the daemon is stopped: the daemon holds locks"
kill -CONT "$PID"
wait_exit "$A"
has "$TMP/a" "lk w 500 1: ok" "... and is granted once it runs again"

# More blocked requests than the daemon has FUSE worker threads (16): the
# mount still serves, and the holder's exit reaches the daemon.
bg "$TMP/a" "$F" lk:w:700:1 say:held sleep:60000
A=$LAST
until_has "$TMP/a" held
WAITERS=()
for i in $(seq 24); do
	bg "$TMP/many-$i" "$F" lkw:r:700:1
	WAITERS+=("$LAST")
done
sleep 1
is_data=$(timeout 10 cat "$F" 2>&1)
[ "$is_data" = data ]
ok $? "with 24 lock requests blocked the mount still serves reads"
kill "$A"; wait "$A" 2>/dev/null
got=0
for p in "${WAITERS[@]}"; do wait_exit "$p"; done
for i in $(seq 24); do grep -q "lkw r 700 1: ok" "$TMP/many-$i" && got=$((got+1)); done
[ "$got" -eq 24 ]
ok $? "all 24 get their shared lock when the holder exits (got $got)"

# ---- stopping with a request blocked ----

bg "$TMP/a" "$F" lk:w:600:1 say:held sleep:60000
A=$LAST
until_has "$TMP/a" held
bg "$TMP/w" "$F" lkw:w:600:1
W=$LAST
sleep 0.5
kill -TERM "$PID"
wait_exit "$PID"
ok $? "SIGTERM with a lock request blocked: the daemon stops cleanly"
PID=
wait_exit "$W"
! grep -q "lkw w 600 1: ok" "$TMP/w"
ok $? "the blocked request fails instead of being granted"

[ "$fail" -ne 0 ] && { echo "# daemon log:"; tail -n 30 "$LOG" | sed 's/^/#   /'; }
echo "1..$n"
[ "$fail" -eq 0 ]
