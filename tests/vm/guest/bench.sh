# bench.sh -- bench-vm.sh's guest side: for each target in bfs.targets
# (NAME-PROTO, e.g. bucketfs-nfs, ganesha-nfs, diod-9p, nbdkit-nbd), mount
# it on /mnt/b (NBD: attach, mkfs.ext4, mount) and run $BFS_runs times:
#   tar    tar -x of /usr/include/linux
#   create create 2,000 empty files (a shell loop: no spawn per file)
#   write  $BFS_mb MiB of random data, dd bs=1M conv=fsync
#   read   the same file after drop_caches (the servers' caches stay warm)
# printing "BFS-TIME NAME-PROTO/WORKLOAD SECONDS rc=N" for the host to
# take medians of.  bucketfs listens on 12049, 15640 and 20809 (export
# bench), the reference servers on 2049 (MOUNT 20048, /export), 5640
# (aname $BFS_ninepaname) and 10809.
. /tests/lib.sh
MB=${BFS_mb:-256} RUNS=${BFS_runs:-3} B=/mnt/b
log "making $MB MiB of random data"
dd if=/dev/urandom of=/tmp/rand bs=1M count="$MB" 2>/dev/null
mkdir -p /tmp/ref && tar -C /tmp/ref -xf /data/linux-include.tar

bench_attach() {   # NAME-PROTO
	case "$1" in
	bucketfs-nfs) BFS_nfsmountport=12049 BFS_nfsexport=/; mount_nfs $B 12049 ;;
	*-nfs) BFS_nfsmountport=20048 BFS_nfsexport=/export; mount_nfs $B 2049 ;;
	bucketfs-9p) save=${BFS_ninepaname:-}; BFS_ninepaname=/; mount_9p $B 15640; st=$?; BFS_ninepaname=$save; return $st ;;
	*-9p) mount_9p $B 5640 ;;
	*-nbd)
		port=10809; [ "${1%-nbd}" = bucketfs ] && port=20809
		nbd_attach /dev/nbd0 bench $port >/dev/null &&
		mke2fs.e2fsprogs -q -t ext4 -F /dev/nbd0 && mount -t ext4 /dev/nbd0 $B
		;;
	esac
}
bench_detach() {
	umount $B
	case "$1" in *-nbd) nbd-client -d /dev/nbd0 >/dev/null ;; esac
}
# (printf, not ":": a failed redirection of a special builtin ends the shell)
create_files() { i=0; while [ $i -lt 2000 ]; do printf '' >"$1/f$i" || return 1; i=$((i + 1)); done; }

for t in $(echo "${BFS_targets:-}" | tr , ' '); do
	mkdir -p $B
	bench_attach "$t" || { echo "BFS-BENCH $t: does not mount"; continue; }
	fs=nfs; case "$t" in *-9p) fs=9p ;; *-nbd) fs=ext4 ;; esac
	mounted $B $fs || { echo "BFS-BENCH $t: not mounted"; continue; }
	r=1
	while [ $r -le "$RUNS" ]; do
		D=$B/run$r
		mkdir -p "$D/c" || { echo "BFS-BENCH $t: cannot write"; break; }
		timeit "$t/tar" tar -C "$D" -xf /data/linux-include.tar
		timeit "$t/create" create_files "$D/c"
		timeit "$t/write" dd if=/tmp/rand of="$D/big" bs=1M conv=fsync 2>/dev/null
		echo 3 >/proc/sys/vm/drop_caches
		timeit "$t/read" dd if="$D/big" of=/dev/null bs=1M 2>/dev/null
		rm -rf "$D"
		r=$((r + 1))
	done
	bench_detach "$t"
done
