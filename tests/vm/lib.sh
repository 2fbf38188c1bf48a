# shellcheck shell=bash
# lib.sh -- the host side of the VM tests, sourced by tests/test-vm-*.sh and
# bench/bench-vm.sh after tests/tap.sh: a private network namespace, the
# server under test inside it (bucketfs, or with BUCKETFS_VM_SERVER=ref the
# reference servers of ref.sh), guests booted with boot.sh, the host-sync
# channel, and the guests' BFS-TAP lines turned into this test's TAP.
#
#   vm_init NAME         temp dir $TMP, initramfs, namespace; cleanup on exit
#   srv_start PROTO      the server for nfs, 9p or nbd (srv_kill: -9, srv_stop: TERM)
#   vm_boot TESTS [ARGS] boot a guest running TESTS in the background
#   vm_sync NAME         wait until the guest reaches host_sync NAME
#   vm_reply NAME        let it go on
#   vm_wait              until it powered off; then vm_results prints its TAP
#   fs_open / fs_close   the store's filesystem on $FS (FUSE; ref: the directory)
#
# The daemon runs under nsenter --net only, so that its FUSE mount (if any)
# stays in this test's mount namespace (in_private_ns).
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_TOP=$(cd "$VM_DIR/../.." && pwd)
BIN=${BUCKETFS_BIN:-$VM_TOP/build/bucketfs}
VM_SERVER=${BUCKETFS_VM_SERVER:-bucketfs}
. "$VM_DIR/ref.sh"

# the address every server binds to, and each protocol's port and flag
VM_HOST=192.0.2.1
vm_port() { case "$1" in nfs) echo 2049 ;; 9p) echo 5640 ;; nbd) echo 10809 ;; esac; }
vm_flag() { case "$1" in nfs) echo --nfs ;; 9p) echo --ninep ;; nbd) echo --nbd ;; esac; }

# vm_need_flag PROTO: fail the whole test when bucketfs's run has no flag
# for PROTO.  Every frontend is merged, so a missing flag is a broken
# build or a renamed option: a skip would let CI pass without the test.
vm_need_flag() {
	[ "$VM_SERVER" = ref ] && return 0
	local f; f=$(vm_flag "$1")
	if ! "$BIN" run --help 2>&1 | grep -q -- "$f"; then
		echo "Bail out! $BIN run has no $f"
		exit 1
	fi
}

vm_init() {
	TMP=$(mktemp -d "/tmp/bucketfs-vm-$1-XXXXXX")
	chmod 755 "$TMP"
	VM_NS=bfsvm-$1-$$
	VM_N=0 VM_PID="" BFS_PID="" FS="" FS_PID=""
	STORE=file://$TMP/store
	CONF=$TMP/test.conf
	export BUCKETFS_PASSWORD=vm-test-password
	unset BUCKETFS_CONFIG BUCKETFS_STORE
	cat >"$CONF" <<-EOF2
	[filesystem]
	flush_interval = "500ms"
	lease_interval = "300ms"
	[cache]
	dir = "$TMP/cache"
	EOF2
	trap vm_cleanup EXIT
	# Ctrl-C or a runner's SIGTERM: exit through the EXIT trap, so no
	# guest, daemon or namespace outlives the test.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if ! "$VM_DIR/initramfs.sh" >"$TMP/initramfs.log" 2>&1; then
		echo "Bail out! the guest kernel and initramfs could not be made:"
		sed 's/^/# /' "$TMP/initramfs.log"
		exit 1
	fi
	"$VM_DIR/netns.sh" up "$VM_NS" || { echo "Bail out! no network namespace"; exit 1; }
}

vm_cleanup() {
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null
	[ -n "$BFS_PID" ] && kill -9 "$BFS_PID" 2>/dev/null
	[ -n "$FS_PID" ] && kill -9 "$FS_PID" 2>/dev/null
	for p in nfs 9p nbd; do ref_kill "$p"; done
	ref_signal KILL rpcbind
	wait 2>/dev/null
	[ -n "$FS" ] && umount -l "$FS" 2>/dev/null
	umount -l "$TMP/fuse" 2>/dev/null
	# what still runs in the namespace is ours: a guest left by a failed
	# test, a daemon that would not die
	# (a guest killed with -9 can take a moment to leave the namespace,
	# and netns.sh down refuses while it is there)
	local _i
	for _i in $(seq 50); do
		[ -e "/run/netns/$VM_NS" ] || break
		ip netns pids "$VM_NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
		"$VM_DIR/netns.sh" down "$VM_NS" 2>/dev/null && break
		sleep 0.1
	done
	[ -e "/run/netns/$VM_NS" ] && echo "# vm_cleanup: network namespace $VM_NS left behind" >&2
	[ -n "${VM_KEEP:-}" ] && { echo "# kept $TMP" >&2; return; }
	rm -rf "$TMP"
}

# in_ns CMD...: CMD in the namespace's network only
in_ns() { nsenter --net="/run/netns/$VM_NS" "$@"; }

# vm_wait_port PORT PID: until something listens on PORT in the namespace
# (0), PID died or 30 s passed (1).
vm_wait_port() {
	for _ in $(seq 300); do
		in_ns ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- bucketfs ----

# bfs_start ARGS...: bucketfs run ARGS in the namespace, until it listens on
# every port given and mounts the --mount DIR (0) or dies or 30 s pass (1).
bfs_start() {
	local a prev="" ports="" mnt="" p
	for a in "$@"; do
		case "$prev" in
		--nfs|--ninep|--nbd) ports="$ports ${a##*:}" ;;
		--mount) mnt=$a ;;
		esac
		prev=$a
	done
	# nsenter itself, not in_ns: a function run with & is a subshell, and
	# $! would be its PID, not the daemon's, which a kill -9 must hit.
	nsenter --net="/run/netns/$VM_NS" "$BIN" run -c "$CONF" --store "$STORE" "$@" \
		>>"$TMP/daemon.log" 2>&1 &
	BFS_PID=$!
	for p in $ports; do vm_wait_port "$p" "$BFS_PID" || return 1; done
	if [ -n "$mnt" ]; then
		for _ in $(seq 300); do
			is_mounted "$mnt" && return 0
			alive "$BFS_PID" || return 1
			sleep 0.1
		done
		return 1
	fi
	return 0
}
bfs_signal() {   # SIGNAL: signal the daemon, then its exit status
	local st
	[ -n "$BFS_PID" ] || return 1   # it never started
	kill "-$1" "$BFS_PID"
	wait_exit "$BFS_PID" 2>/dev/null   # no "Killed" job notice on stderr
	st=$?
	BFS_PID=
	return $st
}

# ---- the server under test, whichever it is ----

srv_start() {
	if [ "$VM_SERVER" = ref ]; then ref_start "$1"; return; fi
	bfs_start "$(vm_flag "$1")" "$VM_HOST:$(vm_port "$1")" ${SRV_EXTRA:-}
}
srv_kill() {
	if [ "$VM_SERVER" = ref ]; then ref_kill "$1"; return; fi
	bfs_signal KILL
	[ "$?" -eq 137 ]
}
srv_stop() {
	if [ "$VM_SERVER" = ref ]; then ref_stop "$1"; return; fi
	bfs_signal TERM
}
# srv_guest_args: kernel arguments that point the guests at the server
srv_guest_args() { [ "$VM_SERVER" = ref ] && ref_guest_args; return 0; }
# srv_nbd_dir: where the NBD exports are, as files (with the server running
# for bucketfs: SRV_EXTRA adds a FUSE mount on $TMP/fuse to the daemon)
srv_nbd_dir() { if [ "$VM_SERVER" = ref ]; then echo "$TMP/ref/nbd"; else echo "$TMP/fuse/.nbd"; fi; }

# fs_open: the filesystem the guests wrote, on $FS, with the server stopped:
# bucketfs's store through a new FUSE daemon, or the reference directory.
fs_open() {
	case "$VM_SERVER:$1" in
	ref:nfs) FS=$TMP/ref/nfs; return 0 ;;
	ref:9p) FS=$TMP/ref/9p; return 0 ;;
	ref:nbd) FS=$TMP/ref; return 0 ;;
	esac
	FS=$TMP/fuse
	mkdir -p "$FS"
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$FS" >>"$TMP/fuse.log" 2>&1 &
	FS_PID=$!
	for _ in $(seq 300); do
		is_mounted "$FS" && return 0
		alive "$FS_PID" || return 1
		sleep 0.1
	done
	return 1
}
fs_close() {
	[ -n "$FS_PID" ] || return 0
	kill -TERM "$FS_PID"
	wait_exit "$FS_PID"
	local st=$?
	FS_PID=
	return $st
}

# ---- guests ----

# vm_boot TESTS [KERNEL ARG...]: boot guest $VM_N (log $VM_LOG) in the
# background; the host-sync pipes are open on fds VM_TO and VM_FROM.
vm_boot() {
	VM_N=$((VM_N + 1))
	VM_LOG=$TMP/guest-$VM_N.log VM_TESTS=$1
	local ctl=$TMP/ctl-$VM_N
	shift
	mkfifo "$ctl.in" "$ctl.out"
	exec {VM_TO}<>"$ctl.in" {VM_FROM}<>"$ctl.out"
	: >"$VM_LOG"
	"$VM_DIR/boot.sh" "$VM_NS" "$VM_LOG" "$ctl" "$VM_TESTS" $(srv_guest_args) "$@" &
	VM_PID=$!
}

# vm_sync NAME [SECONDS]: until the guest says "sync NAME" (0), powers off
# or SECONDS (default 240) pass (1).
vm_sync() {
	local line
	for _ in $(seq "${2:-240}"); do
		while read -r -t 1 -u "$VM_FROM" line; do
			[ "${line%$'\r'}" = "sync $1" ] && return 0
		done
		alive "$VM_PID" || return 1
	done
	return 1
}
vm_reply() { echo "$1" >&"$VM_TO"; }

# vm_wait: the guest's exit (boot.sh: 0 after a poweroff, 124 on timeout)
vm_wait() {
	wait "$VM_PID"
	local st=$?
	VM_PID=
	exec {VM_TO}>&- {VM_FROM}>&-
	return $st
}

# vm_results: the guest's checks as ours, one ok per guest test that ran
# to its end, and its timings as comments.
vm_results() {
	local line t st f0=$fail
	while IFS= read -r line; do
		line=${line%$'\r'}
		case "$line" in
		"BFS-TAP ok - "*) ok 0 "guest: ${line#BFS-TAP ok - }" ;;
		"BFS-TAP not ok - "*) ok 1 "guest: ${line#BFS-TAP not ok - }" ;;
		"# "*) echo "$line" ;;
		"BFS-TIME "*|"BFS-END "*|"BFS-DONE "*) echo "# $line" ;;
		esac
	done <"$VM_LOG"
	for t in $(echo "$VM_TESTS" | tr , ' '); do
		st=$(sed -n "s/^BFS-END $t rc=\([0-9]*\).*/\1/p" "$VM_LOG")
		is "${st:-none}" 0 "guest test $t ran to its end"
	done
	grep -q '^BFS-DONE' "$VM_LOG"
	ok $? "the guest powered off after its tests"
	echo "# $(grep -m 1 'network up' "$VM_LOG" | tr -d '\r'); $(tail -n 1 "$VM_LOG.qemu")"
	if [ "$fail" -ne "$f0" ]; then
		echo "# guest console (last 40 lines):"
		tail -n 40 "$VM_LOG" | sed 's/^/#   /'
		[ -s "$VM_LOG.qemu" ] && sed 's/^/#   qemu: /' "$VM_LOG.qemu"
	fi
}
# vm_kv KEY: the value the guest printed as "BFS-KV KEY VALUE"
vm_kv() { sed -n "s/^BFS-KV $1 \([^[:space:]]*\).*/\1/p" "$VM_LOG" | tail -n 1; }

vm_show_logs() {
	local f
	for f in "$TMP"/daemon.log "$TMP"/fuse.log "$TMP"/ref/*.log "$TMP"/ref/*.out; do
		[ -s "$f" ] || continue
		echo "# $(basename "$f") (last 30 lines):"
		tail -n 30 "$f" | sed 's/^/#   /'
	done
}

# ---- one protocol's test: what test-vm-nfs.sh, -9p.sh and -nbd.sh run ----

# host_cat PROTO PATH: a file the guest wrote, read on the host from $FS
# (for NBD out of the ext4 image of export disk1, with debugfs)
host_cat() {
	if [ "$1" = nbd ]; then debugfs -R "cat /$2" "$FS/${FS_NBD:-.nbd}/disk1" 2>/dev/null
	else cat "$FS/$2"; fi
}
# host_tree PROTO PATH DIR: a directory the guest wrote, copied to DIR/
host_tree() {
	if [ "$1" = nbd ]; then mkdir -p "$3" && debugfs -R "rdump /$2 $3" "$FS/${FS_NBD:-.nbd}/disk2" >/dev/null 2>&1
	else mkdir -p "$3" && cp -a "$FS/$2" "$3/"; fi
}

# vm_protocol_test PROTO: the guest runs PROTO-smoke, then PROTO-full
# (BUCKETFS_VM_FULL=0 leaves that out); at the smoke's host_sync the
# server is killed with -9 and started again; afterwards the store is read
# on the host through FUSE.
vm_protocol_test() {
	local p=$1 tests=$1-smoke want
	[ "${BUCKETFS_VM_FULL:-1}" = 1 ] && tests="$tests,$p-full"
	# The tests need root as root (chown, files of other users): no
	# root squash, which is bucketfs's default as it is Linux's.
	[ "$p" = nfs ] && printf '[nfs]\nsquash = "none"\n' >>"$CONF"
	SRV_EXTRA=
	[ "$p" = nbd ] && [ "$VM_SERVER" != ref ] && SRV_EXTRA="--mount $TMP/fuse" && mkdir -p "$TMP/fuse"
	srv_start "$p"
	ok $? "the $p server starts in the namespace"
	if [ "$p" = nbd ]; then
		local d; d=$(srv_nbd_dir)
		mkdir -p "$d" && truncate -s 128M "$d/disk1" && truncate -s 256M "$d/disk2"
		ok $? "NBD exports disk1 and disk2 are made as files in $(basename "$d")/"
	fi

	vm_boot "$tests"
	vm_sync killed
	ok $? "the guest fsynced its files and waits for the server's kill"
	srv_kill "$p"
	ok $? "the server is killed with SIGKILL"
	[ "$p" = nbd ] && [ "$VM_SERVER" != ref ] && umount -l "$TMP/fuse" 2>/dev/null
	srv_start "$p"
	ok $? "the server starts again on the same store"
	vm_reply killed
	vm_wait
	ok $? "the guest ran its tests and powered off (boot.sh status)"
	vm_results

	srv_stop "$p"
	ok $? "the server stops cleanly on SIGTERM"
	[ "$p" = nbd ] && [ "$VM_SERVER" != ref ] && umount -l "$TMP/fuse" 2>/dev/null
	FS_NBD=.nbd
	[ "$VM_SERVER" = ref ] && FS_NBD=nbd
	fs_open "$p"
	ok $? "the store mounts through FUSE on the host after the guest is done"
	is "$(host_cat "$p" smoke.txt 2>&1)" "hello over $p" "host: smoke.txt as the guest wrote it"
	want=$(vm_kv blob.md5)
	is "$(host_cat "$p" blob | md5sum | cut -d' ' -f1)" "${want:-no md5 from the guest}" \
		"host: the 1 MiB blob as the guest wrote it"
	is "$(host_cat "$p" dir/after.txt 2>&1)" after "host: the file written after the restart"
	if [ "${BUCKETFS_VM_FULL:-1}" = 1 ]; then
		rm -rf "$TMP/tree"
		host_tree "$p" full/tar/linux "$TMP/tree"
		diff -r "$TMP/tree/linux" /usr/include/linux >"$TMP/tree.diff" 2>&1
		ok $? "host: the tree the guest unpacked is /usr/include/linux"
		[ -s "$TMP/tree.diff" ] && head -n 20 "$TMP/tree.diff" | sed 's/^/#   /'
	fi
	fs_close
	local st=$?
	ok $st "the FUSE daemon stops cleanly"
	# On stderr, which prove shows (it hides comment lines).
	[ "$st" -eq 0 ] || tail -n 20 "$TMP/fuse.log" | sed 's/^/# fuse.log: /' >&2
}
