#!/bin/bash
# imp2-tier: quick
# Each ICMP datagram is reported once, however many fragments it crossed
# the hook in: only a datagram's first fragment (offset 0) counts; the
# others carry no ICMP header. With IPv4 defragmentation active (conntrack)
# the hook sees whole datagrams, which have offset 0 too.
. "$(dirname "$0")/lib.sh"
ktap_plan 4
A=imp2-fr-a B=imp2-fr-b
tmp=$(mktemp -d)
trap 'kill $mon 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL

ip netns exec $A imp2 monitor --v1 >"$tmp/ev" 2>/dev/null &
mon=$!
wait_subscribed $A || exit $KSFT_FAIL
seen0=$(imp2_counter packets_seen $A)
# 4000 bytes over a 1500-byte MTU: 3 fragments per echo request.
ip netns exec $B ping -c 3 -i 0.2 -s 4000 -q 10.99.0.1 >"$tmp/ping"
check "3 fragmented echo requests were answered" grep -qE '3 (packets )?received' "$tmp/ping"
ip netns exec $B ping -c 1 -q 10.99.0.1 >/dev/null   # an unfragmented marker
busywait 5000 bash -c "(( \$(wc -l <$tmp/ev) >= 4 ))"
diag "events: $(wc -l <"$tmp/ev"), packets_seen: +$(( $(imp2_counter packets_seen $A) - seen0 ))"
check "4 events: one per fragmented echo request, one for the marker" \
	bash -c "(( \$(wc -l <$tmp/ev) == 4 ))"
check "every event has the right addresses" \
	bash -c "(( \$(grep -cx 'src: 10.99.0.2, dest: 10.99.0.1' $tmp/ev) == 4 ))"
check "packets_seen counts datagrams, not fragments (+4)" \
	test $(( $(imp2_counter packets_seen $A) - seen0 )) -eq 4
ktap_finish
