#!/bin/bash
# test-vm-9p.sh -- bucketfs --ninep with a real Linux 9P2000.L client
# (v9fs over TCP, access=user) in a QEMU guest booted by tests/vm/.  Smoke:
# the guest mounts, writes and fsyncs, the daemon is killed with -9 and
# restarted, the guest mounts again and reads what it fsynced; afterwards
# the host reads the same files through a FUSE mount of the store.  Full
# (BUCKETFS_VM_FULL=0 leaves it out): POSIX checks as root and as two
# other uids, tar -x of /usr/include/linux and a diff in the guest and on
# the host, POSIX byte-range locks between two guest processes.
#
# Needs root, /dev/fuse, qemu-system-x86, busybox-static (install-deps.sh)
# and, the first time, a Debian mirror for the kernel deb.
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
