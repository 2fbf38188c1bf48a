#!/bin/bash
# test-ninep-diod.sh -- bucketfs's 9P server through clients it was not
# written with: diod's diodls and diodcat, and the tests' own client
# (helper-ninep), beside the FUSE mount of the same daemon: a file written
# through FUSE is read with diodcat and compared, a file written over 9P
# is read through FUSE (new, and one FUSE had cached), another uid is
# refused a 0600 file, the Unix socket listener serves the same tree, and
# a file written and Tfsync'ed over 9P survives kill -9 of the daemon and
# a restart on the same store.
#
# diodload is not used: it attaches aname "ctl", diod's own synthetic
# server of zero/null files, which bucketfs does not serve.
#
# Runs in a private mount namespace (unshare -m).  Needs root, /dev/fuse
# and diod's client tools (Debian package diod).
set -u
. "$(dirname "$0")/tap.sh"
in_private_ns "$@"

BIN=${BUCKETFS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bucketfs}
HELP=${BUCKETFS_TESTS:-$(cd "$(dirname "$0")/.." && pwd)/build/tests}/helper-ninep
TMP=$(mktemp -d /tmp/bucketfs-ninep-diod-XXXXXX)
STORE="file://$TMP/store" MNT=$TMP/mnt CONF=$TMP/test.conf LOG=$TMP/daemon.log
SOCK=$TMP/9p.sock ADMIN=$TMP/admin.sock
PID=
export BUCKETFS_PASSWORD=ninep-diod-test-password
unset BUCKETFS_CONFIG BUCKETFS_STORE BUCKETFS_RUN_DIR
chmod 755 "$TMP"
mkdir -p "$MNT"
: >"$LOG"

cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0 fail=0

# A port on 127.0.0.1 nobody listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	echo 5640
}
PORT=$(free_port)
ADDR=127.0.0.1:$PORT

cat > "$CONF" <<EOF2
[filesystem]
flush_interval = "500ms"
lease_interval = "300ms"
[cache]
dir = "$TMP/cache"
EOF2

# start: the daemon with FUSE, 9P on TCP and on the socket; until its
# mount is there and its 9P port answers (30 s).
start() {
	"$BIN" run -c "$CONF" --store "$STORE" --socket "$ADMIN" --mount "$MNT" \
		--ninep "$ADDR" --ninep-socket "$SOCK" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		alive "$PID" || return 1
		# a 9P session that gets as far as walking answers
		if is_mounted "$MNT" && "$HELP" "$ADDR" get no-such-file 2>&1 | grep -q "helper-ninep: walk"; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}
show_log() { echo "# daemon log:"; tail -n 40 "$LOG" | sed 's/^/#   /'; }

for t in diodls diodcat; do
	command -v "$t" >/dev/null
	ok $? "$t is installed (Debian package diod)"
done

start
ok $? "the daemon serves FUSE on $MNT and 9P on $ADDR"

# ---- diodls ----
echo hello > "$MNT/hello"
mkdir "$MNT/dir"
touch "$MNT/dir/inner"
run 0 "^hello$" "diodls lists the root (aname /)" -- diodls -s "$ADDR" -a /
run 0 "^dir$" "diodls shows a directory made through FUSE" -- diodls -s "$ADDR" -a /
run 0 "hello" "diodls -l stats the entries" -- diodls -l -s "$ADDR" -a /
run 0 "^hello$" "diodls with msize 8 KiB" -- diodls -m 8192 -s "$ADDR" -a /

# ---- FUSE -> 9P ----
head -c $((5 * 1024 * 1024 + 123)) /dev/urandom > "$TMP/rand"
cp "$TMP/rand" "$MNT/viafuse"
sync "$MNT/viafuse"
diodcat -s "$ADDR" -a / viafuse > "$TMP/got" 2>"$TMP/err"
ok $? "diodcat reads a file written through FUSE"
cmp -s "$TMP/rand" "$TMP/got"
ok $? "and gets the same bytes"
is "$(diodcat -s "$ADDR" -a / hello 2>&1)" hello "diodcat reads a small file"
diodcat -m 1048576 -s "$ADDR" -a / viafuse | cmp -s - "$TMP/rand"
ok $? "diodcat with msize 1 MiB"
is "$(diodcat -u 1000 -s "$ADDR" -a / hello 2>&1)" hello "diodcat as uid 1000 reads a 0644 file"
chmod 600 "$MNT/hello"
diodcat -u 1000 -s "$ADDR" -a / hello >/dev/null 2>&1
ok $((! $?)) "diodcat as uid 1000 cannot read root's 0600 file"

# ---- 9P -> FUSE ----
head -c $((3 * 1024 * 1024 + 7)) /dev/urandom > "$TMP/rand2"
"$HELP" "$ADDR" put via9p < "$TMP/rand2"
ok $? "the test client writes a file over 9P"
cmp -s "$TMP/rand2" "$MNT/via9p"
ok $? "FUSE reads what 9P wrote"
cat "$MNT/viafuse" > /dev/null
head -c 1000 /dev/urandom > "$TMP/rand3"
"$HELP" "$ADDR" put viafuse < "$TMP/rand3"
ok $? "the test client overwrites a file FUSE has read"
cmp -s "$TMP/rand3" "$MNT/viafuse"
ok $? "FUSE sees the new content (no stale cache)"
"$HELP" "$ADDR" put dir/sub < "$TMP/rand3" && cmp -s "$TMP/rand3" "$MNT/dir/sub"
ok $? "a file in a subdirectory too"
is "$(stat -c %u "$MNT/via9p")" 0 "9P as uid 0 made a root-owned file"

# ---- the Unix socket ----
"$HELP" "$SOCK" get via9p | cmp -s - "$TMP/rand2"
ok $? "the Unix socket listener serves the same files"
[ -S "$SOCK" ]
ok $? "the socket is at --ninep-socket's path"

# ---- fsync durability ----
head -c $((2 * 1024 * 1024)) /dev/urandom > "$TMP/rand4"
"$HELP" "$ADDR" put durable < "$TMP/rand4"
ok $? "write + Tfsync over 9P"
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
umount -l "$MNT" 2>/dev/null
start
ok $? "the daemon restarts after kill -9 on the same store"
"$HELP" "$ADDR" get durable | cmp -s - "$TMP/rand4"
ok $? "the fsynced file is all there over 9P"
cmp -s "$TMP/rand4" "$MNT/durable"
ok $? "and through FUSE"
diodcat -s "$ADDR" -a / via9p | cmp -s - "$TMP/rand2"
ok $? "the file written before (fsynced by the client) is there too"

kill -TERM "$PID"; wait_exit "$PID"
ok $? "clean stop"
PID=

[ "$fail" -ne 0 ] && show_log
echo "1..$n"
[ "$fail" -eq 0 ]
