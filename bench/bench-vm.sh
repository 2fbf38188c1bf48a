#!/bin/bash
# bench-vm.sh -- bucketfs's network frontends through real Linux kernel
# clients in a QEMU guest (tests/vm/), next to reference servers serving a
# local directory from the same disk in the same run:
#
#   bucketfs --nfs     vs  nfs-ganesha (VFS FSAL)        NFSv3, hard, TCP
#   bucketfs --ninep   vs  diod                          9P2000.L, access=user
#   bucketfs --nbd     vs  nbdkit file plugin            ext4 on /dev/nbd0
#
# Workloads, each BENCH_RUNS times (default 3), medians printed:
#   tar     tar -x of /usr/include/linux (792 names, 6.5 MiB)
#   create  2,000 empty files
#   write   BENCH_VM_MB MiB of random data, dd bs=1M conv=fsync
#   read    the same, after the guest dropped its page cache (the servers'
#           caches and the host's page cache stay warm)
#
# BENCH_VM_MB defaults to 256, not 1024: under TCG (no KVM here) the guest
# moves some tens of MB/s, and 1 GiB x 3 runs x 6 servers would take most
# of an hour.  Every figure is TCG-bound, so only the ratios between
# servers mean much.  A frontend the binary has no flag for yet is left
# out (said so); the reference servers always run.
#
#   BUCKETFS_BIN   the binary (default build/bucketfs)
#   BENCH_VM_MB    sequential file size in MiB (default 256)
#   BENCH_RUNS     runs per workload (default 3)
#   BENCH_VM_PROTOS  the protocols to measure (default nfs,9p,nbd)
set -u
. "$(dirname "$0")/../tests/tap.sh"
if [ -z "${BUCKETFS_TEST_NS:-}" ] && { [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; }; then
	echo "bench-vm: needs root and /dev/fuse" >&2
	exit 1
fi
in_private_ns "$@"
. "$(dirname "$0")/../tests/vm/lib.sh"
MB=${BENCH_VM_MB:-256}
RUNS=${BENCH_RUNS:-3}

vm_init bench
BFS_FLAGS=() targets=
for p in $(echo "${BENCH_VM_PROTOS:-nfs,9p,nbd}" | tr , ' '); do
	f=$(vm_flag "$p")
	case "$p" in nfs) port=12049 ;; 9p) port=15640 ;; nbd) port=20809 ;; esac
	if "$BIN" run --help 2>&1 | grep -q -- "$f"; then
		BFS_FLAGS+=("$f" "$VM_HOST:$port")
		targets="$targets,bucketfs-$p"
	else
		echo "bench-vm: bucketfs has no $f yet: not measured" >&2
	fi
	case "$p" in nfs) targets="$targets,ganesha-nfs" ;; 9p) targets="$targets,diod-9p" ;; nbd) targets="$targets,nbdkit-nbd" ;; esac
	ref_start "$p" || { echo "bench-vm: the reference $p server did not start" >&2; vm_show_logs >&2; exit 1; }
done
targets=${targets#,}
# the sequential file, its reruns and ext4's own needs
disk=$((MB * 2 + 512))M
mkdir -p "$TMP/ref/nbd" && truncate -s "$disk" "$TMP/ref/nbd/bench"
if [ ${#BFS_FLAGS[@]} -gt 0 ]; then
	# a bench configuration: the defaults, but the cache in the temp dir
	printf '[cache]\ndir = "%s"\n' "$TMP/cache" >"$CONF"
	# root in the guest is root (as for ganesha's No_Root_Squash)
	case " ${BFS_FLAGS[*]} " in *" --nfs "*) printf '[nfs]\nsquash = "none"\n' >>"$CONF" ;; esac
	mkdir -p "$TMP/fuse"
	bfs_start "${BFS_FLAGS[@]}" --mount "$TMP/fuse" ||
		{ echo "bench-vm: bucketfs did not start" >&2; vm_show_logs >&2; exit 1; }
	mkdir -p "$TMP/fuse/.nbd" && truncate -s "$disk" "$TMP/fuse/.nbd/bench"
fi

echo "bench-vm: targets $targets, $MB MiB, $RUNS runs" >&2
export VM_TIMEOUT=${VM_TIMEOUT:-7200} VM_MEM=2048   # boot.sh's bounds: hours, not a test's minutes
vm_boot bench "bfs.testtimeout=$VM_TIMEOUT" "bfs.targets=$targets" "bfs.ninepaname=$TMP/ref/9p" "bfs.mb=$MB" "bfs.runs=$RUNS"
vm_wait || echo "bench-vm: the guest did not finish (status $?)" >&2
grep -E '^BFS-BENCH' "$VM_LOG" >&2

# median of the BFS-TIME lines TARGET/WORKLOAD
median() {
	sed -n "s|^BFS-TIME $1/$2 \([0-9.]*\) rc=0.*|\1|p" "$VM_LOG" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}
mbs() { awk -v s="$1" -v mb="$MB" 'BEGIN { if (s == "-" || s == 0) print "-"; else printf "%.1f", mb / s }'; }
printf '%-14s %9s %9s %9s %9s %9s %9s\n' target "tar s" "create s" "write s" "MB/s" "read s" "MB/s"
for t in $(echo "$targets" | tr , ' '); do
	w=$(median "$t" write) r=$(median "$t" read)
	printf '%-14s %9s %9s %9s %9s %9s %9s\n' "$t" "$(median "$t" tar)" "$(median "$t" create)" \
		"$w" "$(mbs "$w")" "$r" "$(mbs "$r")"
done
echo "(medians of $RUNS; $MB MiB sequential; QEMU TCG guest, 1 vCPU; $(tail -n 1 "$VM_LOG.qemu"))"

[ -n "$BFS_PID" ] && bfs_signal TERM
for p in nfs 9p nbd; do ref_stop "$p"; done
exit 0
