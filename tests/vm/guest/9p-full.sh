# 9p-full.sh -- posix.sh over 9P2000.L, and POSIX byte-range locks (TLOCK,
# TGETLOCK) between two guest processes: a conflict is refused, a
# non-overlapping lock granted, F_GETLK names the holder, a blocking lock
# waits until the holder's process ends.  The tree stays in /full/tar.
. /tests/lib.sh
. /tests/posix.sh
PROTO=9p M=/mnt/9p
mount_9p "$M" || bail "9p: mounts"
mounted "$M" 9p || bail "9p: $M is a 9p mount"
posix_as_root
posix_as_users
posix_tar

F=$M/full/lockfile
: >"$F"
helper-lock "$F" lk:w:0:10 say:held sleep:3000 >/tmp/lock-a 2>&1 &
a=$!
i=0; while [ $i -lt 100 ] && ! grep -q held /tmp/lock-a; do sleep 0.1; i=$((i+1)); done
is "$(head -n 1 /tmp/lock-a)" "lk w 0 10: ok" "9p lock: process A takes a write lock on 0-10"
r=$(helper-lock "$F" lk:w:5:10 2>&1)
case "$r" in *EAGAIN|*EACCES) ok 0 "9p lock: B's conflicting write lock is refused" ;;
	*) echo "# got '$r'"; ok 1 "9p lock: B's conflicting write lock is refused" ;; esac
is "$(helper-lock "$F" lk:r:20:10 2>&1)" "lk r 20 10: ok" "9p lock: B's read lock on 20-30 is granted"
r=$(helper-lock "$F" get:w:0:1 2>&1)
case "$r" in "get w 0 1: w 0 10 pid="*) ok 0 "9p lock: B's F_GETLK sees A's lock" ;;
	*) echo "# got '$r'"; ok 1 "9p lock: B's F_GETLK sees A's lock" ;; esac
t0=$(up)
helper-lock "$F" lkw:w:0:10 >/tmp/lock-b 2>&1
t1=$(up)
is "$(cat /tmp/lock-b)" "lkw w 0 10: ok" "9p lock: B's blocking lock is granted"
check "9p lock: only once A's process ended" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a > 1) }'
wait $a
check "9p: unmounts" umount "$M"
