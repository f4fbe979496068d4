#!/bin/bash
# imp2-tier: full
# Many processes race subscribe / close / re-subscribe from different
# sockets while a ping flood runs.  Every subscribe is acked, every close is
# acked 0 or EPERM, the last subscriber wins, and once everybody has gone no
# event is sent anywhere (no stale port).  Lockdep is checked by the runner.
. "$(dirname "$0")/lib.sh"
ktap_plan 6
PROCS=${IMP2_RACE_PROCS:-8} ITER=${IMP2_RACE_ITERATIONS:-200}
A=imp2-cc-a B=imp2-cc-b
tmp=$(mktemp -d)
trap 'kill $flood $udp 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL

ip netns exec $B ping -f -q 10.99.0.1 >/dev/null 2>&1 &
flood=$!
rej0=$(imp2_counter rejected_msgs $A)
ip netns exec $A imp2_race -p "$PROCS" -i "$ITER" >"$tmp/race" 2>&1
rc=$?
diag "$(cat "$tmp/race")"
check "$PROCS racers x $ITER subscribe/close: all acked as expected" \
	bash -c "(( $rc == 0 )) && grep -q 'race: $((PROCS * ITER)) subscribes ok' $tmp/race"
# Racers send only valid requests, so the only rejections are the CLOSEs
# acked EPERM.  An event sent to port 0 (the kernel socket itself, the
# 2007 check-then-send bug) would come back as input: rejected, or worse.
eperm=$(sed -n 's/.* \([0-9]*\) closes EPERM.*/\1/p' "$tmp/race")
rej1=$(imp2_counter rejected_msgs $A)
check "no event was sent to port 0 (rejected_msgs grew by exactly the EPERM closes)" \
	test $((rej1 - rej0)) -eq "${eperm:--1}"
check "after the race nobody is subscribed" \
	test "$(subscriber_port $A)" -eq 0
# A v2 listener for UDP keeps the IPv4 hook on (without listeners it is
# off), so that the flood provably crosses it with no v1 subscriber.
ip netns exec $A imp2 monitor --proto udp >/dev/null 2>&1 &
udp=$!
wait_listeners $A 1
fail0=$(imp2_counter send_failures $A)
sent0=$(imp2_counter events_sent $A)
sleep_ok=$(imp2_counter packets_seen $A)
busywait 5000 bash -c "(( \$(imp2_counter packets_seen $A) > $sleep_ok + 20 ))"
check "flooding on with nobody subscribed sends nothing (no stale port)" \
	bash -c "(( \$(imp2_counter send_failures $A) == $fail0 && \$(imp2_counter events_sent $A) == $sent0 ))"
diag "send_refused during the race (port unhashed before URELEASE ran): $(imp2_counter send_refused $A)"
echo "IMP2-FIGURE: race_subscribe_close_cycles=$((PROCS * ITER))"

# Last subscriber wins, deterministically.
ip netns exec $A imp2 monitor --v1 >/dev/null 2>&1 &
m1=$!
wait_subscribed $A
p1=$(subscriber_port $A)
ip netns exec $A imp2 monitor --v1 >/dev/null 2>&1 &
m2=$!
busywait 5000 bash -c "(( \$(subscriber_port $A) != $p1 ))"
p2=$(subscriber_port $A)
kill -INT $m1; wait $m1   # its CLOSE must not unsubscribe the second one
check "the last subscriber wins; the replaced one's CLOSE is ignored" \
	bash -c "(( $p2 != 0 && $p2 != $p1 && \$(subscriber_port $A) == $p2 ))"
kill -INT $m2; wait $m2
check "and its own CLOSE clears it" \
	test "$(subscriber_port $A)" -eq 0
ktap_finish
