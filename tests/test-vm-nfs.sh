#!/bin/bash
# test-vm-nfs.sh -- bucketfs --nfs with a real Linux NFSv3 client (a hard
# mount over TCP, MOUNT on the same port, nolock) in a QEMU guest.
# Harness: tests/vm/.  The guest mounts, writes and fsyncs; the daemon
# is killed with -9 and restarted under it, and the guest finds
# what it fsynced; then the host reads the same files through a FUSE
# mount of the store.  BUCKETFS_VM_FULL=1 adds the fuller guest test
# (tests/vm/guest/nfs-full.sh).  Needs root, /dev/fuse, qemu-system-x86,
# busybox-static and a Debian mirror the first time (the kernel deb).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"
. "$(dirname "$0")/vm/lib.sh"
vm_need_flag nfs

n=0 fail=0
vm_init nfs
vm_protocol_test nfs
[ "$fail" -ne 0 ] && vm_show_logs
echo "1..$n"
[ "$fail" -eq 0 ]
