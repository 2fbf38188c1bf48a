#!/bin/bash
# test-posix-bucketfs.sh -- the POSIX conformance program (helper-posix)
# against a real bucketfs FUSE mount on a file:// store, as root and as
# unprivileged users (the mount allows other users).  Runs inside its own
# mount namespace so the mount never leaks (tap.sh in_private_ns: where
# that cannot be done it prints a plan and skips, saying why).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"
BIN=${BUCKETFS_BIN:-$(dirname "$0")/../build/bucketfs}
TESTS=${BUCKETFS_TESTS:-$(dirname "$0")/../build/tests}
if [ ! -x "$TESTS/helper-posix" ]; then
	echo "Bail out! $TESTS/helper-posix is not built (make build/tests/helper-posix)"
	exit 1
fi
DIR=$(mktemp -d /tmp/bucketfs-posix-XXXXXX)
chmod 755 "$DIR"
mkdir "$DIR/mnt"
export BUCKETFS_PASSWORD=posix-test
"$BIN" run --store "file://$DIR/store" --mount "$DIR/mnt" --allow-other 2>"$DIR/daemon.log" &
pid=$!
cleanup() {
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	umount -l "$DIR/mnt" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
for _ in $(seq 100); do mountpoint -q "$DIR/mnt" && break; sleep 0.1; done
if ! mountpoint -q "$DIR/mnt"; then
	echo "Bail out! bucketfs did not mount; daemon log:"
	sed 's/^/# /' "$DIR/daemon.log"
	exit 1
fi
chmod 755 "$DIR/mnt"
"$TESTS/helper-posix" "$DIR/mnt"
status=$?
if [ $status -ne 0 ]; then
	echo "# daemon log (last lines):"
	tail -40 "$DIR/daemon.log" | sed 's/^/# /'
fi
exit $status
