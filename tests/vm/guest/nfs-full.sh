# nfs-full.sh -- posix.sh over NFSv3 (no locks: the mount is nolock, there
# is no NLM); the tree stays in /full/tar for the host to diff.
. /tests/lib.sh
. /tests/posix.sh
PROTO=nfs M=/mnt/nfs
mount_nfs "$M" || bail "nfs: mounts"
mounted "$M" nfs || bail "nfs: $M is an nfs mount"
posix_as_root
posix_as_users
posix_tar
check "nfs: unmounts" umount "$M"
