#!/bin/bash
# imp2-tier: quick
# tcpdump expressions evaluated in the module (IMP2_A_BPF): seven listeners,
# each with its own expression, while the peer pings over IPv4 and IPv6,
# sends UDP to ports 53 and 54 and a TCP SYN over each family; each
# listener gets exactly its matches, with the families and protocols the
# tool derived from its expression. Bad programs (too long, a jump out of
# range, a bad opcode, no return, empty, not whole instructions) are
# refused with EINVAL and a message, and change nothing; so is an
# unprivileged attempt (EPERM).
. "$(dirname "$0")/lib.sh"
ktap_plan 11
A=imp2-vx-a B=imp2-vx-b
tmp=$(mktemp -d)
IMP2=$(type -P imp2) PING=$(type -P ping)
mons=()
trap 'kill -KILL "${mons[@]}" 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B && setup_pair6 $A $B || exit $KSFT_FAIL
EINVAL=-22 EPERM=-1

exprs=(
	"icmp"
	"icmp6"
	"udp port 53"
	"src net 10.99.0.0/24"
	"tcp[tcpflags] & tcp-syn != 0"
	"ip6 and tcp"
	"ip and not icmp"
)
for i in "${!exprs[@]}"; do
	# word splitting on purpose: the expression as separate arguments, as
	# one types it after tcpdump
	# shellcheck disable=SC2086
	nsenter --net=/run/netns/$A $IMP2 monitor --json ${exprs[$i]} >$tmp/l$i 2>$tmp/l$i.sum &
	mons+=($!)
done
wait_listeners $A ${#exprs[@]} || exit $KSFT_FAIL
report=$(in_netns $A imp2 stats --json)
diag "$report"

in_netns $B $PING -q -c 2 -i 0.1 10.99.0.1 >/dev/null
in_netns $B $PING -q -6 -c 2 -i 0.1 fd00:99::1 >/dev/null
for dst in 10.99.0.1 fd00:99::1; do
	for port in 53 54; do in_netns $B bash -c "echo imp2 >/dev/udp/$dst/$port"; done
	# Nobody listens on port 80: one SYN, answered with a reset.
	in_netns $B bash -c "exec 3<>/dev/tcp/$dst/80" 2>/dev/null
done
# The last packet sent is the IPv6 SYN: once "ip6 and tcp" has it, the rest
# has crossed the hook too.
busywait 10000 has_lines $tmp/l5 1
kill -INT "${mons[@]}"; wait "${mons[@]}"

# count FILE PATTERN: events (JSON lines) matching PATTERN.
count() { grep -c -- "$2" "$1"; }
v4='"family":"ipv4"' v6='"family":"ipv6"'
echo6='"proto":58,"icmp_type":128'
got() { # got N: "events ipv4 ipv6 icmp udp tcp echo6" of listener N
	local f=$tmp/l$1
	echo "$(wc -l <$f) $(count $f "$v4") $(count $f "$v6") $(count $f '"proto":1,') $(count $f '"proto":17,') $(count $f '"proto":6,') $(count $f "$echo6")"
}
for i in "${!exprs[@]}"; do diag "${exprs[$i]}: $(got $i) / $(cat $tmp/l$i.sum)"; done

check "icmp: the 2 IPv4 echo requests, nothing else" test "$(got 0)" = "2 2 0 2 0 0 0"
# Neighbour discovery is ICMPv6 too: every event ICMPv6, 2 echo requests.
read -r n n4 n6 _ _ _ e6 <<<"$(got 1)"
check "icmp6: only ICMPv6 ($n events), the 2 echo requests among them" test "$n-$n4-$n6-$e6" = "$n-0-$n-2"
check "udp port 53: the 2 datagrams to port 53 (IPv4, IPv6), not those to 54" test "$(got 2)" = "2 1 1 0 2 0 0"
check "src net 10.99.0.0/24: all 5 IPv4 packets from the peer, no IPv6" test "$(got 3)" = "5 5 0 2 2 1 0"
check "tcp[tcpflags] & tcp-syn != 0: the IPv4 SYN" test "$(got 4)" = "1 1 0 0 0 1 0"
check "ip6 and tcp: the IPv6 SYN" test "$(got 5)" = "1 0 1 0 0 1 0"
check "ip and not icmp: the 2 UDP datagrams and the SYN over IPv4" test "$(got 6)" = "3 3 0 0 2 1 0"
# The interest the tool derived (IMP2_A_FAMILIES, IMP2_A_PROTOS), and the
# programs' lengths, in the listener report.
check "the listener report: icmp is IPv4 protocol 1, udp port 53 both families protocol 17, src net all 256 of IPv4" bash -c "
	grep -q '\"families\":\[\"ipv4\"\],\"protos\":\[1\],[^}]*\"bpf_insns\":' <<<'$report' &&
	grep -q '\"families\":\[\"ipv4\",\"ipv6\"\],\"protos\":\[17\],' <<<'$report' &&
	grep -q '\"families\":\[\"ipv4\"\],\"protos\":\[0,1,2,.*,254,255\],' <<<'$report'"

# Bad programs (IMP2_A_BPF 26; struct sock_filter: code u16, jt, jf, k u32).
ret_all=06000000ffff0000
too_long=$(printf '%.0s0000000000000000' $(seq 4096))$ret_all     # 4097 instructions
bad=(
	"sub attr=26:$too_long"                 # above BPF_MAXINSNS
	"sub attr=26:1500050000000000$ret_all"  # jeq jumping 5 past the end
	"sub attr=26:ffff000000000000$ret_all"  # no such opcode
	"sub attr=26:3000000009000000"          # ldb [9], then no return
	"sub attr=26:"                          # empty
	"sub attr=26:${ret_all}00000000"        # 12 bytes: not whole instructions
)
good=0
for spec in "${bad[@]}"; do
	out=$(in_netns $A imp2_v2send "$spec")
	diag "${spec:0:60} -> $out"
	grep -q "^ack seq=1 error=$EINVAL offs=16 msg=IMP2_A_BPF: " <<<"$out" && good=$((good + 1))
done
check "6 bad programs: EINVAL with a message naming IMP2_A_BPF, at its offset ($good), no listener" \
	bash -c "(( $good == 6 && \$(listener_count $A) == 0 ))"
out=$(ip netns exec $A setpriv --reuid=65534 --regid=65534 --clear-groups imp2_v2send "sub attr=26:$ret_all")
diag "unprivileged: $out"
check "an unprivileged sender's program: EPERM, no listener" \
	bash -c "[[ '$out' == 'ack seq=1 error=$EPERM '* ]] && (( \$(listener_count $A) == 0 ))"
check "rmmod" imp2_unload
ktap_finish
