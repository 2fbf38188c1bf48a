#!/bin/bash
# bench-ninep.sh -- sequential throughput over 9P2000.L: bucketfs run
# --ninep (a file:// store in a temp dir) next to diod serving a local
# directory (diod -f -n -N -l 127.0.0.1:PORT -e DIR), in one run, through
# the same client (build/tests/helper-ninep, the tests' own 9P client:
# one request at a time, msize 1 MiB asked for):
#
#   write   put of a BENCH_NINEP_MB MiB file of random data (read from a
#           file in the temp dir, so page cache), Tfsync included
#   read    get of that file to /dev/null, right after the write
#
# Each is the median of BENCH_RUNS runs (default 3), in MiB/s; the table
# also has bucketfs/diod (below 1 means bucketfs is slower).  No mount
# and no root needed (diod as root drops nothing with -n -N).
#
#   BUCKETFS_BIN     the binary (default ./build/bucketfs)
#   BUCKETFS_TESTS   where helper-ninep is (default ./build/tests)
#   BENCH_NINEP_MB   file size in MiB (default 512)
#   BENCH_RUNS       runs per figure (default 3)
#   BENCH_DIR        where the temp dir goes (default /tmp)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BUCKETFS_BIN:-$ROOT/build/bucketfs}
HELP=${BUCKETFS_TESTS:-$ROOT/build/tests}/helper-ninep
MB=${BENCH_NINEP_MB:-512}
RUNS=${BENCH_RUNS:-3}
TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/bench-ninep-XXXXXX")
BPID= DPID=
export BUCKETFS_PASSWORD=bench-ninep-password
unset BUCKETFS_CONFIG BUCKETFS_STORE

cleanup() {
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

for x in "$BIN" "$HELP"; do
	[ -x "$x" ] || { echo "bench-ninep: $x missing (make first)" >&2; exit 1; }
done
command -v diod >/dev/null || { echo "bench-ninep: diod missing (scripts/install-deps.sh)" >&2; exit 1; }

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

# wait_9p ADDR ANAME PID: until a 9P session works (30 s).
wait_9p() {
	for _ in $(seq 600); do
		kill -0 "$3" 2>/dev/null || return 1
		"$HELP" -a "$2" "$1" get no-such-file 2>&1 | grep -q "helper-ninep: walk" && return 0
		sleep 0.05
	done
	return 1
}

cat > "$TMP/bucketfs.conf" <<EOF
[cache]
dir = "$TMP/cache"
EOF
BADDR=127.0.0.1:$(free_port)
"$BIN" run -c "$TMP/bucketfs.conf" --store "file://$TMP/store" --socket "$TMP/admin.sock" \
	--ninep "$BADDR" >"$TMP/bucketfs.log" 2>&1 &
BPID=$!
mkdir -p "$TMP/export"
DADDR=127.0.0.1:$(free_port)
diod -f -n -N -l "$DADDR" -e "$TMP/export" -L "$TMP/diod.log" &
DPID=$!
wait_9p "$BADDR" "" "$BPID" || { echo "bench-ninep: bucketfs does not serve 9P:" >&2; tail "$TMP/bucketfs.log" >&2; exit 1; }
wait_9p "$DADDR" "$TMP/export" "$DPID" || { echo "bench-ninep: diod does not serve:" >&2; tail "$TMP/diod.log" >&2; exit 1; }

echo "bench-ninep: $MB MiB of random data, $RUNS runs each"
head -c $((MB * 1024 * 1024)) /dev/urandom > "$TMP/data"

# one OP ADDR ANAME: MiB/s of one put or get.
one() {
	local out
	if [ "$1" = put ]; then
		out=$("$HELP" -t -a "$3" "$2" put bench.dat < "$TMP/data" 2>&1 >/dev/null)
	else
		out=$("$HELP" -t -a "$3" "$2" get bench.dat 2>&1 >/dev/null)
	fi
	awk -v o="$out" 'BEGIN { split(o, f, " "); if (f[2] > 0) printf "%.1f\n", f[1] / 1048576 / f[2]; else print "fail" }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A R
for srv in bucketfs diod; do
	if [ $srv = bucketfs ]; then a=$BADDR an=""; else a=$DADDR an=$TMP/export; fi
	w=() r=()
	for _ in $(seq "$RUNS"); do
		w+=("$(one put "$a" "$an")")
		r+=("$(one get "$a" "$an")")
	done
	R[$srv,write]=$(printf '%s\n' "${w[@]}" | median)
	R[$srv,read]=$(printf '%s\n' "${r[@]}" | median)
	echo "  $srv: write runs ${w[*]} MiB/s, read runs ${r[*]} MiB/s"
done
printf '\n%-28s %12s %12s %14s\n' "workload (median of $RUNS)" bucketfs diod bucketfs/diod
for op in write read; do
	printf '%-28s %12s %12s %14s\n' "$MB MiB $op (MiB/s)" "${R[bucketfs,$op]}" "${R[diod,$op]}" \
		"$(awk -v a="${R[bucketfs,$op]}" -v b="${R[diod,$op]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
