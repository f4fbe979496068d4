#!/bin/bash
# imp2-tier: quick
# imp2-compat: the five inet hook points (nf_hook_state, the skb at each)
# Hook points (IMP2_A_HOOK): three netns in a line, H1 - M - H2, with M
# routing between them (forwarding on, IPv4 and IPv6). In M, one listener
# per hook, a v1 subscriber and expression listeners; M pings H1 (its own
# traffic), H1 pings H2 through M (forwarded). Each hook sees exactly its
# echo messages: prerouting the replies M gets and everything forwarded,
# input the replies M gets, forward the forwarded, output M's own
# requests, postrouting M's requests and the forwarded. Events name their
# hook and, where there is one, the output interface; the packet bytes
# start at the IP header at every hook (the payload's addresses are the
# event's). The v1 subscriber sees prerouting's IPv4 ICMP only, as before.
# Only the hooks listeners use are registered (`nft list hooks`), and they
# stay after the listener goes. Hook values past IMP2_HOOK_MAX: EINVAL.
. "$(dirname "$0")/lib.sh"
ktap_plan 17
H1=imp2-hk-h1 M=imp2-hk-m H2=imp2-hk-h2 X=imp2-hk-x
tmp=$(mktemp -d)
IMP2=$(type -P imp2) PING=$(type -P ping)
mons=()
trap 'kill -KILL "${mons[@]}" 2>/dev/null; cleanup_netns $H1 $M $H2 $X; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
EINVAL=-22

# H1 (10.99.1.2, fd00:1::2) - M (10.99.1.1 fd00:1::1 | 10.99.2.1 fd00:2::1)
# - H2 (10.99.2.2, fd00:2::2); each host routes everything through M.
ip_batch "" "netns add $H1" "netns add $M" "netns add $H2" "netns add $X" \
	"link add m-h1 netns $M type veth peer name h1-m netns $H1" \
	"link add m-h2 netns $M type veth peer name h2-m netns $H2" || exit $KSFT_FAIL
ip_batch $M "link set lo up" "link set m-h1 up" "link set m-h2 up" \
	"addr add 10.99.1.1/24 dev m-h1" "addr add 10.99.2.1/24 dev m-h2" \
	"addr add fd00:1::1/64 dev m-h1 nodad" "addr add fd00:2::1/64 dev m-h2 nodad" || exit $KSFT_FAIL
for h in 1 2; do
	ns=$H1; [[ $h == 2 ]] && ns=$H2
	ip_batch $ns "link set lo up" "link set h$h-m up" "addr add 10.99.$h.2/24 dev h$h-m" \
		"addr add fd00:$h::2/64 dev h$h-m nodad" "route add default via 10.99.$h.1" \
		"route add default via fd00:$h::1" || exit $KSFT_FAIL
done
in_netns $M sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || exit $KSFT_FAIL
# Neighbours resolved before anybody listens: only the echo messages below
# cross the hooks as ICMP echo.
busywait 5000 in_netns $H1 $PING -c1 -W1 -q 10.99.2.2 >/dev/null &&
	busywait 5000 in_netns $H1 $PING -6 -c1 -W1 -q fd00:2::2 >/dev/null || exit $KSFT_FAIL
if_h1=$(ip -n $M -o link show dev m-h1 | cut -d: -f1)
if_h2=$(ip -n $M -o link show dev m-h2 | cut -d: -f1)
diag "M: m-h1 is ifindex $if_h1, m-h2 is ifindex $if_h2"

# monitor NAME ARGS...: imp2 monitor --json ARGS in M, into $tmp/NAME.
monitor() {
	local name=$1; shift
	nsenter --net=/run/netns/$M $IMP2 monitor --json "$@" >$tmp/$name 2>$tmp/$name.sum &
	mons+=($!)
}
hooks=(prerouting input forward output postrouting)
for hook in "${hooks[@]}"; do monitor $hook --hook $hook --payload --snaplen 40; done
# Expressions run on the packet as each hook has it (addresses at their
# offsets from the IP header).
monitor x-output --hook output icmp and dst host 10.99.1.2
monitor x-input --hook input icmp and src host 10.99.1.2
monitor x-forward --hook forward icmp6 and dst host fd00:2::2
monitor x-postrouting --hook postrouting icmp and dst host 10.99.2.2
nsenter --net=/run/netns/$M $IMP2 monitor --v1 >$tmp/v1 2>/dev/null &
mons+=($!)
wait_listeners $M 9 && wait_subscribed $M || exit $KSFT_FAIL
report=$(in_netns $M imp2 stats --json)
diag "$report"

in_netns $M $PING -q -c 2 -i 0.1 10.99.1.2 >/dev/null
in_netns $M $PING -q -6 -c 2 -i 0.1 fd00:1::2 >/dev/null
in_netns $H1 $PING -q -c 2 -i 0.1 10.99.2.2 >/dev/null
in_netns $H1 $PING -q -6 -c 2 -i 0.1 fd00:2::2 >/dev/null
# The last echo reply M forwards to H1 crosses prerouting, forward and
# postrouting in that order: once postrouting has 12, the others are done.
busywait 10000 bash -c "(( \$(grep -c '\"icmp_type\":\(0\|8\|128\|129\),' $tmp/postrouting) >= 12 ))"
kill -INT "${mons[@]}"; wait "${mons[@]}"

# echoes FILE: "v4-requests v4-replies v6-requests v6-replies" among its events.
echoes() {
	local t n=()
	for t in '"family":"ipv4".*"icmp_type":8,' '"family":"ipv4".*"icmp_type":0,' \
		'"family":"ipv6".*"icmp_type":128,' '"family":"ipv6".*"icmp_type":129,'; do
		n+=("$(grep -c -- "$t" "$1")")
	done
	echo "${n[*]}"
}
for f in "${hooks[@]}" x-output x-input x-forward x-postrouting; do
	diag "$f: $(echoes $tmp/$f) of $(wc -l <$tmp/$f) events / $(cat $tmp/$f.sum)"
done
check "prerouting: the 4 replies M gets and the 8 echoes it forwards" test "$(echoes $tmp/prerouting)" = "2 4 2 4"
check "input: the 4 replies M gets, nothing forwarded" test "$(echoes $tmp/input)" = "0 2 0 2"
check "forward: the 8 echoes between H1 and H2, nothing of M's own" test "$(echoes $tmp/forward)" = "2 2 2 2"
check "output: M's own 4 echo requests" test "$(echoes $tmp/output)" = "2 0 2 0"
check "postrouting: M's 4 requests and the 8 forwarded echoes" test "$(echoes $tmp/postrouting)" = "4 2 4 2"

# Every event names its hook; interfaces as the hook has them.
check "every event names its own hook" bash -c "
	for h in ${hooks[*]}; do
		(( \$(grep -vc '\"hook\":\"'\$h'\"' $tmp/\$h) == 0 && \$(wc -l <$tmp/\$h) > 0 )) || exit 1
	done"
out_req='"src":"10.99.1.1","dest":"10.99.1.2".*"ifindex":0,.*"out_ifindex":'$if_h1','
fwd_req='"src":"10.99.1.2","dest":"10.99.2.2".*"ifindex":'$if_h1',.*"out_ifindex":'$if_h2','
check "output: no input interface, the output one is m-h1; forward: in m-h1, out m-h2" bash -c "
	(( \$(grep -c -- '$out_req' $tmp/output) == 2 && \$(grep -c -- '$fwd_req' $tmp/forward) == 2 ))"
check "prerouting and input events carry no output interface" bash -c "
	! grep -qv '\"out_ifindex\":null' $tmp/prerouting $tmp/input"

# The bytes start at the IP header at every hook: an IPv4 event's payload
# holds its addresses at offsets 12 and 16, an IPv6 one's next header
# (ICMPv6, 58) at 6 (hex digits 12-13).
hex4() { local IFS=.; printf '%02x' $1; }
bad_payloads=0 payloads=0
for h in "${hooks[@]}"; do
	while read -r line; do
		payload=$(sed -n 's/.*"payload":"\([0-9a-f]*\)".*/\1/p' <<<"$line")
		[[ $payload ]] || { bad_payloads=$((bad_payloads + 1)); continue; }
		payloads=$((payloads + 1))
		if [[ $line == *'"family":"ipv4"'* ]]; then
			src=$(sed -n 's/.*"src":"\([0-9.]*\)".*/\1/p' <<<"$line")
			dst=$(sed -n 's/.*"dest":"\([0-9.]*\)".*/\1/p' <<<"$line")
			[[ ${payload:0:2} == 45 && ${payload:24:16} == "$(hex4 $src)$(hex4 $dst)" ]] ||
				{ bad_payloads=$((bad_payloads + 1)); diag "$h: $line"; }
		else
			[[ ${payload:0:1} == 6 ]] && [[ ${payload:12:2} == 3a ]] ||
				{ bad_payloads=$((bad_payloads + 1)); diag "$h: $line"; }
		fi
	done < <(grep '"icmp_type":\(0\|8\|128\|129\),' $tmp/$h)
done
check "the payload starts at the IP header at all five hooks ($payloads echo events, $bad_payloads wrong)" \
	bash -c "(( $payloads == 40 && $bad_payloads == 0 ))"
check "expressions at output, input, forward, postrouting: exactly their 2 packets each" \
	test "$(echoes $tmp/x-output) / $(echoes $tmp/x-input) / $(echoes $tmp/x-forward) / $(echoes $tmp/x-postrouting)" \
	= "2 0 0 0 / 0 2 0 0 / 0 0 2 0 / 2 0 0 0"
# v1: IPv4 ICMP at prerouting, unchanged: the 2 replies to M and the 4
# forwarded IPv4 echoes.
check "the v1 subscriber: prerouting's 6 IPv4 ICMP packets, as before" test "$(wc -l <$tmp/v1)" = 6

# Only the hooks that listeners use are registered; they stay after.
# imp2_points NETNS: "family:hook" of each imp2 hook in NETNS, sorted.
imp2_points() {
	local family
	for family in ip ip6; do
		# "family ip {" then "hook output {" (nft 1.0), or "family ip hook
		# output {" (older nft)
		in_netns "$1" nft list hooks $family | awk -v f=$family '
			/^family .* hook / { hook = $4 } /^[ \t]*hook / { hook = $2 }
			/\[imp2\]/ { print f ":" hook }'
	done | sort | tr '\n' ' '
}
nsenter --net=/run/netns/$X $IMP2 monitor --hook output --family ipv4 >/dev/null 2>&1 &
mon=$!; mons+=($mon)
wait_listeners $X 1
points=$(imp2_points $X)
kill -KILL $mon; wait $mon 2>/dev/null
wait_listeners $X 0
after=$(imp2_points $X)
all=$(imp2_points $M)
diag "M: $all"
check "an IPv4 output listener registers ip output only ('$points'), which stays after it ('$after')" \
	test "$points/$after" = "ip:output /ip:output "
want=$(for family in ip ip6; do for h in "${hooks[@]}"; do echo $family:$h; done; done | sort | tr '\n' ' ')
check "M, with listeners at all five hooks of both families: those ten imp2 hooks" test "$all" = "$want"

# hooks_on_demand=1: each point only while a listener needs it, also
# when a listener moves from one point to another (a second subscribe
# from the same socket).
imp2_unload && imp2_load hooks_on_demand=1 || exit $KSFT_FAIL
points_are() { points=$(imp2_points "$1"); [[ $points == "$2" ]]; }
nsenter --net=/run/netns/$X $IMP2 monitor --hook output --family ipv4 >/dev/null 2>&1 &
mon=$!; mons+=($mon)
busywait 5000 points_are $X "ip:output "
p1=$points
kill -INT $mon; wait $mon
busywait 5000 points_are $X ""
p2=$points
check "on demand: an IPv4 output listener registers ip output ('$p1'), which goes when it unsubscribes ('$p2')" \
	test "$p1/$p2" = "ip:output /"
nsenter --net=/run/netns/$X $(type -P imp2_v2send) -w 20000 "sub families=1 attr=28:03000000" \
	"sub families=1 attr=28:02000000 after=$tmp/move" "list after=$tmp/done" >$tmp/moved &
mover=$!; mons+=($mover)
busywait 5000 points_are $X "ip:output "
p1=$points
touch $tmp/move
busywait 5000 points_are $X "ip:forward "
p2=$points
touch $tmp/done
wait $mover
# Its socket closed: NETLINK_URELEASE removes it.
busywait 5000 points_are $X ""
p3=$points
diag "moved: $(tr '\n' ';' <$tmp/moved)"
check "on demand: a listener moving from output to forward swaps the hooks ('$p1' -> '$p2'), none once it closes ('$p3')" \
	test "$p1/$p2/$p3" = "ip:output /ip:forward /"

out5=$(in_netns $M imp2_v2send "sub attr=28:05000000")
outmax=$(in_netns $M imp2_v2send "sub attr=28:ffffffff")
diag "hook 5: $out5; hook 0xffffffff: $outmax"
check "IMP2_A_HOOK 5 and 0xffffffff: EINVAL naming IMP2_A_HOOK, no listener" bash -c "
	[[ '$out5' == 'ack seq=1 error=$EINVAL offs=16 msg=IMP2_A_HOOK: '* ]] &&
	[[ '$outmax' == 'ack seq=1 error=$EINVAL offs=16 msg=IMP2_A_HOOK: '* ]] && (( \$(listener_count $M) == 0 ))"
# The last load had hooks_on_demand=1: the scripts after this one get a
# module of their own.
check "rmmod" imp2_unload
ktap_finish
