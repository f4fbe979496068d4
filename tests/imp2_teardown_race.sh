#!/bin/bash
# imp2-tier: full
# imp2-compat: pernet exit, RCU and the timer and work teardown, windows widened by knobs
# Teardown while packets are still inside the hook.
#
# nf_unregister_net_hook() does not wait for hooks that are running (it
# frees the old hook array with call_rcu), so per-netns state may only be
# freed after an RCU grace period. A netns's hooks are registered only while
# somebody listens, and a listener's socket holds both the module and its
# netns: so the hooks are switched off when the last listener closes
# (NETLINK_URELEASE), with packets possibly still inside, and the state is
# freed by the rmmod or netns deletion that follows. The test knob
# test_hook_delay_us keeps every ICMP packet inside the hook for 3 ms while
# pings cross it, which makes that window wide. KASAN reports any
# use-after-free. The pings are paced (100 per second each way) rather than
# flooded: with 3 ms per packet that keeps a packet inside a hook most of
# the time without starving the rest of the VM.
#  1. listeners killed, then rmmod at once, during two-way pings,
#     IMP2_TEARDOWN_CYCLES (10) times;
#  2. a listener killed, then its netns deleted at once, during pings into
#     it, as often;
#  3. a load whose pernet init fails in the last netns (test knob
#     test_fail_init_netns) and unwinds the netns already set up, as often;
#  4. batching listeners killed with their netns timer still armed (5 s
#     ahead), or due in the middle of the teardown and held there for
#     200 ms (test knob test_timer_delay_us), then rmmod or the netns
#     deleted at once, IMP2_TEARDOWN_CYCLES / 2 times each: .pre_exit must shut
#     the timer down (timer_shutdown_sync) before anything is freed.
. "$(dirname "$0")/lib.sh"
ktap_plan 9
CYCLES=${IMP2_TEARDOWN_CYCLES:-10}
DELAY_US=3000
A=imp2-td-a B=imp2-td-b C=imp2-td-c
IMP2=$(type -P imp2)
tmp=$(mktemp -d)
pingers=() listeners=()
stop_pingers() { kill "${pingers[@]}" 2>/dev/null; wait "${pingers[@]}" 2>/dev/null; pingers=(); }
trap 'kill -KILL "${listeners[@]}" 2>/dev/null; stop_pingers; cleanup_netns $A $B $C; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
require_knobs
imp2_unload || exit $KSFT_FAIL

# pinger NETNS DEST: 100 echo requests per second, in the background.
pinger() { ip netns exec "$1" ping -i 0.01 -q "$2" >/dev/null 2>&1 & pingers+=($!); }
# listen NETNS FILE: a v2 listener (IPv4 and IPv6) in NETNS, events to FILE.
listen() { nsenter --net="/run/netns/$1" $IMP2 monitor >"$2" 2>/dev/null & listeners+=($!); }
# kill_listeners: SIGKILL, so that NETLINK_URELEASE switches the hooks off.
kill_listeners() { kill -KILL "${listeners[@]}" 2>/dev/null; }
reap_listeners() { wait "${listeners[@]}" 2>/dev/null; listeners=(); }
# delete_pair: deletes A at once, waits until its devices are gone (its
# veth, and with it B's end), then reaps the listeners and deletes B.
delete_pair() {
	ip netns del $A
	busywait 10000 bash -c "! ip -n $B link show veth-imp2 >/dev/null 2>&1" || return 1
	reap_listeners
	ip netns del $B
}

# --- 1. rmmod ---------------------------------------------------------------
setup_pair $A $B || exit $KSFT_FAIL
pinger $A 10.99.0.2
pinger $B 10.99.0.1
mark=$(kmsg_mark rmmod)
ok=0
for i in $(seq 1 "$CYCLES"); do
	insmod "$IMP2_KO" test_hook_delay_us=$DELAY_US || break
	listen $A $tmp/a$i; listen $B $tmp/b$i
	# Events in both: ICMP is crossing (and delayed in) both hooks.
	busywait 10000 has_lines $tmp/a$i 1 && busywait 10000 has_lines $tmp/b$i 1 ||
		{ diag "cycle $i: no ICMP crossed the hooks"; break; }
	kill_listeners
	# As soon as the sockets are gone (they hold the module).
	busywait 10000 rmmod imp2 2>/dev/null || { diag "cycle $i: rmmod failed"; break; }
	reap_listeners
	ok=$((ok + 1))
done
check "listeners killed, then rmmod, during two-way pings with the hook delayed: $ok of $CYCLES cycles" test "$ok" -eq "$CYCLES"
check "no use-after-free report or other splat on rmmod" no_splat_since "$mark"
stop_pingers
cleanup_netns $A $B

# --- 2. netns deletion --------------------------------------------------------
imp2_load test_hook_delay_us=$DELAY_US || exit $KSFT_FAIL
mark=$(kmsg_mark netns-del)
ok=0
for i in $(seq 1 "$CYCLES"); do
	setup_pair $A $B || break
	listen $A $tmp/n$i
	pinger $B 10.99.0.1
	busywait 10000 has_lines $tmp/n$i 1 || { diag "cycle $i: no ICMP crossed the hook"; break; }
	# The listener's socket holds A: A dies as soon as it is gone.
	kill_listeners
	delete_pair || break
	stop_pingers
	ok=$((ok + 1))
done
# rmmod waits for netns cleanups still in progress (pernet_ops_rwsem).
check "listener killed, then its netns deleted, during pings with the hook delayed: $ok of $CYCLES cycles" \
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
	# Namespaces are set up in creation order: A and B (socket and data,
	# hooks prepared but off: nobody can listen before the load completes)
	# before C, whose init fails; A and B are then undone.
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
cleanup_netns $A $B $C

# --- 4. the netns timer at teardown ---------------------------------------------
# batcher NETNS FILE CYCLE: a batching IPv4 listener in NETNS with one event
# pending, so that the netns timer is armed: 5 s ahead on odd cycles, 300 ms
# on even ones (whose timer runs take 200 ms, see the insmod below).
batcher() {
	local flush=$(( $3 % 2 ? 5000 : 300 ))
	nsenter --net="/run/netns/$1" $IMP2 monitor --family ipv4 --batch 64 --flush-ms $flush >"$2" 2>/dev/null &
	listeners+=($!)
	busywait 5000 has_listeners "$1" 1 && ip netns exec $B ping -c 1 -q 10.99.0.1 >/dev/null
}
timer_knob() { echo $(( $1 % 2 ? 0 : 200000 )); }
mark=$(kmsg_mark timer)
setup_pair $A $B || exit $KSFT_FAIL
TIMER_CYCLES=$(( (CYCLES + 1) / 2 ))
ok=0
for i in $(seq 1 "$TIMER_CYCLES"); do
	insmod "$IMP2_KO" test_timer_delay_us=$(timer_knob $i) || break
	batcher $A $tmp/t$i $i || { diag "cycle $i: no listener or no ping"; break; }
	kill_listeners
	busywait 10000 rmmod imp2 2>/dev/null || { diag "cycle $i: rmmod failed"; break; }
	reap_listeners
	ok=$((ok + 1))
done
check "batching listener killed with the timer armed, then rmmod: $ok of $TIMER_CYCLES cycles" test "$ok" -eq "$TIMER_CYCLES"
imp2_load || exit $KSFT_FAIL
ok=0
for i in $(seq 1 "$TIMER_CYCLES"); do
	knob test_timer_delay_us $(timer_knob $i)
	[[ $i == 1 ]] || setup_pair $A $B || break
	batcher $A $tmp/n$i $i || { diag "cycle $i: no listener or no ping"; break; }
	kill_listeners
	delete_pair || break
	ok=$((ok + 1))
done
check "batching listener killed with the timer armed, then its netns deleted: $ok of $TIMER_CYCLES cycles" \
	bash -c "(( $ok == $TIMER_CYCLES )) && rmmod imp2"
# A timer left armed would fire into freed memory 5 s after its teardown:
# nothing to poll for, so wait that long once.
sleep 6
check "no use-after-free report or other splat from a timer outliving its netns or module" no_splat_since "$mark"
ktap_finish
