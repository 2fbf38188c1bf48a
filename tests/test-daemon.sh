#!/bin/bash
# test-daemon.sh -- bucketfs run as a daemon beside the commands that talk
# to it: status, flush, stats and checkpoint go through the admin socket
# (mode 0600, refused to other users), a checkpoint made while the daemon
# runs never fences it, a second writer is refused naming the first
# (host, pid, start time) and --takeover fences the first, which says so,
# a daemon killed with -9 does not block the next start, a checkpoint
# view serves the checkpoint read-only, no frontend is an error, and
# without a daemon status and flush say so (exit 3).
#
# Runs in a private mount namespace (unshare -m).  Needs root and /dev/fuse.
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-daemon-XXXXXX)
STORE="file://$TMP/store"
MNT=$TMP/mnt MNT2=$TMP/mnt2 MNT3=$TMP/view
CONF=$TMP/test.conf LOG=$TMP/daemon.log LOG2=$TMP/daemon2.log
: >"$LOG"; : >"$LOG2"
PID= PID2=
export BUCKETFS_PASSWORD=daemon-test-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_RUN_DIR
chmod 755 "$TMP"
mkdir -p "$MNT" "$MNT2" "$MNT3"

cleanup() {
	[ -n "$PID2" ] && kill -9 "$PID2" 2>/dev/null
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	umount -l "$MNT2" 2>/dev/null
	umount -l "$MNT3" 2>/dev/null
	[ -n "${SOCK:-}" ] && rm -f "$SOCK"
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0
show_log() {
	echo "# daemon log:"; tail -n 30 "$LOG" | sed 's/^/#   /'
	echo "# second daemon log:"; tail -n 20 "$LOG2" | sed 's/^/#   /'
}
# wait_log FILE PATTERN: until FILE matches (0) or 30 s passed (1).
wait_log() {
	for _ in $(seq 600); do
		grep -qE -- "$2" "$1" && return 0
		sleep 0.05
	done
	return 1
}
# wait_serving LOG PID: until the daemon logs that it serves (0), dies or 30 s pass (1).
wait_serving() {
	for _ in $(seq 600); do
		[ "$(grep -c "info: serving " "$1")" -gt "$3" ] && return 0
		alive "$2" || return 1
		sleep 0.05
	done
	return 1
}
serving_count() { grep -c "info: serving " "$1"; }
start() {
	local old; old=$(serving_count "$LOG")
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT" "$@" >>"$LOG" 2>&1 &
	PID=$!
	wait_serving "$LOG" "$PID" "$old" && is_mounted "$MNT"
}
stop() {
	kill "-${1:-TERM}" "$PID"
	wait_exit "$PID"
	local st=$?
	PID=
	return $st
}

cat > "$CONF" <<EOF2
[filesystem]
flush_interval = "500ms"
lease_interval = "300ms"
[cache]
dir = "$TMP/cache"
EOF2

# ---- no frontend ----
run 2 "no frontend enabled .*give --mount DIR or enable \[nfs\]/\[ninep\]/\[nbd\]" \
	"a daemon with no frontend is an error" -- "$BIN" run -c "$CONF" --store "$STORE"

# ---- the writer and its admin socket ----
start
ok $? "the writer mounts"
SOCK=$(grep -oE "admin socket [^ ]+\.sock" "$LOG" | tail -n 1 | cut -d' ' -f3)
case "$SOCK" in /run/bucketfs/*.sock) ok 0 "the admin socket is under /run/bucketfs" ;;
	*) echo "# socket '$SOCK'"; ok 1 "the admin socket is under /run/bucketfs" ;; esac
is "$(stat -c '%a %U %F' "$SOCK" 2>&1)" "600 root socket" "the socket is mode 0600, owned by the daemon's user"
is "$(stat -c '%a' /run/bucketfs 2>&1)" "700" "its directory is mode 0700"

echo before > "$MNT/before"
run 0 "role writer" "status: the role" -- "$BIN" status --store "$STORE"
run 0 "frontend fuse $MNT" "status: the frontend and its mount point" -- "$BIN" status --store "$STORE"
run 0 "^epoch [0-9]+" "status: the writer epoch" -- "$BIN" status --store "$STORE"
run 0 "^uploads_pending [0-9]+" "status: uploads pending" -- "$BIN" status --store "$STORE"
run 0 "^dirty_bytes [0-9]+" "status: dirty bytes" -- "$BIN" status --store "$STORE"
run 0 "^cache_ram_bytes [0-9]+" "status: cache use" -- "$BIN" status --store "$STORE"
run 0 "flushed" "flush goes to the daemon" -- "$BIN" flush --store "$STORE"
run 0 "^last_barrier [0-9]{4}-" "status: the last barrier after a flush" -- "$BIN" status --store "$STORE"
run 0 "^data\.barriers [1-9]" "stats: the data plane's counters" -- "$BIN" stats --store "$STORE"
run 0 "^lsm\.manifest_seq [0-9]+" "stats: the metadata counters" -- "$BIN" stats --store "$STORE"
run 0 "role writer" "--socket finds the daemon too" -- "$BIN" status --store file:///nowhere --socket "$SOCK"

# the socket refuses other users
run 1 "permission denied" "another user cannot use the admin socket" -- \
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN" status --store "$STORE" --socket "$SOCK"
run 1 "permission denied" "another user cannot make a checkpoint through it" -- \
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN" checkpoint --socket "$SOCK" --store "$STORE" create evil
"$BIN" checkpoint --store "$STORE" list 2>&1 | grep -q evil
ok $((! $?)) "nothing was made for that user"

# ---- a checkpoint beside the running daemon ----
run 0 "checkpoint 'c1' created \(by the running daemon\)" "checkpoint create goes to the daemon" -- \
	"$BIN" checkpoint --store "$STORE" create c1
echo after > "$MNT/after"
sync "$MNT/after"
is "$(cat "$MNT/after" 2>&1)" after "the daemon keeps writing after the checkpoint"
run 0 "flushed" "and flushing" -- "$BIN" flush --store "$STORE"
grep -q "fenced" "$LOG"
ok $((! $?)) "the daemon was not fenced"
run 0 "checkpoint +c1 " "checkpoint list shows c1" -- "$BIN" checkpoint --store "$STORE" list
run 1 "a checkpoint of that name exists" "a duplicate checkpoint is refused by the daemon" -- \
	"$BIN" checkpoint --store "$STORE" create c1
run 0 "created" "a second checkpoint" -- "$BIN" checkpoint --store "$STORE" create c2
run 0 "checkpoint 'c2' deleted" "checkpoint delete goes to the daemon" -- "$BIN" checkpoint --store "$STORE" delete c2

# ---- a checkpoint view ----
"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT3" --checkpoint c1 >>"$LOG2" 2>&1 &
PID2=$!
wait_serving "$LOG2" "$PID2" 0 && is_mounted "$MNT3"
ok $? "a checkpoint view mounts beside the writer"
is "$(cat "$MNT3/before" 2>&1)" before "the view shows what the checkpoint holds"
[ ! -e "$MNT3/after" ]
ok $? "and not what came after"
touch "$MNT3/new" 2>/dev/null
ok $((! $?)) "the view is read-only"
kill -TERM "$PID2"; wait_exit "$PID2"
ok $? "the view stops cleanly"
PID2=

# ---- a second writer ----
run 1 "already has a live writer \(host $(hostname), pid $PID, started [0-9-]+ [0-9:]+Z" \
	"a second writer is refused, naming the first" -- \
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT2"
is_mounted "$MNT2"
ok $((! $?)) "the refused writer mounted nothing"

: >"$LOG2"
"$BIN" run -c "$CONF" --store "$STORE" --mount "$MNT2" --takeover >>"$LOG2" 2>&1 &
PID2=$!
wait_serving "$LOG2" "$PID2" 0 && is_mounted "$MNT2"
ok $? "--takeover starts a second writer"
grep -q "taking over from the live writer (host $(hostname), pid $PID" "$LOG2"
ok $? "the new writer says whom it takes over from"
wait_log "$LOG" "fenced: another writer \(host $(hostname), pid $PID2"
ok $? "the first writer says it was fenced, and by whom"
is "$(cat "$MNT2/after" 2>&1)" after "the new writer sees what the first flushed"
run 0 "pid $PID2" "the store's socket now answers for the new writer" -- "$BIN" status --store "$STORE"
stop
ok $((! $?)) "the fenced writer stops with an error (its last writes are lost)"
kill -TERM "$PID2"; wait_exit "$PID2"
ok $? "the new writer stops cleanly"
PID2=

# ---- no daemon ----
run 3 "none serves $STORE" "status without a daemon says so" -- "$BIN" status --store "$STORE"
run 3 "stopped cleanly" "and shows the writer's lease released" -- "$BIN" status --store "$STORE"
run 3 "nothing to flush" "flush without a daemon says so" -- "$BIN" flush --store "$STORE"
run 0 "checkpoint +c1 " "checkpoint list without a daemon reads the store" -- "$BIN" checkpoint --store "$STORE" list
run 0 "^lsm\.manifest_seq" "stats without a daemon reads the store" -- "$BIN" stats --store "$STORE"

# ---- a writer killed with -9 does not block the next one ----
start
ok $? "restart"
echo survives > "$MNT/k"; sync "$MNT/k"
stop KILL
umount -l "$MNT" 2>/dev/null
start
ok $? "a writer killed with -9 (pid gone) does not block the next start"
is "$(cat "$MNT/k" 2>&1)" survives "the fsynced file is there"
stop
ok $? "clean stop"

[ "$fail" -ne 0 ] && show_log
echo "1..$n"
[ "$fail" -eq 0 ]
