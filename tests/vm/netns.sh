#!/bin/sh
# netns.sh up|down NS -- the guests' private network: namespace NS holding a
# bridge br0 = 192.0.2.1/24 (TEST-NET-1, the host side every server binds
# to) and taps tap0..tap$((NTAPS-1)) on it (default 2), one per guest
# running at once; guest N is 192.0.2.(2+N).  Nothing routes out of NS: it
# has only lo, br0 and the taps.  "down" refuses while a process still runs
# in NS (servers and guests are stopped by PID first, by whoever started them).
set -eu
ns=${2:?usage: netns.sh up|down NS}
case "$1" in
up)
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link add br0 type bridge
	ip -n "$ns" addr add 192.0.2.1/24 dev br0
	ip -n "$ns" link set br0 up
	i=0
	while [ "$i" -lt "${NTAPS:-2}" ]; do
		ip -n "$ns" tuntap add dev "tap$i" mode tap
		ip -n "$ns" link set "tap$i" master br0
		ip -n "$ns" link set "tap$i" up
		i=$((i + 1))
	done
	;;
down)
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	if [ -n "$pids" ]; then
		echo "netns.sh: processes still run in $ns: $pids" >&2
		exit 1
	fi
	ip netns del "$ns"
	;;
*)
	echo "usage: netns.sh up|down NS" >&2
	exit 2
	;;
esac
