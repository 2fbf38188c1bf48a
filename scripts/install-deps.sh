#!/bin/sh
# Install every Debian package bucketfs needs to build, test and benchmark.
# Idempotent: when everything is present it only runs dpkg-query (fast).
# The VM tests' guest kernel and nbd-client are not installed: tests/vm/
# initramfs.sh fetches their debs itself (apt-get download) into a cache.
# nfs-ganesha, diod and nbdkit are the reference servers bench-vm.sh
# measures bucketfs against.
set -eu

PKGS="build-essential pkg-config perl curl uuid-runtime
      libsodium-dev libzstd-dev liblz4-dev libxxhash-dev libcmocka-dev
      libcurl4-openssl-dev libssl-dev libfuse3-dev fuse3 attr python3
      libnfs-utils libnfs-dev
      git fio stress-ng util-linux
      openssl man-db systemd mount bsdutils
      radosgw ceph-mon ceph-osd ceph-common
      clang libclang-rt-14-dev
      libnbd-bin python3-libnbd nbdkit qemu-utils btrfs-progs e2fsprogs
      qemu-system-x86 busybox-static iproute2
      nfs-ganesha nfs-ganesha-vfs rpcbind diod"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
