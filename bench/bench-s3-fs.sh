#!/bin/bash
# bench-s3-fs.sh -- bucketfs through FUSE on a real S3 server, next to a
# plain S3 client moving the same bytes to and from the same server.
# Prints figures; fails only if something does not work at all.
#
#   sequential write  dd bs=1M conv=fsync of SIZE MiB of random bytes
#   sequential read   dd bs=1M after a restart of bucketfs with an empty
#                     cache and dropped page caches (cold)
#   raw baseline      aws s3 cp up and down (if an aws CLI runs), and
#                     curl: one PUT and one GET of the same object
#   fsync latency     a 4 KiB pwrite then fsync, N times: median, p90,
#                     and the S3 requests one fsync costs (from the RGW
#                     access log), next to a curl PUT of a 4 KiB object
#
# It starts its own Ceph RADOS Gateway (tests/rgw-start.sh: memstore, so
# the stored bytes sit in the OSD's RAM, ~3x SIZE) on free loopback ports
# and stops it at the end.  Needs root and /dev/fuse (runs in a private
# mount namespace).
#
# Knobs: BUCKETFS_BIN (default build/bucketfs), BENCH_MIB (default 1024),
# BENCH_RUNS (rounds of the throughput figures, median shown; default 3),
# BENCH_FSYNCS (default 30), AWS_CLI (path of the aws command; default the
# first `aws` in PATH, else /usr/bin/aws), BENCH_KEEP=1 (keep the work dir).
set -u
if [ -z "${BUCKETFS_BENCH_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "bench-s3-fs: needs root, /dev/fuse and unshare -m; skipped"
		exit 0
	fi
	exec env BUCKETFS_BENCH_NS=1 unshare -m --propagation private bash "$0" "$@"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
TESTS=$HERE/../tests
BIN=${BUCKETFS_BIN:-$HERE/../build/bucketfs}
MIB=${BENCH_MIB:-1024}
NFSYNC=${BENCH_FSYNCS:-30}
RUNS=${BENCH_RUNS:-3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bucketfs-bench-XXXXXX")
RGWDIR=$WORK/rgw MNT=$WORK/mnt LOG=$WORK/daemon.log CONF=$WORK/bucketfs.conf
mkdir -p "$MNT"
: >"$LOG"
T0=$(date +%s.%N)
PID= started=0 failed=0
export BUCKETFS_PASSWORD=bench-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_LOG AWS_SESSION_TOKEN BUCKETFS_S3_VIRTUAL_HOST \
	BUCKETFS_S3_MULTIPART_THRESHOLD BUCKETFS_S3_PART_SIZE AWS_CA_BUNDLE AWS_PROFILE

say() { echo "bench-s3-fs: $*" >&2; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", (b-a)/1e9}'; }
mibs() { awk -v s="$1" -v m="$MIB" 'BEGIN{ if (s > 0) printf "%.1f", m/s; else print "-" }'; }

cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	[ "$started" = 1 ] && RGW_KEEP_DIR=${BENCH_KEEP:-$failed} bash "$TESTS/rgw-stop.sh" "$RGWDIR" >"$WORK/rgw-stop.log" 2>&1
	if [ "$failed" = 0 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else say "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { say "$*"; failed=1; tail -n 20 "$LOG" >&2; exit 1; }

free_port() {
	local p _
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	return 1
}
alive() {
	local st; st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}
start() {
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		mountpoint -q "$MNT" && return 0
		alive "$PID" || return 1
		sleep 0.05
	done
	return 1
}
stop() {
	local p=$PID
	PID=
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 3600); do alive "$p" || break; sleep 0.05; done
	alive "$p" && { kill -9 "$p"; wait "$p" 2>/dev/null; return 124; }
	wait "$p"
}
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
s3curl() {  # s3curl METHOD PATH [curl args...]: prints "HTTP_CODE SECONDS"
	local method=$1 path=$2; shift 2
	curl -sS -m 600 -w '%{http_code} %{time_total}' -X "$method" \
		--aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$AWS_ENDPOINT_URL$path"
}
# RGW access-log lines (beast) for requests under PREFIX, from line FROM on.
rgw_requests() {  # rgw_requests FROM_LINE PREFIX
	tail -n "+$1" "$RGWDIR/log/client.rgw.a.log" | grep -E "beast: .* \"[A-Z]+ /$BUCKET/$2"
}
rgw_lines() { wc -l <"$RGWDIR/log/client.rgw.a.log"; }

# ---- set up ----
rgw_port=$(free_port) && mon_port=$(free_port) || die "no free port"
env RGW_PORT="$rgw_port" CEPH_MON_PORT="$mon_port" RGW_STORE_BYTES=$(( (MIB * (3 * RUNS + 1) + 1024) << 20 )) \
	bash "$TESTS/rgw-start.sh" "$RGWDIR" >"$WORK/rgw.env" 2>"$WORK/rgw-start.log" \
	|| { tail -n 20 "$WORK/rgw-start.log" >&2; die "RGW did not start"; }
started=1
# shellcheck disable=SC1091
. "$WORK/rgw.env"
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION
BUCKET=bench-$$
read -r code _ < <(s3curl PUT "/$BUCKET" -o /dev/null)
[ "$code" = 200 ] || die "CreateBucket: HTTP $code"
STORE="s3://$BUCKET/fs"
printf '[cache]\ndir = "%s"\n' "$WORK/cache" >"$CONF"
say "RGW up at $AWS_ENDPOINT_URL ($(elapsed) s); writing $MIB MiB of random bytes"
head -c "$((MIB << 20))" /dev/urandom >"$WORK/data"

AWS=${AWS_CLI:-$(command -v aws || true)}
[ -n "$AWS" ] || [ ! -x /usr/bin/aws ] || AWS=/usr/bin/aws
if [ -n "$AWS" ] && ! "$AWS" --version >/dev/null 2>&1; then AWS=; fi
# RGW 16.2 rejects the checksum trailers newer SDKs send by default.
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
if [ -n "$AWS" ]; then
	AWSV=$("$AWS" --version 2>&1 | awk '{ print $1 }')
else
	AWSV="none found (curl is the raw baseline)"
	say "no aws CLI: the curl PUT/GET is the raw baseline"
fi

# timed VAR CMD...: run CMD; VAR gets its wall time in seconds, or - if it failed.
timed() {
	local var=$1 t1 t2; shift
	t1=$(now)
	if "$@"; then t2=$(now); printf -v "$var" '%s' "$(secs "$t1" "$t2")"; else printf -v "$var" '%s' -; fi
}
aws_up() { "$AWS" --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors s3 cp "$WORK/data" "s3://$BUCKET/raw/aws"; }
aws_down() { "$AWS" --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors s3 cp "s3://$BUCKET/raw/aws" - >/dev/null; }
curl_up() { local c; read -r c _ < <(s3curl PUT "/$BUCKET/raw/curl" -o /dev/null -T "$WORK/data"); [ "$c" = 200 ]; }
curl_down() { local c; read -r c _ < <(s3curl GET "/$BUCKET/raw/curl" -o /dev/null); [ "$c" = 200 ]; }
warm_source() { drop_caches; cat "$WORK/data" >/dev/null; }   # the same start for every writer

# ---- throughput: rounds of bucketfs write, bucketfs cold read, aws up,
# aws down, curl PUT, curl GET, interleaved so drift hits all alike ----
: >"$WORK/rounds"
start || die "bucketfs did not mount"
for r in $(seq 1 "$RUNS"); do
	warm_source
	l0=$(rgw_lines)
	timed fs_w dd if="$WORK/data" of="$MNT/big" bs=1M conv=fsync status=none
	[ "$fs_w" != - ] || die "dd write failed"
	sleep 1
	puts=$(rgw_requests "$l0" fs/segments | grep -c '"PUT ')
	stop || die "bucketfs did not stop cleanly (status $?)"
	rm -rf "$WORK/cache"
	drop_caches
	start || die "bucketfs did not mount again"
	l0=$(rgw_lines)
	timed fs_r dd if="$MNT/big" of=/dev/null bs=1M status=none
	[ "$fs_r" != - ] || die "dd read failed"
	sleep 1
	gets=$(rgw_requests "$l0" fs/segments | grep -c '"GET ')
	cmp -s "$WORK/data" "$MNT/big" || die "the file read back differs"
	rm -f "$MNT/big"
	raw_w=- raw_r=-
	if [ -n "$AWS" ]; then
		warm_source
		timed raw_w aws_up
		timed raw_r aws_down
	fi
	warm_source
	timed curl_w curl_up
	timed curl_r curl_down
	echo "$fs_w $fs_r $raw_w $raw_r $curl_w $curl_r" >>"$WORK/rounds"
	say "round $r: bucketfs write $fs_w s ($puts segment PUTs incl. parts), cold read $fs_r s" \
		"($gets GETs); aws up $raw_w down $raw_r; curl PUT $curl_w GET $curl_r (at $(elapsed) s)"
done

# ---- bucketfs: fsync after a 4 KiB write ----
stop || die "bucketfs did not stop cleanly (status $?)"
start || die "bucketfs did not mount again"
dd if=/dev/urandom of="$MNT/fsync-probe" bs=4k count=1 conv=fsync status=none || die "probe file"
sleep 1
l0=$(rgw_lines)
python3 - "$MNT/fsync-probe" "$NFSYNC" >"$WORK/fsync.txt" <<'EOF' || die "fsync probe failed"
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY)
for i in range(1, n + 1):
    os.pwrite(fd, os.urandom(4096), i * 4096)
    t = time.perf_counter_ns(); os.fsync(fd); print(time.perf_counter_ns() - t)
os.close(fd)
EOF
sleep 1
rgw_requests "$l0" fs/ >"$WORK/fsync-requests"
fsync_req=$(awk -v n="$NFSYNC" 'END { printf "%.1f", NR / n }' "$WORK/fsync-requests")
fsync_kinds=$(sed -E 's/.*"([A-Z]+) \/[^/]+\/fs\/([a-z.]+).*/\1 \2/' "$WORK/fsync-requests" \
	| sort | uniq -c | awk -v n="$NFSYNC" '{ printf "%s%s %s %.1f", sep, $2, $3, $1 / n; sep = ", " }')
fsync_seg=$(grep '"PUT [^ ]*/fs/segments/' "$WORK/fsync-requests" \
	| sed -E 's/.*" 200 ([0-9]+) .*/\1/' | awk '{ s += $1 } END { printf "%.0f", s / 1024 }')
read -r fs_med fs_p90 fs_min fs_max < <(sort -n "$WORK/fsync.txt" \
	| awk '{ v[NR] = $1 / 1e6 } END { printf "%.2f %.2f %.2f %.2f\n", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[1], v[NR] }')
stop || die "bucketfs did not stop cleanly (status $?)"

# ---- raw baseline for fsync: a 4 KiB PUT ----
head -c 4096 /dev/urandom >"$WORK/4k"
for i in $(seq 1 "$NFSYNC"); do
	s3curl PUT "/$BUCKET/raw/small$i" -o /dev/null -T "$WORK/4k"; echo
done | awk '$1 == 200 { print $2 * 1000 }' | sort -n >"$WORK/put4k.txt"
read -r put_med put_p90 < <(awk '{ v[NR] = $1 } END { printf "%.2f %.2f\n", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)] }' "$WORK/put4k.txt")

# ---- table ----
# med C: the median of column C of the rounds ("-" if a round failed).
med() {
	if awk -v c="$1" '$c == "-" { bad = 1 } END { exit !(bad || !NR) }' "$WORK/rounds"; then echo -; return; fi
	awk -v c="$1" '{ print $c }' "$WORK/rounds" | sort -g \
		| awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
each() { awk -v c="$1" '{ printf "%s%s", sep, $c; sep = " " }' "$WORK/rounds"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", b / a; else print "-" }'; }
fs_w=$(med 1) fs_r=$(med 2) raw_w=$(med 3) raw_r=$(med 4) curl_w=$(med 5) curl_r=$(med 6)
# a throughput ratio bucketfs / raw is raw time / bucketfs time
base_w=$raw_w base_r=$raw_r base=aws
[ "$base_w" = - ] && { base_w=$curl_w base_r=$curl_r base=curl; }
row() { printf '%-42s %8s %8s %9s %9s   %s\n' "$1" "$2" "$(mibs "$2")" "$3" "$4" "$5"; }
echo
echo "bucketfs on RGW 16.2 (memstore, loopback), $MIB MiB of random bytes, $(nproc) cores;" \
	"median of $RUNS rounds; aws CLI: $AWSV"
printf '%-42s %8s %8s %9s %9s   %s\n' "" seconds MiB/s "vs $base" "vs curl" "each round (s)"
row "bucketfs write (dd bs=1M conv=fsync)" "$fs_w" "$(ratio "$fs_w" "$base_w")" "$(ratio "$fs_w" "$curl_w")" "$(each 1)"
row "bucketfs read, cold (restart, no cache)" "$fs_r" "$(ratio "$fs_r" "$base_r")" "$(ratio "$fs_r" "$curl_r")" "$(each 2)"
row "aws s3 cp up (multipart, parallel)" "$raw_w" "" "" "$(each 3)"
row "aws s3 cp down (to stdout)" "$raw_r" "" "" "$(each 4)"
row "curl PUT (one request)" "$curl_w" "" "" "$(each 5)"
row "curl GET (one request)" "$curl_r" "" "" "$(each 6)"
echo
printf '%-46s %8s %8s %14s\n' "latency (ms)" median p90 min..max
printf '%-46s %8s %8s %14s\n' "bucketfs fsync after a 4 KiB pwrite (n=$NFSYNC)" "$fs_med" "$fs_p90" "$fs_min..$fs_max"
printf '%-46s %8s %8s\n' "curl PUT of a 4 KiB object (new connection)" "$put_med" "$put_p90"
echo "S3 requests per 4 KiB pwrite + fsync: $fsync_req ($fsync_kinds);" \
	"segment bytes PUT for the $NFSYNC x 4 KiB: $fsync_seg KiB"
echo "ratios: throughput bucketfs / raw, > 1 is faster (goal >= 0.80x); total run $(elapsed) s"
