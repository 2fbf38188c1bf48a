#!/bin/bash
# test-fuse-corrupt.sh -- a byte flipped in a stored segment reaches an
# application through the FUSE mount as EIO ("Input/output error"), never
# as garbage or as another errno (EBADMSG: "Bad message"), and only for the
# extent it damaged: the file's other extents still read, and the log names
# the segment, frame, inode and extent.  A file:// store, the daemon
# stopped cleanly so everything is in the store, the disk cache removed
# before the restart so the damaged bytes are what the read gets.
#
# Runs in a private mount namespace (unshare -m).  Needs root and /dev/fuse.
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-corrupt-XXXXXX)
STORE="file://$TMP/store"
MNT=$TMP/mnt CONF=$TMP/test.conf LOG=$TMP/daemon.log
: >"$LOG"
PID=
export BUCKETFS_PASSWORD=fuse-corrupt-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
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

mounts() { grep -cE "info: mounted .* on $1( \(read-only\))?\$" "$LOG"; }

# start: the writer on $MNT, in the background, up within 30 s.
start() {
	local old; old=$(mounts "$MNT")
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ "$(mounts "$MNT")" -gt "$old" ] && is_mounted "$MNT" && return 0
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

# flip FILE OFFSET: xor one byte of FILE with 0x40, in place.
flip() {
	local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf %03o $((b ^ 0x40)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

cat > "$CONF" <<EOF
[filesystem]
flush_interval = "500ms"
[cache]
dir = "$TMP/cache"
EOF

EXT=32768
head -c $((8 * EXT)) /dev/urandom > "$TMP/src"
start
ok $? "the daemon mounts a new filesystem"
cp "$TMP/src" "$MNT/f"
cmp -s "$TMP/src" "$MNT/f"
ok $? "the file reads back before any damage"
stop
ok $? "a clean stop stores everything"

# The segment holding the file: the biggest object under segments/.
seg=$(find "$TMP/store" -path '*segments/*' -type f -printf '%s %p\n' | sort -n | tail -1 |
	cut -d' ' -f2)
size=$(stat -c %s "$seg" 2>/dev/null || echo 0)
[ "$size" -gt $((8 * EXT)) ]
ok $? "one segment holds the file's 8 frames ($size bytes: ${seg#"$TMP"/store/})"
# The middle of the object is inside a frame past the first ones.
flip "$seg" $((size / 2))
rm -rf "$TMP/cache"

start
ok $? "the daemon mounts the damaged store"
run 1 "Input/output error" "reading the damaged extent fails with EIO" -- \
	sh -c 'cat "$1" >/dev/null' cat "$MNT/f"
out=$(cat "$MNT/f" 2>&1 >/dev/null)
echo "# cat says: $out"
! grep -q "Bad message" <<<"$out"
ok $? "not EBADMSG"
dd if="$MNT/f" bs=$EXT count=1 status=none | cmp -s - <(head -c $EXT "$TMP/src")
ok $? "the first extent still reads, unchanged"
dd if="$MNT/f" bs=$EXT skip=7 count=1 status=none |
	cmp -s - <(tail -c $EXT "$TMP/src")
ok $? "the last extent still reads, unchanged"
grep -qE "error: data: frame [0-9]+ of segments/[0-9a-f]{2}/[0-9]+/[0-9]+ \(inode [0-9]+, extent [0-9]\): authentication failed \(corrupt or tampered\)" "$LOG"
ok $? "the log names segment, frame, inode and extent"
grep -E "authentication failed" "$LOG" | head -1 | sed 's/^/# log: /'
stop
ok $? "a clean stop after the failed reads"

[ "$fail" -ne 0 ] && show_log
echo "1..$n"
[ "$fail" -eq 0 ]
