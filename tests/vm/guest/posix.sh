# posix.sh -- the POSIX checks nfs-full.sh and 9p-full.sh run on $M/full
# (sourced after lib.sh; $PROTO names the checks): names, links, modes,
# owners, sizes and times as root; ownership and EACCES/EPERM as the users
# bfsuser (1000) and bfsother (1001); then tar -x of /usr/include/linux
# (a tarball made on the host) diffed against the same tree on tmpfs.

# denied MESSAGE USER 'COMMAND': COMMAND fails as USER, saying MESSAGE
denied() {
	_out=$(as "$2" "$3" 2>&1) && { echo "# succeeded as $2: $3"; return 1; }
	echo "$_out" | grep -q "$1" || { echo "# as $2: $3: $_out"; return 1; }
}

posix_as_root() {
	D=$M/full/posix
	check "$PROTO: mkdir -p" mkdir -p "$D/d"
	echo data >"$D/d/f"
	is "$(cat "$D/d/f")" data "$PROTO: create and read"
	mv "$D/d/f" "$D/d/g"
	is "$(test -e "$D/d/f" || cat "$D/d/g")" data "$PROTO: rename"
	ln "$D/d/g" "$D/d/h"
	is "$(stat -c %h "$D/d/g")" 2 "$PROTO: link: nlink 2"
	is "$(stat -c %i "$D/d/h")" "$(stat -c %i "$D/d/g")" "$PROTO: link: one inode"
	ln -s g "$D/d/s"
	is "$(readlink "$D/d/s"):$(cat "$D/d/s")" g:data "$PROTO: symlink and readlink"
	chmod 640 "$D/d/g"
	is "$(stat -c %a "$D/d/g")" 640 "$PROTO: chmod"
	chown 1000:1000 "$D/d/g"
	is "$(stat -c %u:%g "$D/d/g")" 1000:1000 "$PROTO: chown"
	truncate -s 100000 "$D/d/g"
	is "$(stat -c %s "$D/d/g")" 100000 "$PROTO: truncate up"
	truncate -s 2 "$D/d/g"
	is "$(cat "$D/d/g")" da "$PROTO: truncate down"
	touch -d "2001-01-01 00:00:00" "$D/d/g"
	is "$(stat -c %Y "$D/d/g")" 978307200 "$PROTO: set mtime"
	rm "$D/d/h"
	is "$(stat -c %h "$D/d/g")" 1 "$PROTO: unlink: nlink 1"
	refuse "$PROTO: rmdir of a non-empty directory fails" rmdir "$D/d"
	echo 1 >"$D/x"; echo 2 >"$D/y"; mv "$D/x" "$D/y"
	is "$(cat "$D/y"):$(test -e "$D/x" && echo x)" 1: "$PROTO: rename over a file"
	mkdir "$D/m"; echo in >"$D/m/i"; mv "$D/m" "$D/n"
	is "$(cat "$D/n/i" 2>&1)" in "$PROTO: rename a directory"
	check "$PROTO: mkfifo" sh -c "mkfifo '$D/p' && test -p '$D/p'"
	(umask 022; touch "$D/u")
	is "$(stat -c %a "$D/u")" 644 "$PROTO: a new file has mode 0666 & ~umask"
	rm -r "$D/d" "$D/n" "$D/x" "$D/y" "$D/p" "$D/u" 2>/dev/null
	is "$(ls -A "$D")" "" "$PROTO: rm -r and rmdir leave the directory empty"
}

posix_as_users() {
	D=$M/full/users
	mkdir -p "$D/root" "$D/u" "$D/t"
	chmod 755 "$D" "$D/root"
	chown 1000:1000 "$D/u"
	chmod 1777 "$D/t"
	echo secret >"$D/root/secret"; chmod 600 "$D/root/secret"
	echo public >"$D/root/public"; chmod 644 "$D/root/public"
	check "$PROTO: bfsuser creates a file in its directory" as bfsuser "echo mine >'$D/u/f'"
	is "$(stat -c %u:%g "$D/u/f" 2>&1)" 1000:1000 "$PROTO: and owns it"
	check "$PROTO: bfsuser reads a 0644 file of root's" as bfsuser "cat '$D/root/public'"
	check "$PROTO: EACCES: bfsuser cannot write it" denied "Permission denied" bfsuser "echo x >>'$D/root/public'"
	check "$PROTO: EACCES: bfsuser cannot read a 0600 file of root's" denied "Permission denied" bfsuser "cat '$D/root/secret'"
	check "$PROTO: EACCES: bfsuser cannot create in root's 0755 directory" denied "Permission denied" bfsuser "touch '$D/root/new'"
	check "$PROTO: EPERM: bfsuser cannot chmod root's file" denied "not permitted" bfsuser "chmod 666 '$D/root/public'"
	check "$PROTO: EPERM: bfsuser cannot give its file away" denied "not permitted" bfsuser "chown 1001 '$D/u/f'"
	check "$PROTO: bfsuser chmods its file to 0600" as bfsuser "chmod 600 '$D/u/f'"
	check "$PROTO: EACCES: bfsother cannot read it" denied "Permission denied" bfsother "cat '$D/u/f'"
	check "$PROTO: EACCES: bfsother cannot unlink in bfsuser's directory" denied "Permission denied" bfsother "rm -f '$D/u/f'"
	check "$PROTO: bfsuser renames and unlinks its file" as bfsuser "mv '$D/u/f' '$D/u/g' && rm '$D/u/g'"
	check "$PROTO: bfsuser makes a file in a sticky 1777 directory" as bfsuser "echo s >'$D/t/s'"
	check "$PROTO: sticky: bfsother cannot unlink it" denied "not permitted" bfsother "rm -f '$D/t/s'"
	check "$PROTO: sticky: bfsuser can" as bfsuser "rm '$D/t/s'"
	check "$PROTO: root unlinks the test tree" rm -r "$D"
}

posix_tar() {
	mkdir -p /tmp/ref "$M/full/tar"
	[ -d /tmp/ref/linux ] || tar -C /tmp/ref -xf /data/linux-include.tar
	timeit "$PROTO-tar-x" tar -C "$M/full/tar" -xf /data/linux-include.tar
	ok $? "$PROTO: tar -x of /usr/include/linux ($(find /tmp/ref/linux | wc -l) names)"
	echo 3 >/proc/sys/vm/drop_caches
	check "$PROTO: diff -r against the tree on tmpfs" diff -r /tmp/ref/linux "$M/full/tar/linux"
}
