#!/bin/sh
# boot.sh NS LOG CTL TESTS [KERNEL ARG...] -- boot one guest under QEMU TCG
# (no KVM here) in network namespace NS, on tap$VM_TAP (default 0), and
# run the guest tests TESTS (a comma list of tests/vm/guest/*.sh names);
# returns when the guest powered off or $VM_TIMEOUT (default 300) seconds
# passed.  The console (ttyS0) goes to LOG; the guest's second serial port
# (ttyS1, lib.sh's host_sync) is the pipe pair CTL.in (host to guest) and
# CTL.out (guest to host), made here as FIFOs.  KERNEL ARGs bfs.KEY=VALUE
# become $BFS_KEY in the guest.  Kernel and initramfs: $VM_OUT (default
# build/vm, made by initramfs.sh).
#
# -cpu qemu64 -smp 1 and mitigations=off: about twice as fast under TCG as
# -cpu max.  no_timer_check: on a loaded host the kernel's check of the
# IO-APIC timer can miss its ticks under TCG and panic the boot.  The tap and the MAC are derived from VM_TAP, so several
# guests can share a namespace.
set -u
[ $# -ge 4 ] || { echo "usage: boot.sh NS LOG CTL TESTS [KERNEL ARG...]" >&2; exit 2; }
ns=$1 log=$2 ctl=$3 tests=$4
shift 4
out=${VM_OUT:-$(cd "$(dirname "$0")/../.." && pwd)/build/vm}
n=${VM_TAP:-0}
for f in "$ctl.in" "$ctl.out"; do [ -p "$f" ] || mkfifo "$f" || exit 1; done
t0=$(date +%s.%N)
# Under make asan (BUCKETFS_ASAN) the server is several times slower, and
# NFS commits every metadata change: give each guest test and the guest
# more time there (a dead mount still fails, only later).
if [ -n "${BUCKETFS_ASAN:-}" ]; then
	: "${VM_TIMEOUT:=900}"
	set -- bfs.testtimeout=600 "$@"
fi
timeout -k 5 "${VM_TIMEOUT:-300}" \
nsenter --net="/run/netns/$ns" qemu-system-x86_64 \
	-nodefaults -machine q35 -accel tcg -cpu qemu64 -smp 1 -m "${VM_MEM:-1024}" \
	-kernel "$out/vmlinuz" -initrd "$out/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off no_timer_check bfs.tests=$tests bfs.ip=192.0.2.$((2 + n)) $*" \
	-display none -no-reboot \
	-serial "file:$log" -chardev "pipe,id=ctl,path=$ctl" -serial chardev:ctl \
	-netdev "tap,id=n0,ifname=tap$n,script=no,downscript=no" \
	-device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:$((56 + n))" </dev/null >>"$log.qemu" 2>&1
rc=$?
echo "BFS-HOST qemu rc=$rc wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >>"$log.qemu"
exit $rc
