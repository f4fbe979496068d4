#!/bin/bash
# imp2-tier: quick
# v2 listeners join, change their filter and leave, from 4 processes at
# once, while IPv4 and IPv6 pings (200 per second each) cross the hooks and a steady
# listener keeps receiving. Every request is acked 0, the steady listener's
# stream has no sequence gap, and in the end only it is left. KASAN and
# lockdep (RCU, the update mutex) are checked by the runner.
. "$(dirname "$0")/lib.sh"
ktap_plan 4
A=imp2-v2cc-a B=imp2-v2cc-b
PROCS=4 ITER=${IMP2_V2_RACE_ITERATIONS:-25}
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" $steady 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B && setup_pair6 $A $B || exit $KSFT_FAIL

ip netns exec $A imp2 monitor --json --rcvbuf 8388608 >"$tmp/steady" 2>"$tmp/steady.err" &
steady=$!
wait_listeners $A 1 || exit $KSFT_FAIL
ip netns exec $B ping -i 0.005 -q 10.99.0.1 >/dev/null 2>&1 & pids+=($!)
ip netns exec $B ping -6 -i 0.005 -q fd00:99::1 >/dev/null 2>&1 & pids+=($!)

churn() { # churn N: N times join, change filter, leave, from a new socket
	local i
	for i in $(seq 1 "$1"); do
		in_netns $A imp2_v2send -w 2000 "sub" "sub families=2 protos=58,17" "unsub"
	done
}
racers=()
for p in $(seq 1 $PROCS); do churn "$ITER" >"$tmp/churn$p" 2>&1 & racers+=($!); done
wait "${racers[@]}"
acks=$(cat "$tmp"/churn* | grep -c '^ack seq=[123] error=0 ')
check "$((PROCS * ITER)) join/refilter/leave cycles from $PROCS processes during the pings: all $((3 * PROCS * ITER)) requests acked 0 ($acks)" \
	test "$acks" -eq $((3 * PROCS * ITER))
check "only the steady listener is left" wait_listeners $A 1
kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null; pids=()
kill -INT $steady; wait $steady
diag "steady listener: $(tail -n1 "$tmp/steady.err")"
check "the steady listener kept receiving (IPv4 and IPv6)" \
	bash -c "grep -q '\"family\":\"ipv4\"' $tmp/steady && grep -q '\"family\":\"ipv6\"' $tmp/steady"
check "its sequence has no gap and no overrun" \
	grep -q '"missed":0,"overruns":0' "$tmp/steady.err"
ktap_finish
