#!/bin/bash
# test-cli.sh -- the bucketfs command end to end on a file:// store:
# create, stat, wrong password, change-password, checkpoints, bad usage.
set -u
BIN=${BUCKETFS_BIN:-$(dirname "$0")/../build/bucketfs}
DIR=$(mktemp -d /tmp/bucketfs-cli-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
STORE="file://$DIR/store"
n=0 fail=0
. "$(dirname "$0")/tap.sh"
echo "1..18"
export BUCKETFS_PASSWORD=correct-horse
run 0 "usage: bucketfs COMMAND" "--help prints usage" -- "$BIN" --help
run 2 "unknown command" "unknown command is a usage error" -- "$BIN" frobnicate
run 0 "created an encrypted bucketfs store" "create" -- "$BIN" create --store "$STORE"
run 1 "already holds a filesystem" "create twice refused" -- "$BIN" create --store "$STORE"
run 0 "manifest +1 \(writer epoch 1\)" "stat shows the first manifest" -- "$BIN" stat --store "$STORE"
run 1 "wrong password" "wrong password is a clear error" -- env BUCKETFS_PASSWORD=nope "$BIN" stat --store "$STORE"
run 1 "not a bucketfs store" "empty store is not a filesystem" -- "$BIN" stat --store "file://$DIR/empty"
run 0 "checkpoint 'nightly' created" "checkpoint create" -- "$BIN" checkpoint --store "$STORE" create nightly
run 0 "checkpoint +nightly" "checkpoint list" -- "$BIN" checkpoint --store "$STORE" list
run 1 "a checkpoint of that name exists" "duplicate checkpoint refused" -- "$BIN" checkpoint --store "$STORE" create nightly
run 0 "password changed" "change-password" -- env BUCKETFS_NEW_PASSWORD=battery-staple "$BIN" change-password --store "$STORE"
run 1 "wrong password" "old password no longer works" -- "$BIN" stat --store "$STORE"
run 0 "checkpoint +nightly" "new password opens the same data" -- env BUCKETFS_PASSWORD=battery-staple "$BIN" stat --store "$STORE"
run 2 "usage: bucketfs checkpoint" "checkpoint without a verb is a usage error" -- "$BIN" checkpoint --store "$STORE"
# a lease that cannot be read or parsed is not "no writer": refused
export BUCKETFS_PASSWORD=battery-staple
rm -rf "$DIR/store/lease"; ln -s lease "$DIR/store/lease" # ELOOP
run 1 "cannot read the writer's lease \(object 'lease'\) in .*: .*refusing" "unreadable lease: checkpoint create refused" -- "$BIN" checkpoint --store "$STORE" create blocked
rm -f "$DIR/store/lease"; printf 'garbage\n' >"$DIR/store/lease"
run 1 "lease \(object 'lease'\) in .*: it does not parse" "garbage lease: checkpoint delete refused" -- "$BIN" checkpoint --store "$STORE" delete nightly
run 0 "checkpoint +nightly" "a refused command changed nothing" -- "$BIN" checkpoint --store "$STORE" list
printf 'bucketfs-lease 1\nhost elsewhere\npid 1\nstart 1\nepoch 1\nrefresh 1\ntime 1\nperiod 10000\nstate released\n' >"$DIR/store/lease"
run 0 "checkpoint 'nightly' deleted" "released lease: checkpoint delete goes on" -- "$BIN" checkpoint --store "$STORE" delete nightly
[ "$fail" -eq 0 ]
