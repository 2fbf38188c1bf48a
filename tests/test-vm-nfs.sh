#!/bin/bash
# test-vm-nfs.sh -- bucketfs --nfs with a real Linux NFSv3 client (a hard
# mount over TCP, MOUNT on the same port, nolock) in a QEMU guest booted by
# tests/vm/.  Smoke: the guest mounts, writes and fsyncs, the daemon is
# killed with -9 and restarted under the same mount, and the guest reads
# what it fsynced; afterwards the host reads the same files through a FUSE
# mount of the store.  Full (BUCKETFS_VM_FULL=0 leaves it out): POSIX
# checks as root and as two other uids, tar -x of /usr/include/linux and a
# diff in the guest and again on the host.
#
# Needs root, /dev/fuse, qemu-system-x86, busybox-static (install-deps.sh)
# and, the first time, a Debian mirror for the kernel deb.
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
