# hello.sh -- the harness itself: the guest booted, reached the host, and
# the host-sync channel works both ways.
. /tests/lib.sh
check "the host answers ping" ping -c 1 -W 2 192.0.2.1
host_sync hello
ok $? "host_sync: the host answered"
