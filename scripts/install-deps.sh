#!/bin/sh
# Install every Debian package bucketfs needs to build, test and benchmark.
# Idempotent: when everything is present it only runs dpkg-query (fast).
set -eu

PKGS="build-essential pkg-config perl curl uuid-runtime
      libsodium-dev libzstd-dev liblz4-dev libxxhash-dev libcmocka-dev
      libcurl4-openssl-dev libssl-dev libfuse3-dev fuse3 attr python3
      libnfs-utils libnfs-dev
      git fio stress-ng util-linux
      openssl
      radosgw ceph-mon ceph-osd ceph-common
      clang libclang-rt-14-dev"

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
