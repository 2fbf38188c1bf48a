#!/bin/bash
# test-nfs-daemon.sh -- the NFS frontend through the daemon's plumbing:
# `bucketfs run --nfs ADDR:PORT` alone is a valid daemon, `status` names
# the address, libnfs' tools (nfs-ls, nfs-cp, nfs-cat) mount it with no
# portmapper, and the [nfs] settings hold: no squash by default (root is
# root), squash = "root", read_only, the client list, a bad export or
# squash value.
# (The per-procedure suite against libnfs is test-nfs-libnfs*; this one
# checks how the daemon wires the frontend.)
set -u
. "$(dirname "$0")/tap.sh"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-nfsd-XXXXXX)
STORE="file://$TMP/store"
CONF=$TMP/nfs.conf LOG=$TMP/daemon.log SOCK=$TMP/admin.sock
: >"$LOG"
PID=
export BUCKETFS_PASSWORD=nfs-daemon-test-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_RUN_DIR

cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
serving_count() { grep -c "info: serving " "$LOG"; }
# start [ARGS...]: a daemon on port 0; PORT is the one it picked.
start() {
	local old; old=$(serving_count)
	"$BIN" run -c "$CONF" --store "$STORE" --socket "$SOCK" "$@" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ "$(serving_count)" -gt "$old" ] && break
		alive "$PID" || return 1
		sleep 0.05
	done
	PORT=$(grep -oE "nfs: serving .* on tcp 127\.0\.0\.1:[0-9]+" "$LOG" | tail -n 1 |
	       sed 's/.*://')
	[ -n "$PORT" ]
}
stop() {
	kill -TERM "$PID"
	wait_exit "$PID"
	local st=$?
	PID=
	return $st
}
url() { echo "nfs://127.0.0.1/$1?version=3&nfsport=$PORT&mountport=$PORT"; }
conf() {
	printf '[filesystem]\nflush_interval = "500ms"\n[nfs]\nlisten = "127.0.0.1:0"\n%s\n' "$1" >"$CONF"
}

head -c 300000 /dev/urandom >"$TMP/data"

# ---- the command line ----
conf ""
run 0 "^nfs +127\.0\.0\.1:0, export /" "run --check shows the NFS address" -- \
	"$BIN" run -c "$CONF" --store "$STORE" --check
run 0 "^nfs +127\.0\.0\.1:9999" "--nfs overrides [nfs] listen" -- \
	"$BIN" run -c "$CONF" --store "$STORE" --nfs 127.0.0.1:9999 --check
run 0 "--nfs ADDR:PORT" "run --help names --nfs" -- "$BIN" run --help

# ---- NFS only, root squashed ----
conf 'squash = "root"'
start
ok $? "a daemon with only NFS starts"
run 0 "^frontend nfs tcp 127\.0\.0\.1:$PORT" "status names the NFS address" -- \
	"$BIN" status --socket "$SOCK"
run 0 "" "nfs-ls of the empty root" -- nfs-ls "$(url "")"
run 10 "ACCES" "root is squashed: it cannot create in the root-owned root" -- \
	nfs-cp "$TMP/data" "$(url /data)"
stop
ok $? "clean stop"

# ---- no squash (the default): writes and reads through libnfs ----
conf ''
start
ok $? "start with the default squash (none)"
run 0 "copied 300000 bytes" "nfs-cp into the filesystem" -- nfs-cp "$TMP/data" "$(url /data)"
rm -f "$TMP/back"
run 0 "copied 300000 bytes" "nfs-cp out of it" -- nfs-cp "$(url /data)" "$TMP/back"
cmp -s "$TMP/data" "$TMP/back"
ok $? "the same bytes came back"
printf 'hello nfs\n' >"$TMP/small"
nfs-cp "$TMP/small" "$(url /small)" >/dev/null 2>&1
run 0 "^hello nfs$" "nfs-cat" -- nfs-cat "$(url /small)"
run 0 "data" "nfs-ls lists the files" -- nfs-ls "$(url "")"
stop
ok $? "clean stop"

# ---- the data survived the restart; read_only refuses writes ----
conf "$(printf 'squash = "none"\nread_only = true')"
start
ok $? "start a read-only export"
run 0 "^hello nfs$" "what was written is there after a restart" -- nfs-cat "$(url /small)"
run 10 "ROFS" "a read-only export refuses a create" -- nfs-cp "$TMP/data" "$(url /other)"
stop

# ---- clients: 127.0.0.1 not admitted ----
conf "$(printf 'squash = "none"\nclients = "192.0.2.0/24, 2001:db8::/32"')"
start
ok $? "start with a client list without loopback"
nfs-ls "$(url "")" >/dev/null 2>&1
ok $(( $? == 0 )) "a client outside the list is refused"
grep -q "not in the allowed clients" "$LOG"
ok $? "and the refusal is logged"
stop

# ---- bad settings ----
conf 'squash = "some"'
run 1 "unknown squash" "a bad squash value is an error" -- \
	"$BIN" run -c "$CONF" --store "$STORE" --check
conf 'export = "/missing"'
"$BIN" run -c "$CONF" --store "$STORE" --socket "$SOCK" >>"$LOG" 2>&1
ok $(( $? == 0 )) "an export that does not exist stops the start"
grep -q "nfs: export /missing: No such file or directory" "$LOG"
ok $? "naming the export"

[ "$fail" -ne 0 ] && { echo "# daemon log:"; tail -n 40 "$LOG" | sed 's/^/#   /'; }
echo "1..$n"
[ "$fail" -eq 0 ]
