#!/bin/bash
# test-vm-nbd.sh -- bucketfs --nbd with a real Linux NBD client (the
# kernel nbd driver through nbd-client, ext4 on it) in a QEMU guest.
# Harness: tests/vm/.  The guest mounts, writes and fsyncs; the daemon
# is killed with -9 and restarted under it, and the guest finds
# what it fsynced; then the host reads the same files through a FUSE
# mount of the store.  BUCKETFS_VM_FULL=1 adds the fuller guest test
# (tests/vm/guest/nbd-full.sh).  Needs root, /dev/fuse, qemu-system-x86,
# busybox-static and a Debian mirror the first time (the kernel deb).
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
