#!/bin/bash
# bench-parallel.sh -- how the commit path scales: the same metadata
# workloads with 1, 2 and 8 threads on a bucketfs FUSE mount (file:// store
# under /tmp) and on local disk, in one run; and the latency of metadata
# changes while a large write is being uploaded.
#
#   create       create BENCH_FILES empty files, split over T threads,
#                each in its own directory                  (median of 3)
#   chmod        chmod those files, T threads               (median of 3)
#   tar -x       T tar processes extracting /usr/include, each into its
#                own directory                              (median of 3)
#   chmod+write  chmod BENCH_FILES files (1 thread) while another process
#                writes BENCH_SEQ_MB MiB with conv=fsync    (once)
#
# With BENCH_BASE_BIN=/path/to/old/bucketfs the same workloads also run on
# that build, so a change is measured before and after in the same run on
# the same noisy machine.  Needs root, /dev/fuse and unshare -m.
#
#   BUCKETFS_BIN    the binary (default ./bucketfs)
#   BENCH_BASE_BIN  an older binary to compare with (default: none)
#   BENCH_TREE      the directory to tar up (default /usr/include)
#   BENCH_FILES     files for create/chmod (default 10000)
#   BENCH_THREADS   thread counts (default "1 2 8")
#   BENCH_SEQ_MB    the concurrent write in MiB (default 1024)
#   BENCH_RUNS      runs per figure (default 3)
set -u
if [ -z "${BENCH_PAR_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "bench-parallel: needs root, /dev/fuse and unshare -m" >&2
		exit 1
	fi
	exec env BENCH_PAR_NS=1 unshare -m --propagation private bash "$0" "$@"
fi

BIN=$(realpath "${BUCKETFS_BIN:-./bucketfs}") || exit 1
BASE=${BENCH_BASE_BIN:+$(realpath "$BENCH_BASE_BIN")}
TREE=${BENCH_TREE:-/usr/include}
FILES=${BENCH_FILES:-10000}
THREADS=${BENCH_THREADS:-1 2 8}
SEQ_MB=${BENCH_SEQ_MB:-1024}
RUNS=${BENCH_RUNS:-3}

TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/bucketfs-bench-par-XXXXXX")
chmod 755 "$TMP"
MNT=$TMP/mnt LOCAL=$TMP/local LOG=$TMP/daemon.log
mkdir -p "$MNT" "$LOCAL"
PID=
export BUCKETFS_PASSWORD=bench-password
unset BUCKETFS_CONFIG BUCKETFS_STORE

cleanup() {
	cd /
	[ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; sleep 1; kill -9 "$PID" 2>/dev/null; }
	wait 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "bench-parallel: $*" >&2; [ -s "$LOG" ] && tail -n 20 "$LOG" >&2; exit 1; }
say() { echo "$*" >&2; }

# start BIN STORE: mount a store at $MNT with that binary.
start() {
	"$1" run --store "$2" --mount "$MNT" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ "$(findmnt -no FSTYPE "$MNT" 2>/dev/null)" = fuse.bucketfs ] && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
stop() { kill -TERM "$PID"; wait "$PID"; local st=$?; PID=; return $st; }

# ---- the helper: threads that create or chmod files, timed in-process ----
cat >"$TMP/helper.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static const char *op, *dir;
static long per;
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void *worker(void *arg)
{
	long t = (long)arg;
	char path[4096];
	for (long i = 0; i < per; i++) {
		snprintf(path, sizeof path, "%s/t%ld/f%06ld", dir, t, i);
		int r;
		if (!strcmp(op, "create")) {
			int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
			r = fd < 0 ? -1 : close(fd);
		} else {
			r = chmod(path, (i & 1) ? 0600 : 0640);
		}
		if (r) {
			fprintf(stderr, "helper: %s %s: ", op, path);
			perror(NULL);
			exit(1);
		}
	}
	return NULL;
}
/* helper create|chmod DIR FILES THREADS: seconds for all threads. */
int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	op = argv[1];
	dir = argv[2];
	long n = atol(argv[3]), nt = atol(argv[4]);
	pthread_t th[64];
	char path[4096];
	if (nt < 1 || nt > 64)
		return 2;
	per = n / nt;
	for (long t = 0; t < nt; t++) {
		snprintf(path, sizeof path, "%s/t%ld", dir, t);
		if (mkdir(path, 0755) && strcmp(op, "create") == 0) {
			perror(path);
			return 1;
		}
	}
	double t0 = now();
	for (long t = 0; t < nt; t++)
		pthread_create(&th[t], NULL, worker, (void *)t);
	for (long t = 0; t < nt; t++)
		pthread_join(th[t], NULL);
	printf("%.4f\n", now() - t0);
	return 0;
}
EOF
cc -O2 -Wall -pthread -o "$TMP/helper" "$TMP/helper.c" || die "cannot build the helper"
H=$TMP/helper

TARBALL=$TMP/tree.tar
tar -C "$(dirname "$TREE")" -cf "$TARBALL" "$(basename "$TREE")" 2>/dev/null || die "tar -c $TREE"
head -c $((SEQ_MB << 20)) /dev/urandom >"$TMP/random.src" || die "cannot make the random file"

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# partar DIR T: T tar -x in parallel, wall seconds.
partar() {
	local t0 t1 i; t0=$(date +%s%N)
	for i in $(seq "$2"); do mkdir -p "$1/tar$i"; tar -C "$1/tar$i" -xf "$TARBALL" & done
	wait
	t1=$(date +%s%N)
	awk -v d=$((t1 - t0)) 'BEGIN { printf "%.4f\n", d / 1e9 }'
}
declare -A R

# measure NAME DIR: every workload on DIR, results under R[NAME,...].
measure() {
	local name=$1 d=$2 t r c m a
	for t in $THREADS; do
		c=() m=() a=()
		for r in $(seq "$RUNS"); do
			mkdir -p "$d/c$t-$r"
			c+=("$("$H" create "$d/c$t-$r" "$FILES" "$t")")
			m+=("$("$H" chmod "$d/c$t-$r" "$FILES" "$t")")
			a+=("$(partar "$d/x$t-$r" "$t")")
			rm -rf "${d:?}/c$t-$r" "${d:?}/x$t-$r"
		done
		R[$name,create,$t]=$(echo "${c[*]}" | median)
		R[$name,chmod,$t]=$(echo "${m[*]}" | median)
		R[$name,tar,$t]=$(echo "${a[*]}" | median)
	done
	mkdir -p "$d/cw"
	"$H" create "$d/cw" "$FILES" 1 >/dev/null
	R[$name,chmodidle]=$("$H" chmod "$d/cw" "$FILES" 1)
	dd if="$TMP/random.src" of="$d/big" bs=1M conv=fsync 2>/dev/null &
	local dd=$!
	sleep 1
	R[$name,chmodbusy]=$("$H" chmod "$d/cw" "$FILES" 1)
	wait "$dd"
	rm -rf "${d:?}/cw" "${d:?}/big"
}

bfs_run() { # NAME BIN
	local store="file://$TMP/store-$1"
	start "$2" "$store" || die "$1: bucketfs did not mount"
	say "bench-parallel: $1 ($2) ..."
	measure "$1" "$MNT"
	stop || die "$1: bucketfs did not stop cleanly"
	rm -rf "$TMP/store-$1"
}

NAMES="bucketfs"
bfs_run bucketfs "$BIN"
if [ -n "$BASE" ]; then
	NAMES="$NAMES base"
	bfs_run base "$BASE"
fi
say "bench-parallel: local disk ..."
measure local "$LOCAL"
NAMES="$NAMES local"

# ---- the table ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
echo
echo "bench-parallel: seconds, median of $RUNS (local disk: $(findmnt -no FSTYPE -T "$LOCAL")); ratio = bucketfs/local"
printf '%-32s' workload; for n in $NAMES; do printf ' %10s' "$n"; done; printf ' %10s\n' "vs local"
row() { # LABEL KEY
	printf '%-32s' "$1"
	for n in $NAMES; do printf ' %10s' "${R[$n,$2]}"; done
	printf ' %10s\n' "$(ratio "${R[bucketfs,$2]}" "${R[local,$2]}")"
}
for t in $THREADS; do
	row "create $FILES files, $t thr" "create,$t"
	row "chmod $FILES files, $t thr" "chmod,$t"
	row "tar -x $(basename "$TREE") x$t parallel" "tar,$t"
done
row "chmod $FILES, idle" chmodidle
row "chmod $FILES, during ${SEQ_MB}M write" chmodbusy
echo "(bench-parallel took ${SECONDS} s)"
