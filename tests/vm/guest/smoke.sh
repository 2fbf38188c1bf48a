# smoke.sh -- sourced by nfs-smoke.sh, 9p-smoke.sh and nbd-smoke.sh after
# they defined attach (mount the filesystem on $M; for NBD also mkfs) and
# reattach (after the server came back): write a file and a 1 MiB blob,
# fsync them, let the host SIGKILL and restart the server (host_sync
# killed), and find both again through a new connection or, for NFS, the
# same hard mount; then write one more file.  The host reads all three
# through FUSE afterwards: it gets the blob's md5 from "BFS-KV blob.md5".
. /tests/lib.sh
attach || bail "$PROTO: the filesystem mounts"
mounted "$M" "$FSTYPE" || bail "$PROTO: $M is a $FSTYPE mount in /proc/mounts"
ok 0 "$PROTO: mounted $M"

echo "hello over $PROTO" >/tmp/smoke.txt
dd if=/dev/urandom of=/tmp/blob bs=64k count=16 2>/dev/null
echo "BFS-KV blob.md5 $(md5sum </tmp/blob | cut -d' ' -f1)"
check "$PROTO: write and fsync smoke.txt" dd if=/tmp/smoke.txt of="$M/smoke.txt" conv=fsync
check "$PROTO: write and fsync a 1 MiB blob" dd if=/tmp/blob of="$M/blob" bs=64k conv=fsync
check "$PROTO: the blob reads back" cmp /tmp/blob "$M/blob"
check "$PROTO: mkdir" mkdir "$M/dir"
check "$PROTO: fsync the directory" sync "$M/dir" "$M"

host_sync killed || bail "$PROTO: the host killed and restarted the server"
t0=$(up)
reattach || bail "$PROTO: back after the server restarted"
log "$PROTO: back after the restart in $(awk -v a="$t0" -v b="$(up)" 'BEGIN { print b - a }') s"
echo 3 >/proc/sys/vm/drop_caches
is "$(cat "$M/smoke.txt" 2>&1)" "hello over $PROTO" "$PROTO: smoke.txt survived SIGKILL of the server"
check "$PROTO: the blob survived SIGKILL of the server" cmp /tmp/blob "$M/blob"
check "$PROTO: the directory survived" test -d "$M/dir"
echo after >/tmp/after.txt
check "$PROTO: write and fsync after the restart" dd if=/tmp/after.txt of="$M/dir/after.txt" conv=fsync
detach
ok $? "$PROTO: unmounts cleanly"
