#!/usr/bin/env bash
# rgw-up.sh DIR -- rgw-start.sh on free loopback ports, tried twice.
#
# A Ceph start on a loaded machine sometimes does not come up (a port
# taken between the probe and the bind, a monitor slow past its timeout):
# then the half-made cluster is stopped, its log kept on stderr, and one
# more try is made on new ports.  stdout: rgw-start.sh's export lines.
# The environment (RGW_REUSE, RGW_START_TIMEOUT ...) passes through;
# RGW_PORT and CEPH_MON_PORT are chosen here.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
D=${1:?usage: rgw-up.sh DIR}

free_port() {
	local p _
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	return 1
}

for attempt in 1 2; do
	rgw_port=$(free_port) && mon_port=$(free_port) || exit 1
	if env RGW_PORT="$rgw_port" CEPH_MON_PORT="$mon_port" bash "$HERE/rgw-start.sh" "$D"; then
		exit 0
	fi
	[ "$attempt" = 2 ] && break
	echo "rgw-up: the cluster in $D did not come up on ports $rgw_port/$mon_port; stopping it and trying once more" >&2
	RGW_STOP_SIGNAL=KILL bash "$HERE/rgw-stop.sh" "$D" >&2 || true
done
exit 1
