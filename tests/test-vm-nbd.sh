#!/bin/bash
# test-vm-nbd.sh -- bucketfs --nbd with a real Linux NBD client (the
# kernel's nbd driver through nbd-client) in a QEMU guest booted by
# tests/vm/; the exports are files in /.nbd/ made through a FUSE mount in
# the same daemon.  Smoke: mkfs.ext4 on the export, write and fsync, the
# daemon is killed with -9 and restarted, the guest attaches again, mounts
# (replaying the journal) and reads what it fsynced, e2fsck -fn is clean;
# afterwards the host reads the files out of the image through FUSE
# (debugfs).  Full (BUCKETFS_VM_FULL=0 leaves it out): ext4 on a second
# export, tar -x + diff, umount, e2fsck -fn, and the tree read on the host.
#
# Needs root, /dev/fuse, qemu-system-x86, busybox-static (install-deps.sh)
# and, the first time, a Debian mirror for the kernel deb.
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"
. "$(dirname "$0")/vm/lib.sh"
vm_need_flag nbd

n=0 fail=0
vm_init nbd
vm_protocol_test nbd
[ "$fail" -ne 0 ] && vm_show_logs
echo "1..$n"
[ "$fail" -eq 0 ]
