#!/bin/sh
# nsrun.sh NS CMD... -- exec CMD in network namespace NS, in a mount
# namespace of its own (ip netns exec makes one) where /etc/hosts is
# conf/hosts and /etc/resolv.conf is empty: servers that look up the
# guests' names (diod, ganesha) find them there and never ask a DNS server.
#   NSRUN_USERDB=1   /etc/passwd and /etc/group are conf/passwd, conf/group
#                    (the guests' users: diod maps 9P users through them)
#   NSRUN_PRIVRUN=1  a private tmpfs on /run: rpcbind's socket and state
#                    there are not network-namespaced, and would otherwise
#                    shadow a host rpcbind's
# bucketfs itself needs none of this: the tests run it with nsenter --net,
# so that its FUSE mount stays in the test's mount namespace.
ns=${1:?usage: nsrun.sh NS CMD...}
shift
conf=$(cd "$(dirname "$0")" && pwd)/conf
exec ip netns exec "$ns" /bin/sh -c '
	conf=$1; shift
	mount --bind "$conf/hosts" /etc/hosts &&
	mount --bind "$conf/resolv.conf" /etc/resolv.conf || exit 1
	if [ "${NSRUN_USERDB:-0}" = 1 ]; then
		mount --bind "$conf/passwd" /etc/passwd &&
		mount --bind "$conf/group" /etc/group || exit 1
	fi
	if [ "${NSRUN_PRIVRUN:-0}" = 1 ]; then
		mount -t tmpfs -o mode=755 bfsrun /run && mkdir -p /run/rpcbind &&
		chown _rpc /run/rpcbind || exit 1
	fi
	exec "$@"' nsrun "$conf" "$@"
