#!/bin/bash
# test-posix.sh -- the POSIX conformance checks of tests/helper-posix.c
# (errors, renames, link counts, timestamps, xattrs, permissions, readdir
# under concurrent change), as TAP.
#
# With POSIX_TARGET=DIR they run in DIR (a bucketfs mount, say); without,
# on the reference: a fresh ext4 (a loop-mounted image) inside a private
# mount namespace (unshare -m), so nothing leaks out of the test.  ext4
# passes them all (tmpfs too, but for FALLOC_FL_ZERO_RANGE, which it
# lacks: that check would only skip there).
# The checks that need root (the unprivileged ones drop to uid 1001) are
# skipped by the helper when not run as root.
set -u
HELPER=${BUCKETFS_TESTS:-$(cd "$(dirname "$0")/../build/tests" 2>/dev/null && pwd)}/helper-posix
if [ ! -x "$HELPER" ]; then
	echo "Bail out! $HELPER is not built (make build/tests/helper-posix)"
	exit 1
fi

if [ -n "${POSIX_TARGET:-}" ]; then
	exec "$HELPER" "$POSIX_TARGET"
fi

. "$(dirname "$0")/tap.sh"
if why=$(private_ns_missing --no-fuse); then
	echo "1..0 # SKIP $why (or POSIX_TARGET=DIR)"
	exit 0
fi

DIR=$(mktemp -d /tmp/bucketfs-posix-XXXXXX) || exit 1
IMG=$DIR.img
trap 'rmdir "$DIR" 2>/dev/null; rm -f "$IMG"' EXIT
truncate -s 256M "$IMG" && mkfs.ext4 -q -F -b 4096 "$IMG" >/dev/null 2>&1 ||
	{ echo "Bail out! cannot make an ext4 image at $IMG (mkfs.ext4)"; exit 1; }
unshare -m --propagation private sh -c '
	mount -o loop "$3" "$1" || { echo "Bail out! cannot loop-mount the ext4 image $3 on $1"; exit 1; }
	"$2" "$1"; st=$?
	umount "$1"
	exit $st' sh "$DIR" "$HELPER" "$IMG"
