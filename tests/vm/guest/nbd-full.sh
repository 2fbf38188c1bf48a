# nbd-full.sh -- ext4 on export disk2 (/dev/nbd1): mkfs, tar -x of
# /usr/include/linux, diff, sync, umount, e2fsck -fn must find it clean.
# The tree stays in /full/tar of the image for the host to read (debugfs).
. /tests/lib.sh
PROTO=nbd M=/mnt/nbd2
check "nbd: attach export disk2" nbd_attach /dev/nbd1 disk2
timeit nbd-mkfs mke2fs.e2fsprogs -q -t ext4 -F /dev/nbd1
ok $? "nbd: mkfs.ext4 on /dev/nbd1"
mkdir -p "$M"
mount -t ext4 /dev/nbd1 "$M" || bail "nbd: mount ext4"
mounted "$M" ext4 || bail "nbd: $M is an ext4 mount"
mkdir -p /tmp/ref "$M/full/tar"
[ -d /tmp/ref/linux ] || tar -C /tmp/ref -xf /data/linux-include.tar
timeit nbd-tar-x tar -C "$M/full/tar" -xf /data/linux-include.tar
ok $? "nbd: tar -x of /usr/include/linux"
check "nbd: sync" sync
echo 3 >/proc/sys/vm/drop_caches
check "nbd: diff -r against the tree on tmpfs" diff -r /tmp/ref/linux "$M/full/tar/linux"
check "nbd: umount" umount "$M"
e2fsck.e2fsprogs -fn /dev/nbd1 >/tmp/fsck2.out 2>&1
st=$?
[ $st -ne 0 ] && sed 's/^/# /' /tmp/fsck2.out
ok $st "nbd: e2fsck -fn finds ext4 clean"
check "nbd: detach" nbd-client -d /dev/nbd1
