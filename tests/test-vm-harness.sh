#!/bin/bash
# test-vm-harness.sh -- the VM test harness itself (tests/vm/), with no
# server: the kernel and initramfs are made (or found in the cache), a
# guest boots in a private network namespace, reaches the host side of the
# bridge, and host_sync works both ways.  When this fails, every
# test-vm-*.sh would, for reasons that are not bucketfs's.
#
# Needs root, /dev/fuse (in_private_ns), qemu-system-x86, busybox-static
# and, the first time, a Debian mirror for the kernel deb.
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"
. "$(dirname "$0")/vm/lib.sh"

n=0 fail=0
vm_init harness
ok 0 "kernel, initramfs and network namespace are ready"
vm_boot hello
vm_sync hello 120
ok $? "the guest boots and calls host_sync"
vm_reply hello
vm_wait
ok $? "it powers off after its test"
vm_results
echo "1..$n"
[ "$fail" -eq 0 ]
