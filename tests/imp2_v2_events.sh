#!/bin/bash
# imp2-tier: quick
# Protocol v2 events: IPv4 and IPv6, ICMP type/code, interface, length;
# ICMPv6 behind extension headers; four listeners with different filters
# each get exactly the events their filter matches.
. "$(dirname "$0")/lib.sh"
ktap_plan 9
A=imp2-v2e-a B=imp2-v2e-b
tmp=$(mktemp -d)
mons=()
trap 'kill "${mons[@]}" 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B && setup_pair6 $A $B || exit $KSFT_FAIL
ifindex=$(ip netns exec $A cat /sys/class/net/veth-imp2/ifindex)

# events FILE FILTER: the JSON events in FILE that contain every
# "key":value pair of FILTER (a comma-separated list).
events() {
	local file=$1 pattern
	IFS=, read -ra pattern <<<"$2"
	local cmd=(cat "$file")
	local p out; out=$("${cmd[@]}")
	for p in "${pattern[@]}"; do out=$(grep -F -- "$p" <<<"$out"); done
	[[ -n $out ]] && wc -l <<<"$out" || echo 0
}

export -f events
ip netns exec $A imp2 monitor --json >"$tmp/all" 2>"$tmp/all.err" & mons+=($!)
wait_listeners $A 1 || exit $KSFT_FAIL
ip netns exec $B ping -6 -c 3 -i 0.2 -q fd00:99::1 >/dev/null
ip netns exec $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
V6='"src":"fd00:99::2","dest":"fd00:99::1"'
busywait 5000 bash -c "(( \$(grep -c '\"icmp_type\":128' $tmp/all) >= 3 ))"
check "ping -6: 3 events, IPv6 addresses, ICMPv6 echo request (128/0)" \
	test "$(events "$tmp/all" "\"family\":\"ipv6\",$V6,\"proto\":58,\"icmp_type\":128,\"icmp_code\":0")" -eq 3
check "... on the right interface (ifindex $ifindex) with the right length (104)" \
	test "$(events "$tmp/all" "$V6,\"icmp_type\":128,\"ifindex\":$ifindex,\"len\":104")" -eq 3
check "ping -4: 2 events, ICMP echo request (8/0), length 84" \
	test "$(events "$tmp/all" '"family":"ipv4","src":"10.99.0.2","dest":"10.99.0.1","proto":1,"icmp_type":8,"icmp_code":0,'"\"ifindex\":$ifindex,\"len\":84")" -eq 2

# Extension headers: hop-by-hop and destination options before ICMPv6.
ip netns exec $B imp2_ping6_opts -c 2 fd00:99::1 >/dev/null
ip netns exec $B imp2_ping6_opts -c 2 -d fd00:99::1 >/dev/null
busywait 5000 bash -c "(( \$(grep -c '\"icmp_type\":128' $tmp/all) >= 7 ))"
check "ICMPv6 behind hop-by-hop and destination options headers is found (4 more)" \
	test "$(events "$tmp/all" "$V6,\"proto\":58,\"icmp_type\":128")" -eq 7
check "sequence numbers are per listener and consecutive" \
	bash -c "sed -n 's/.*\"seq\":\([0-9]*\).*/\1/p' $tmp/all | awk 'NR>1 && \$1!=prev+1{bad=1} {prev=\$1} END{exit bad}'"
kill -INT "${mons[@]}"; wait "${mons[@]}"; mons=()

# Four listeners, four filters.
ip netns exec $A imp2 monitor --json >"$tmp/default" & mons+=($!)
ip netns exec $A imp2 monitor --json --family ipv4 >"$tmp/ipv4" & mons+=($!)
ip netns exec $A imp2 monitor --json --proto 17 >"$tmp/udp" & mons+=($!)
ip netns exec $A imp2 monitor --json --family ipv6 --proto 6 >"$tmp/tcp6" & mons+=($!)
wait_listeners $A 4 || exit $KSFT_FAIL
ip netns exec $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
ip netns exec $B ping -6 -c 2 -i 0.2 -q fd00:99::1 >/dev/null
for i in 1 2 3; do ip netns exec $B bash -c 'echo x >/dev/udp/10.99.0.1/9'; done
ip netns exec $B bash -c 'echo x >/dev/udp/fd00:99::1/9'
# A SYN to a closed port: A answers with a reset, B sends nothing more.
ip netns exec $B bash -c 'exec 3<>/dev/tcp/fd00:99::1/9' 2>/dev/null
ip netns exec $B bash -c 'exec 3<>/dev/tcp/10.99.0.1/9' 2>/dev/null
busywait 5000 bash -c "(( \$(events $tmp/tcp6 '\"proto\":6') >= 1 && \$(events $tmp/udp '\"proto\":17') >= 4 ))"
ip netns exec $B ping -c 1 -q 10.99.0.1 >/dev/null   # a marker the ipv4 and default listeners see
busywait 5000 bash -c "(( \$(events $tmp/ipv4 '\"icmp_type\":8') >= 3 ))"
check "default filter: ICMP and ICMPv6 echo requests, nothing else" \
	bash -c "(( \$(events $tmp/default '\"icmp_type\":8') == 3 && \$(events $tmp/default '$V6,\"icmp_type\":128') == 2 && \
		\$(events $tmp/default '\"proto\":17') == 0 && \$(events $tmp/default '\"proto\":6') == 0 ))"
check "--family ipv4: ICMP only" \
	bash -c "(( \$(events $tmp/ipv4 '\"icmp_type\":8') == 3 && \$(events $tmp/ipv4 '\"family\":\"ipv6\"') == 0 && \
		\$(wc -l <$tmp/ipv4) == 3 ))"
check "--proto 17: the 4 UDP datagrams of both families, nothing else" \
	bash -c "(( \$(events $tmp/udp '\"proto\":17') == 4 && \$(wc -l <$tmp/udp) == 4 ))"
check "--family ipv6 --proto 6: the one IPv6 TCP SYN, nothing else" \
	bash -c "(( \$(events $tmp/tcp6 '\"family\":\"ipv6\",$V6,\"proto\":6') == 1 && \$(wc -l <$tmp/tcp6) == 1 ))"
kill -INT "${mons[@]}"; wait "${mons[@]}"; mons=()
ktap_finish
