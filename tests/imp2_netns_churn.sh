#!/bin/bash
# imp2-tier: full
# With the module loaded, create and destroy IMP2_CHURN (default 100)
# network namespace pairs, each with a veth pair and a subscriber that must
# receive its event.  Per-netns state is created and freed each time; the
# runner's kmemleak scan after rmmod catches any leak.
. "$(dirname "$0")/lib.sh"
ktap_plan 3
CHURN=${IMP2_CHURN:-100}
tmp=$(mktemp -d)
trap 'rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL

ok=0
for i in $(seq 1 "$CHURN"); do
	a=imp2-ch$i-a b=imp2-ch$i-b
	ip netns add $a && ip netns add $b || break
	ip link add v netns $a type veth peer name v netns $b
	ip -n $a addr add 10.98.0.1/24 dev v && ip -n $a link set v up
	ip -n $b addr add 10.98.0.2/24 dev v && ip -n $b link set v up
	ip netns exec $a imp2 monitor --count 1 --timeout 20 >"$tmp/ev" 2>/dev/null &
	mon=$!
	wait_subscribed $a
	# Keep pinging until the event shows up (the first one may wait for ARP).
	busywait 10000 ip netns exec $b ping -c 1 -W 1 -q 10.98.0.1 >/dev/null
	wait $mon
	grep -qx 'src: 10.98.0.2, dest: 10.98.0.1' "$tmp/ev" && ok=$((ok + 1))
	ip netns del $a; ip netns del $b
done
diag "$ok of $CHURN namespaces delivered their event"
check "$CHURN namespace pairs created, used and destroyed" test "$ok" -eq "$CHURN"
check "no namespace is left behind" bash -c '! ip netns list | grep -q imp2-ch'
check "rmmod after the churn" imp2_unload
echo "IMP2-FIGURE: namespaces_churned=$((2 * ok))"
ktap_finish
