#!/bin/bash
# initramfs.sh -- the guest's kernel and initramfs, built from Debian's own
# packages: OUT/vmlinuz and OUT/initrd.gz (OUT = build/vm unless $1).
#
# The kernel comes from Debian's linux-image-*-amd64 package, fetched with
# apt-get download into the cache ($BUCKETFS_VM_CACHE, default
# /var/cache/bucketfs-vm) only when no kernel deb is there yet; nbd-client
# and libnl (which it needs) come the same way, so the host never installs
# them.  The initramfs holds busybox-static, the kernel modules the clients
# need (with their dependency closure), nbd-client, e2fsprogs' mke2fs and
# e2fsck, two static test helpers, a tarball of /usr/include/linux for the
# tar tests, and tests/vm/guest/ (init and the guest-side tests).
#
# It is rebuilt only when one of those inputs changed (a hash of them is
# kept in OUT/inputs), so a warm run costs a second.
set -euo pipefail
VM=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$VM/../.." && pwd)
OUT=${1:-$TOP/build/vm}
CACHE=${BUCKETFS_VM_CACHE:-/var/cache/bucketfs-vm}
mkdir -p "$OUT" "$CACHE"
exec 9>"$OUT/.lock"
flock 9   # two tests building at once would step on each other

die() { echo "initramfs: $*" >&2; exit 1; }

# The kernel modules the guest loads: virtio NIC, the 9P client with its
# TCP transport (9pnet_fd is a module of its own), the NFSv3 client, NBD
# and ext4.  Dependencies are added from modules.dep.
MODULES="virtio_pci virtio_net 9p 9pnet 9pnet_fd nfs nfsv3 sunrpc lockd grace nfs_acl nbd ext4 crc32c_generic libcrc32c"

# ---- 1. the debs, from the cache or the Debian mirror ----
fetch() {   # PATTERN PACKAGE...: download PACKAGE unless a deb matching PATTERN is cached
	ls "$CACHE"/$1 >/dev/null 2>&1 && return 0
	shift
	echo "initramfs: fetching $* into $CACHE" >&2
	# apt-get download writes into the current directory; as root it
	# warns that _apt cannot write there, which is harmless.
	(cd "$CACHE" && apt-get download "$@" 2>&1 | grep -v "unsandboxed as root" >&2; [ "${PIPESTATUS[0]}" -eq 0 ]) ||
		{ apt-get update -qq && (cd "$CACHE" && apt-get download "$@" >&2); } ||
		die "apt-get download $* failed"
}
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
if ! ls "$CACHE"/linux-image-6.*-amd64_*.deb >/dev/null 2>&1; then
	kpkg=$(kernel_pkg)
	[ -n "$kpkg" ] || { apt-get update -qq; kpkg=$(kernel_pkg); }
	[ -n "$kpkg" ] || die "no linux-image-amd64 in the apt lists"
	fetch 'linux-image-6.*-amd64_*.deb' "$kpkg"
fi
fetch 'nbd-client_*.deb' nbd-client
fetch 'libnl-3-200_*.deb' libnl-3-200
fetch 'libnl-genl-3-200_*.deb' libnl-genl-3-200
KDEB=$(ls "$CACHE"/linux-image-6.*-amd64_*.deb | sort -V | tail -n 1)
KVER=$(basename "$KDEB" | sed -E 's/^linux-image-([^_]+)_.*/\1/')

# ---- 2. up to date? ----
inputs() {
	echo "$KVER $MODULES"
	cat "$0" "$VM"/guest/* "$TOP/tests/helper-lock.c"
	ls -l /bin/busybox /sbin/mke2fs /sbin/e2fsck "$CACHE"/*.deb
	tar -C /usr/include -cf - linux | md5sum
}
sum=$(inputs | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/initrd.gz" ] && [ -f "$OUT/vmlinuz" ] && [ "$(cat "$OUT/inputs" 2>/dev/null)" = "$sum" ]; then
	exit 0
fi
echo "initramfs: building for kernel $KVER" >&2

# ---- 3. the kernel package, unpacked once into the cache ----
KX=$CACHE/x-$KVER
if [ ! -f "$KX/lib/modules/$KVER/modules.dep" ]; then
	rm -rf "$KX"; mkdir -p "$KX"
	dpkg-deb -x "$KDEB" "$KX"
	# Debian's deb ships no modules.dep (its postinst runs depmod).
	busybox depmod -b "$KX" "$KVER"
fi
XL=$CACHE/x-userland
rm -rf "$XL"; mkdir -p "$XL"
for d in "$CACHE"/nbd-client_*.deb "$CACHE"/libnl-3-200_*.deb "$CACHE"/libnl-genl-3-200_*.deb; do
	dpkg-deb -x "$d" "$XL"
done

ROOT=$OUT/root
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,mnt,etc,root,lib64,lib/x86_64-linux-gnu,tests,data}
cp "$KX/boot/vmlinuz-$KVER" "$OUT/vmlinuz.new"

# ---- 4. busybox and the module closure ----
case "$(ldd /bin/busybox 2>&1)" in *'not a dynamic'*) ;; *) die "/bin/busybox is not static (busybox-static)" ;; esac
cp /bin/busybox "$ROOT/bin/busybox"
MD=$KX/lib/modules/$KVER
declare -A seen=()
order=()
add_path() {   # a module path relative to MD, after its dependencies
	local p=$1 d
	[ -n "${seen[$p]:-}" ] && return 0
	seen[$p]=1
	for d in $(grep -E "^$p:" "$MD/modules.dep" | cut -d: -f2); do add_path "$d"; done
	order+=("$p")
}
for m in $MODULES; do
	p=$(grep -E "/(${m}|${m//_/-}|${m//-/_})\.ko(\.xz)?:" "$MD/modules.dep" | head -n 1 | cut -d: -f1)
	[ -n "$p" ] || continue   # built into the kernel
	add_path "$p"
done
for p in "${order[@]}"; do
	mkdir -p "$ROOT/lib/modules/$KVER/$(dirname "$p")"
	cp "$MD/$p" "$ROOT/lib/modules/$KVER/$p"
done
printf '%s\n' "${order[@]}" >"$ROOT/lib/modules/$KVER/load-order"

# ---- 5. dynamic binaries with their libraries ----
copy_bin() {   # SRC DST: DST in the initramfs, with what ldd says it needs
	local lib
	cp "$1" "$ROOT/$2"
	LD_LIBRARY_PATH=$XL/lib/x86_64-linux-gnu:$XL/usr/lib/x86_64-linux-gnu ldd "$1" |
		awk '/=>/ { print $3 } /^[ \t]*\/lib64\// { print $1 }' | while read -r lib; do
		[ -f "$lib" ] || die "$1 needs $lib, which is missing"
		case "$lib" in
		*/ld-linux-x86-64.so.2) cp -L "$lib" "$ROOT/lib64/" ;;
		*) cp -L "$lib" "$ROOT/lib/x86_64-linux-gnu/" ;;
		esac
	done
}
copy_bin "$XL/sbin/nbd-client" sbin/nbd-client
# Not "mke2fs": busybox ash runs its own applet of that name before PATH.
copy_bin /sbin/mke2fs sbin/mke2fs.e2fsprogs
copy_bin /sbin/e2fsck sbin/e2fsck.e2fsprogs
cp /etc/mke2fs.conf "$ROOT/etc/"

# ---- 6. static helpers (a spawn costs 8 ms static, up to 75 ms dynamic under TCG) ----
gcc -O2 -static -o "$ROOT/usr/bin/helper-lock" "$TOP/tests/helper-lock.c"
strip "$ROOT/usr/bin/helper-lock"

# ---- 7. the tests, their data and the user database ----
cp "$VM/guest/init" "$ROOT/init"
chmod 755 "$ROOT/init"
cp "$VM"/guest/*.sh "$ROOT/tests/"
tar -C /usr/include -cf "$ROOT/data/linux-include.tar" linux
cp "$VM/conf/passwd" "$VM/conf/group" "$ROOT/etc/"

for f in init bin/busybox lib64/ld-linux-x86-64.so.2 sbin/nbd-client sbin/mke2fs.e2fsprogs \
	sbin/e2fsck.e2fsprogs usr/bin/helper-lock tests/lib.sh data/linux-include.tar; do
	[ -e "$ROOT/$f" ] || die "the initramfs lacks $f"
done
(cd "$ROOT" && find . -print0 | busybox cpio -0 -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$OUT/initrd.gz.new"
mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
mv "$OUT/initrd.gz.new" "$OUT/initrd.gz"
rm -rf "$ROOT"
echo "$sum" >"$OUT/inputs"
echo "initramfs: $OUT/initrd.gz ($(du -k "$OUT/initrd.gz" | cut -f1) KiB, ${#order[@]} modules), kernel $KVER" >&2
