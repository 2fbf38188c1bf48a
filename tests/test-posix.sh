#!/bin/bash
# test-posix.sh -- the POSIX conformance checks of tests/helper-posix.c
# (errors, renames, link counts, timestamps, xattrs, permissions, readdir
# under concurrent change), as TAP.
#
# With POSIX_TARGET=DIR they run in DIR (a bucketfs mount, say); without,
# in a fresh tmpfs mounted inside a private mount namespace (unshare -m),
# so nothing leaks out of the test.  Linux tmpfs and ext4 pass them all.
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

if [ "$(id -u)" -ne 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
	echo "1..0 # SKIP needs root and unshare -m (or POSIX_TARGET=DIR)"
	exit 0
fi

DIR=$(mktemp -d /tmp/bucketfs-posix-XXXXXX) || exit 1
trap 'rmdir "$DIR" 2>/dev/null' EXIT
unshare -m --propagation private sh -c '
	mount -t tmpfs tmpfs "$1" || { echo "Bail out! cannot mount a tmpfs on $1"; exit 1; }
	exec "$2" "$1"' sh "$DIR" "$HELPER"
