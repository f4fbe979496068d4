#!/bin/bash
# imp2-tier: quick
# imp2-compat: module references and unload under load (netlink_create(), delete_module())
# Removal under load. An open unit-31 socket holds a reference on the module
# (the netlink core takes one per user socket, so the input callback cannot
# vanish under a sender); rmmod is refused while the subscriber lives and
# must succeed, cleanly, during a ping flood as soon as it is gone.
. "$(dirname "$0")/lib.sh"
ktap_plan 5
A=imp2-rm-a B=imp2-rm-b
tmp=$(mktemp -d)
trap 'kill $flood $mon 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL

ip netns exec $A imp2 monitor --v1 >"$tmp/ev" 2>/dev/null &
mon=$!
wait_subscribed $A
ip netns exec $B ping -f -q 10.99.0.1 >/dev/null 2>&1 &
flood=$!
busywait 5000 has_lines $tmp/ev 20
check "rmmod while subscribed is refused (module in use)" bash -c '! rmmod imp2 2>/dev/null'
check "events keep flowing after the refused rmmod" \
	busywait 5000 has_lines $tmp/ev 40
kill -KILL $mon; wait $mon 2>/dev/null
check "rmmod succeeds during the flood once the subscriber is gone" busywait 5000 rmmod imp2
check "the flood keeps running after rmmod" bash -c "kill -0 $flood"
kill $flood; wait $flood 2>/dev/null
check "reload and subscribe again works" \
	bash -c "insmod $IMP2_KO && ip netns exec $A imp2 monitor --v1 --timeout 1 >/dev/null 2>&1"
ktap_finish
