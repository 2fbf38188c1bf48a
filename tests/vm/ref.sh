# shellcheck shell=bash
# ref.sh -- the reference servers, sourced by lib.sh: nfs-ganesha (VFS
# FSAL, with the rpcbind it insists on), diod and nbdkit's file plugin,
# each serving a local directory under $TMP/ref in namespace $VM_NS.  They
# are what bench-vm.sh measures bucketfs against, and with
# BUCKETFS_VM_SERVER=ref what the VM tests run against, to check the guest
# side of the harness itself (not a test of bucketfs).
#   ref_start PROTO   ref_kill PROTO (SIGKILL)   ref_stop PROTO (SIGTERM)
# PROTO is nfs, 9p or nbd; PIDs are in $TMP/ref/PROTO.pid and every stop
# is by PID.  diod serves whole-file locks only (flock): a read lock beside
# another's write lock on other bytes is refused, which 9p-full.sh checks.  The guests find them through ref_guest_args.
REF_DIR=

ref_guest_args() {
	echo "bfs.nfsmountport=20048 bfs.nfsexport=/export bfs.ninepaname=$REF_DIR/9p"
}

ref_start() {
	REF_DIR=$TMP/ref
	mkdir -p "$REF_DIR/nfs" "$REF_DIR/9p" "$REF_DIR/nbd"
	chmod 755 "$REF_DIR" "$REF_DIR/nfs" "$REF_DIR/9p"
	case "$1" in
	nfs)
		if [ ! -f "$REF_DIR/rpcbind.pid" ]; then
			# ganesha will not start without a portmapper to register with
			(NSRUN_PRIVRUN=1 "$VM_DIR/nsrun.sh" "$VM_NS" /usr/sbin/rpcbind -f \
				</dev/null >>"$REF_DIR/rpcbind.log" 2>&1 &
			echo $! >"$REF_DIR/rpcbind.pid")
			vm_wait_port 111 "$(cat "$REF_DIR/rpcbind.pid")" || return 1
		fi
		sed "s|@DIR@|$REF_DIR/nfs|" "$VM_DIR/conf/ganesha.conf" >"$REF_DIR/ganesha.conf"
		(NSRUN_PRIVRUN=1 "$VM_DIR/nsrun.sh" "$VM_NS" /usr/bin/ganesha.nfsd -F \
			-f "$REF_DIR/ganesha.conf" -L "$REF_DIR/ganesha.log" \
			-p "$REF_DIR/ganesha.pidfile" -N NIV_EVENT </dev/null >>"$REF_DIR/ganesha.out" 2>&1 &
		echo $! >"$REF_DIR/nfs.pid")
		vm_wait_port 2049 "$(cat "$REF_DIR/nfs.pid")" && vm_wait_port 20048 "$(cat "$REF_DIR/nfs.pid")"
		;;
	9p)
		# no auth (-n); no -N: with it diod refuses the kernel's first
		# attach, which names no user; the users are conf/passwd's.
		(NSRUN_USERDB=1 "$VM_DIR/nsrun.sh" "$VM_NS" /usr/sbin/diod -f -n -c /dev/null \
			-l 192.0.2.1:5640 -e "$REF_DIR/9p" -L "$REF_DIR/diod.log" \
			</dev/null >>"$REF_DIR/diod.out" 2>&1 &
		echo $! >"$REF_DIR/9p.pid")
		vm_wait_port 5640 "$(cat "$REF_DIR/9p.pid")"
		;;
	nbd)
		# Not -f: in the foreground nbdkit dies with its parent
		# (PR_SET_PDEATHSIG); it daemonizes and leaves its PID in a file.
		# dir= serves each file of the directory as the export of its
		# name, as bucketfs serves /.nbd/.
		rm -f "$REF_DIR/nbd.pid"
		"$VM_DIR/nsrun.sh" "$VM_NS" /usr/bin/nbdkit -i 192.0.2.1 -p 10809 \
			--pidfile "$REF_DIR/nbd.pid" file dir="$REF_DIR/nbd" \
			</dev/null >>"$REF_DIR/nbdkit.log" 2>&1 || return 1
		for _ in $(seq 50); do [ -s "$REF_DIR/nbd.pid" ] && break; sleep 0.1; done
		vm_wait_port 10809 "$(cat "$REF_DIR/nbd.pid")"
		;;
	esac
}

ref_signal() {   # SIGNAL PROTO: signal it, wait until it is gone
	local f=$TMP/ref/$2.pid p
	[ -f "$f" ] || return 0
	p=$(cat "$f")
	kill "-$1" "$p" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && { kill -9 "$p"; sleep 0.2; }
	rm -f "$f"
	return 0   # (each was started from a subshell: init reaps it)
}
ref_kill() { ref_signal KILL "$1"; }
ref_stop() {
	ref_signal TERM "$1"
	[ "$1" = nfs ] && ref_signal TERM rpcbind
	return 0
}
