#!/bin/bash
# test-mount-helper.sh -- bucketfs mounted the way a system mounts
# filesystems: `mount -t fuse.bucketfs URL DIR -o OPTS` (mount(8) ->
# mount.fuse3 -> `bucketfs URL DIR -o OPTS` from the shell's default PATH,
# where /usr/local/bin is bind-mounted to hold this build), an fstab line
# (`mount -T FSTAB DIR`), and the /sbin/mount.fuse.bucketfs form.  Checks:
# the command returns 0 only once the mount answers; each option's effect
# in /proc/self/mountinfo and in behaviour (ro gives EROFS, allow_other
# lets another uid in and its absence keeps it out, nosuid ignores a
# setuid bit, nodev refuses a device node, noatime/strictatime/relatime,
# subtype); conf= and password_file= (a file others can read is refused);
# an unknown option is refused by name, a bad URL fails with the daemon's
# message and a non-zero status, nothing mounted; `umount DIR && mount
# DIR` repeated with fresh data each time finds all of it (the new daemon
# waits for the old one's final flush instead of meeting its lease).
#
# Runs in a private mount namespace (unshare -m): the bind mount over
# /usr/local/bin and every FUSE mount stay inside it.  Needs root,
# /dev/fuse, mount(8) and mount.fuse3 (fuse3), setpriv (util-linux).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-mnthelper-XXXXXX)
S=$TMP/store M=$TMP/mnt LOG=$TMP/daemon.log
export BUCKETFS_PASSWORD=mount-helper-password
export BUCKETFS_RUN_DIR=$TMP/run XDG_CACHE_HOME=$TMP/cache
unset BUCKETFS_CONFIG BUCKETFS_STORE
chmod 755 "$TMP"
mkdir -p "$M" "$TMP/bin" "$TMP/sbin" "$S"
ln -s "$BIN" "$TMP/bin/bucketfs"
ln -s "$BIN" "$TMP/sbin/mount.fuse.bucketfs"

# The daemons detach: they are found through their mount records.
daemon_pids() { cat "$BUCKETFS_RUN_DIR"/fuse-*.pid 2>/dev/null | awk '{ print $1 }'; }
cleanup() {
	umount -l "$M" 2>/dev/null
	for p in $(daemon_pids); do
		for _ in $(seq 600); do alive "$p" || break; sleep 0.1; done
		alive "$p" && kill -9 "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
echo "1..39"

command -v mount.fuse3 >/dev/null || { echo "Bail out! mount.fuse3 missing (package fuse3)"; exit 1; }
# mount.fuse3 runs bucketfs from the shell's default PATH, not ours.
mount --bind "$TMP/bin" /usr/local/bin || { echo "Bail out! cannot bind /usr/local/bin"; exit 1; }
# An installed helper would win over mount.fuse3: make it this build too.
if [ -e /sbin/mount.fuse.bucketfs ]; then
	mount --bind "$BIN" "$(readlink -f /sbin/mount.fuse.bucketfs)"
fi

# opts DIR: the per-mount flags column of DIR's mountinfo line; fstype DIR.
opts() { awk -v m="$1" '$5 == m { print $6 }' /proc/self/mountinfo | tail -n 1; }
fstype() { awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++); print $(i+1) }' /proc/self/mountinfo | tail -n 1; }
has_opt() { tr ',' '\n' <<<"$(opts "$1")" | grep -qx "$2"; }
mounted_any() { awk -v m="$1" '$5 == m' /proc/self/mountinfo | grep -q .; }
show_log() { echo "# daemon log:"; tail -n 20 "$LOG" | sed 's/^/#   /'; }
# mnt OPTS: mount the store on $M (200 s bound: a hang fails, not stalls).
mnt() { timeout 200 mount -t fuse.bucketfs "file://$S" "$M" -o "log=$LOG${1:+,$1}"; }
unmnt() { timeout 200 umount "$M"; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# 1-8: the first mount makes the filesystem; flags and allow_other.
mnt allow_other,nosuid,nodev,noatime,_netdev,nofail,defaults,x-test.opt=1
ok $? "mount -t fuse.bucketfs returns 0"
is_mounted "$M"; ok $? "... and the mount is live when it returns"
is "$(fstype "$M")" "fuse.bucketfs" "the type is fuse.bucketfs"
has_opt "$M" nosuid && has_opt "$M" nodev && has_opt "$M" noatime
ok $? "nosuid, nodev, noatime are mount flags ($(opts "$M"))"
chmod 755 "$M"
echo first >"$M/f1"
nobody cat "$M/f1" >/dev/null 2>&1; ok $? "allow_other: another uid reads a file"
cp /usr/bin/id "$M/id" && chmod 4755 "$M/id"
is "$(nobody "$M/id" -u 2>&1)" "65534" "nosuid: the setuid bit is ignored"
mknod "$M/null" c 1 3 && chmod 666 "$M/null"
echo x 2>/dev/null >"$M/null"; [ $? -ne 0 ]; ok $? "nodev: a device node does not open"
grep -q "unknown mount option" "$LOG"; [ $? -ne 0 ]; ok $? "the fstab-only options were ignored"

# 9: umount, then at once mount again: the data is all there.
unmnt && mnt allow_other,suid,dev
ok $? "umount && mount: the remount starts"
# 10-14: dev, suid, relatime, no allow_other.
has_opt "$M" nosuid || has_opt "$M" nodev; [ $? -ne 0 ]; ok $? "dev, suid: neither nodev nor nosuid ($(opts "$M"))"
has_opt "$M" relatime; ok $? "relatime is the default"
is "$(nobody "$M/id" -u 2>&1)" "0" "suid: the setuid bit works"
echo x 2>/dev/null >"$M/null"; ok $? "dev: the device node opens"
is "$(cat "$M/f1" 2>&1)" "first" "the file written before the umount is there"
unmnt && mnt strictatime
has_opt "$M" relatime || has_opt "$M" noatime; [ $? -ne 0 ]; ok $? "strictatime: neither relatime nor noatime ($(opts "$M"))"
nobody stat "$M/f1" >/dev/null 2>&1; [ $? -ne 0 ]; ok $? "without allow_other another uid is kept out"

# 17-21: umount && mount, five times, with 8 MiB of fresh data each time.
good=0
for i in 1 2 3 4 5; do
	head -c 8M /dev/urandom >"$TMP/data$i"
	cp "$TMP/data$i" "$M/data$i" || break
	unmnt || { echo "# umount failed in round $i"; break; }
	mnt || { echo "# mount failed in round $i"; show_log; break; }
	all=0
	for j in $(seq "$i"); do cmp -s "$TMP/data$j" "$M/data$j" || all=1; done
	[ $all -eq 0 ] || { echo "# data missing after round $i"; break; }
	good=$i
done
is "$good" 5 "umount && mount five times: every file of every round is there"
grep -q "already has a live writer" "$LOG"; [ $? -ne 0 ]; ok $? "no remount met the old writer's lease"

# ro: a replica; EROFS.
unmnt && mnt ro
ok $? "mount -o ro"
has_opt "$M" ro; ok $? "ro is a mount flag"
touch "$M/new" 2>"$TMP/err"; st=$?
[ $st -ne 0 ] && grep -q "Read-only file system" "$TMP/err"; ok $? "ro: a change fails with EROFS"
cmp -s "$TMP/data5" "$M/data5"; ok $? "ro: the data reads"

# subtype.
unmnt && mnt subtype=
is "$(fstype "$M")" "fuse" "subtype= (empty): the type is plain fuse"
unmnt && mnt subtype=bfstest
is "$(fstype "$M")" "fuse.bfstest" "subtype=bfstest: the type is fuse.bfstest"
unmnt

# Refusals: nothing may be mounted after them.
out=$(mnt bogus_opt,ro 2>&1); st=$?
[ $st -ne 0 ] && grep -q "unknown mount option 'bogus_opt'" <<<"$out"; ok $? "an unknown option is refused, by name"
mounted_any "$M"; [ $? -ne 0 ]; ok $? "... and nothing is mounted"
out=$(timeout 200 mount -t fuse.bucketfs "bogus://nowhere" "$M" -o "log=$LOG" 2>&1); st=$?
[ $st -ne 0 ] && grep -q "cannot open store bogus://nowhere" <<<"$out"
ok $? "a bad URL fails non-zero with the daemon's message"
mounted_any "$M"; [ $? -ne 0 ]; ok $? "... and nothing is mounted"

# Passwords: password_file (only its owner may read it), wrong, none.
printf 'mount-helper-password\n' >"$TMP/pw"
chmod 644 "$TMP/pw"
out=$(env -u BUCKETFS_PASSWORD timeout 200 mount -t fuse.bucketfs "file://$S" "$M" -o "log=$LOG,password_file=$TMP/pw" 2>&1)
[ $? -ne 0 ] && grep -q "readable by others" <<<"$out"; ok $? "a password_file others can read is refused"
chmod 600 "$TMP/pw"
env -u BUCKETFS_PASSWORD timeout 200 mount -t fuse.bucketfs "file://$S" "$M" -o "log=$LOG,password_file=$TMP/pw"
ok $? "password_file=: mounted without BUCKETFS_PASSWORD"
cmp -s "$TMP/data1" "$M/data1"; ok $? "... with the data"
unmnt
out=$(BUCKETFS_PASSWORD=wrong mnt 2>&1); st=$?
[ $st -ne 0 ] && grep -q "wrong password" <<<"$out"; ok $? "a wrong password fails non-zero with the daemon's message"
out=$(env -u BUCKETFS_PASSWORD timeout 200 mount -t fuse.bucketfs "file://$S" "$M" -o "log=$LOG" 2>&1)
[ $? -ne 0 ] && grep -q "no password" <<<"$out"; ok $? "no password at all: refused"

# conf=: the rest of the settings from a file (the password too).
cat >"$TMP/c.conf" <<EOF
[storage]
encryption_password = "mount-helper-password"
[mount]
subtype = "fromconf"
options = "noexec"
EOF
chmod 600 "$TMP/c.conf"
env -u BUCKETFS_PASSWORD timeout 200 mount -t fuse.bucketfs "$S" "$M" -o "log=$LOG,conf=$TMP/c.conf"
ok $? "conf=FILE, a plain directory as the source"
[ "$(fstype "$M")" = fuse.fromconf ] && has_opt "$M" noexec; ok $? "the configuration's [mount] subtype and options apply"
unmnt

# fstab.
printf 'file://%s %s fuse.bucketfs allow_other,_netdev,nofail,noauto,x-systemd.automount,log=%s 0 0\n' \
	"$S" "$M" "$LOG" >"$TMP/fstab"
timeout 200 mount -T "$TMP/fstab" "$M"; ok $? "mount -T FSTAB DIR (an fstab line)"
nobody cat "$M/f1" >/dev/null 2>&1; ok $? "... with its allow_other"
unmnt

# The /sbin/mount.fuse.bucketfs form, with the arguments mount(8) gives it.
timeout 200 "$TMP/sbin/mount.fuse.bucketfs" "file://$S" "$M" -o "rw,log=$LOG" -t fuse.bucketfs
ok $? "mount.fuse.bucketfs SOURCE DIR -o OPTS -t TYPE"
cmp -s "$TMP/data3" "$M/data3"; ok $? "... with the data"
unmnt

[ "$fail" -eq 0 ] || show_log
exit $((fail > 0))
