#!/bin/bash
# test-nbd.sh -- the NBD server through the Debian userspace clients:
# exports are the files of /.nbd (made through the FUSE mount of the same
# daemon, listed without a restart), nbdinfo --list and the export's size,
# flags and block sizes, nbdcopy of a random image in and out, qemu-io for
# every command (write, write -z, write -z -u, discard, flush, write -f)
# with qemu-img map showing the holes (BLOCK_STATUS), requests past the
# end (nbdsh, libnbd's strict mode off), EBUSY for truncate / rm / mv over
# an export in use (ftruncate and O_TRUNC too), FLUSHed and FUA data (a
# FLUSH on another connection too) surviving SIGKILL, a Unix socket, a
# daemon with only NBD, a read-only replica (READ_ONLY, writes EPERM), and
# ext4 on a loop device over nbdfuse: mkfs, tar -x of /usr/include, diff,
# e2fsck -fn clean.
#
# Runs in a private mount namespace (unshare -m).  Needs root, /dev/fuse,
# a loop device, libnbd-bin, python3-libnbd, qemu-utils.
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-nbd-XXXXXX)
STORE="file://$TMP/store"
MNT=$TMP/mnt FUSEDIR=$TMP/nbdfuse EXT=$TMP/ext4
CONF=$TMP/test.conf LOG=$TMP/daemon.log LOG2=$TMP/daemon2.log
NSOCK=$TMP/nbd.sock ASOCK=$TMP/admin.sock ASOCK2=$TMP/admin2.sock
PID= PID2= FPID= HOLD= LOOP=
export BUCKETFS_PASSWORD=nbd-test-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_RUN_DIR
mkdir -p "$MNT" "$FUSEDIR" "$EXT"
: >"$LOG"; : >"$LOG2"
# nbdsh is python3 with libnbd's module: Debian's python, whatever PATH says.
nbdsh() { PATH=/usr/bin:$PATH command nbdsh "$@"; }

cleanup() {
	umount "$EXT" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	[ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null
	umount -l "$FUSEDIR" 2>/dev/null
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null
	[ -n "$PID2" ] && kill -9 "$PID2" 2>/dev/null
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
show_log() { echo "# daemon log:"; tail -n 40 "$LOG" | sed 's/^/#   /'; }
wait_serving() {   # LOG PID COUNT_BEFORE
	for _ in $(seq 600); do
		[ "$(grep -c "info: serving " "$1")" -gt "$3" ] && return 0
		alive "$2" || return 1
		sleep 0.05
	done
	return 1
}
start() {
	local old; old=$(grep -c "info: serving " "$LOG")
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" --socket "$ASOCK" \
		--nbd 127.0.0.1:0 --nbd-socket "$NSOCK" >>"$LOG" 2>&1 &
	PID=$!
	wait_serving "$LOG" "$PID" "$old" && is_mounted "$MNT" || return 1
	PORT=$(grep "info: serving " "$LOG" | tail -n 1 | grep -oE "tcp 127\.0\.0\.1:[0-9]+" | cut -d: -f2)
	URI=nbd://127.0.0.1:$PORT
}
stop() {
	kill "-${1:-TERM}" "$PID"
	wait_exit "$PID" 2>/dev/null
	local st=$?
	PID=
	umount -l "$MNT" 2>/dev/null
	return $st
}

cat > "$CONF" <<EOF
[filesystem]
flush_interval = "0"
lease_interval = "300ms"
[cache]
dir = ""
EOF

# ---- exports are files ----
start
ok $? "a daemon with FUSE and NBD (TCP and a Unix socket) starts"
run 0 "frontend nbd tcp 127\.0\.0\.1:$PORT, unix $NSOCK" "status shows the NBD addresses" -- \
	"$BIN" status --socket "$ASOCK" --store "$STORE"
out=$(nbdinfo --list "$URI" 2>&1)
grep -q 'export=' <<<"$out"
ok $((! $?)) "no /.nbd: an empty list"
mkdir "$MNT/.nbd" && truncate -s 256M "$MNT/.nbd/disk1" && mkdir "$MNT/.nbd/notanexport"
ok $? "an export made with truncate through the FUSE mount"
out=$(nbdinfo --list "$URI" 2>&1)
grep -q 'export="disk1"' <<<"$out" && ! grep -q notanexport <<<"$out"
ok $? "nbdinfo --list shows it at once (regular files only)"
run 0 'export="disk1"' "the list over the Unix socket" -- nbdinfo --list "nbd+unix:///?socket=$NSOCK"
info=$(nbdinfo --json "$URI/disk1" 2>&1)
for kv in '"export-size": 268435456' '"can_flush": true' '"can_fua": true' '"can_trim": true' \
	  '"can_zero": true' '"can_multi_conn": true' '"is_read_only": false' \
	  '"block_size_minimum": 1' '"block_size_preferred": 4096' '"block_size_maximum": 33554432' \
	  '"base:allocation"'; do
	grep -qF "$kv" <<<"$info"
	ok $? "nbdinfo: $kv"
done
run 0 'description: bucketfs file /\.nbd/disk1' "the export's description" -- nbdinfo "$URI/disk1"
run 1 "" "an unknown export is refused" -- nbdinfo "$URI/nosuch"
run 1 "" "the default export (empty name) is refused" -- nbdinfo "$URI/"

# ---- nbdcopy in and out ----
head -c 64M /dev/urandom > "$TMP/img"
nbdcopy "$TMP/img" "$URI/disk1" 2>&1 && nbdcopy "$URI/disk1" "$TMP/out" 2>&1
ok $? "nbdcopy a 64 MiB random image in and out"
cmp "$TMP/img" <(head -c 64M "$TMP/out")
ok $? "the image reads back the same"
cmp -s <(tail -c +$((64 * 1048576 + 1)) "$TMP/out") <(head -c $((192 * 1048576)) /dev/zero)
ok $? "the rest of the export reads as zeroes"
rm -f "$TMP/out"

# ---- qemu-io: every command ----
qio() { qemu-io -f raw "$@" "$URI/disk1" 2>&1; }
qok() { local desc=$1; shift; local out; out=$(qio "$@"); local st=$?
	if [ $st -ne 0 ] || grep -qiE "fail|error|mismatch" <<<"$out"; then
		sed 's/^/#   /' <<<"$out"; ok 1 "$desc"; else ok 0 "$desc"; fi; }
qok "qemu-io write + read back" -c 'write -P 0xa5 100M 1M' -c 'read -P 0xa5 100M 1M'
qok "unaligned write and read" -c 'write -P 0x3c 90001000 3000' -c 'read -P 0x3c 90001000 3000'
qok "write -z (WRITE_ZEROES, NO_HOLE)" -c 'write -P 0x11 110M 256k' -c 'write -z 110M 256k' -c 'read -P 0 110M 256k'
qok "write -z -u (WRITE_ZEROES, may punch)" -c 'write -P 0x22 120M 1M' -c 'write -z -u 120M 1M' -c 'read -P 0 120M 1M'
qok "discard (TRIM)" -c 'write -P 0x33 130M 4M' -c 'discard 130M 4M' -c 'read -P 0 130M 4M'
qok "flush" -c 'write -P 0x44 140M 64k' -c 'flush' -c 'read -P 0x44 140M 64k'
qok "write -f (FUA)" -c 'write -f -P 0x55 150M 4k' -c 'read -P 0x55 150M 4k'
qok "many requests in flight (aio_write)" -c 'aio_write -P 0x66 160M 1M' -c 'aio_write -P 0x67 161M 1M' \
	-c 'aio_write -P 0x68 162M 1M' -c 'aio_flush' -c 'read -P 0x67 161M 1M'
map=$(qemu-img map --output=json -f raw "$URI/disk1" 2>&1)
# at OFFSET: "zero" or "data", from the map's entry covering it
map_at() {
	/usr/bin/python3 -c '
import json, sys
off = int(sys.argv[1])
for e in json.loads(sys.stdin.read()):
    if e["start"] <= off < e["start"] + e["length"]:
        print("data" if e["data"] else "zero" if e["zero"] else "?")
' "$1" <<<"$map"
}
is "$(map_at $((130 << 20)))/$(map_at $((134 << 20 - 1)))" zero/zero \
	"qemu-img map: the discarded range is a hole (BLOCK_STATUS)"
is "$(map_at $((120 << 20)))" zero "qemu-img map: write -z -u left a hole"
is "$(map_at 0)/$(map_at $((64 << 20 - 1)))" data/data "qemu-img map: the copied image is data"
is "$(map_at $((80 << 20)))" zero "qemu-img map: never-written space is a hole"
is "$(map_at $((150 << 20)))" data "qemu-img map: the FUA write is data"

# ---- requests past the end (libnbd checks bounds itself unless told not to) ----
out=$(nbdsh -c "
h.set_strict_mode(0)
h.connect_uri('$URI/disk1')
def err(f):
    try:
        f(); return 'ok'
    except nbd.Error as e:
        return str(e.errno)
print('read', err(lambda: h.pread(4096, h.get_size() - 100)))
print('write', err(lambda: h.pwrite(b'x' * 4096, h.get_size() - 100)))
print('huge', err(lambda: h.pread(512, 2**63 - 1)))
print('trim', err(lambda: h.trim(8192, h.get_size())))
print('still', h.pread(4, 150 * 2**20) == b'\x55' * 4)
" 2>&1)
grep -q "read EINVAL" <<<"$out"; ok $? "a read past the end is EINVAL"
grep -q "write ENOSPC" <<<"$out"; ok $? "a write past the end is ENOSPC"
grep -q "huge EINVAL" <<<"$out"; ok $? "an offset near 2^63 is EINVAL"
grep -q "trim EINVAL" <<<"$out"; ok $? "a trim past the end is EINVAL"
grep -q "still True" <<<"$out"; ok $? "the connection still serves afterwards"
[ "$fail" -ne 0 ] && sed 's/^/#   /' <<<"$out"

# ---- an export in use is pinned ----
# wait_count PATTERN N: until the log has more than N lines matching
wait_count() {
	for _ in $(seq 200); do
		[ "$(grep -c -- "$1" "$LOG")" -gt "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
att=$(grep -c "attached export disk1" "$LOG")
det=$(grep -c "detached export disk1" "$LOG")
env PATH=/usr/bin:$PATH nbdsh -u "$URI/disk1" -c 'import time; time.sleep(30)' &
HOLD=$!
wait_count "attached export disk1" "$att"
ok $? "a client holds the export"
run 1 "busy" "truncate of an export in use: EBUSY" -- truncate -s 1G "$MNT/.nbd/disk1"
run 1 "busy" "rm of an export in use: EBUSY" -- rm -f "$MNT/.nbd/disk1"
touch "$MNT/.nbd/other"
run 1 "busy" "mv over an export in use: EBUSY" -- mv -f "$MNT/.nbd/other" "$MNT/.nbd/disk1"
out=$(/usr/bin/python3 -c '
import errno, os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR)
try:
    os.ftruncate(fd, 4096); print("ftruncate ok")
except OSError as e:
    print("ftruncate", errno.errorcode[e.errno])
os.close(fd)
try:
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC)); print("otrunc ok")
except OSError as e:
    print("otrunc", errno.errorcode[e.errno])
' "$MNT/.nbd/disk1" 2>&1)
grep -q "ftruncate EBUSY" <<<"$out"; ok $? "ftruncate through an open fd of an export in use: EBUSY"
grep -q "otrunc EBUSY" <<<"$out"; ok $? "open(O_TRUNC) of an export in use: EBUSY"
[ "$fail" -ne 0 ] && sed 's/^/#   /' <<<"$out"
mv "$MNT/.nbd/disk1" "$MNT/.nbd/renamed" && mv "$MNT/.nbd/renamed" "$MNT/.nbd/disk1"
ok $? "an export in use can be renamed (and back)"
grep -q "in use as nbd export disk1 .*refused" "$LOG"
ok $? "the log names the export"
is "$(stat -c %s "$MNT/.nbd/disk1")" 268435456 "the export kept its size"
kill "$HOLD"; wait "$HOLD" 2>/dev/null; HOLD=
wait_count "detached export disk1" "$det"
truncate -s 300M "$MNT/.nbd/other" && rm "$MNT/.nbd/other"
ok $? "an export without clients can change"

# ---- FLUSH survives SIGKILL ----
qok "write and flush before the kill" -c 'write -P 0x77 200M 2M' -c 'flush'
# nbdsh, not qemu-io: qemu flushes when it closes the device
nbdsh -u "$URI/disk1" -c "import os; h.pwrite(b'\x79' * 65536, 210 * 2**20, nbd.CMD_FLAG_FUA); os._exit(0)" 2>&1
ok $? "a FUA write (no FLUSH, no DISC) before the kill"
nbdsh -u "$URI/disk1" -c "import os; h.pwrite(b'\x7a' * 65536, 220 * 2**20); h.flush(); os._exit(0)" 2>&1
ok $? "a write and FLUSH (no DISC) before the kill"
nbdsh -c "import os
a = nbd.NBD(); a.connect_uri('$URI/disk1')
b = nbd.NBD(); b.connect_uri('$URI/disk1')
a.pwrite(b'\x7b' * 65536, 230 * 2**20); b.flush(); os._exit(0)" 2>&1
ok $? "CAN_MULTI_CONN: a write on one connection, FLUSH on another, before the kill"
stop KILL
start
ok $? "restart after SIGKILL"
qok "the flushed data is there" -c 'read -P 0x77 200M 2M' -c 'read -P 0xa5 100M 1M'
qok "the FUA write is there" -c 'read -P 0x79 210M 64k'
qok "the write FLUSHed by nbdsh is there" -c 'read -P 0x7a 220M 64k'
qok "the write FLUSHed by the other connection is there" -c 'read -P 0x7b 230M 64k'
nbdcopy "$URI/disk1" - 2>/dev/null | head -c 64M | cmp - "$TMP/img"
ok $? "and the image copied before"

# ---- a read-only replica with only NBD ----
"$BIN" run -c "$CONF" --store "$STORE" --read-only --socket "$ASOCK2" \
	--nbd-socket "$TMP/ro.sock" >>"$LOG2" 2>&1 &
PID2=$!
wait_serving "$LOG2" "$PID2" 0
ok $? "a daemon with only NBD (a read-only replica) starts"
RO="nbd+unix:///disk1?socket=$TMP/ro.sock"
run 0 '"is_read_only": true' "its exports are READ_ONLY" -- nbdinfo --json "$RO"
out=$(nbdsh -c "
h.set_strict_mode(0)
h.connect_uri('$RO')
try:
    h.pwrite(b'y' * 512, 0); print('wrote')
except nbd.Error as e:
    print(e.errno)
print('read', h.pread(4, 200 * 2**20) == b'\x77' * 4)
" 2>&1)
grep -q EPERM <<<"$out"; ok $? "a write to the replica is EPERM"
grep -q "read True" <<<"$out"; ok $? "the replica reads the writer's data"
kill -TERM "$PID2"; wait_exit "$PID2"; ok $? "the replica stops cleanly"; PID2=

# ---- ext4 on a loop device over nbdfuse ----
truncate -s 512M "$MNT/.nbd/ext4disk"
nbdfuse -P "$TMP/nbdfuse.pid" "$FUSEDIR/disk" "$URI/ext4disk" >"$TMP/nbdfuse.log" 2>&1 &
FPID=$!
for _ in $(seq 200); do [ -s "$TMP/nbdfuse.pid" ] && break; sleep 0.05; done
[ -f "$FUSEDIR/disk" ]
ok $? "nbdfuse shows the export as a file"
LOOP=$(losetup -f --show "$FUSEDIR/disk" 2>&1)
ok $? "a loop device on it ($LOOP)"
mkfs.ext4 -q -F -E nodiscard "$LOOP" >"$TMP/mkfs.log" 2>&1
ok $? "mkfs.ext4"
mount "$LOOP" "$EXT" && tar -C /usr -cf - include | tar -C "$EXT" -xf -
ok $? "mount and tar -x of /usr/include"
diff -r --no-dereference /usr/include "$EXT/include" >/dev/null
ok $? "diff -r: the tree is the same"
fstrim "$EXT" 2>/dev/null
sync && umount "$EXT"
ok $? "umount"
e2fsck -fn "$LOOP" >"$TMP/fsck.log" 2>&1
ok $? "e2fsck -fn is clean"
[ "$fail" -ne 0 ] && sed 's/^/#   /' "$TMP/fsck.log" | tail -n 10
losetup -d "$LOOP"; LOOP=
umount "$FUSEDIR"; wait "$FPID" 2>/dev/null; FPID=

stop
ok $? "the daemon stops cleanly"
grep -qE "error:|AddressSanitizer" "$LOG"
ok $((! $?)) "no errors in the log"

[ "$fail" -ne 0 ] && show_log
echo "1..$n"
[ "$fail" -eq 0 ]
