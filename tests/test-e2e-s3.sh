#!/bin/bash
# test-e2e-s3.sh -- bucketfs end to end on a real S3 server: a throw-away
# Ceph RADOS Gateway (tests/rgw-start.sh, on free loopback ports and in a
# directory of its own, so it never meets test-store-s3.sh's cluster).
#
#   1. a FUSE mount of s3://BUCKET/fs: cp -a /usr/include/linux and a file
#      of a repeated marker string, sync, stop (SIGTERM), start again with
#      an empty cache, diff -r against the originals;
#   2. with curl as an independent S3 client: the bucket holds only
#      fs/bucketfs.key, fs/lease (the writer's, daemon/lease.h), fs/manifest/*,
#      fs/sst/* and fs/segments/*, and no
#      object contains the marker, a 16-byte slice of it, or a file name;
#   3. an outage: while a write workload runs (dd, every third file with
#      conv=fsync, recording which fsyncs succeeded), only radosgw is killed
#      and started again ~7 s later.  The daemon must live on, the workload
#      must go on once the gateway is back, and every file whose fsync
#      succeeded must read back exactly, before and after a restart of
#      bucketfs with an empty cache.
#
# Everything runs in a private mount namespace (unshare -m).  Needs root and
# /dev/fuse (else it skips); missing ceph packages are installed by
# rgw-start.sh, and if the cluster cannot start the test fails.
#
# Knobs: BUCKETFS_BIN (the Makefile sets it), BUCKETFS_E2E_OUTAGE (seconds
# radosgw stays down, default 7), BUCKETFS_E2E_KEEP=1 (keep the work
# directory even on success).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BUCKETFS_BIN:-$HERE/../build/bucketfs}
OUTAGE=${BUCKETFS_E2E_OUTAGE:-7}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bucketfs-e2e-XXXXXX")
chmod 755 "$WORK"
RGWDIR=$WORK/rgw MNT=$WORK/mnt LOG=$WORK/daemon.log CONF=$WORK/bucketfs.conf
MARKER=BUCKETFS-E2E-PLAINTEXT-MARKER
NAME_MARKER=e2e-FILENAME-MARKER-7f3a
mkdir -p "$MNT" "$WORK/src" "$WORK/objs" "$WORK/exp"
: >"$LOG"
T0=$(date +%s.%N)
n=0 fail=0 started=0 PID= WLPID=
export BUCKETFS_PASSWORD=e2e-s3-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_LOG AWS_SESSION_TOKEN BUCKETFS_S3_VIRTUAL_HOST \
	BUCKETFS_S3_MULTIPART_THRESHOLD BUCKETFS_S3_PART_SIZE BUCKETFS_S3_MAX_ATTEMPTS \
	BUCKETFS_S3_RETRY_SECONDS AWS_CA_BUNDLE

diag() { sed 's/^/#   /' "$@"; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
show_log() { echo "# daemon log (last lines):"; tail -n "${1:-25}" "$LOG" | diag; }

stop_rgw() {
	[ "$started" = 1 ] || return 0
	started=0
	local keep=0
	[ "$fail" -eq 0 ] && [ "${BUCKETFS_E2E_KEEP:-0}" != 1 ] || keep=1
	RGW_KEEP_DIR=$keep bash "$HERE/rgw-stop.sh" "$RGWDIR" >"$WORK/rgw-stop.log" 2>&1
}
cleanup() {
	[ -n "$WLPID" ] && kill -9 "$WLPID" 2>/dev/null
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	stop_rgw
	if [ "$fail" -eq 0 ] && [ "${BUCKETFS_E2E_KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "# work directory kept: $WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# s3curl OUTFILE METHOD PATH [curl args...]: a signed request; prints the status.
s3curl() {
	local out=$1 method=$2 path=$3; shift 3
	curl -sS -m 60 -o "$out" -w '%{http_code}' -X "$method" \
		--aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$AWS_ENDPOINT_URL$path"
}


# start: bucketfs on $MNT in the background; 0 once it is mounted.
start() {
	echo "--- start at $(elapsed) s" >>"$LOG"
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		mountpoint -q "$MNT" && return 0
		alive "$PID" || return 1
		sleep 0.05
	done
	return 1
}

# stop: SIGTERM, then the daemon's exit status (124 and a kill -9 after 90 s).
stop() {
	local p=$PID
	PID=
	[ -n "$p" ] || return 1
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 1800); do alive "$p" || break; sleep 0.05; done
	if alive "$p"; then
		echo "# pid $p did not stop within 90 s: killed"
		kill -9 "$p"; wait "$p" 2>/dev/null
		umount -l "$MNT" 2>/dev/null
		return 124
	fi
	wait "$p"
}

# restart_cold: stop, empty the local cache, start; reads then come from S3.
restart_cold() {
	stop || return 1
	rm -rf "$WORK/cache"
	start
}

# ---- the gateway and a bucket ----

if bash "$HERE/rgw-up.sh" "$RGWDIR" >"$WORK/rgw.env" 2>"$WORK/rgw-start.log"; then
	started=1
	# shellcheck disable=SC1091
	. "$WORK/rgw.env"
	export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION
	ok 0 "RGW starts at $AWS_ENDPOINT_URL ($(elapsed) s)"
else
	tail -n 30 "$WORK/rgw-start.log" | diag
	ok 1 "RGW starts (ceph packages missing or the cluster did not come up)"
	echo "1..$n"
	exit 1
fi

BUCKET="bucketfs-e2e-$$-$RANDOM"
code=$(s3curl "$WORK/curl.out" PUT "/$BUCKET")
[ "$code" = 200 ] || diag "$WORK/curl.out"
ok $([ "$code" = 200 ]; echo $?) "bucket $BUCKET created (HTTP $code)"
STORE="s3://$BUCKET/fs"

cat >"$CONF" <<EOF
[cache]
dir = "$WORK/cache"
[filesystem]
flush_interval = "2s"
EOF

# ---- 1. a tree through the mount, a restart, diff ----

head -c 1048576 < <(yes "$MARKER" | tr -d '\n') >"$WORK/src/marker"
head -c 3000000 /dev/urandom >"$WORK/src/random"

start
ok $? "bucketfs mounts $STORE"
if ! mountpoint -q "$MNT"; then
	show_log
	echo "1..$n"
	exit 1
fi
cp -a /usr/include/linux "$MNT/linux" \
	&& cp "$WORK/src/marker" "$MNT/$NAME_MARKER" \
	&& cp "$WORK/src/random" "$MNT/random" \
	&& sync -f "$MNT" && sync
ok $? "cp -a /usr/include/linux, a marker file and a random file; sync"
stop
ok $? "SIGTERM: bucketfs flushes and exits with status 0"
mountpoint -q "$MNT"
ok $((! $?)) "the mount is gone after the stop"

rm -rf "$WORK/cache"
start
ok $? "bucketfs starts again on the same store, with an empty cache"
diff -r /usr/include/linux "$MNT/linux" >"$WORK/diff.out" 2>&1
st=$?
[ "$st" -eq 0 ] || head -n 10 "$WORK/diff.out" | diag
ok "$st" "after the restart diff -r finds /usr/include/linux identical"
cmp "$WORK/src/marker" "$MNT/$NAME_MARKER" && cmp "$WORK/src/random" "$MNT/random"
ok $? "after the restart the marker and random files are identical"
stop
ok $? "second stop is clean"
echo "# tree phase done at $(elapsed) s"

# ---- 2. what the bucket holds, seen by curl ----

# ListObjectsV2 of the whole bucket, every page: "key size" lines.
: >"$WORK/keys"
token= pages=0 list_ok=0
while :; do
	pages=$((pages+1))
	if [ -n "$token" ]; then
		code=$(s3curl "$WORK/list.xml" GET "/$BUCKET" -G --data-urlencode list-type=2 \
			--data-urlencode "continuation-token=$token")
	else
		code=$(s3curl "$WORK/list.xml" GET "/$BUCKET?list-type=2")
	fi
	[ "$code" = 200 ] || { diag "$WORK/list.xml"; list_ok=1; break; }
	sed 's/<Contents>/\n/g' "$WORK/list.xml" \
		| sed -n 's/^<Key>\([^<]*\)<\/Key>.*<Size>\([0-9]*\)<\/Size>.*/\1 \2/p' >>"$WORK/keys"
	grep -q '<IsTruncated>true</IsTruncated>' "$WORK/list.xml" || break
	token=$(sed -n 's/.*<NextContinuationToken>\([^<]*\)<.*/\1/p' "$WORK/list.xml")
	[ -n "$token" ] && [ "$pages" -lt 100 ] || { list_ok=1; break; }
done
nkeys=$(wc -l <"$WORK/keys")
echo "# bucket: $nkeys objects, $(awk '{ s += $2 } END { print s + 0 }' "$WORK/keys") bytes;" \
	"by kind: $(awk '{ split($1, p, "/"); print p[2] }' "$WORK/keys" | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')"
ok $([ "$list_ok" -eq 0 ] && [ "$nkeys" -gt 0 ]; echo $?) "ListObjectsV2 lists the bucket ($nkeys keys, $pages page(s))"
grep -vE '^fs/(bucketfs\.key|lease|manifest/[^/ ]+|sst/[^/ ]+|segments/[^ ]+) [0-9]+$' "$WORK/keys" >"$WORK/bad-keys"
[ -s "$WORK/bad-keys" ] && head -n 10 "$WORK/bad-keys" | diag
ok $([ ! -s "$WORK/bad-keys" ]; echo $?) "every key is fs/bucketfs.key, fs/lease, fs/manifest/*, fs/sst/* or fs/segments/*"
kinds=0
grep -q '^fs/bucketfs\.key ' "$WORK/keys" && kinds=$((kinds+1))
for k in manifest sst segments; do grep -q "^fs/$k/" "$WORK/keys" && kinds=$((kinds+1)); done
ok $([ "$kinds" -eq 4 ]; echo $?) "the key file, manifests, SSTs and segments are all there"
code=$(s3curl "$WORK/uploads.xml" GET "/$BUCKET?uploads=")
[ "$code" = 200 ] && ! grep -q '<Upload>' "$WORK/uploads.xml"
ok $? "no multipart upload is left open"

# Every object, fetched and searched.
i=0 get_bad=0
while read -r key size; do
	i=$((i+1))
	code=$(s3curl "$WORK/objs/$i" GET "/$BUCKET/$key")
	got=$(stat -c %s "$WORK/objs/$i" 2>/dev/null || echo -1)
	if [ "$code" != 200 ] || [ "$got" != "$size" ]; then
		echo "# GET $key: HTTP $code, $got bytes (listed $size)"
		get_bad=$((get_bad+1))
	fi
done <"$WORK/keys"
ok "$get_bad" "GET of all $i objects returns the listed sizes"
# The 16-byte slices of the repeated marker: one for each phase.
: >"$WORK/slices"
for off in $(seq 0 $((${#MARKER} - 1))); do
	printf '%s\n' "$MARKER$MARKER" | cut -c $((off+1))-$((off+16)) >>"$WORK/slices"
done
grep -aqF -f "$WORK/slices" "$WORK/src/marker"
ok $? "self-check: the slice search finds the plaintext file"
hits=$(grep -laF "$MARKER" "$WORK"/objs/* 2>/dev/null | wc -l)
ok $([ "$hits" -eq 0 ]; echo $?) "no object contains the marker string ($hits do)"
hits=$(grep -laF -f "$WORK/slices" "$WORK"/objs/* 2>/dev/null | wc -l)
ok $([ "$hits" -eq 0 ]; echo $?) "no object contains any 16-byte slice of the marker ($hits do)"
hits=$(grep -laF -e "$NAME_MARKER" -e "include/linux" -e "LINUX_VERSION_CODE" "$WORK"/objs/* 2>/dev/null | wc -l)
ok $([ "$hits" -eq 0 ]; echo $?) "no object contains a file name or header text in clear ($hits do)"
echo "# bucket checks done at $(elapsed) s"

# ---- 3. radosgw goes away under a write workload ----

head -c 2097152 /dev/urandom >"$WORK/pool"
mkdir -p "$WORK/exp"
# workload: files w/fN of 1..256 KiB; every third with conv=fsync.  Each
# line of wl.log: N fsync|plain STATUS START_NS END_NS.
workload() {
	local i=0 kib skip mode t1 t2 st
	mkdir -p "$MNT/w" || return 1
	while [ ! -e "$WORK/wl.stop" ]; do
		i=$((i+1))
		kib=$(( (i * 7919) % 256 + 1 ))
		skip=$(( (i * 104729) % 1792 ))
		dd if="$WORK/pool" of="$WORK/exp/f$i" bs=1k skip="$skip" count="$kib" status=none
		t1=$(date +%s%N)
		if [ $((i % 3)) -eq 0 ]; then
			mode=fsync
			dd if="$WORK/exp/f$i" of="$MNT/w/f$i" bs=64k conv=fsync status=none 2>>"$WORK/wl.err"
		else
			mode=plain
			dd if="$WORK/exp/f$i" of="$MNT/w/f$i" bs=64k status=none 2>>"$WORK/wl.err"
		fi
		st=$?
		t2=$(date +%s%N)
		echo "$i $mode $st $t1 $t2" >>"$WORK/wl.log"
		[ $((i % 25)) -eq 0 ] && mkdir "$MNT/w/d$i" 2>>"$WORK/wl.err"
	done
}

start
ok $? "bucketfs starts for the outage test"
: >"$WORK/wl.log"
rm -f "$WORK/wl.stop"
workload &
WLPID=$!
sleep 2
fsync_ok_before=$(awk '$2 == "fsync" && $3 == 0' "$WORK/wl.log" | wc -l)
ok $([ "$fsync_ok_before" -gt 0 ]; echo $?) "the workload runs: $fsync_ok_before fsyncs succeeded before the outage"

rgw_lines_before=$(wc -l <"$RGWDIR/log/client.rgw.a.log")
RGW_GATEWAY_ONLY=1 RGW_STOP_SIGNAL=KILL bash "$HERE/rgw-stop.sh" "$RGWDIR" >>"$WORK/rgw-stop.log" 2>&1
st=$?
t_down=$(date +%s%N)
ok "$st" "radosgw killed (mon and osd stay up) at $(elapsed) s"
code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$AWS_ENDPOINT_URL/")
ok $([ "$code" = 000 ]; echo $?) "the endpoint no longer answers"
# A metadata probe during the outage (a stall or EIO is allowed; it is reported).
(
	sleep 1
	t1=$(date +%s%N)
	timeout 60 stat "$MNT/linux/stddef.h" >/dev/null 2>"$WORK/probe.err"
	st=$?
	echo "$st $(( ($(date +%s%N) - t1) / 1000000 ))" >"$WORK/probe"
) &
PROBE=$!
died=0
deadline=$(( $(date +%s%N) + OUTAGE * 1000000000 ))
while [ "$(date +%s%N)" -lt "$deadline" ]; do
	alive "$PID" || { died=1; break; }
	sleep 0.2
done
ok "$died" "bucketfs stays alive through ${OUTAGE} s without radosgw"
RGW_GATEWAY_ONLY=1 bash "$HERE/rgw-start.sh" "$RGWDIR" >/dev/null 2>>"$WORK/rgw-restart.log"
st=$?
t_up=$(date +%s%N)
[ "$st" -eq 0 ] || tail -n 10 "$WORK/rgw-restart.log" | diag
ok "$st" "radosgw starts again (down $(( (t_up - t_down) / 1000000 )) ms)"

# The workload must get going again: an fsync that started after the
# gateway was back must succeed within 60 s.
recovered=1
for _ in $(seq 600); do
	if awk -v t="$t_up" '$2 == "fsync" && $3 == 0 && $4 > t { f = 1 } END { exit !f }' "$WORK/wl.log"; then
		recovered=0; break
	fi
	alive "$PID" || break
	sleep 0.1
done
ok "$recovered" "an fsync begun after the gateway returned succeeds ($(elapsed) s)"
wait "$PROBE"
read -r pst pms <"$WORK/probe" 2>/dev/null
echo "# stat on the mount, begun 1 s into the outage: exit ${pst:-?} after ${pms:-?} ms $(head -c 100 "$WORK/probe.err" 2>/dev/null)"
sleep 1
touch "$WORK/wl.stop"
wl_done=1
for _ in $(seq 900); do
	alive "$WLPID" || { wl_done=0; break; }
	sleep 0.1
done
if [ "$wl_done" -ne 0 ]; then
	kill -9 "$WLPID" 2>/dev/null
fi
wait "$WLPID" 2>/dev/null
WLPID=
ok "$wl_done" "the workload stops (no operation hangs for good)"
alive "$PID"
ok $? "bucketfs is still running after the outage"

# What happened to each operation.
awk -v d="$t_down" -v u="$t_up" '
	{ phase = ($5 < d) ? "before" : ($4 > u) ? "after" : "overlapping"
	  k = phase " " $2 " " ($3 == 0 ? "ok" : "failed"); c[k]++
	  ms = ($5 - $4) / 1e6; if (ms > mx[phase]) mx[phase] = ms }
	END { for (p in mx) printf "# %s the outage: longest operation %.0f ms\n", p, mx[p]
	      for (k in c) printf "#   %s: %d\n", k, c[k] }' "$WORK/wl.log" | sort
[ -s "$WORK/wl.err" ] && { echo "# workload errors (first lines):"; sort "$WORK/wl.err" | uniq -c | sort -rn | head -n 5 | diag; }
grep -E ' (warn|error): ' "$LOG" | sed -E 's/^[^ ]+ bucketfs\[[0-9]+\] //; s/[0-9a-f]{16,}/X/g; s/[0-9]+/N/g' \
	| sort | uniq -c | sort -rn | head -n 6 | sed 's/^/# daemon said: /'

awk '$2 == "fsync" && $3 == 0 { print $1 }' "$WORK/wl.log" >"$WORK/durable"
ndur=$(wc -l <"$WORK/durable")
verify_durable() {
	local bad=0 i
	while read -r i; do
		cmp -s "$WORK/exp/f$i" "$MNT/w/f$i" || { bad=$((bad+1)); [ "$bad" -le 5 ] && echo "# f$i differs or is missing"; }
	done <"$WORK/durable"
	return "$bad"
}
verify_durable
ok $? "all $ndur files whose fsync succeeded read back exactly"
# After the outage every file, fsynced or not, must read back: the daemon
# keeps what it has not yet stored and stores it once it can.
# Files written without fsync: POSIX promises nothing for them after a
# write-back error, so a difference is reported, not failed.
check_plain() {
	local bad=0 total=0 i mode st
	while read -r i mode st _; do
		[ "$mode" = plain ] && [ "$st" -eq 0 ] || continue
		total=$((total+1))
		cmp -s "$WORK/exp/f$i" "$MNT/w/f$i" || bad=$((bad+1))
	done <"$WORK/wl.log"
	echo "# $1: $((total - bad)) of $total files written without fsync read back exactly"
}
check_plain "before the restart"

restart_cold
ok $? "bucketfs stops cleanly and starts again with an empty cache"
verify_durable
ok $? "after the restart all $ndur fsynced files read back exactly"
check_plain "after the restart"
diff -r /usr/include/linux "$MNT/linux" >/dev/null 2>&1
ok $? "the tree from the first part is still identical"
stop
ok $? "final stop is clean"
rgw_requests=$(tail -n "+$((rgw_lines_before + 1))" "$RGWDIR/log/client.rgw.a.log" | grep -c 'beast: .* "[A-Z]* /')
echo "# radosgw served $rgw_requests requests after its restart"

stop_rgw
st=$?
[ "$st" -eq 0 ] || diag "$WORK/rgw-stop.log"
ok "$st" "RGW stops"
[ "$fail" -ne 0 ] && show_log 40
echo "# total $(elapsed) s"
echo "1..$n"
[ "$fail" -eq 0 ]
