# nbd-smoke.sh -- smoke.sh over NBD: ext4 on /dev/nbd0 (export $BFS_nbdexport,
# default disk1).  After the server's restart the dead device is detached,
# attached again and ext4 mounted again (replaying its journal); e2fsck -fn
# must then find it clean.
PROTO=nbd FSTYPE=ext4 M=/mnt/nbd
EXPORT=${BFS_nbdexport:-disk1}
attach() {
	nbd_attach /dev/nbd0 "$EXPORT" || return 1
	mke2fs.e2fsprogs -q -t ext4 -F /dev/nbd0 || return 1
	mkdir -p "$M" && mount -t ext4 /dev/nbd0 "$M"
}
reattach() {
	umount "$M" 2>/dev/null || umount -l "$M"
	nbd-client -d /dev/nbd0 >/dev/null 2>&1
	for _ in 1 2 3 4 5 6 7 8 9 10; do nbd_attach /dev/nbd0 "$EXPORT" >/dev/null 2>&1 && break; sleep 1; done
	mount -t ext4 /dev/nbd0 "$M"
}
detach() {
	umount "$M" || return 1
	e2fsck.e2fsprogs -fn /dev/nbd0 >/tmp/fsck.out 2>&1 || { sed 's/^/# /' /tmp/fsck.out; return 1; }
	nbd-client -d /dev/nbd0 >/dev/null
}
. /tests/smoke.sh
