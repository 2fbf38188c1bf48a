#!/bin/bash
# bench-nbd.sh -- a bucketfs NBD export next to `nbdkit file` serving a
# local file, both attached the same way (nbdfuse, fio on the nbdfuse
# file), in one run:
#
#   4k randread   fio 4 KiB random reads, iodepth 16      (median of runs)
#   4k randwrite  fio 4 KiB random writes, iodepth 16     (median of runs)
#   4k write      fio 4 KiB sequential writes, iodepth 16 (median of runs)
#   1M write      fio 1 MiB sequential writes, iodepth 4  (median of runs)
#   1M read       fio 1 MiB sequential reads, iodepth 4   (median of runs)
#
# Both exports are first filled with random data (so reads hit data and
# 4 KiB writes land in full 32 KiB extents), fio's buffers are random
# and refilled (incompressible).  Then:
#
#   write amplification  the store's data bytes uploaded (data.bytes_uploaded
#                        after a flush) per byte fio wrote, for the 4 KiB
#                        random-write runs and for the 1 MiB sequential ones
#   TRIM                 live and stored bytes of the store before and after
#                        blkdiscard of the whole device (a loop device over
#                        the nbdfuse file: TRIM through the kernel); dead
#                        segments are deleted by segment GC after its grace
#                        period, so stored bytes fall later than live bytes
#
# Needs root (a private mount namespace, loop devices), /dev/fuse, fio,
# nbdkit, libnbd-bin (nbdfuse).
#
#   BUCKETFS_BIN   the binary (default ./bucketfs)
#   BENCH_SIZE     export size (default 1G)
#   BENCH_SECONDS  seconds per fio run (default 5)
#   BENCH_RUNS     runs per workload (default 3)
#   BENCH_DIR      where the temp dir goes (default /tmp)
set -u
if [ -z "${BENCH_NBD_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "bench-nbd: needs root, /dev/fuse and unshare -m" >&2
		exit 1
	fi
	exec env BENCH_NBD_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
for t in fio nbdkit nbdfuse nbdcopy losetup blkdiscard; do
	command -v "$t" >/dev/null || { echo "bench-nbd: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done

BIN=$(realpath "${BUCKETFS_BIN:-./bucketfs}") || exit 1
SIZE=${BENCH_SIZE:-1G}
SECS=${BENCH_SECONDS:-5}
RUNS=${BENCH_RUNS:-3}
TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/bucketfs-bench-nbd-XXXXXX")
chmod 755 "$TMP"
STORE="file://$TMP/store" CONF=$TMP/bench.conf LOG=$TMP/daemon.log
ASOCK=$TMP/admin.sock
mkdir -p "$TMP/mnt" "$TMP/fuse-bfs" "$TMP/fuse-kit"
export BUCKETFS_PASSWORD=bench-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
PID= KPID= F1= F2= LOOP=

cleanup() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	umount "$TMP/fuse-bfs" 2>/dev/null; umount "$TMP/fuse-kit" 2>/dev/null
	[ -n "$F1" ] && kill "$F1" 2>/dev/null
	[ -n "$F2" ] && kill "$F2" 2>/dev/null
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$TMP/mnt" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

cat >"$CONF" <<EOF
[cache]
dir = "$TMP/cache"
[filesystem]
flush_interval = "30s"
EOF

"$BIN" run -c "$CONF" --store "$STORE" --mount "$TMP/mnt" --socket "$ASOCK" \
	--nbd-socket "$TMP/nbd.sock" >>"$LOG" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q "info: serving " "$LOG" && break; sleep 0.05; done
grep -q "info: serving " "$LOG" || { cat "$LOG" >&2; exit 1; }
mkdir "$TMP/mnt/.nbd" && truncate -s "$SIZE" "$TMP/mnt/.nbd/bench"
truncate -s "$SIZE" "$TMP/local.img"
nbdkit -f -U "$TMP/kit.sock" file file="$TMP/local.img" >"$TMP/nbdkit.log" 2>&1 &
KPID=$!

stat_of() {   # the daemon's counter NAME
	"$BIN" stats --socket "$ASOCK" --store "$STORE" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'
}
flush() { "$BIN" flush --socket "$ASOCK" --store "$STORE" >/dev/null 2>&1; }

attach() {   # DIR URI -> the nbdfuse pid
	nbdfuse -P "$1.pid" "$1/disk" "$2" >"$1.log" 2>&1 &
	local p=$!
	for _ in $(seq 400); do [ -s "$1.pid" ] && break; sleep 0.05; done
	echo "$p"
}
for _ in $(seq 100); do [ -S "$TMP/kit.sock" ] && break; sleep 0.05; done
F1=$(attach "$TMP/fuse-bfs" "nbd+unix:///bench?socket=$TMP/nbd.sock")
F2=$(attach "$TMP/fuse-kit" "nbd+unix:///?socket=$TMP/kit.sock")
BFS=$TMP/fuse-bfs/disk KIT=$TMP/fuse-kit/disk
[ -f "$BFS" ] && [ -f "$KIT" ] || { echo "bench-nbd: nbdfuse did not attach" >&2; cat "$TMP"/*.log >&2; exit 1; }

echo "bench-nbd: filling both exports ($SIZE of random data)" >&2
head -c "$SIZE" /dev/urandom 2>/dev/null >"$TMP/fill" || dd if=/dev/urandom of="$TMP/fill" bs=1M count=$(( $(numfmt --from=iec "$SIZE") >> 20 )) status=none
nbdcopy "$TMP/fill" "nbd+unix:///bench?socket=$TMP/nbd.sock"
nbdcopy "$TMP/fill" "nbd+unix:///?socket=$TMP/kit.sock"
rm -f "$TMP/fill"
flush

# fio FILE RW BS DEPTH -> "IOPS MiB/s BYTES_WRITTEN"
DIRECT=1
fio --name=probe --filename="$BFS" --rw=read --bs=4k --size=4k --direct=1 --output=/dev/null \
	>/dev/null 2>&1 || DIRECT=0
run_fio() {
	fio --name=b --filename="$1" --rw="$2" --bs="$3" --iodepth="$4" --ioengine=libaio \
		--direct=$DIRECT --time_based --runtime="$SECS" --refill_buffers \
		--buffer_compress_percentage=0 --randrepeat=0 --norandommap \
		--output-format=json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
r, w = j["read"], j["write"]
print("%.0f %.1f %d" % (r["iops"] + w["iops"], (r["bw"] + w["bw"]) / 1024.0, w["io_bytes"]))'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A RES WA
LABELS=("4k randread" "4k randwrite" "4k write" "1M write" "1M read")
for wl in "4k randread:randread:4k:16" "4k randwrite:randwrite:4k:16" "4k write:write:4k:16" \
	  "1M write:write:1M:4" "1M read:read:1M:4"; do
	IFS=: read -r label rw bs depth <<<"$wl"
	for target in bfs kit; do
		f=$BFS; [ "$target" = kit ] && f=$KIT
		: >"$TMP/iops" ; : >"$TMP/bw"
		written=0
		up0=$(stat_of data.bytes_uploaded)
		for _ in $(seq "$RUNS"); do
			read -r iops bw wbytes < <(run_fio "$f" "$rw" "$bs" "$depth")
			echo "$iops" >>"$TMP/iops"; echo "$bw" >>"$TMP/bw"
			written=$((written + ${wbytes:-0}))
		done
		if [ "$target" = bfs ] && [ "$written" -gt 0 ]; then
			flush
			up1=$(stat_of data.bytes_uploaded)
			WA[$label]=$(awk -v u=$((up1 - up0)) -v w="$written" 'BEGIN { printf "%.2f", u / w }')
		fi
		RES[$label,$target]="$(median <"$TMP/iops") $(median <"$TMP/bw")"
	done
done

printf "\nNBD through nbdfuse + fio (direct=%s, %s s x %s runs, medians)\n" "$DIRECT" "$SECS" "$RUNS"
printf "%-13s %12s %10s   %12s %10s   %8s\n" workload "bucketfs" "MiB/s" "nbdkit file" "MiB/s" "ratio"
for label in "${LABELS[@]}"; do
	read -r bi bb <<<"${RES[$label,bfs]}"
	read -r ki kb <<<"${RES[$label,kit]}"
	printf "%-13s %9s op/s %10s   %9s op/s %10s   %8s\n" "$label" "$bi" "$bb" "$ki" "$kb" \
		"$(awk -v a="$bi" -v b="$ki" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
echo
echo "write amplification (store data bytes uploaded / bytes written):"
echo "  4 KiB random writes into full 32 KiB extents: ${WA[4k randwrite]:-?}x"
echo "  4 KiB sequential writes (8 per extent):       ${WA[4k write]:-?}x"
echo "  1 MiB sequential writes:                      ${WA[1M write]:-?}x"

# ---- TRIM ----
flush
live0=$(stat_of data.live_bytes) stored0=$(stat_of data.stored_bytes) du0=$(du -sb "$TMP/store" | cut -f1)
LOOP=$(losetup -f --show "$BFS")
t0=$(date +%s.%N)
blkdiscard "$LOOP"
t1=$(date +%s.%N)
losetup -d "$LOOP"; LOOP=
flush
live1=$(stat_of data.live_bytes) stored1=$(stat_of data.stored_bytes) du1=$(du -sb "$TMP/store" | cut -f1)
echo
printf "TRIM (blkdiscard of %s through a loop device, %.1f s):\n" "$SIZE" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
printf "  live bytes    %14s -> %14s\n" "$live0" "$live1"
printf "  stored bytes  %14s -> %14s   (segment GC deletes dead segments after its grace period)\n" "$stored0" "$stored1"
printf "  store on disk %14s -> %14s\n" "$du0" "$du1"
