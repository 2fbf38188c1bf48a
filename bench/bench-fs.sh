#!/bin/bash
# bench-fs.sh -- the same filesystem workloads on a bucketfs FUSE mount (a
# file:// store in a temp dir under /tmp), on local disk (a temp dir under
# /tmp) and on a private tmpfs, in one run:
#
#   tar -x       extract a tarball of /usr/include          (median of 3)
#   create 10k   create 10,000 empty files                  (median of 3)
#   stat 10k     stat those files, warm and with the kernel's dentry/inode
#                caches dropped first                       (median of 3)
#   append 4k    mean latency of a 4 KiB O_APPEND write over 2000 writes
#                                                           (median of 3)
#   1 GiB write  dd bs=1M conv=fsync of random data (incompressible, read
#                from the tmpfs) into the filesystem        (once)
#   1 GiB read   dd bs=1M: cold (page cache dropped; bucketfs also stopped
#                and restarted with its disk cache emptied, so it reads the
#                store) and warm (read again)               (once each)
#   git          add + commit of an extracted tree (once), git status
#                cold (caches dropped, bucketfs remounted) and warm (median
#                of 3)
#
# Prints a table with bucketfs, local disk, tmpfs and the ratios
# bucketfs/local and bucketfs/tmpfs (times: above 1 means bucketfs is
# slower).  The tmpfs "cold" figures are warm ones: tmpfs has nothing to
# drop.  Needs root (a private mount namespace, tmpfs, drop_caches) and
# /dev/fuse; the timings come from a small C helper built here with cc, so
# no fork or exec is in them.
#
#   BUCKETFS_BIN          the binary (default ./bucketfs)
#   BENCH_TREE            the directory to tar up (default /usr/include)
#   BENCH_FILES           files for create/stat (default 10000)
#   BENCH_APPENDS         4 KiB appends per run (default 2000)
#   BENCH_SEQ_MB          size of the sequential file in MiB (default 1024)
#   BENCH_RUNS            runs of the cheap workloads (default 3)
#   BENCH_DIR             where the temp dir goes (default /tmp)
set -u
if [ -z "${BENCH_FS_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "bench-fs: needs root, /dev/fuse and unshare -m" >&2
		exit 1
	fi
	exec env BENCH_FS_NS=1 unshare -m --propagation private bash "$0" "$@"
fi

BIN=${BUCKETFS_BIN:-./bucketfs}
BIN=$(realpath "$BIN") || exit 1
TREE=${BENCH_TREE:-/usr/include}
FILES=${BENCH_FILES:-10000}
APPENDS=${BENCH_APPENDS:-2000}
SEQ_MB=${BENCH_SEQ_MB:-1024}
RUNS=${BENCH_RUNS:-3}

TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/bucketfs-bench-XXXXXX")
chmod 755 "$TMP"
BFS=$TMP/bucketfs LOCAL=$TMP/local TMPFS=$TMP/tmpfs
STORE="file://$TMP/store" CACHE=$TMP/cache
CONF=$TMP/bench.conf LOG=$TMP/daemon.log
mkdir -p "$BFS" "$LOCAL" "$TMPFS"
: >"$LOG"
PID=
export BUCKETFS_PASSWORD=bench-password
unset BUCKETFS_CONFIG BUCKETFS_STORE
cat >"$CONF" <<EOF
[cache]
dir = "$CACHE"
EOF

cleanup() {
	cd /
	[ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; sleep 1; kill -9 "$PID" 2>/dev/null; }
	wait 2>/dev/null
	umount -l "$BFS" 2>/dev/null
	umount -l "$TMPFS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "bench-fs: $*" >&2; [ -s "$LOG" ] && tail -n 20 "$LOG" >&2; exit 1; }
say() { echo "$*" >&2; }

mounts() { grep -cE "info: mounted .* on $BFS\$" "$LOG"; }
start() {
	local old; old=$(mounts)
	"$BIN" run -c "$CONF" --store "$STORE" --mount "$BFS" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ "$(mounts)" -gt "$old" ] && mountpoint -q "$BFS" && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
stop() {
	kill -TERM "$PID"
	wait "$PID"
	local st=$?
	PID=
	return $st
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# ---- the helper: timings without fork/exec in them ----
cat >"$TMP/helper.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void die(const char *what, const char *path)
{
	fprintf(stderr, "helper: %s %s: ", what, path);
	perror(NULL);
	exit(1);
}
/* helper create DIR N | stat DIR N | append FILE N: prints seconds (create,
 * stat) or the mean microseconds of one 4 KiB append. */
int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	long n = atol(argv[3]);
	char path[4096];
	double t0 = now();
	if (!strcmp(argv[1], "create")) {
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/f%06ld", argv[2], i);
			int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0 || close(fd))
				die("create", path);
		}
		printf("%.4f\n", now() - t0);
	} else if (!strcmp(argv[1], "stat")) {
		struct stat st;
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/f%06ld", argv[2], i);
			if (stat(path, &st))
				die("stat", path);
		}
		printf("%.4f\n", now() - t0);
	} else if (!strcmp(argv[1], "append")) {
		static char buf[4096];
		memset(buf, 'a', sizeof buf);
		int fd = open(argv[2], O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
		if (fd < 0)
			die("open", argv[2]);
		t0 = now();
		for (long i = 0; i < n; i++) {
			buf[i % sizeof buf] ^= 1;
			if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
				die("append", argv[2]);
		}
		double t = now() - t0;
		if (close(fd))
			die("close", argv[2]);
		printf("%.2f\n", t / n * 1e6);
	} else {
		return 2;
	}
	return 0;
}
EOF
cc -O2 -Wall -o "$TMP/helper" "$TMP/helper.c" || die "cannot build the helper"
H=$TMP/helper

# ---- set up ----
mount -t tmpfs -o size=$(( (SEQ_MB + 2048) ))m bench-tmpfs "$TMPFS" || die "cannot mount tmpfs"
start || die "bucketfs did not mount"
LOCALFS=$(findmnt -no FSTYPE -T "$LOCAL")
say "bench-fs: bucketfs $BFS (store $STORE), local $LOCAL ($LOCALFS), tmpfs $TMPFS"
TARBALL=$TMP/tree.tar
tar -C "$(dirname "$TREE")" -cf "$TARBALL" "$(basename "$TREE")" 2>/dev/null || die "tar -c $TREE"
T=$(basename "$TREE")
# Random data for the sequential file (bucketfs compresses; zeros would flatter it).
head -c $((SEQ_MB << 20)) /dev/urandom >"$TMPFS/random.src" || die "cannot make the random file"
say "bench-fs: tarball $(du -h "$TARBALL" | cut -f1), $(tar -tf "$TARBALL" | wc -l) entries; $SEQ_MB MiB random file"

# secs CMD...: wall seconds of CMD (for the commands we do not write in C).
secs() {
	local t0 t1; t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { say "bench-fs: failed: $*"; return 1; }
	t1=$(date +%s%N)
	awk -v d=$((t1 - t0)) 'BEGIN { printf "%.4f\n", d / 1e9 }'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# R[fs,key]: the results.
declare -A R
FSES="bfs local tmpfs"
dir_of() { case $1 in bfs) echo "$BFS" ;; local) echo "$LOCAL" ;; tmpfs) echo "$TMPFS" ;; esac; }
# remount FS: make FS's caches cold (bucketfs: stop, empty the disk cache,
# start) and drop the kernel's caches.
cold() {
	if [ "$1" = bfs ]; then
		stop || die "bucketfs did not stop cleanly"
		rm -rf "$CACHE"
		drop
		start || die "bucketfs did not restart"
	else
		drop
	fi
}

for fs in $FSES; do
	d=$(dir_of "$fs")
	say "bench-fs: $fs ..."
	a=() c=() sc=() sw=() ap=()
	for r in $(seq "$RUNS"); do
		mkdir -p "$d/tar$r" "$d/files$r"
		a+=("$(secs tar -C "$d/tar$r" -xf "$TARBALL")")
		c+=("$("$H" create "$d/files$r" "$FILES")")
		sw+=("$("$H" stat "$d/files$r" "$FILES")")
		drop
		sc+=("$("$H" stat "$d/files$r" "$FILES")")
		ap+=("$("$H" append "$d/append$r" "$APPENDS")")
	done
	R[$fs,tar]=$(echo "${a[*]}" | median)
	R[$fs,create]=$(echo "${c[*]}" | median)
	R[$fs,statw]=$(echo "${sw[*]}" | median)
	R[$fs,statc]=$(echo "${sc[*]}" | median)
	R[$fs,append]=$(echo "${ap[*]}" | median)

	R[$fs,write]=$(secs dd if="$TMPFS/random.src" of="$d/seq" bs=1M conv=fsync)
	cold "$fs"
	R[$fs,readc]=$(secs dd if="$d/seq" of=/dev/null bs=1M)
	R[$fs,readw]=$(secs dd if="$d/seq" of=/dev/null bs=1M)
	rm -f "$d/seq"

	export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@bucketfs.invalid
	export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@bucketfs.invalid
	export GIT_CONFIG_NOSYSTEM=1 HOME=$TMP
	g="$d/tar1/$T"
	R[$fs,gitadd]=$(secs sh -c "cd '$g' && git init -q && git add -A && git commit -qm bench")
	cold "$fs"
	R[$fs,statusc]=$(secs git -C "$g" status --porcelain)
	gs=()
	for _ in $(seq "$RUNS"); do gs+=("$(secs git -C "$g" status --porcelain)"); done
	R[$fs,statusw]=$(echo "${gs[*]}" | median)
	[ -n "$(git -C "$g" status --porcelain 2>&1)" ] && say "bench-fs: warning: git status on $fs is not clean"
	rm -rf "${d:?}"/tar* "${d:?}"/files* "${d:?}"/append*
done
stop || die "bucketfs did not stop cleanly at the end"

# ---- the table ----
mbps() { awk -v s="$1" -v mb="$SEQ_MB" 'BEGIN { if (s > 0) printf "%.0f", mb / s; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
row() { # KEY LABEL UNIT
	printf '%-34s %10s %10s %10s %10s %10s\n' "$2 ($3)" "${R[bfs,$1]}" "${R[local,$1]}" "${R[tmpfs,$1]}" \
		"$(ratio "${R[bfs,$1]}" "${R[local,$1]}")" "$(ratio "${R[bfs,$1]}" "${R[tmpfs,$1]}")"
}
echo
echo "bench-fs: bucketfs (file:// store on $LOCALFS) vs local disk ($LOCALFS, $LOCAL) vs tmpfs;"
echo "median of $RUNS runs where marked *; ratios are bucketfs/local and bucketfs/tmpfs (>1: bucketfs slower)"
printf '%-34s %10s %10s %10s %10s %10s\n' workload bucketfs local tmpfs "vs local" "vs tmpfs"
row tar     "tar -x $T *"                     s
row create  "create $FILES empty files *"     s
row statw   "stat $FILES files, warm *"       s
row statc   "stat $FILES files, dcache cold *" s
row append  "4 KiB append, mean latency *"    us
row write   "$SEQ_MB MiB write, dd conv=fsync" s
row readc   "$SEQ_MB MiB read, cold"          s
row readw   "$SEQ_MB MiB read, warm"          s
row gitadd  "git init+add+commit"             s
row statusc "git status, cold"                s
row statusw "git status, warm *"              s
echo
printf 'MB/s: write bucketfs %s, local %s, tmpfs %s; cold read %s, %s, %s; warm read %s, %s, %s\n' \
	"$(mbps "${R[bfs,write]}")" "$(mbps "${R[local,write]}")" "$(mbps "${R[tmpfs,write]}")" \
	"$(mbps "${R[bfs,readc]}")" "$(mbps "${R[local,readc]}")" "$(mbps "${R[tmpfs,readc]}")" \
	"$(mbps "${R[bfs,readw]}")" "$(mbps "${R[local,readw]}")" "$(mbps "${R[tmpfs,readw]}")"
echo "(bench-fs took ${SECONDS} s)"
