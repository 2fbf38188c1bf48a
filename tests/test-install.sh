#!/bin/bash
# test-install.sh -- `make install DESTDIR=... PREFIX=/usr` installs
# exactly the binary, the man page, the systemd unit and the mount helper
# link (and `make uninstall` removes them); the man page renders without
# warnings and names every command, every `run` option and every
# configuration section and key the binary knows (so the page and the
# code cannot drift apart unnoticed); the unit passes systemd-analyze
# verify and says what the stop waits for; --help into a pipe prints the
# short usage, on a terminal the installed page.  Needs make, man-db,
# systemd (systemd-analyze), bsdutils (script).
set -u
. "$(dirname "$0")/tap.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BUCKETFS_BIN:-$ROOT/build/bucketfs}
TMP=$(mktemp -d /tmp/bucketfs-install-XXXXXX)
D=$TMP/dest
trap 'rm -rf "$TMP"' EXIT
n=0 fail=0
echo "1..16"

# The binary this test runs with is what gets installed (-o: not rebuilt).
out=$(make -C "$ROOT" -s -o "$BIN" install BUILD="$(dirname "$BIN")" DESTDIR="$D" PREFIX=/usr 2>&1)
ok $? "make install DESTDIR PREFIX=/usr"
[ -n "$out" ] && echo "$out" | sed 's/^/# /'
got=$(cd "$D" && find . ! -type d | sort | tr '\n' ' ')
is "$got" "./sbin/mount.fuse.bucketfs ./usr/bin/bucketfs ./usr/lib/systemd/system/bucketfs@.service ./usr/share/man/man8/bucketfs.8 " \
	"the installed files"
is "$(readlink "$D/sbin/mount.fuse.bucketfs")" "/usr/bin/bucketfs" "the mount helper links to the installed binary"
[ -x "$D/usr/bin/bucketfs" ] && cmp -s "$BIN" "$D/usr/bin/bucketfs"; ok $? "the binary is this build, executable"

PAGE=$ROOT/docs/bucketfs.8
warn=$(MANWIDTH=80 man --warnings -l "$PAGE" 2>&1 >/dev/null)
is "$warn" "" "man --warnings renders bucketfs(8) without warnings"
text=$(MANWIDTH=200 man -l "$PAGE" 2>/dev/null)

# missing WORD...: the words the rendered page does not contain.
missing() { for w in "$@"; do grep -qF -- "$w" <<<"$text" || printf '%s ' "$w"; done; }
cmds=$("$BIN" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print "bucketfs " $1 }')
[ -n "$cmds" ]; ok $? "bucketfs --help lists commands"
mapfile -t cmdlist <<<"$cmds"
is "$(missing "${cmdlist[@]}")" "" "the page names every command"
runopts=$("$BIN" run --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
is "$(missing $runopts)" "" "the page names every run option"
"$BIN" init "$TMP/all.conf" >/dev/null 2>&1
sections=$(grep -oE '^\[[a-z]+\]' "$TMP/all.conf" | sort -u)
is "$(missing $sections)" "" "the page names every configuration section"
keys=$(grep -oE '^(# )?[a-z_]+ =' "$TMP/all.conf" | sed 's/^# //; s/ =$//' | sort -u)
is "$(missing $keys)" "" "the page names every configuration key"
is "$(missing ro allow_other dev suid noatime relatime strictatime nodev nosuid password_file= conf= subtype= _netdev nofail)" "" \
	"the page names the mount options"

UNIT=$D/usr/lib/systemd/system/bucketfs@.service
grep -q '^ExecStart=/usr/bin/bucketfs run --config /etc/bucketfs/%i.conf$' "$UNIT" &&
	grep -q '^KillSignal=SIGTERM$' "$UNIT" && grep -qE '^TimeoutStopSec=[0-9]+$' "$UNIT" &&
	grep -q '^Type=simple$' "$UNIT"
ok $? "the unit runs the installed binary on /etc/bucketfs/NAME.conf, stops with SIGTERM and waits"
# systemd-analyze checks that ExecStart exists: point it into DESTDIR,
# and MANPATH there for Documentation=man:bucketfs(8).
sed "s|=/usr/bin/bucketfs|=$D/usr/bin/bucketfs|" "$UNIT" >"$TMP/bucketfs@test.service"
out=$(MANPATH=$D/usr/share/man systemd-analyze verify "$TMP/bucketfs@test.service" 2>&1)
st=$?
[ $st -ne 0 ] && echo "$out" | sed 's/^/# /'
ok $st "systemd-analyze verify bucketfs@.service"

# --help: the installed page on a terminal (script(1) gives one), the
# short usage into a pipe.
page=$(MANPATH=$D/usr/share/man MANPAGER=cat PAGER=cat MANWIDTH=80 script -qec "$BIN --help" /dev/null 2>&1)
grep -q "an encrypted POSIX filesystem kept in an object store" <<<"$page"
ok $? "bucketfs --help on a terminal shows the installed bucketfs(8)"
MANPATH=$D/usr/share/man "$BIN" --help | grep -q "^usage: bucketfs COMMAND"
ok $? "bucketfs --help into a pipe prints the short usage"

make -C "$ROOT" -s uninstall DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1
is "$(cd "$D" && find . ! -type d | wc -l)" "0" "make uninstall removes every file"
exit $((fail > 0))
