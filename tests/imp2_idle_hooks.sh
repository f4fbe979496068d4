#!/bin/bash
# imp2-tier: quick
# imp2-compat: hook registration and unregistration (nf_register_net_hook())
# A netns's netfilter hooks: none while nobody has ever listened there;
# the IPv4 hook for a v1 subscriber, each family's hook for a v2 listener
# of that family. By default they then stay until the netns exits
# (unregistering would drop NFQUEUE users' queued packets, see
# imp2_nfqueue.sh); with hooks_on_demand=1 they go again after IMP2_CLOSE,
# a v2 unsubscribe or a killed listener (NETLINK_URELEASE). Observed with
# `nft list hooks` (nfnetlink_hook), which lists every registered hook with
# its module, and with packets_seen, which only the IPv4 hook counts.
. "$(dirname "$0")/lib.sh"
ktap_plan 15
A=imp2-ih-a B=imp2-ih-b
tmp=$(mktemp -d)
mons=()
trap 'kill -KILL "${mons[@]}" 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B && setup_pair6 $A $B || exit $KSFT_FAIL

# imp2_hooks NETNS: the families ("ip", "ip6") in which imp2 has a hook
# registered in NETNS, space-separated, in that order.
imp2_hooks() {
	local family out found=()
	for family in ip ip6; do
		out=$(in_netns "$1" nft list hooks $family 2>&1) || { echo "nft-failed: $out"; return; }
		[[ $out == *"[imp2]"* ]] && found+=($family)
	done
	echo "${found[*]}"
}
# hooks_are NETNS WANT: sets $hooks (nft runs for seconds under KASAN and
# TCG: each state is read once per poll, not again for the message).
hooks_are() { hooks=$(imp2_hooks "$1"); [[ $hooks == "$2" ]]; }
# expect_hooks NAME NETNS WANT: a check that waits up to 5 s (a killed
# listener's NETLINK_URELEASE runs as its socket closes, asynchronously).
expect_hooks() {
	local hooks
	busywait 5000 hooks_are "$2" "$3"
	check "$1 (hooks: '$hooks', want '$3')" test "$hooks" == "$3"
}

if out=$(in_netns $A nft list hooks ip 2>&1); then :; else
	diag "nft list hooks fails here ($out): the kernel lacks CONFIG_NETFILTER_NETLINK_HOOK"
	for i in $(seq 1 15); do ktap_skip "nft list hooks unavailable"; done
	ktap_finish
fi

# start_monitor VAR ARGS...: imp2 monitor ARGS in $A, its PID in VAR.
start_monitor() {
	local var=$1; shift
	nsenter --net=/run/netns/$A $(type -P imp2) monitor "$@" >"$tmp/$var" 2>/dev/null &
	printf -v "$var" %s $!
	mons+=($!)
}

# --- default: registered on first use, kept until the netns exits ---------
expect_hooks "loaded, nobody listening: no hook" $A ""
seen0=$(imp2_counter packets_seen $A)
in_netns $B ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
check "pings while nobody listens cross no imp2 hook (packets_seen stays $seen0)" \
	test "$(imp2_counter packets_seen $A)" -eq "$seen0"

start_monitor v1 --v1
wait_subscribed $A
expect_hooks "a v1 subscriber: the IPv4 hook only" $A "ip"
in_netns $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/v1 2
check "the v1 subscriber got its 2 events" has_lines $tmp/v1 2
kill -INT $v1; wait $v1
wait_unsubscribed $A
expect_hooks "after IMP2_CLOSE: the IPv4 hook stays" $A "ip"
start_monitor v2 --family ipv6
wait_listeners $A 1
expect_hooks "a v2 IPv6 listener: the IPv6 hook joins" $A "ip ip6"
expect_hooks "the other netns has no hook" $B ""
kill -KILL $v2; wait $v2 2>/dev/null
wait_listeners $A 0
expect_hooks "the listener killed: both hooks stay" $A "ip ip6"
check "rmmod with the hooks on" imp2_unload

# --- hooks_on_demand=1: registered only while somebody listens ------------
imp2_load hooks_on_demand=1 || exit $KSFT_FAIL
start_monitor v1 --v1
wait_subscribed $A
expect_hooks "on demand: a v1 subscriber: the IPv4 hook only" $A "ip"
kill -INT $v1; wait $v1
expect_hooks "on demand: after IMP2_CLOSE: no hook" $A ""
start_monitor v2 --family ipv6
start_monitor v2b --family ipv4
start_monitor v1b --v1
wait_listeners $A 2 && wait_subscribed $A
expect_hooks "on demand: v1 and v2 IPv4 and IPv6 listeners: both hooks" $A "ip ip6"
# The v2 IPv6 listener unsubscribes (SIGINT): the IPv6 hook goes.
kill -INT $v2; wait $v2
expect_hooks "on demand: the IPv6 listener unsubscribed: the IPv4 hook stays" $A "ip"
# SIGKILL (no unsubscribe, no close): NETLINK_URELEASE takes them away.
kill -KILL $v2b $v1b; wait $v2b $v1b 2>/dev/null
expect_hooks "on demand: the rest killed: no hook" $A ""
check "rmmod with the hooks off" imp2_unload
ktap_finish
