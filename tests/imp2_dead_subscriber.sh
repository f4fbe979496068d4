#!/bin/bash
# imp2-tier: quick
# imp2-compat: the NETLINK_URELEASE notifier and socket lifetimes (netlink_release())
# A subscriber killed without sending IMP2_CLOSE is cleared by the
# NETLINK_URELEASE notifier: nothing is sent to its stale port.
. "$(dirname "$0")/lib.sh"
ktap_plan 5
A=imp2-dead-a B=imp2-dead-b
tmp=$(mktemp -d)
trap 'cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL

ip netns exec $A imp2 monitor --v1 >"$tmp/events" 2>&1 &
mon=$!
wait_subscribed $A
dmesg -c >/dev/null
kill -KILL $mon
wait $mon 2>/dev/null
check "SIGKILLed subscriber is cleared" \
	wait_unsubscribed $A
check "dmesg reports the dead subscriber" \
	busywait 2000 bash -c "dmesg | grep -q 'closed without IMP2_CLOSE, unsubscribed'"
fail0=$(imp2_counter send_failures $A)
sent0=$(imp2_counter events_sent $A)
ip netns exec $B ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
check "no sends to the stale port (send_failures and events_sent unchanged)" \
	bash -c "(( \$(imp2_counter send_failures $A) == $fail0 && \$(imp2_counter events_sent $A) == $sent0 ))"

# The 2007 client killed the same way.
ip netns exec $A imp2_2007_client >"$tmp/c" &
c=$!
wait_subscribed $A
kill -KILL $c; wait $c 2>/dev/null
check "SIGKILLed 2007 client is cleared too" \
	wait_unsubscribed $A

# And a new subscriber works afterwards.
ip netns exec $A imp2 monitor --v1 --count 2 >"$tmp/again" 2>/dev/null &
m2=$!
wait_subscribed $A
ip netns exec $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
wait $m2
check "a new subscriber gets events" test "$(grep -c 'src: 10.99.0.2' "$tmp/again")" -eq 2
ktap_finish
