#!/bin/bash
# imp2-tier: full
# Teardown while packets are still inside the hook.
#
# nf_unregister_net_hook() does not wait for hooks that are running (it
# frees the old hook array with call_rcu), so per-netns state may only be
# freed after an RCU grace period. The test knob test_hook_delay_us keeps
# every ICMP packet inside the hook for 3 ms while pings cross it, which
# makes that window wide. KASAN reports any use-after-free. The pings are
# paced (100 per second each way) rather than flooded: with 3 ms per packet
# that keeps a packet inside a hook most of the time without starving the
# rest of the VM.
#  1. rmmod during two-way pings, IMP2_TEARDOWN_CYCLES (20) times;
#  2. netns deletion during pings into the deleted netns, 20 times;
#  3. a load whose pernet init fails in the last netns (test knob
#     test_fail_init_netns) and unwinds the netns already set up, 20 times.
. "$(dirname "$0")/lib.sh"
ktap_plan 6
CYCLES=${IMP2_TEARDOWN_CYCLES:-20}
DELAY_US=3000
A=imp2-td-a B=imp2-td-b C=imp2-td-c
pingers=()
stop_pingers() { kill "${pingers[@]}" 2>/dev/null; wait "${pingers[@]}" 2>/dev/null; pingers=(); }
trap 'stop_pingers; cleanup_netns $A $B $C' EXIT
imp2_load || exit $KSFT_FAIL
require_knobs
imp2_unload || exit $KSFT_FAIL

# packets_seen in NETNS grows: ICMP is crossing (and delayed in) the hook.
hook_busy() {
	local seen0; seen0=$(imp2_counter packets_seen "$1")
	busywait 5000 bash -c "(( \$(imp2_counter packets_seen $1) > ${seen0:-0} ))"
}
# pinger NETNS DEST: 100 echo requests per second, in the background.
pinger() { ip netns exec "$1" ping -i 0.01 -q "$2" >/dev/null 2>&1 & pingers+=($!); }

# --- 1. rmmod ---------------------------------------------------------------
setup_pair $A $B || exit $KSFT_FAIL
pinger $A 10.99.0.2
pinger $B 10.99.0.1
insmod "$IMP2_KO" test_hook_delay_us=$DELAY_US && hook_busy $A && hook_busy $B ||
	{ diag "no ICMP crosses the hooks"; exit $KSFT_FAIL; }
busywait 5000 rmmod imp2 2>/dev/null
mark=$(kmsg_mark rmmod)
ok=0
for i in $(seq 1 "$CYCLES"); do
	insmod "$IMP2_KO" test_hook_delay_us=$DELAY_US || break
	rmmod imp2 || { diag "cycle $i: rmmod failed"; break; }
	ok=$((ok + 1))
done
check "rmmod during two-way pings with the hook delayed: $ok of $CYCLES cycles" test "$ok" -eq "$CYCLES"
check "no use-after-free report or other splat on rmmod" no_splat_since "$mark"
stop_pingers
cleanup_netns $A $B

# --- 2. netns deletion --------------------------------------------------------
imp2_load test_hook_delay_us=$DELAY_US || exit $KSFT_FAIL
mark=$(kmsg_mark netns-del)
ok=0
for i in $(seq 1 "$CYCLES"); do
	setup_pair $A $B || break
	pinger $B 10.99.0.1
	hook_busy $A || { diag "cycle $i: no ICMP crossed the hook"; break; }
	ip netns del $A
	# A's devices go first (its veth, and with it B's end): wait for that.
	busywait 10000 bash -c "! ip -n $B link show veth-imp2 >/dev/null 2>&1" || break
	stop_pingers
	ip netns del $B
	ok=$((ok + 1))
done
# rmmod waits for netns cleanups still in progress (pernet_ops_rwsem).
check "netns deleted during pings with the hook delayed: $ok of $CYCLES cycles" \
	bash -c "(( $ok == $CYCLES )) && rmmod imp2"
check "no use-after-free report or other splat on netns deletion" no_splat_since "$mark"

# --- 3. a load that fails and unwinds -----------------------------------------
setup_pair $A $B || exit $KSFT_FAIL
ip netns add $C
pinger $A 10.99.0.2
pinger $B 10.99.0.1
inum=$(stat -L -c %i /run/netns/$C)
mark=$(kmsg_mark failed-load)
ok=0
for i in $(seq 1 "$CYCLES"); do
	# Namespaces are set up in creation order: A and B (hooks live, packets
	# in them) before C, whose init fails; A and B are then undone.
	out=$(insmod "$IMP2_KO" test_hook_delay_us=$DELAY_US test_fail_init_netns="$inum" 2>&1) &&
		{ diag "cycle $i: insmod succeeded although C's init must fail"; rmmod imp2; break; }
	[[ $out == *"Cannot allocate memory"* || $out == *ENOMEM* ]] ||
		{ diag "cycle $i: unexpected insmod error: $out"; break; }
	ok=$((ok + 1))
done
check "load failing in the last netns during pings: $ok of $CYCLES cycles ended in ENOMEM" \
	test "$ok" -eq "$CYCLES"
check "no use-after-free report or other splat while unwinding a failed load" no_splat_since "$mark"
stop_pingers
ktap_finish
