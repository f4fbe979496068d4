#!/bin/bash
# imp2-tier: quick
# imp2-compat: race window widened by test_v2_event_delay_us (RCU grace period of a move)
# A listener that moves to another hook point (a second IMP2_V2_SUBSCRIBE
# from its socket, IMP2_A_HOOK changed) while a packet is inside its old
# hook: the old hook's event still reaches it, before the move's ack, and
# nothing from the old hook comes after the ack. test_v2_event_delay_us
# holds the packet in the prerouting hook, between taking the listener and
# sending its event, for 2 s; the move is sent meanwhile. Its ack waits for
# the grace period that the publish of the moved listener ends with
# (Updater::replace(), synchronize_rcu()), which waits for the hook. A
# module whose publish did not wait acks first (the test then fails).
. "$(dirname "$0")/lib.sh"
ktap_plan 3
A=imp2-hm-a B=imp2-hm-b
tmp=$(mktemp -d)
pids=()
trap 'knob test_v2_event_delay_us 0 2>/dev/null; kill -KILL "${pids[@]}" 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
require_knobs
setup_pair $A $B || exit $KSFT_FAIL
DELAY_US=2000000

# The IPv4 packets B has sent so far (its /proc/net/snmp, Ip: OutRequests,
# counted in ip_output(), before the device).
out_requests() {
	in_netns $B awk '$1 == "Ip:" { if (n++) { for (i = 2; i <= NF; i++) if (h[i] == "OutRequests") print $i } else for (i = 2; i <= NF; i++) h[i] = $i }' /proc/net/snmp
}
# The listener: IPv4 ICMP at prerouting, then, once $tmp/move exists, at
# forward (where nothing passes here: any event after the move's ack would
# be the old hook's). It reads events for 5 s of silence after its acks.
nsenter --net=/run/netns/$A $(type -P imp2_v2send) -k -w 5000 "sub families=1 protos=1" \
	"sub families=1 protos=1 attr=28:02000000 after=$tmp/move" >$tmp/listener &
listener=$!; pids+=($listener)
wait_listeners $A 1 || exit $KSFT_FAIL
sent=$(out_requests)
knob test_v2_event_delay_us $DELAY_US
in_netns $B ping -c 1 -W 5 -q 10.99.0.1 >/dev/null &
pids+=($!)
# The request has left B: within moments it is in A's prerouting hook,
# which holds it for 2 s.
sent_more() { (( $(out_requests) > sent )); }
busywait 5000 sent_more || diag "B sent nothing"
nap 0.3
touch $tmp/move
wait $listener
knob test_v2_event_delay_us 0
diag "$(tr '\n' ';' <$tmp/listener)"

# The listener's output, in order: ack 1, the event (IMP2_V2_EVENT 34,
# seq 0), ack 2; nothing else.
order=$(sed -n 's/^ack seq=\([12]\) error=0 .*/ack\1/p; s/^msg type=34 seq=\([0-9]*\) .*/event\1/p' $tmp/listener | tr '\n' ' ')
check "both subscribes acked 0" bash -c "grep -c '^ack seq=[12] error=0 ' $tmp/listener | grep -qx 2"
check "the event the old hook held came before the move's ack ('$order')" test "$order" = "ack1 event0 ack2 "
check "rmmod" imp2_unload
ktap_finish
