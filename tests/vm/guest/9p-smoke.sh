# 9p-smoke.sh -- smoke.sh over 9P2000.L: a 9P mount dies with its TCP
# connection, so after the server's restart it is detached and mounted again.
PROTO=9p FSTYPE=9p M=/mnt/9p
attach() { mount_9p "$M"; }
reattach() {
	umount -l "$M"
	for _ in 1 2 3 4 5 6 7 8 9 10; do mount_9p "$M" 2>/dev/null && return 0; sleep 1; done
	mount_9p "$M"
}
detach() { umount "$M"; }
. /tests/smoke.sh
