#!/bin/bash
# test-nbd-mirror.sh -- a three-store mirror of NBD block devices that
# survives losing one: three bucketfs daemons, one on the real RADOS
# Gateway (tests/rgw-start.sh, s3://) and two on file:// stores, one
# export each, attached on the host through nbdfuse + losetup and
# assembled as btrfs raid1c3 (data and metadata: three copies).  A tree is
# written and synced, one daemon is killed for good (SIGKILL) while a
# writer runs, the degraded filesystem still reads every byte (diff
# against the source, with the page cache dropped), the lost leg is
# replaced by a fourth daemon's export (btrfs replace), and btrfs scrub
# finds no uncorrectable error.
#
# About 25-40 s (most of it the Ceph cluster and the copies through three
# legs), so it is part of make test.
# Runs in a private mount namespace (unshare -m).  Needs root, /dev/fuse,
# loop devices, btrfs in the kernel, btrfs-progs, libnbd-bin (nbdfuse).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BUCKETFS_BIN:-$HERE/../build/bucketfs}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bucketfs-mirror-XXXXXX")
chmod 755 "$WORK"
RGWDIR=$WORK/rgw BT=$WORK/btrfs SRC=$WORK/src CONF=$WORK/bucketfs.conf
mkdir -p "$BT" "$SRC"
export BUCKETFS_PASSWORD=mirror-test-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_RUN_DIR AWS_SESSION_TOKEN
T0=$(date +%s.%N)
n=0 fail=0 started=0 WPID=
declare -A PID LOOP FPID
LEGSIZE=1G

elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
diag() { sed 's/^/#   /' "$@"; }

cleanup() {
	[ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null
	umount "$BT" 2>/dev/null || umount -l "$BT" 2>/dev/null
	for l in "${!LOOP[@]}"; do losetup -d "${LOOP[$l]}" 2>/dev/null; done
	for l in "${!FPID[@]}"; do
		umount -l "$WORK/$l/fuse" 2>/dev/null
		kill "${FPID[$l]}" 2>/dev/null
	done
	for l in "${!PID[@]}"; do kill -9 "${PID[$l]}" 2>/dev/null; done
	wait 2>/dev/null
	for l in a b c d; do umount -l "$WORK/$l/mnt" 2>/dev/null; done
	if [ "$started" = 1 ]; then
		RGW_KEEP_DIR=$([ "$fail" -eq 0 ] && echo 0 || echo 1) \
			bash "$HERE/rgw-stop.sh" "$RGWDIR" >"$WORK/rgw-stop.log" 2>&1
	fi
	if [ "$fail" -eq 0 ]; then rm -rf "$WORK"; else echo "# work directory kept: $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

s3curl() {
	local out=$1 method=$2 path=$3; shift 3
	curl -sS -m 60 -o "$out" -w '%{http_code}' -X "$method" \
		--aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$AWS_ENDPOINT_URL$path"
}

# leg NAME STORE: a daemon on STORE with a FUSE mount (to make the export
# file) and NBD on a Unix socket; its export attached with nbdfuse and a
# loop device: LOOP[NAME].
leg() {
	local l=$1 store=$2 d=$WORK/$1
	mkdir -p "$d/mnt" "$d/fuse"
	: >"$d/log"
	"$BIN" run -c "$CONF" --store "$store" --mount "$d/mnt" --socket "$d/admin.sock" \
		--nbd-socket "$d/nbd.sock" >>"$d/log" 2>&1 &
	PID[$l]=$!
	for _ in $(seq 1200); do
		grep -q "info: serving " "$d/log" && break
		alive "${PID[$l]}" || break
		sleep 0.05
	done
	grep -q "info: serving " "$d/log" || { diag "$d/log" | tail -n 20; return 1; }
	mkdir -p "$d/mnt/.nbd" && truncate -s "$LEGSIZE" "$d/mnt/.nbd/leg" || return 1
	nbdfuse -P "$d/nbdfuse.pid" "$d/fuse/leg" "nbd+unix:///leg?socket=$d/nbd.sock" \
		>"$d/nbdfuse.log" 2>&1 &
	FPID[$l]=$!
	for _ in $(seq 400); do [ -s "$d/nbdfuse.pid" ] && break; sleep 0.05; done
	[ -f "$d/fuse/leg" ] || { diag "$d/nbdfuse.log"; return 1; }
	LOOP[$l]=$(losetup -f --show --direct-io=on "$d/fuse/leg" 2>/dev/null ||
		   losetup -f --show "$d/fuse/leg") || return 1
}

# ---- the gateway ----
if bash "$HERE/rgw-up.sh" "$RGWDIR" >"$WORK/rgw.env" 2>"$WORK/rgw-start.log"; then
	started=1
	# shellcheck disable=SC1091
	. "$WORK/rgw.env"
	export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION
	ok 0 "RGW starts at $AWS_ENDPOINT_URL ($(elapsed) s)"
else
	tail -n 30 "$WORK/rgw-start.log" | diag
	ok 1 "RGW starts"
	echo "1..$n"
	exit 1
fi
BUCKET="bucketfs-mirror-$$-$RANDOM"
code=$(s3curl "$WORK/curl.out" PUT "/$BUCKET")
is "$code" 200 "bucket $BUCKET created"

cat >"$CONF" <<EOF
[cache]
dir = ""
[filesystem]
flush_interval = "2s"
lease_interval = "1s"
EOF

# ---- three legs, btrfs raid1c3 ----
leg a "s3://$BUCKET/leg-a"; ok $? "leg a: s3:// on RGW, attached as ${LOOP[a]:-?}"
leg b "file://$WORK/store-b"; ok $? "leg b: file://, attached as ${LOOP[b]:-?}"
leg c "file://$WORK/store-c"; ok $? "leg c: file://, attached as ${LOOP[c]:-?}"
mkfs.btrfs -q -f -d raid1c3 -m raid1c3 "${LOOP[a]}" "${LOOP[b]}" "${LOOP[c]}" >"$WORK/mkfs.log" 2>&1
ok $? "mkfs.btrfs -d raid1c3 -m raid1c3 over the three exports"
[ "$fail" -ne 0 ] && diag "$WORK/mkfs.log"
btrfs device scan >/dev/null 2>&1
mount -t btrfs "${LOOP[a]}" "$BT"
ok $? "mount ($(elapsed) s)"

# the tree: headers, a few random files
cp -a /usr/include/linux "$SRC/linux"
for i in 1 2 3 4; do head -c $((3 << 20)) /dev/urandom >"$SRC/random$i"; done
cp -a "$SRC" "$BT/tree" && sync
ok $? "a tree written ($(du -sm "$SRC" | cut -f1) MiB) and synced ($(elapsed) s)"

# ---- lose leg b for good, mid-write ----
# ~10 MiB/s, at most 40 MiB: the raid1c3 chunks allocated so far must hold
# it, since a degraded raid1c3 cannot allocate new chunks (it needs three
# writable devices), and btrfs replace needs room in them too.
( i=0; while [ "$i" -lt 40 ]; do head -c 1048576 /dev/urandom >"$BT/extra.$i" 2>/dev/null || break
	i=$((i + 1)); sleep 0.1; done ) &
WPID=$!
sleep 1
kill -9 "${PID[b]}"; wait "${PID[b]}" 2>/dev/null; unset 'PID[b]'
ok 0 "leg b's daemon killed with SIGKILL while a writer runs ($(elapsed) s)"
sleep 2
kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; WPID=
sync
alive_fs=$(stat -f -c %T "$BT" 2>&1)
is "$alive_fs" btrfs "the filesystem is still mounted"
echo 3 >/proc/sys/vm/drop_caches
diff -r "$SRC" "$BT/tree" >"$WORK/diff1.log" 2>&1
ok $? "degraded: every byte of the tree reads back ($(elapsed) s)"
[ "$fail" -ne 0 ] && head -n 10 "$WORK/diff1.log" | diag

# ---- replace the lost leg ----
leg d "file://$WORK/store-d"; ok $? "leg d (the replacement): attached as ${LOOP[d]:-?}"
devid=$(btrfs filesystem show "$BT" 2>/dev/null | awk -v dev="${LOOP[b]}" '$1 == "devid" && $NF == dev { print $2 }')
[ -n "$devid" ] || devid=2
btrfs replace start -B -r -f "$devid" "${LOOP[d]}" "$BT" >"$WORK/replace.log" 2>&1
ok $? "btrfs replace of devid $devid by leg d ($(elapsed) s)"
[ "$fail" -ne 0 ] && diag "$WORK/replace.log"
btrfs filesystem show "$BT" 2>&1 | grep -q "${LOOP[d]}"
ok $? "leg d is a member now"
btrfs scrub start -B -R "$BT" >"$WORK/scrub.log" 2>&1
st=$?
unc=$(awk -F: '/uncorrectable_errors/ { gsub(/ /, "", $2); print $2 }' "$WORK/scrub.log" | head -n 1)
is "$unc" 0 "btrfs scrub: 0 uncorrectable errors ($(elapsed) s)"
ok $st "btrfs scrub exits 0"
[ "$fail" -ne 0 ] && diag "$WORK/scrub.log"
echo 3 >/proc/sys/vm/drop_caches
diff -r "$SRC" "$BT/tree" >"$WORK/diff2.log" 2>&1
ok $? "after the replace the tree still reads back"
umount "$BT"
ok $? "umount"
btrfs check --readonly "${LOOP[a]}" >"$WORK/check.log" 2>&1
ok $? "btrfs check is clean"
[ "$fail" -ne 0 ] && tail -n 10 "$WORK/check.log" | diag

for l in a c d; do
	losetup -d "${LOOP[$l]}"; unset "LOOP[$l]"
	umount "$WORK/$l/fuse"; wait "${FPID[$l]}" 2>/dev/null; unset "FPID[$l]"
	kill -TERM "${PID[$l]}"; wait_exit "${PID[$l]}"
	ok $? "leg $l's daemon stops cleanly"
	unset "PID[$l]"
done
echo "# total $(elapsed) s"
echo "1..$n"
[ "$fail" -eq 0 ]
