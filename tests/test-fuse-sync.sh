#!/bin/bash
# test-fuse-sync.sh -- how long unsynced writes on the FUSE mount stay at
# risk.  sync(1) cannot be a barrier there (the kernel never sends
# FUSE_SYNCFS on a /dev/fuse mount; docs/DESIGN.md), so the bound is the
# default flush interval, 5 s as ext4's commit interval: a file written and
# closed without fsync, a directory made, and a file still open whose pages
# `sync -f` pushed out of the kernel's cache all survive kill -9 once
# 5 s plus a generous margin have passed.  The margin only ever makes the
# test wait longer: nothing here asserts that something was fast.
#
# Runs in a private mount namespace (tap.sh in_private_ns).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-fsync-XXXXXX)
STORE="file://$TMP/store"
MNT=$TMP/mnt CONF=$TMP/test.conf LOG=$TMP/daemon.log
# Default interval 5 s; 20 s is the bound plus a margin for a loaded machine.
WAIT=${FUSE_SYNC_WAIT:-20}
: >"$LOG"
PID=
export BUCKETFS_PASSWORD=fuse-sync-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
mkdir -p "$MNT"

cleanup() {
	exec 3>&- 2>/dev/null
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
show_log() { echo "# daemon log:"; tail -n 30 "$LOG" | sed 's/^/#   /'; }

mounts() { grep -cE "info: mounted .* on $1\$" "$LOG"; }

# start: the writer on $MNT in the background; 0 once it is mounted
# (the log says so and the mount is listed), 1 if it died or 60 s passed.
start() {
	local old; old=$(mounts "$MNT")
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 1200); do
		[ "$(mounts "$MNT")" -gt "$old" ] && is_mounted "$MNT" && return 0
		alive "$PID" || return 1
		sleep 0.05
	done
	return 1
}

# ---- the default ----

"$BIN" init "$TMP/init.conf" >/dev/null
grep -qx 'flush_interval = "5s"' "$TMP/init.conf"
ok $? "bucketfs init writes the default flush_interval = \"5s\""

# No flush_interval here: the default is what is tested.
printf '[cache]\ndir = "%s/cache"\n' "$TMP" >"$CONF"
start
ok $? "the writer mounts with the default flush interval"
grep -qE "flush +every 5000 ms" <("$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" --check 2>&1)
ok $? "run --check shows a flush every 5000 ms"

# ---- unsynced writes, then kill -9 after the bound ----

head -c 200000 /dev/urandom >"$TMP/closed"
cp "$TMP/closed" "$MNT/closed"          # closed, never fsynced
mkdir "$MNT/dir"
head -c 100000 /dev/urandom >"$TMP/open"
exec 3>"$MNT/open"
cat "$TMP/open" >&3                     # still open: pages may sit in the kernel
sync -f "$MNT"
ok $? "sync -f on the mount succeeds"
sleep "$WAIT"
{ kill -9 "$PID"; wait_exit "$PID"; } 2>/dev/null; PID=
exec 3>&-
start
ok $? "restart after kill -9"
cmp -s "$TMP/closed" "$MNT/closed"
ok $? "a file closed without fsync survives kill -9 ${WAIT} s later"
[ -d "$MNT/dir" ]
ok $? "a directory made without fsync survives kill -9 ${WAIT} s later"
cmp -s "$TMP/open" "$MNT/open"
ok $? "a file still open, after sync -f, survives kill -9 ${WAIT} s later"

kill -TERM "$PID"; wait_exit "$PID"
ok $? "clean stop"
PID=

[ "$fail" -ne 0 ] && show_log
echo "1..$n"
[ "$fail" -eq 0 ]
