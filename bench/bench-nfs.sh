#!/bin/bash
# bench-nfs.sh -- sequential throughput of bucketfs over NFSv3 from the host
# with libnfs' nfs-cp, next to cp through the FUSE mount of the same daemon
# and cp on local disk, in one run (median of BENCH_RUNS, default 3):
#
#   write    nfs-cp SRC nfs://.../f   (libnfs writes UNSTABLE and never
#            COMMITs, so this is like cp without fsync)
#   write+C  helper-nfs put: the same, then COMMIT (fsync over NFS)
#   read     nfs-cp nfs://.../f DST, the daemon's and the kernel's caches
#            dropped first (cold) and not (warm)
#   FUSE     cp SRC MNT/f (+ sync -f for write+C); cp MNT/f DST cold/warm
#   local    cp SRC LOCAL/f (+ sync -f); cp LOCAL/f DST cold/warm
#
# SRC is a BENCH_NFS_MB (default 512) MiB random file on a private tmpfs,
# DST is on that tmpfs too.  "cold" for bucketfs stops the daemon, empties
# its disk cache and starts it again.  Prints MB/s per row and the ratios
# NFS/FUSE and NFS/local.  Needs root (a private mount namespace, tmpfs,
# drop_caches), /dev/fuse, nfs-cp (libnfs-utils) and build/tests/helper-nfs.
#
#   BUCKETFS_BIN     the binary (default ./bucketfs)
#   BUCKETFS_TESTS   where helper-nfs is (default build/tests)
#   BENCH_NFS_MB     file size in MiB (default 512)
#   BENCH_RUNS       runs per figure (default 3)
#   BENCH_DIR        where the temp dir goes (default /tmp)
set -u
if [ -z "${BENCH_NFS_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "bench-nfs: needs root, /dev/fuse and unshare -m" >&2
		exit 1
	fi
	exec env BENCH_NFS_NS=1 unshare -m --propagation private bash "$0" "$@"
fi

BIN=$(realpath "${BUCKETFS_BIN:-./bucketfs}") || exit 1
H=$(realpath "${BUCKETFS_TESTS:-build/tests}/helper-nfs") || exit 1
MB=${BENCH_NFS_MB:-512}
RUNS=${BENCH_RUNS:-3}
command -v nfs-cp >/dev/null || { echo "bench-nfs: nfs-cp missing (apt-get install libnfs-utils)" >&2; exit 1; }

TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/bucketfs-bench-nfs-XXXXXX")
chmod 755 "$TMP"
MNT=$TMP/mnt LOCAL=$TMP/local TMPFS=$TMP/tmpfs CACHE=$TMP/cache
STORE="file://$TMP/store" CONF=$TMP/bench.conf LOG=$TMP/daemon.log
mkdir -p "$MNT" "$LOCAL" "$TMPFS"
: >"$LOG"
PID=
export BUCKETFS_PASSWORD=bench-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
PORT=$("$H" freeport)
cat >"$CONF" <<EOF
[cache]
dir = "$CACHE"
[admin]
socket = "$TMP/admin.sock"
[nfs]
squash = "none"
EOF

cleanup() {
	cd /
	[ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; sleep 1; kill -9 "$PID" 2>/dev/null; }
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	umount -l "$TMPFS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "bench-nfs: $*" >&2; [ -s "$LOG" ] && tail -n 20 "$LOG" >&2; exit 1; }
say() { echo "$*" >&2; }

serving() { grep -c "info: serving " "$LOG"; }
start() {
	local old; old=$(serving)
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" --nfs "127.0.0.1:$PORT" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ "$(serving)" -gt "$old" ] && mountpoint -q "$MNT" && "$H" wait "$PORT" && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
stop() {
	kill -TERM "$PID"
	wait "$PID"
	local st=$?
	PID=
	return $st
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
cold_bfs() { stop || die "bucketfs did not stop cleanly"; rm -rf "$CACHE"; drop; start || die "bucketfs did not restart"; }
# libnfs mounts the URL's directory part as the export and opens the rest in
# it: "//" makes the export "/" (a single "/" would MNT an empty path)
url() { echo "nfs://127.0.0.1//$1?nfsport=$PORT&mountport=$PORT"; }

secs() {
	local t0 t1; t0=$(date +%s%N)
	"$@" >/dev/null 2>"$TMP/err" || { say "bench-nfs: failed: $*: $(head -c 500 "$TMP/err")"; return 1; }
	t1=$(date +%s%N)
	awk -v d=$((t1 - t0)) 'BEGIN { printf "%.4f\n", d / 1e9 }'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

mount -t tmpfs -o size=$((MB * 3 + 256))m bench-nfs-tmpfs "$TMPFS" || die "cannot mount tmpfs"
start || die "bucketfs did not start"
LOCALFS=$(findmnt -no FSTYPE -T "$LOCAL")
head -c $((MB << 20)) /dev/urandom >"$TMPFS/src" || die "cannot make the random file"
SRC=$TMPFS/src DST=$TMPFS/dst
say "bench-nfs: $MB MiB, NFS on 127.0.0.1:$PORT and FUSE on $MNT (store $STORE), local $LOCAL ($LOCALFS)"

declare -A R
for how in nfs fuse local; do
	w=() wc=() rc=() rw=()
	for r in $(seq "$RUNS"); do
		say "bench-nfs: $how run $r ..."
		case $how in
		nfs)
			w+=("$(secs nfs-cp "$SRC" "$(url "f$r")")")
			wc+=("$(secs "$H" put "$PORT" "$SRC" "g$r")")
			cold_bfs
			rc+=("$(secs nfs-cp "$(url "f$r")" "$DST")"); rm -f "$DST"
			rw+=("$(secs nfs-cp "$(url "f$r")" "$DST")"); rm -f "$DST"
			;;
		fuse)
			w+=("$(secs cp "$SRC" "$MNT/h$r")")
			wc+=("$(secs sh -c "cp '$SRC' '$MNT/i$r' && sync -f '$MNT/i$r'")")
			cold_bfs
			rc+=("$(secs cp "$MNT/h$r" "$DST")"); rm -f "$DST"
			rw+=("$(secs cp "$MNT/h$r" "$DST")"); rm -f "$DST"
			;;
		local)
			w+=("$(secs cp "$SRC" "$LOCAL/h$r")")
			wc+=("$(secs sh -c "cp '$SRC' '$LOCAL/i$r' && sync -f '$LOCAL/i$r'")")
			drop
			rc+=("$(secs cp "$LOCAL/h$r" "$DST")"); rm -f "$DST"
			rw+=("$(secs cp "$LOCAL/h$r" "$DST")"); rm -f "$DST"
			;;
		esac
	done
	R[$how,write]=$(echo "${w[*]}" | median)
	R[$how,writec]=$(echo "${wc[*]}" | median)
	R[$how,readc]=$(echo "${rc[*]}" | median)
	R[$how,readw]=$(echo "${rw[*]}" | median)
	rm -f "$MNT"/[fghi][0-9]* "$LOCAL"/[hi][0-9]*
done
stop || die "bucketfs did not stop cleanly at the end"

mbps() { awk -v s="$1" -v mb="$MB" 'BEGIN { if (s > 0) printf "%.0f", mb / s; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", b / a; else print "-" }'; }
row() { # KEY LABEL
	printf '%-30s %10s %10s %10s %10s %10s\n' "$2" "$(mbps "${R[nfs,$1]}")" "$(mbps "${R[fuse,$1]}")" \
		"$(mbps "${R[local,$1]}")" "$(ratio "${R[nfs,$1]}" "${R[fuse,$1]}")" "$(ratio "${R[nfs,$1]}" "${R[local,$1]}")"
}
echo
echo "bench-nfs: $MB MiB sequential, MB/s (median of $RUNS); NFS = libnfs nfs-cp over 127.0.0.1,"
echo "FUSE = cp through the mount of the same daemon, local = cp on $LOCALFS; ratios are throughput NFS/FUSE and NFS/local"
printf '%-30s %10s %10s %10s %10s %10s\n' workload NFS FUSE local "vs FUSE" "vs local"
row write  "write (no fsync/COMMIT)"
row writec "write + COMMIT / fsync"
row readc  "read, cold"
row readw  "read, warm"
echo "(bench-nfs took ${SECONDS} s)"
