# lib.sh -- what the guest tests share, sourced by init and by each
# /tests/NAME.sh.  Results go to the console as "BFS-TAP ok - ..." /
# "BFS-TAP not ok - ..." lines, which the host (tests/vm/lib.sh) renumbers
# into its own TAP; a test's exit status says only whether it ran to its end.

up() { read -r u _ </proc/uptime; echo "$u"; }
log() { echo "BFS[$(up)] $*"; }

# ok STATUS DESCRIPTION
ok() {
	if [ "$1" -eq 0 ]; then echo "BFS-TAP ok - $2"; else echo "BFS-TAP not ok - $2"; fi
}
# check DESCRIPTION CMD...: ok when CMD succeeds; its output is shown when it fails.
check() {
	_d=$1; shift
	_out=$("$@" 2>&1)
	_st=$?
	[ $_st -ne 0 ] && { echo "# failed ($_st): $*"; echo "$_out" | head -n 20 | sed 's/^/#   /'; }
	ok $_st "$_d"
}
# refuse DESCRIPTION CMD...: ok when CMD fails.
refuse() {
	_d=$1; shift
	if "$@" >/dev/null 2>&1; then echo "# succeeded but should not: $*"; ok 1 "$_d"; else ok 0 "$_d"; fi
}
# is GOT WANT DESCRIPTION
is() {
	[ "$1" = "$2" ] || echo "# got '$1', want '$2'"
	[ "$1" = "$2" ]
	ok $? "$3"
}
# bail DESCRIPTION: a failed check that ends the test (nothing after it makes sense).
bail() { ok 1 "$1"; exit 1; }

# as USER 'SHELL COMMAND': run it as USER (bfsuser = 1000, bfsother = 1001;
# busybox's setpriv cannot change uids, su can).
as() { su -s /bin/sh "$1" -c "$2"; }

# mounted DIR FSTYPE: DIR is a mount of FSTYPE.  A test checks this before
# it writes: a failed mount would otherwise run it on the rootfs and pass.
mounted() { awk -v d="$1" -v t="$2" '$2 == d && $3 == t { f = 1 } END { exit !f }' /proc/mounts; }

# host_sync NAME: tell the host this test reached NAME (over ttyS1, which
# init keeps open on fd 7) and
# wait until it answers NAME (it may have killed and restarted the server
# meanwhile); 1 after $BFS_synctimeout (120) seconds without an answer.
host_sync() {
	echo "sync $1" >&7
	while read -r -t "${BFS_synctimeout:-120}" _l <&7; do
		[ "$_l" = "$1" ] && return 0
	done
	echo "# host_sync $1: no answer from the host"
	return 1
}

# timeit LABEL CMD...: run CMD and print "BFS-TIME LABEL SECONDS rc=N".
timeit() {
	_l=$1; shift
	_t0=$(up); "$@"; _st=$?; _t1=$(up)
	awk -v a="$_t0" -v b="$_t1" -v l="$_l" -v rc=$_st 'BEGIN { printf "BFS-TIME %s %.2f rc=%d\n", l, b - a, rc }'
	return $_st
}

# The servers: bucketfs by default; bench-vm.sh and ref mode point the
# tests at the reference servers with bfs.nfsmountport / bfs.nfsexport /
# bfs.ninepaname and the ports.
HOST=192.0.2.1
mount_nfs() {   # DIR [PORT]
	mkdir -p "$1"
	mount -t nfs -o "vers=3,proto=tcp,port=${2:-${BFS_nfsport:-2049}},mountport=${BFS_nfsmountport:-${2:-2049}},mountproto=tcp,nolock,addr=$HOST,mountaddr=$HOST${BFS_nfsopts:+,$BFS_nfsopts}" \
		"$HOST:${BFS_nfsexport:-/}" "$1"
}
mount_9p() {   # DIR [PORT]
	mkdir -p "$1"
	mount -t 9p -o "trans=tcp,port=${2:-${BFS_ninepport:-5640}},version=9p2000.L,aname=${BFS_ninepaname:-/},access=user${BFS_ninepopts:+,$BFS_ninepopts}" \
		"$HOST" "$1"
}
nbd_attach() {   # DEV EXPORT [PORT]
	nbd-client "$HOST" "${3:-${BFS_nbdport:-10809}}" "$1" -N "$2" -b 4096
}
