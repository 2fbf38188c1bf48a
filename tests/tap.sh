# tap.sh -- what the shell tests share: TAP output and waiting for daemons.
# Sourced by tests/test-*.sh at their top (ok and friends count in n and
# fail, which the test sets to 0 before its first check); not a test itself.

# ok STATUS DESCRIPTION: one TAP line; a non-zero STATUS counts a failure.
ok() {
	n=$((n+1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=$((fail+1)); fi
}
skip() { n=$((n+1)); echo "ok $n # skip $1"; }
# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else echo "# got '$1', want '$2'"; ok 1 "$3"; fi
}
# run EXPECTED_STATUS PATTERN DESCRIPTION -- CMD...: exit status and output.
run() {
	local want=$1 pat=$2 desc=$3; shift 4
	local out; out=$("$@" 2>&1); local st=$?
	if [ "$st" -ne "$want" ] || ! grep -qE -- "$pat" <<<"$out"; then
		echo "# command: $*"; echo "# status $st (want $want), output:"; sed 's/^/#   /' <<<"$out"
		ok 1 "$desc"
	else
		ok 0 "$desc"
	fi
}

# is_mounted DIR: a live bucketfs mount is on DIR.
is_mounted() { awk -v m="$1" '$5 == m' /proc/self/mountinfo | grep -q ' - fuse\.bucketfs '; }

# alive PID: the process runs (a zombie does not count).
alive() {
	local st; st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# wait_exit PID: its exit status; after 60 s it is killed and this is 124,
# so a daemon that does not stop fails the test instead of hanging it.
wait_exit() {
	for _ in $(seq 1200); do
		alive "$1" || break
		sleep 0.05
	done
	if alive "$1"; then
		echo "# pid $1 did not exit within 60 s: killed"
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}

# private_ns_missing [--no-fuse]: what keeps this process from running a
# test in a private mount namespace with a FUSE mount (--no-fuse: without
# one), printed as the skip reason (status 0), or nothing (status 1) when
# root, /dev/fuse and `unshare -m --propagation private` all work.  Each
# condition is named as it is: in a chroot whose / is not a mount point,
# root and /dev/fuse are there and only the propagation change fails.
private_ns_missing() {
	local out
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root (runs as uid $(id -u))"
	elif [ "${1:-}" != --no-fuse ] && [ ! -e /dev/fuse ]; then
		echo "needs /dev/fuse, which does not exist (modprobe fuse, or give the container the device)"
	elif [ "${1:-}" != --no-fuse ] && [ ! -c /dev/fuse ]; then
		echo "needs /dev/fuse, which is not a character device"
	elif [ "${1:-}" != --no-fuse ] && ! out=$( (: <>/dev/fuse) 2>&1); then
		echo "cannot open /dev/fuse: ${out##*: }"
	elif ! out=$(unshare -m --propagation private true 2>&1); then
		if ! awk '$5 == "/" { found = 1 } END { exit !found }' /proc/self/mountinfo 2>/dev/null; then
			echo "/ is not a mount point (a chroot?), so unshare -m cannot make the mounts private" \
			     "(${out:-no message}); bind-mount the chroot directory onto itself before entering it"
		else
			echo "unshare -m --propagation private fails: ${out:-no message}"
		fi
	else
		return 1
	fi
	return 0
}

# in_private_ns ARGS...: run this test script again inside a private mount
# namespace, so no mount leaks out of it or is pinned by another process;
# when that cannot be done the whole test is skipped, saying why
# (private_ns_missing).
in_private_ns() {
	[ -n "${BUCKETFS_TEST_NS:-}" ] && return 0
	local why
	if why=$(private_ns_missing); then
		echo "1..0 # SKIP $why"
		exit 0
	fi
	exec env BUCKETFS_TEST_NS=1 unshare -m --propagation private bash "$0" "$@"
}
