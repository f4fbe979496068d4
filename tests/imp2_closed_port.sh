#!/bin/bash
# imp2-tier: full
# imp2-compat: the closed-port check (imp2_sock_closing()), window widened by a knob
# A subscribe that is drained after its sender has closed must not
# subscribe the dead port id: anybody could bind that id afterwards and
# receive the ICMP stream (netlink_bind checks no permission for unicast).
#
# The test knob test_drain_delay_ms makes the drainer sleep before each
# request while it holds the drain semaphore: process H sends a stats
# request and drains; meanwhile process S sends IMP2_U_PID from a chosen
# port id, which is only queued, and exits. H then drains S's request.
. "$(dirname "$0")/lib.sh"
ktap_plan 4
A=imp2-cp-a B=imp2-cp-b
PORT=424242
tmp=$(mktemp -d)
trap 'knob test_drain_delay_ms 0 2>/dev/null; kill $holder $listener 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
require_knobs
setup_pair $A $B || exit $KSFT_FAIL

knob test_drain_delay_ms 3000
mark=$(kmsg_mark closed-port)
ip netns exec $A imp2_nlsend -w 0 "type=$((0x10))" >/dev/null &
holder=$!
# H is inside the drain loop, holding the semaphore.
busywait 5000 bash -c "dmesg | sed -n '/$mark/,\$p' | grep -q 'test knob: draining'"
ip netns exec $A imp2_nlsend -p $PORT -w 0 "type=0"
rc=$?
check "S's subscribe is queued (sendmsg returned) and S has exited" \
	bash -c "(( $rc == 0 )) && kill -0 $holder 2>/dev/null"
wait $holder
knob test_drain_delay_ms 0
check "the late subscribe of the closed port was refused: nobody is subscribed" \
	test "$(subscriber_port $A)" -eq 0

# An unprivileged process binds the old port id and waits for events.
ip netns exec $A setpriv --reuid=65534 --regid=65534 --clear-groups \
	imp2_nlsend -p $PORT -w 4000 "type=$((0x10))" >"$tmp/listener" 2>&1 &
listener=$!
check "an unprivileged process binds port $PORT" \
	busywait 5000 bash -c "ip netns exec $A cat /proc/net/netlink | awk '{print \$3}' | grep -qx $PORT"
ip netns exec $B ping -c 5 -i 0.2 -q 10.99.0.1 >/dev/null
wait $listener
diag "listener got: $(tr '\n' ';' <"$tmp/listener")"
check "it receives no ICMP event (IMP2_K_MSG)" bash -c "! grep -q '^msg type=1 ' $tmp/listener"
ktap_finish
