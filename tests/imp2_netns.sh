#!/bin/bash
# imp2-tier: quick
# imp2-compat: pernet registration and per-netns state (register_pernet_subsys())
# Per-netns state: each namespace has its own socket, hook, subscriber and
# counters; a subscriber never sees another namespace's packets.
. "$(dirname "$0")/lib.sh"
ktap_plan 5
A=imp2-ns-a B=imp2-ns-b C=imp2-ns-c
tmp=$(mktemp -d)
trap 'kill $ma $mb $mc 2>/dev/null; cleanup_netns $A $B $C; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL
ip netns add $C && ip -n $C link set lo up

for ns in $A $B $C; do
	ip netns exec $ns imp2 monitor --v1 >"$tmp/$ns" 2>/dev/null &
	eval "m${ns: -1}=\$!"
	wait_subscribed $ns
done
ip netns exec $B ping -c 4 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/$A 4 && busywait 5000 has_lines $tmp/$B 4
check "A sees only the echo requests B sent it" \
	bash -c "(( \$(wc -l <$tmp/$A) == 4 && \$(grep -cx 'src: 10.99.0.2, dest: 10.99.0.1' $tmp/$A) == 4 ))"
check "B sees only the echo replies A sent it" \
	bash -c "(( \$(wc -l <$tmp/$B) == 4 && \$(grep -cx 'src: 10.99.0.1, dest: 10.99.0.2' $tmp/$B) == 4 ))"
check "C, with no traffic, sees nothing" test ! -s "$tmp/$C"
check "counters are per netns" \
	bash -c "(( \$(imp2_counter events_sent $C) == 0 && \$(imp2_counter events_sent $A) >= 4 ))"
# The initial namespace has its own subscriber slot, untouched.
check "the initial netns has no subscriber" \
	test "$(subscriber_port '')" -eq 0
ktap_finish
