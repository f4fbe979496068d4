#!/bin/bash
# imp2-tier: quick
# Protocol v2 leaves the 2007 protocol alone: with 3 v2 listeners running,
# the 2007 C client and `imp2 monitor --v1` get exactly the v1 events they
# get without them (byte for byte: the same lines, consecutive sequence
# numbers), and v1 gets no IPv6 event at all.
. "$(dirname "$0")/lib.sh"
ktap_plan 5
A=imp2-v2c-a B=imp2-v2c-b
tmp=$(mktemp -d)
v2=()
trap 'kill "${v2[@]}" $c 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B && setup_pair6 $A $B || exit $KSFT_FAIL

# run_2007 OUT: the 2007 client's output for 3 pings (and 2 IPv6 pings).
run_2007() {
	ip netns exec $A imp2_2007_client >"$1" 2>/dev/null & c=$!
	wait_subscribed $A || return 1
	ip netns exec $B ping -6 -c 2 -i 0.2 -q fd00:99::1 >/dev/null
	ip netns exec $B ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
	busywait 5000 bash -c "(( \$(wc -l <$1) >= 3 ))"
	kill -INT $c; wait $c
}
# run_v1 OUT: imp2 monitor --v1 --json for the same traffic.
run_v1() {
	ip netns exec $A imp2 monitor --v1 --json >"$1" 2>/dev/null & c=$!
	wait_subscribed $A || return 1
	ip netns exec $B ping -6 -c 2 -i 0.2 -q fd00:99::1 >/dev/null
	ip netns exec $B ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
	busywait 5000 bash -c "(( \$(grep -c '\"src\"' $1) >= 3 ))"
	kill -INT $c; wait $c
}

run_2007 "$tmp/2007-alone"
run_v1 "$tmp/v1-alone"
for i in 1 2 3; do ip netns exec $A imp2 monitor --json >"$tmp/v2-$i" 2>/dev/null & v2+=($!); done
wait_listeners $A 3 || exit $KSFT_FAIL
run_2007 "$tmp/2007-with-v2"
run_v1 "$tmp/v1-with-v2"

check "the 2007 client prints the same 3 lines with 3 v2 listeners running" \
	bash -c "(( \$(wc -l <$tmp/2007-alone) == 3 )) && cmp -s $tmp/2007-alone $tmp/2007-with-v2"
check "imp2 monitor --v1 gets the same events and summary with them" \
	bash -c "(( \$(grep -c '\"src\"' $tmp/v1-alone) == 3 )) && diff <(sed 's/\"seq\":[0-9]*,//' $tmp/v1-alone) <(sed 's/\"seq\":[0-9]*,//' $tmp/v1-with-v2) >/dev/null"
check "v1 sequence numbers stay consecutive (no v2 traffic on the v1 stream)" \
	bash -c "sed -n 's/.*\"seq\":\([0-9]*\).*/\1/p' $tmp/v1-with-v2 | awk 'NR>1 && \$1!=prev+1{bad=1} {prev=\$1} END{exit bad}'"
check "v1 got no IPv6 event (only 10.99.0.2 -> 10.99.0.1)" \
	bash -c "! grep -v '10.99.0.2' $tmp/2007-with-v2 $tmp/2007-alone | grep -q src && ! grep '\"src\"' $tmp/v1-with-v2 | grep -qv 10.99.0.2"
check "meanwhile every v2 listener got the IPv6 echo requests too" \
	bash -c "for f in $tmp/v2-*; do (( \$(grep -c '\"icmp_type\":128' \$f) >= 2 )) || exit 1; done"
kill -INT "${v2[@]}"; wait "${v2[@]}"
ktap_finish
