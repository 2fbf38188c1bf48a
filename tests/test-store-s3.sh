#!/usr/bin/env bash
# test-store-s3.sh -- the s3:// backend against a real S3 server: a
# throw-away Ceph RADOS Gateway (tests/rgw-start.sh) on free loopback ports.
# Runs, each against s3://BUCKET/PREFIX:
#   test-store       the whole objstore conformance suite
#   test-store-race  put_if_absent races and readers during overwrites
#   test-s3          S3 specifics: signing of odd keys, multipart, retries
#                    across a radosgw restart, error mapping, connection
#                    reuse, DeleteObjects, virtual-hosted addressing
# then checks that the tests left nothing in the bucket and stops RGW.
#
# Knobs:
#   BUCKETFS_TESTS          directory of the test binaries (the Makefile sets
#                           it; `make asan` points it at the asan build)
#   BUCKETFS_TEST_RGW_DIR   run the cluster in this directory, reuse the one
#                           already running there, and leave it running at
#                           the end (saves the ~6 s start when iterating)
# Missing ceph packages are installed by rgw-start.sh (as root); if they
# cannot be, this test fails: it never skips.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TESTS=${BUCKETFS_TESTS:-$HERE/../build/tests}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bucketfs-s3-test-XXXXXX")
T0=$(date +%s.%N)
n=0 fail=0 started=0 keep_cluster=0

ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=$((fail+1)); fi; }
skip() { n=$((n+1)); echo "ok $n - $1 # SKIP $2"; }
diag() { { cat "$@"; echo; } | sed 's/^/#   /'; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

if [ -n "${BUCKETFS_TEST_RGW_DIR:-}" ]; then
	DIR=$BUCKETFS_TEST_RGW_DIR
	keep_cluster=1
else
	DIR=$WORK/rgw
fi

stop_cluster() {
	[ "$started" = 1 ] && [ "$keep_cluster" = 0 ] || return 0
	started=0
	bash "$HERE/rgw-stop.sh" "$DIR" >"$WORK/rgw-stop.log" 2>&1
}
finish() {
	stop_cluster
	if [ "$fail" -eq 0 ]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# A loopback port nothing listens on.

# s3curl METHOD PATH [curl args...]: a signed request; prints the HTTP status.
s3curl() {
	local method=$1 path=$2; shift 2
	curl -sS -m 30 -o "$WORK/curl.out" -w '%{http_code}' -X "$method" \
		--aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$AWS_ENDPOINT_URL$path"
}

# run_test NAME CMD...: run a cmocka test binary, one TAP line for it.
run_test() {
	local name=$1; shift
	local log="$WORK/$name.log" st oks bad skips
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 600 "$@" >"$log" 2>&1
	st=$?
	oks=$(grep -c '^ok ' "$log")
	bad=$(grep -c '^not ok ' "$log")
	skips=$(grep -c '^ok .*# SKIP' "$log")
	echo "# $name: $oks passed ($skips skipped), $bad failed, exit $st, at $(elapsed) s"
	grep -E '^# (one thread|eight threads|writer|gave up|multipart|[0-9]+ (reads|requests))' "$log" | sed 's/^/#   /'
	if [ "$st" -ne 0 ] || [ "$bad" -ne 0 ] || [ "$oks" -eq 0 ]; then
		diag "$log" | tail -n 150
		ok 1 "$name against $STORE_URL"
	else
		ok 0 "$name against $STORE_URL"
	fi
}

echo "1..7"

# --- 1. the gateway ------------------------------------------------------------
if env RGW_REUSE="$keep_cluster" \
	bash "$HERE/rgw-up.sh" "$DIR" >"$WORK/rgw.env" 2>"$WORK/rgw-start.log"; then
	started=1
	# shellcheck disable=SC1091
	. "$WORK/rgw.env"
	echo "# RGW at $AWS_ENDPOINT_URL in $DIR, up at $(elapsed) s"
	ok 0 "RGW starts"
else
	diag "$WORK/rgw-start.log"
	ok 1 "RGW starts (ceph packages missing or the cluster did not come up)"
	for t in "bucket created" test-store test-store-race test-s3 "bucket left empty" "RGW stops"; do
		ok 1 "$t (no RGW)"
	done
	exit 1
fi
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION
unset AWS_SESSION_TOKEN BUCKETFS_S3_VIRTUAL_HOST BUCKETFS_S3_MULTIPART_THRESHOLD \
	BUCKETFS_S3_PART_SIZE AWS_CA_BUNDLE

# --- 2. a bucket of this run's own ----------------------------------------------
BUCKET="bucketfs-test-$$-$RANDOM"
code=$(s3curl PUT "/$BUCKET")
if [ "$code" = 200 ]; then
	ok 0 "bucket $BUCKET created"
else
	diag "$WORK/curl.out"
	ok 1 "bucket $BUCKET created (HTTP $code)"
fi

# --- 3-5. the C tests --------------------------------------------------------------
STORE_URL="s3://$BUCKET/conformance/run$$"
BUCKETFS_TEST_STORE_URL=$STORE_URL run_test test-store "$TESTS/test-store"
STORE_URL="s3://$BUCKET/race"
BUCKETFS_TEST_STORE_URL=$STORE_URL run_test test-store-race "$TESTS/test-store-race"
STORE_URL="s3://$BUCKET/test-s3"
# The gateway is killed (no clean shutdown) and started again mid-test.
BUCKETFS_TEST_S3_BUCKET=$BUCKET \
BUCKETFS_TEST_S3_GW_STOP="RGW_GATEWAY_ONLY=1 RGW_STOP_SIGNAL=KILL bash '$HERE/rgw-stop.sh' '$DIR'" \
BUCKETFS_TEST_S3_GW_START="RGW_GATEWAY_ONLY=1 bash '$HERE/rgw-start.sh' '$DIR' >/dev/null" \
	run_test test-s3 "$TESTS/test-s3"

# --- 6. nothing left behind ------------------------------------------------------------
# (The bucket itself stays: RGW takes ~20 s to delete a bucket that held
# thousands of objects, and the cluster is thrown away anyway.)
code=$(s3curl GET "/$BUCKET?list-type=2&max-keys=20")
if [ "$code" = 200 ] && grep -q '<KeyCount>0</KeyCount>' "$WORK/curl.out"; then
	code=$(s3curl GET "/$BUCKET?uploads=")
	if [ "$code" = 200 ] && grep -q ListMultipartUploadsResult "$WORK/curl.out" \
		&& ! grep -q '<Upload>' "$WORK/curl.out"; then
		ok 0 "tests left no object and no multipart upload in the bucket"
	else
		sed 's/<Upload>/\n<Upload>/g' "$WORK/curl.out" | diag
		ok 1 "tests left no multipart upload in the bucket (HTTP $code)"
	fi
else
	sed 's/<Contents>/\n<Contents>/g' "$WORK/curl.out" | diag
	ok 1 "tests left the bucket empty (HTTP $code)"
fi

# --- 7. stop -----------------------------------------------------------------------------
if [ "$keep_cluster" = 1 ]; then
	skip "RGW stops" "left running in $DIR (BUCKETFS_TEST_RGW_DIR)"
else
	stop_cluster
	st=$?
	[ "$st" -eq 0 ] || diag "$WORK/rgw-stop.log"
	ok "$st" "RGW stops"
fi
echo "# total $(elapsed) s"
[ "$fail" -eq 0 ]
