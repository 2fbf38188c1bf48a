#!/usr/bin/env bash
# rgw-start.sh — bring up a throw-away single-node Ceph cluster (1 mon, 1 OSD,
# radosgw/beast) on 127.0.0.1 and print the S3 credentials as `export` lines.
# bucketfs's own copy of the shared recipe, for tests/test-store-s3.sh; it
# adds RGW_GATEWAY_ONLY (restart just radosgw, for the retry tests).
#
# Usage:   eval "$(rgw-start.sh [DIR])"        # DIR default: ${TMPDIR:-/tmp}/bucketfs-rgw
#          rgw-stop.sh [DIR]                   # stops the daemons, removes DIR
#          RGW_GATEWAY_ONLY=1 rgw-start.sh DIR # start radosgw again in a
#                                              # running cluster (after
#                                              # RGW_GATEWAY_ONLY=1 rgw-stop.sh)
#
# stdout carries only the export lines (also saved to DIR/env.sh); progress and
# errors go to stderr. Exit status is non-zero if the endpoint did not come up;
# in that case the daemons already started are stopped and DIR is kept for the
# logs in DIR/log/.
#
# Environment knobs (all optional):
#   RGW_PORT=7480            S3 endpoint port (beast, bound to 127.0.0.1 only)
#   CEPH_MON_PORT=3300       monitor port (msgr2 only, 127.0.0.1 only)
#   RGW_ACCESS_KEY / RGW_SECRET_KEY   S3 credentials of the created user
#   RGW_REGION=us-east-1     region printed for clients (RGW accepts any region
#                            in the SigV4 scope)
#   RGW_OBJECTSTORE=memstore memstore (data in OSD RAM) | bluestore (sparse file
#                            DIR/osd/block.img)
#   RGW_STORE_BYTES=8589934592  capacity of the memstore / bluestore file
#   RGW_REUSE=0              1: if a cluster started by this script is already
#                            serving from DIR, only print its exports again
#   RGW_START_TIMEOUT=180    seconds to wait for each stage
#   RGW_EXTRA_CONF=''        extra ceph.conf lines appended to [client.rgw.a]
#                            (e.g. $'rgw multipart min part size = 65536')
#   RGW_INSTALL=1            0: never run apt-get; fail if packages are missing
set -euo pipefail

unset CEPH_ARGS CEPH_CONF   # only our ceph.conf, passed with -c, applies
die() { echo "rgw-start: $*" >&2; exit 1; }
log() { echo "rgw-start: $*" >&2; }

D=${1:-${TMPDIR:-/tmp}/bucketfs-rgw}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${CEPH_MON_PORT:-3300}
ACCESS_KEY=${RGW_ACCESS_KEY:-RGWTESTACCESSKEY0001}
SECRET_KEY=${RGW_SECRET_KEY:-rgwtestsecretkey0000000000000000000000001}
REGION=${RGW_REGION:-us-east-1}
STORE=${RGW_OBJECTSTORE:-memstore}
STORE_BYTES=${RGW_STORE_BYTES:-8589934592}
TMO=${RGW_START_TIMEOUT:-180}
MARK=.rgw-start-cluster   # marker file: DIR was created by this script

case "$D" in *[[:space:]]*|"") die "directory must be non-empty and without whitespace: '$D'";; esac
case "$STORE" in memstore|bluestore) ;; *) die "RGW_OBJECTSTORE must be memstore or bluestore";; esac

# --- 1. packages ------------------------------------------------------------
need_bins="ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen curl"
missing=""
for b in $need_bins; do command -v "$b" >/dev/null 2>&1 || missing="$missing $b"; done
if [ -n "$missing" ]; then
    [ "${RGW_INSTALL:-1}" = 1 ] || die "missing:$missing (RGW_INSTALL=0)"
    [ "$(id -u)" = 0 ] || die "missing:$missing and not root; install radosgw ceph-mon ceph-osd ceph-common"
    log "installing ceph packages (missing:$missing)"
    pkgs=(radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl)
    apt_install() {
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
            install -y --no-install-recommends "${pkgs[@]}" >&2
    }
    if ! apt_install; then
        apt-get -o DPkg::Lock::Timeout=600 update >&2 || true
        apt_install || die "apt-get install failed"
    fi
fi

# --- helpers -----------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
http_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$RGW_PORT/" 2>/dev/null || true; }
now() { date +%s.%N; }
T0=$(now)
elapsed() { awk -v a="$T0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
wait_for() {  # wait_for DESCRIPTION PIDFILE-NAME COMMAND...
    local what=$1 pidname=$2; shift 2
    local deadline=$(( $(date +%s) + TMO ))
    while ! "$@" >/dev/null 2>&1; do
        # the daemon writes its pid file just after it forks: a missing file is
        # "not yet", a file naming a dead pid means the daemon died
        if [ -n "$pidname" ] && [ -s "$D/run/$pidname.pid" ] \
            && ! pid_alive "$(cat "$D/run/$pidname.pid" 2>/dev/null)"; then
            die "$pidname exited while waiting for $what (see $D/log/)"
        fi
        [ "$(date +%s)" -lt "$deadline" ] || die "timeout (${TMO}s) waiting for $what"
        sleep 0.2
    done
}

rgw_answers() { [ "$(http_code)" != 000 ]; }

print_env() {
    cat <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export RGW_DIR=$D
EOF
}

# --- gateway only: start radosgw again in a running cluster ---------------------
if [ "${RGW_GATEWAY_ONLY:-0}" = 1 ]; then
    if [ ! -f "$D/$MARK" ] || [ ! -f "$D/env.sh" ]; then
        die "no cluster made by rgw-start.sh in $D"
    fi
    D=$(cd "$D" && pwd)
    # shellcheck disable=SC1091
    . "$D/env.sh"
    RGW_PORT=${AWS_ENDPOINT_URL##*:}
    # running = the pid file names a live process of this cluster (a killed
    # daemon not yet reaped is a zombie with an empty command line)
    running() {
        local p; p=$(tr -dc '0-9' < "$D/run/$1.pid" 2>/dev/null)
        [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] \
            && tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF -- "$D/ceph.conf"
    }
    for n in mon.a osd.0; do
        running "$n" || die "$n is not running in $D"
    done
    if running client.rgw.a; then
        die "radosgw is already running in $D"
    fi
    rm -f "$D/run/client.rgw.a.pid"
    radosgw -c "$D/ceph.conf" -n client.rgw.a >>"$D/log/radosgw.out" 2>&1 \
        || die "radosgw failed to start (see $D/log/)"
    wait_for "S3 endpoint http://127.0.0.1:$RGW_PORT" client.rgw.a rgw_answers
    log "radosgw answers again ($(elapsed)s, pid $(cat "$D/run/client.rgw.a.pid" 2>/dev/null || echo "?"))"
    cat "$D/env.sh"
    exit 0
fi

# --- 2. existing directory -----------------------------------------------------
if [ -e "$D" ]; then
    [ -d "$D" ] || die "$D exists and is not a directory"
    D=$(cd "$D" && pwd)
    if [ -f "$D/$MARK" ]; then
        if [ "${RGW_REUSE:-0}" = 1 ] && [ -f "$D/env.sh" ] \
            && pid_alive "$(cat "$D/run/client.rgw.a.pid" 2>/dev/null)"; then
            # shellcheck disable=SC1091
            . "$D/env.sh"   # keeps the keys/port the cluster was made with
            RGW_PORT=${AWS_ENDPOINT_URL##*:}
            if [ "$(http_code)" != 000 ]; then
                log "reusing running cluster in $D"
                cat "$D/env.sh"; exit 0
            fi
        fi
        log "stopping previous cluster in $D"
        bash "$(dirname "$0")/rgw-stop.sh" "$D" >&2 || die "could not stop previous cluster in $D"
    elif [ -n "$(ls -A "$D")" ]; then
        die "$D exists, is not empty and was not created by rgw-start.sh; refusing to wipe it"
    fi
fi
port_busy "$RGW_PORT" && die "127.0.0.1:$RGW_PORT already in use (set RGW_PORT)"
port_busy "$MON_PORT" && die "127.0.0.1:$MON_PORT already in use (set CEPH_MON_PORT)"
mkdir -p "$D"
D=$(cd "$D" && pwd)

rm -rf "${D:?}"/* "$D"/.[!.]* 2>/dev/null || true
mkdir -p "$D"/{run,log,mon,osd/ceph-0,rgw}
echo "created by rgw-start.sh $(date -u +%FT%TZ)" > "$D/$MARK"
: > "$D/keyring"

started=()   # pid-file names of daemons this run launched
cleanup_on_error() {
    local rc=$?
    [ "$rc" = 0 ] && return
    log "FAILED after $(elapsed)s; stopping started daemons; logs kept in $D/log"
    for n in client.rgw.a osd.0 mon.a; do
        p=$(cat "$D/run/$n.pid" 2>/dev/null || true)
        if pid_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    done
    for f in "$D"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
    exit "$rc"
}
trap cleanup_on_error EXIT

# --- 3. ceph.conf ------------------------------------------------------------
FSID=$(uuidgen)
if [ "$STORE" = memstore ]; then
    store_conf="memstore device bytes = $STORE_BYTES"
else
    store_conf="bluestore block path = $D/osd/block.img
bluestore block create = true
bluestore block size = $STORE_BYTES
bluestore fsck on mount = false
bluestore cache size = 268435456
osd memory target = 1073741824"
fi
cat > "$D/ceph.conf" <<EOF
# generated by rgw-start.sh — throw-away test cluster, loopback only
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
# no authentication (loopback-only test cluster); auth 'none' needs crc mode
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
mon warn on insecure global id reclaim allowed = false
client mount timeout = 30
run dir = $D/run
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
keyring = $D/keyring
crash dir = $D/log/crash
mon data = $D/mon/\$cluster-\$id
osd data = $D/osd/\$cluster-\$id
osd objectstore = $STORE
$store_conf
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
# commit monitor proposals quickly (pool creation by rgw waits on each one)
paxos propose interval = 0.05
paxos min wait = 0.01

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $D/rgw
rgw dns name = localhost
# reclaim the tails of deleted/overwritten objects (>4 MiB) after 30 s, not 2 h
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
${RGW_EXTRA_CONF:-}
EOF
C=(-c "$D/ceph.conf")

# --- 4. monitor ----------------------------------------------------------------
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" >&2
ceph-mon "${C[@]}" -i a >&2           # daemonizes; writes run/mon.a.pid
started+=(mon.a)
wait_for "monitor quorum" mon.a timeout 20 ceph "${C[@]}" --connect-timeout 10 mon stat
log "mon up ($(elapsed)s)"

# --- 5. OSD --------------------------------------------------------------------
OSD_UUID=$(uuidgen)
OSD_ID=$(timeout 60 ceph "${C[@]}" osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "unexpected OSD id '$OSD_ID'"
ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$D/log/osd-mkfs.out" 2>&1 \
    || { cat "$D/log/osd-mkfs.out" >&2; die "ceph-osd --mkfs failed"; }
ceph-osd "${C[@]}" -i 0 >>"$D/log/osd-mkfs.out" 2>&1
started+=(osd.0)
osd_up() { timeout 20 ceph "${C[@]}" --connect-timeout 10 osd dump 2>/dev/null | grep -q '^osd\.0 up'; }
wait_for "osd.0 up" osd.0 osd_up
log "osd up ($(elapsed)s)"

# --- 6. radosgw ----------------------------------------------------------------
radosgw "${C[@]}" -n client.rgw.a >"$D/log/radosgw.out" 2>&1 \
    || { cat "$D/log/radosgw.out" >&2; die "radosgw failed to start"; }
started+=(client.rgw.a)
wait_for "S3 endpoint http://127.0.0.1:$RGW_PORT" client.rgw.a rgw_answers
log "rgw answers ($(elapsed)s)"

# --- 7. S3 user ----------------------------------------------------------------
timeout 60 radosgw-admin "${C[@]}" user create --uid=testuser --display-name="rgw-start test user" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$D/log/user-create.json" 2>"$D/log/user-create.err" \
    || { cat "$D/log/user-create.err" >&2; die "radosgw-admin user create failed"; }
# authenticated probe: the user is visible to the gateway
wait_for "authenticated ListBuckets" client.rgw.a \
    curl -sf -m 5 --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$RGW_PORT/"

print_env > "$D/env.sh"
trap - EXIT
log "ready in $(elapsed)s: http://127.0.0.1:$RGW_PORT (dir $D, pids:$(for n in "${started[@]}"; do printf ' %s=%s' "$n" "$(cat "$D/run/$n.pid")"; done))"
log "stop with: $(dirname "$0")/rgw-stop.sh $D"
print_env
