#!/bin/bash
# test-vm-9p.sh -- bucketfs --ninep with a real Linux 9P2000.L client
# (v9fs over TCP, access=user) in a QEMU guest.
# Harness: tests/vm/.  The guest mounts, writes and fsyncs; the daemon
# is killed with -9 and restarted under it, and the guest finds
# what it fsynced; then the host reads the same files through a FUSE
# mount of the store.  BUCKETFS_VM_FULL=1 adds the fuller guest test
# (tests/vm/guest/9p-full.sh).  Needs root, /dev/fuse, qemu-system-x86,
# busybox-static and a Debian mirror the first time (the kernel deb).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"
. "$(dirname "$0")/vm/lib.sh"
vm_need_flag 9p

n=0 fail=0
vm_init 9p
vm_protocol_test 9p
[ "$fail" -ne 0 ] && vm_show_logs
echo "1..$n"
[ "$fail" -eq 0 ]
