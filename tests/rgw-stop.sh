#!/usr/bin/env bash
# rgw-stop.sh — stop the daemons that rgw-start.sh launched in DIR (via their
# pid files) and remove DIR.  bucketfs's own copy of the shared recipe.
#
# Usage:   rgw-stop.sh [DIR]          # DIR default: ${TMPDIR:-/tmp}/bucketfs-rgw
#   RGW_KEEP_DIR=1   stop the daemons but keep DIR (logs in DIR/log)
#   RGW_GATEWAY_ONLY=1   stop only radosgw and keep DIR (the cluster stays
#                    up; RGW_GATEWAY_ONLY=1 rgw-start.sh DIR starts it again)
#   RGW_STOP_SIGNAL=TERM  first signal (KILL: a crash, no clean shutdown)
#   RGW_STOP_TIMEOUT=15   seconds to wait after SIGTERM before SIGKILL
#
# Only processes whose pid file is in DIR/run and whose command line names
# DIR/ceph.conf are signalled; nothing is killed by name. Exit 0 when nothing
# of ours is left running (also when DIR does not exist).
set -uo pipefail

D=${1:-${TMPDIR:-/tmp}/bucketfs-rgw}
MARK=.rgw-start-cluster
TMO=${RGW_STOP_TIMEOUT:-15}
SIG=${RGW_STOP_SIGNAL:-TERM}
case "$SIG" in TERM|KILL) ;; *) echo "rgw-stop: RGW_STOP_SIGNAL must be TERM or KILL" >&2; exit 1;; esac
daemons="client.rgw.a osd.0 mon.a"
if [ "${RGW_GATEWAY_ONLY:-0}" = 1 ]; then
    daemons=client.rgw.a
    RGW_KEEP_DIR=1
fi

if [ ! -e "$D" ]; then
    echo "rgw-stop: $D does not exist; nothing to do" >&2
    exit 0
fi
D=$(cd "$D" && pwd) || exit 1
if [ ! -f "$D/$MARK" ]; then
    echo "rgw-stop: $D was not created by rgw-start.sh (no $MARK); refusing" >&2
    exit 1
fi

# is PID one of our daemons? (guards against a stale pid file + pid reuse)
ours() {
    local pid=$1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$D/ceph.conf"
}

rc=0
# reverse start order: gateway first, monitor last
for name in $daemons; do
    pf="$D/run/$name.pid"
    [ -f "$pf" ] || continue
    pid=$(tr -dc '0-9' < "$pf")
    if [ -z "$pid" ] || ! ours "$pid"; then
        continue   # not running (or pid reused by something else)
    fi
    kill "-$SIG" "$pid" 2>/dev/null
    waited=0
    while ours "$pid" && [ "$waited" -lt $((TMO * 10)) ]; do
        sleep 0.1; waited=$((waited + 1))
    done
    if ours "$pid"; then
        echo "rgw-stop: $name (pid $pid) ignored SIGTERM for ${TMO}s; SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
        sleep 0.2
    fi
    if ours "$pid"; then
        echo "rgw-stop: $name (pid $pid) still running" >&2
        rc=1
    else
        echo "rgw-stop: stopped $name (pid $pid)" >&2
    fi
done

if [ "$rc" = 0 ] && [ "${RGW_KEEP_DIR:-0}" != 1 ]; then
    rm -rf -- "$D" && echo "rgw-stop: removed $D" >&2
fi
exit "$rc"
