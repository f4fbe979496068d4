#!/bin/bash
# imp2-tier: quick
# Subscribe, ping from a peer netns: one event per ICMP packet, with the
# right addresses; nothing for other traffic; CLOSE stops events; the tool
# exits cleanly on SIGINT with a correct summary.
. "$(dirname "$0")/lib.sh"
ktap_plan 10
A=imp2-ev-a B=imp2-ev-b
trap 'cleanup_netns $A $B; rm -rf $tmp' EXIT
tmp=$(mktemp -d)
imp2_load || { diag "insmod failed"; exit $KSFT_FAIL; }
setup_pair $A $B || { diag "topology setup failed"; exit $KSFT_FAIL; }

ip netns exec $A imp2 monitor --v1 >"$tmp/plain" 2>"$tmp/plain.err" &
mon=$!
wait_subscribed $A
sent0=$(imp2_counter events_sent $A)
ip netns exec $B ping -c 5 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/plain 5
check "5 pings give exactly 5 events" bash -c "(( \$(wc -l <$tmp/plain) == 5 ))"
check "every line is 'src: 10.99.0.2, dest: 10.99.0.1'" \
	bash -c "(( \$(grep -cx 'src: 10.99.0.2, dest: 10.99.0.1' $tmp/plain) == 5 ))"
check "events_sent counter moved by 5" bash -c "(( \$(imp2_counter events_sent $A) - $sent0 == 5 ))"

# UDP is not ICMP: no event, packets_seen unchanged.
seen0=$(imp2_counter packets_seen $A)
for i in 1 2 3; do ip netns exec $B bash -c 'echo x >/dev/udp/10.99.0.1/9'; done
ip netns exec $B ping -c 1 -q 10.99.0.1 >/dev/null   # a marker event after the UDP
busywait 5000 has_lines $tmp/plain 6
check "UDP produces no events (only the marker ping arrives)" \
	bash -c "(( \$(wc -l <$tmp/plain) == 6 && \$(imp2_counter packets_seen $A) - $seen0 == 1 ))"

kill -INT $mon
wait $mon
check "monitor exits 0 on SIGINT" test $? -eq 0
check "summary: 6 events, 0 missed, 0 overruns" grep -q '6 events received, 0 missed (sequence gaps), 0 overruns' "$tmp/plain.err"
check "SIGINT sent IMP2_CLOSE: nobody subscribed" \
	test "$(subscriber_port $A)" -eq 0
sent1=$(imp2_counter events_sent $A)
ip netns exec $B ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
check "after CLOSE, pings produce no events" bash -c "(( \$(imp2_counter events_sent $A) == $sent1 ))"

# JSON lines, sequence numbers incrementing by one, --count stops it.
ip netns exec $A imp2 monitor --v1 --json --count 4 >"$tmp/json" 2>"$tmp/json.err" &
mon=$!
wait_subscribed $A
ip netns exec $B ping -c 4 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 10000 exited $mon
wait $mon
rc=$?
check "--json --count 4: 4 JSON lines then exit 0" \
	bash -c "(( $rc == 0 && \$(grep -c '\"src\":\"10.99.0.2\",\"dest\":\"10.99.0.1\"' $tmp/json) == 4 ))" || cat "$tmp/json" "$tmp/json.err" | sed 's/^/# /'
check "JSON seq increments by one per event" \
	bash -c "sed -n 's/.*\"seq\":\([0-9]*\).*/\1/p' $tmp/json | awk 'NR>1 && \$1!=prev+1{bad=1} {prev=\$1} END{exit bad}'"
ktap_finish
