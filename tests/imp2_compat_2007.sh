#!/bin/bash
# imp2-tier: quick
# An unmodified client written to the 2007 protocol (tests/clients/
# imp2_2007_client.c) works against the Rust module.
. "$(dirname "$0")/lib.sh"
ktap_plan 4
A=imp2-c7-a B=imp2-c7-b
tmp=$(mktemp -d)
trap 'cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL

ip netns exec $A imp2_2007_client >"$tmp/out" 2>"$tmp/err" &
c=$!
wait_subscribed $A
port=$(subscriber_port $A)
check "the 2007 client subscribes with its pid as port id" test "$port" = "$c"
ip netns exec $B ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/out 3
check "it prints 'src: 10.99.0.2, dest: 10.99.0.1' once per ping" \
	test "$(grep -cx 'src: 10.99.0.2, dest: 10.99.0.1' "$tmp/out")" -eq 3
kill -INT $c
wait $c
check "it exits 0 on SIGINT" test $? -eq 0
check "its IMP2_CLOSE unsubscribed it" \
	wait_unsubscribed $A
ktap_finish
