# nfs-smoke.sh -- smoke.sh over NFSv3: the mount is hard (the default), so
# after the server's restart the same mount goes on where it stopped.
PROTO=nfs FSTYPE=nfs M=/mnt/nfs
attach() { mount_nfs "$M"; }
reattach() { stat "$M/smoke.txt" >/dev/null; }   # blocks until the server answers again
detach() { umount "$M"; }
. /tests/smoke.sh
