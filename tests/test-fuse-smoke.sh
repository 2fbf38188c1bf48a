#!/bin/bash
# test-fuse-smoke.sh -- bucketfs run end to end: `bucketfs init` and the
# configuration checks, then a FUSE mount of a file:// store used the way
# one uses ext4 (files, directories, renames, links, modes, owners,
# truncate, xattrs, a copied source tree), a clean stop on SIGTERM and a
# restart that finds everything, kill -9 after fsync (the fsynced file
# survives; the dead mount is found and detached at the next start), a
# refused second mount, and a read-only replica following the writer.
#
# Everything runs in a private mount namespace (unshare -m), so no mount
# ever leaks out of the test.  Needs root, /dev/fuse, and setfattr /
# getfattr (package attr) for the xattr checks.
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-fuse-XXXXXX)
STORE="file://$TMP/store"
MNT=$TMP/mnt MNT2=$TMP/replica
CONF=$TMP/test.conf LOG=$TMP/daemon.log
: >"$LOG"
PID= PID2=
export BUCKETFS_PASSWORD=fuse-smoke-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
chmod 755 "$TMP"
mkdir -p "$MNT" "$MNT2"

cleanup() {
	[ -n "$PID2" ] && kill -9 "$PID2" 2>/dev/null
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	umount -l "$MNT2" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
show_log() { echo "# daemon log:"; tail -n 30 "$LOG" | sed 's/^/#   /'; }




# mounts DIR: how many times the log says a daemon mounted DIR.
mounts() { grep -cE "info: mounted .* on $1( \(read-only\))?\$" "$LOG"; }

# wait_mount DIR PID OLD_COUNT: until the daemon says it mounted DIR and the
# mount is listed (0), or the daemon died or 30 s passed (1).  (A dead
# mount stays listed, and a new mount may reuse its id, so the log tells a
# new one apart.)
wait_mount() {
	for _ in $(seq 600); do
		[ "$(mounts "$1")" -gt "$3" ] && is_mounted "$1" && return 0
		alive "$2" || return 1
		sleep 0.05
	done
	return 1
}

# start [ARGS...]: the writer on $MNT, in the background.
start() {
	local old; old=$(mounts "$MNT")
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" "$@" >>"$LOG" 2>&1 &
	PID=$!
	wait_mount "$MNT" "$PID" "$old"
}

# stop [SIGNAL]: signal the writer (TERM), then its exit status.
stop() {
	kill "-${1:-TERM}" "$PID"
	wait_exit "$PID"
	local st=$?
	PID=
	return $st
}

# ---- init and the configuration ----

cd "$TMP" || exit 1
run 0 "wrote bucketfs.conf" "init writes bucketfs.conf" -- "$BIN" init
run 1 "exists; not overwritten" "init keeps an existing file" -- "$BIN" init
run 0 "wrote bucketfs.conf" "init --force overwrites" -- "$BIN" init --force
perm=$(stat -c %a bucketfs.conf)
is "$perm" 600 "the written configuration is private (0600)"
run 0 "^store +file:///var/lib/bucketfs" "run -c accepts what init wrote" -- \
	"$BIN" run -c bucketfs.conf --mount "$MNT" --check
run 0 "^store +file:///elsewhere" "command-line options override the file" -- \
	"$BIN" run -c bucketfs.conf --mount "$MNT" --store file:///elsewhere --check
printf '[storage]\nurl = "file:///x"\n\n[mount]\ncolour = "blue"\n' > bad.conf
run 1 "bad.conf:5: \[mount\] colour: unknown key" "an unknown key names file, line and key" -- \
	"$BIN" run -c bad.conf --mount "$MNT" --check
printf '[cache]\nmemory = "lots"\n' > bad.conf
run 1 'bad.conf:2: \[cache\] memory = "lots": not a size' "a bad value names file, line and key" -- \
	"$BIN" run -c bad.conf --mount "$MNT" --check
run 2 "no mount point" "run without a mount point is a usage error" -- "$BIN" run --check
run 1 "mount point .*/missing: no such directory" "a missing mount point is refused" -- \
	"$BIN" run --store "$STORE" --mount "$TMP/missing"
run 1 "holds no filesystem .* read-only mount cannot create" "a replica of an empty store is refused" -- \
	"$BIN" run --store "$STORE" --mount "$MNT" --read-only

cat > "$CONF" <<EOF
# The test's settings: a fast flush, a private cache, a fast replica.
[filesystem]
flush_interval = "500ms"
refresh_interval = "200ms"
[cache]
dir = "$TMP/cache"
[mount]
allow_other = true
EOF

# ---- first mount: a new filesystem ----

start
ok $? "run creates a filesystem and mounts it"
grep -q "held no filesystem: created a new encrypted one" "$LOG"
ok $? "the log says the filesystem was created"
grep -qE "serving file://$TMP/store on $MNT: read-write \(the writer\), writer epoch [0-9]+" "$LOG"
ok $? "the start line names store, mount point, mode and writer epoch"
run 1 "already holds a running bucketfs mount" "a second daemon on the same mount point is refused" -- \
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT"

# files
echo hello > "$MNT/hello"
is "$(cat "$MNT/hello")" hello "write and read back a small file"
echo world >> "$MNT/hello"
is "$(cat "$MNT/hello")" "$(printf 'hello\nworld')" "append"
head -c 5000000 /dev/urandom > "$TMP/random"
cp "$TMP/random" "$MNT/random"
cmp -s "$TMP/random" "$MNT/random"
ok $? "a 5 MB file reads back identical"
dd if="$TMP/random" of="$MNT/random" bs=1000 seek=1234 count=7 conv=notrunc status=none
dd if="$TMP/random" of="$TMP/random" bs=1000 seek=1234 count=7 conv=notrunc status=none
cmp -s "$TMP/random" "$MNT/random"
ok $? "an overwrite in the middle of a file"
is "$(stat -c %s "$MNT/random")" 5000000 "size after the overwrite"

# directories
mkdir -p "$MNT/a/b/c"
ok $? "mkdir -p"
rmdir "$MNT/a/b" 2>/dev/null
ok $((! $?)) "rmdir of a non-empty directory fails"
rmdir "$MNT/a/b/c" && [ ! -e "$MNT/a/b/c" ]
ok $? "rmdir"
is "$(stat -c %h "$MNT/a")" 3 "a directory's link count counts its subdirectories"
for i in $(seq 1 300); do echo "$i" > "$MNT/a/f$i"; done
is "$(ls "$MNT/a" | wc -l)" 301 "readdir lists 300 files and a directory"

# rename
mv "$MNT/hello" "$MNT/a/greeting"
[ ! -e "$MNT/hello" ] && [ "$(head -1 "$MNT/a/greeting")" = hello ]
ok $? "rename a file into another directory"
echo old > "$MNT/victim"
mv "$MNT/a/f1" "$MNT/victim"
is "$(cat "$MNT/victim")" 1 "rename over an existing file replaces it"
mv "$MNT/a/b" "$MNT/b2" && [ -d "$MNT/b2" ] && [ ! -e "$MNT/a/b" ]
ok $? "rename a directory"
if command -v python3 >/dev/null; then
	renameat2() {
		python3 -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3]))
sys.exit(0 if r == 0 else ctypes.get_errno())' "$@"
	}
	echo x > "$MNT/ex1"; echo y > "$MNT/ex2"
	renameat2 "$MNT/ex1" "$MNT/ex2" 2
	[ "$(cat "$MNT/ex1")$(cat "$MNT/ex2")" = yx ]
	ok $? "rename with RENAME_EXCHANGE swaps two files"
	renameat2 "$MNT/ex1" "$MNT/ex2" 1
	is $? 17 "rename with RENAME_NOREPLACE onto a file is EEXIST"
else
	skip "RENAME_EXCHANGE (no python3)"
	skip "RENAME_NOREPLACE (no python3)"
fi

# symlinks and hard links
ln -s a/greeting "$MNT/link"
is "$(readlink "$MNT/link")" a/greeting "symlink and readlink"
is "$(head -1 "$MNT/link")" hello "a symlink is followed"
ln "$MNT/victim" "$MNT/hard"
is "$(stat -c %h "$MNT/victim")" 2 "a hard link makes the link count 2"
is "$(stat -c %i "$MNT/hard")" "$(stat -c %i "$MNT/victim")" "a hard link shares the inode"
rm "$MNT/hard"
is "$(stat -c %h "$MNT/victim")" 1 "unlink brings it back to 1"
ln "$MNT/victim" "$MNT/hard2"

# modes, owners, times, permissions
chmod 640 "$MNT/victim"
is "$(stat -c %a "$MNT/victim")" 640 "chmod"
chown 1234:5678 "$MNT/victim"
is "$(stat -c %u:%g "$MNT/victim")" 1234:5678 "chown"
touch -d "2001-02-03 04:05:06 UTC" "$MNT/victim"
is "$(stat -c %Y "$MNT/victim")" 981173106 "utimes sets mtime"
echo secret > "$MNT/private"; chmod 600 "$MNT/private"
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MNT/private" >/dev/null 2>&1
ok $((! $?)) "another user cannot read a 0600 file"
chmod 644 "$MNT/private"
is "$(setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MNT/private" 2>&1)" secret \
	"another user reads it once it is 0644"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo x > '$MNT/nobody-was-here'" 2>/dev/null
ok $((! $?)) "another user cannot create in a 0755 root-owned directory"
mkdir "$MNT/shared"; chmod 1777 "$MNT/shared"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "umask 022; echo x > '$MNT/shared/mine'"
is "$(stat -c %U:%a "$MNT/shared/mine" 2>&1)" nobody:644 "files are created with the caller's uid and umask"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "exec 3>'$MNT/shared/ro'; chmod 444 '$MNT/shared/ro'; echo data >&3"
is "$(cat "$MNT/shared/ro" 2>&1)" data "a file created for writing stays writable through that descriptor"

# truncate
truncate -s 100 "$MNT/victim"
is "$(stat -c %s "$MNT/victim")" 100 "truncate up"
is "$(head -c 1 "$MNT/victim" | od -An -c | tr -d ' ')" 1 "truncate keeps the head"
is "$(tail -c 98 "$MNT/victim" | tr -d '\0' | wc -c)" 0 "truncate up reads zeros past the old end"
truncate -s 0 "$MNT/victim"
is "$(stat -c %s "$MNT/victim")" 0 "truncate to zero"
echo again > "$MNT/victim"

# extended attributes
if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
	setfattr -n user.colour -v blue "$MNT/victim"
	is "$(getfattr --absolute-names --only-values -n user.colour "$MNT/victim" 2>&1)" blue "setxattr and getxattr"
	setfattr -n user.shape -v round "$MNT/victim"
	is "$(getfattr -d --absolute-names "$MNT/victim" 2>/dev/null | grep -c '^user\.')" 2 "listxattr"
	setfattr -x user.colour "$MNT/victim"
	getfattr -n user.colour "$MNT/victim" >/dev/null 2>&1
	ok $((! $?)) "removexattr"
else
	skip "setxattr (no setfattr: install the attr package)"
	skip "listxattr (no getfattr)"
	skip "removexattr (no setfattr)"
fi

# a source tree, and durability points
cp -a /usr/include/linux "$MNT/linux"
diff -r /usr/include/linux "$MNT/linux" >/dev/null
ok $? "cp -a /usr/include/linux into the mount: diff -r finds no difference"
dd if="$TMP/random" of="$MNT/synced" bs=64k conv=fsync status=none
ok $? "dd conv=fsync"
sync "$MNT/random"
ok $? "sync FILE (fsync)"
df_total=$(df -P "$MNT" | awk 'NR == 2 { print $2 }')
[ "${df_total:-0}" -gt 0 ]
ok $? "statfs (df) reports a size"

# ---- a read-only replica follows the writer ----

old=$(mounts "$MNT2")
"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT2" --read-only >>"$LOG" 2>&1 &
PID2=$!
wait_mount "$MNT2" "$PID2" "$old"
ok $? "a read-only replica mounts beside the writer"
is "$(cat "$MNT2/victim" 2>&1)" again "the replica reads what the writer flushed"
echo fresh > "$MNT/for-replica"; sync "$MNT/for-replica"
seen=
for _ in $(seq 100); do
	[ "$(cat "$MNT2/for-replica" 2>/dev/null)" = fresh ] && { seen=1; break; }
	sleep 0.1
done
ok $([ -n "$seen" ]; echo $?) "the replica sees a new file after the writer's fsync"
out=$(sh -c "echo x > '$MNT2/nope'" 2>&1)
grep -q "Read-only file system" <<<"$out"
ok $? "writing to the replica is EROFS"
kill -TERM "$PID2"; wait_exit "$PID2"
ok $? "the replica stops cleanly"
PID2=

# ---- clean stop and restart ----

stop
ok $? "SIGTERM: the daemon exits with status 0"
is_mounted "$MNT"
ok $((! $?)) "SIGTERM: the mount is gone"
grep -q "stopped cleanly" "$LOG"
ok $? "SIGTERM: the log says it stopped cleanly"

start
ok $? "restart"
cmp -s "$TMP/random" "$MNT/random"
ok $? "after restart: the big file is intact"
is "$(cat "$MNT/victim")" again "after restart: a small file is intact"
is "$(stat -c %a:%u:%g:%h "$MNT/victim")" 640:1234:5678:2 "after restart: mode, owner, link count"
is "$(readlink "$MNT/link")" a/greeting "after restart: the symlink"
is "$(ls "$MNT/a" | wc -l)" 300 "after restart: the directory listing"
if command -v getfattr >/dev/null; then
	is "$(getfattr --absolute-names --only-values -n user.shape "$MNT/victim" 2>&1)" round "after restart: the xattr"
else
	skip "xattr after restart (no getfattr)"
fi
diff -r /usr/include/linux "$MNT/linux" >/dev/null
ok $? "after restart: the copied tree is identical"

# ---- kill -9 after fsync ----

head -c 300000 /dev/urandom > "$TMP/durable"
dd if="$TMP/durable" of="$MNT/durable" bs=64k conv=fsync status=none
kill -9 "$PID"; wait_exit "$PID"; PID=
out=$(ls "$MNT" 2>&1)
grep -q "Transport endpoint is not connected" <<<"$out"
ok $? "after kill -9 the mount is dead (ENOTCONN)"
start
ok $? "restart over the dead mount"
grep -q "left by a daemon that died .*detached it" "$LOG"
ok $? "the log says the dead mount was found and detached"
cmp -s "$TMP/durable" "$MNT/durable"
ok $? "the file fsynced before kill -9 is intact"
cmp -s "$TMP/random" "$MNT/random"
ok $? "older data is intact after kill -9"

# ---- stopping with a file still open; stopping by umount ----

exec 3>"$MNT/open-at-stop"
echo "written through an open descriptor" >&3
stop INT
ok $? "SIGINT with a file still open: clean stop"
exec 3>&-
start
ok $? "restart after SIGINT"
is "$(cat "$MNT/open-at-stop" 2>&1)" "written through an open descriptor" \
	"data still in the kernel's write-back cache at the stop is saved"
umount "$MNT"
wait_exit "$PID"
ok $? "an umount from outside stops the daemon cleanly"
PID=
grep -q "was unmounted: stopping" "$LOG"
ok $? "the log says why it stopped"

[ "$fail" -ne 0 ] && show_log
echo "1..$n"
[ "$fail" -eq 0 ]
