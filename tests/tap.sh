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

# in_private_ns ARGS...: run this test script again inside a private mount
# namespace, so no mount leaks out of it or is pinned by another process;
# without root, /dev/fuse or unshare -m, the whole test is skipped.
in_private_ns() {
	[ -n "${BUCKETFS_TEST_NS:-}" ] && return 0
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "1..0 # SKIP needs root, /dev/fuse and unshare -m"
		exit 0
	fi
	exec env BUCKETFS_TEST_NS=1 unshare -m --propagation private bash "$0" "$@"
}
