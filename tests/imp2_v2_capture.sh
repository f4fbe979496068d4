#!/bin/bash
# imp2-tier: quick
# Packet bytes, pcapng output, sampling and rate limits (v2):
# - `imp2 monitor -w` writes pcapng that the guest's own tcpdump reads back:
#   IPv4 and IPv6 ICMP and UDP, with their addresses, ports, lengths, the
#   interface's name, and the events' nanosecond timestamps; `-w - | tcpdump
#   -r -` works; a --snaplen 64 capture has 64-byte packets and the full
#   original lengths;
# - IMP2_A_PAYLOAD holds the packet from its IP header on: `ping -p`'s
#   pattern at its offset, a fragmented datagram's first fragment only, and
#   payloads in batches;
# - IMP2_A_SAMPLE 1-in-10 over 1,000 echo requests gives exactly 100 events
#   (sampling counts packets; it is not random) and IMP2_A_RATE_LIMIT 50/s
#   under a flood gives 50 per second; the suppressed counts add up to the
#   packets the hook saw;
# - bad snaplen, sample and rate values: EINVAL naming the attribute, and
#   nothing changes.
. "$(dirname "$0")/lib.sh"
ktap_plan 14
A=imp2-vc-a B=imp2-vc-b
tmp=$(mktemp -d)
IMP2=$(type -P imp2) PING=$(type -P ping) TCPDUMP=$(type -P tcpdump)
mons=()
trap 'kill -KILL "${mons[@]}" 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B && setup_pair6 $A $B || exit $KSFT_FAIL
EINVAL=-22

# monitor OUT ARGS...: a v2 listener in A; its stdout to OUT, stderr (the
# summary) to OUT.sum.
monitor() {
	local out=$1; shift
	nsenter --net=/run/netns/$A $IMP2 monitor "$@" >"$out" 2>"$out.sum" &
	mon=$!; mons+=($mon)
}
stop_monitor() { kill -INT "$@"; wait "$@"; }
# summary FILE FIELD: a number from the tool's JSON summary.
summary() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1.sum"; }
# tcpdump_read FILE ARGS...: the guest's tcpdump on a pcapng file.
tcpdump_read() { local f=$1; shift; $TCPDUMP -r "$f" -nn "$@" 2>/dev/null; }
# json_field FILE FIELD: that field of every JSON line, one per line.
json_field() { sed -n "s/.*\"$2\":\"\{0,1\}\([0-9a-f.:]*\).*/\1/p" "$1"; }
udp_to_a() { in_netns $B bash -c "echo imp2 >/dev/udp/$1/$2"; }

# 1-3. pcapng: ICMP over IPv4 and IPv6, and UDP, while a second listener
# prints the same events as JSON (the same packets, the same timestamps).
monitor $tmp/cap -w $tmp/cap.pcapng --proto icmp,icmpv6,udp
cap=$mon
monitor $tmp/ref --json --proto icmp,icmpv6,udp --snaplen 256
ref=$mon
wait_listeners $A 2 || exit $KSFT_FAIL
in_netns $B $PING -q -c 2 -i 0.1 10.99.0.1 >/dev/null
in_netns $B $PING -q -6 -c 2 -i 0.1 fd00:99::1 >/dev/null
udp_to_a 10.99.0.1 7777
udp_to_a fd00:99::1 9999
busywait 10000 has_lines $tmp/ref 6
stop_monitor $cap $ref
diag "$(cat $tmp/cap.sum)"
tcpdump_read $tmp/cap.pcapng -tt --nano >$tmp/cap.txt
diag "$(head -c 2000 $tmp/cap.txt)"
# The echo requests, the UDP datagrams, and whatever else matched (neighbour
# discovery is ICMPv6): tcpdump reads every event the JSON listener got, at
# the same nanosecond (the -w listener subscribed first, and may have more).
# (Text, not awk's doubles: 19 digits do not fit their 53 bits.)
want=$(json_field $tmp/ref tstamp_ns | sed 's/\(.........\)$/.\1/')
awk '{print $1}' $tmp/cap.txt >$tmp/cap.ts
echo "$want" >$tmp/ref.ts
# The JSON listener's timestamps that tcpdump did not read (busybox has no comm).
missing=$(grep -vxFf $tmp/cap.ts $tmp/ref.ts)
diag "timestamps tcpdump did not read: ${missing:-none}"
check "tcpdump -r reads every event of the pcapng file, with the events' nanosecond timestamps ($(wc -l <$tmp/cap.txt) packets, $(wc -l <$tmp/ref) events to the JSON listener)" \
	test "$(wc -l <$tmp/ref)" -ge 6 -a -s $tmp/cap.ts -a -z "$missing"
check "... IPv4 and IPv6 echo requests and UDP to ports 7777 and 9999, with their lengths" bash -c "
	grep -q 'IP 10.99.0.2 > 10.99.0.1: ICMP echo request, id [0-9]*, seq 1, length 64' $tmp/cap.txt &&
	grep -q 'IP6 fd00:99::2 > fd00:99::1: ICMP6, echo request, id [0-9]*, seq 2, length 64' $tmp/cap.txt &&
	grep -q 'IP 10.99.0.2.[0-9]* > 10.99.0.1.7777: UDP, length 5' $tmp/cap.txt &&
	grep -q 'IP6 fd00:99::2.[0-9]* > fd00:99::1.9999: UDP, length 5' $tmp/cap.txt"
check "... and the interface description names veth-imp2" grep -q veth-imp2 $tmp/cap.pcapng

# 4. -w - into tcpdump -r -, as the README shows it.
nsenter --net=/run/netns/$A bash -c "$IMP2 monitor -w - --family ipv4 --count 3 2>$tmp/pipe.sum | $TCPDUMP -r - -nn >$tmp/pipe.txt 2>/dev/null" &
pipe=$!; mons+=($pipe)
wait_listeners $A 1 || exit $KSFT_FAIL
in_netns $B $PING -q -c 3 -i 0.1 10.99.0.1 >/dev/null
busywait 10000 exited $pipe
wait $pipe
diag "$(cat $tmp/pipe.txt) / $(cat $tmp/pipe.sum)"
check "imp2 monitor -w - | tcpdump -r -: 3 echo requests" \
	test "$(grep -c 'ICMP echo request' $tmp/pipe.txt)" = 3

# 5. --snaplen 64: 64 bytes of each 84-byte echo request, 84 its original
# length. tcpdump rewrites the file as pcap, whose record header has both.
monitor $tmp/short -w $tmp/short.pcapng --snaplen 64 --family ipv4
wait_listeners $A 1 || exit $KSFT_FAIL
in_netns $B $PING -q -c 2 -i 0.1 10.99.0.1 >/dev/null
packets() { [[ $(tcpdump_read "$1" | wc -l) == "$2" ]]; }
busywait 5000 packets $tmp/short.pcapng 2
stop_monitor $mon
$TCPDUMP -r $tmp/short.pcapng -w $tmp/short.pcap 2>/dev/null
# pcap: a 24-byte file header, then per packet 16 bytes: seconds,
# fraction, captured length, original length.
records=$(od -An -t u4 -j 24 -N 16 $tmp/short.pcap | awk '{print $3 "/" $4}')
check "a --snaplen 64 capture holds 64 of each packet's 84 bytes, and says 84 ($records)" test "$records" = 64/84

# 6. IMP2_A_PAYLOAD: the IP header on, with ping -p's pattern in the echo
# data (which starts at byte 28; ping puts its timestamp in the first 16).
monitor $tmp/pat --json --payload --snaplen 128 --family ipv4
wait_listeners $A 1 || exit $KSFT_FAIL
in_netns $B $PING -q -c 2 -i 0.1 -p ab12 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/pat 2
stop_monitor $mon
payload=$(json_field $tmp/pat payload | head -1)
diag "payload: $payload"
check "the payload is the whole 84-byte packet: IPv4 header, echo request, the pattern at byte 44" \
	test "${#payload}-${payload:0:2}-${payload:40:2}-${payload:88:16}-${payload:152:16}" = \
		"168-45-08-ab12ab12ab12ab12-ab12ab12ab12ab12"

# 7. A fragmented datagram (4,000 bytes over a 1,500-byte MTU): its event
# carries the first fragment's own bytes, 1,500, and its length.
monitor $tmp/frag --json --payload --snaplen 4096 --family ipv4
wait_listeners $A 1 || exit $KSFT_FAIL
in_netns $B $PING -q -c 1 -s 4000 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/frag 1
stop_monitor $mon
payload=$(json_field $tmp/frag payload | head -1)
check "a fragmented datagram: one event, the first fragment's 1500 bytes, len 1500" \
	test "$(wc -l <$tmp/frag)-${#payload}-$(json_field $tmp/frag len)" = "1-3000-1500"

# 8. Payloads in batches: 12 echo requests in batches of 8, 128-byte snaplen.
monitor $tmp/batch --json --payload --snaplen 128 --batch 8 --flush-ms 50 --family ipv4
wait_listeners $A 1 || exit $KSFT_FAIL
in_netns $B $PING -q -c 12 -i 0.05 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/batch 12
stop_monitor $mon
diag "$(cat $tmp/batch.sum)"
sizes=$(json_field $tmp/batch payload | awk '{print length($1) / 2}' | sort -u | tr '\n' ' ')
check "batched events carry their payloads: 12 events of 84 bytes in fewer datagrams ($sizes)" \
	test "$(wc -l <$tmp/batch)-$sizes-$(summary $tmp/batch missed)" = "12-84 -0" -a "$(summary $tmp/batch datagrams)" -lt 12

# limited_flood OUT "MONITOR ARGS" "PING ARGS": a limited IPv4 listener
# while the peer floods; sets SEEN (packets the hook saw meanwhile), REPORT
# (the listener report, taken before it stops), TOTAL (its suppressed
# total) and EVENTS (from its summary).
limited_flood() {
	local out=$1 seen0
	seen0=$(imp2_counter packets_seen $A)
	# shellcheck disable=SC2086 # the argument lists, split on purpose
	monitor $out --json --family ipv4 $2
	wait_listeners $A 1 || exit $KSFT_FAIL
	# shellcheck disable=SC2086
	in_netns $B $PING -q -f $3 10.99.0.1 >/dev/null
	SEEN=$(( $(imp2_counter packets_seen $A) - seen0 ))
	REPORT=$(in_netns $A imp2 stats --json)
	TOTAL=$(sed -n 's/.*"suppressed_total":\([0-9]*\).*/\1/p' <<<"$REPORT")
	stop_monitor $mon
	EVENTS=$(summary $out events)
}

# 9-10. Sampling 1 in 10 over 1,000 echo requests (a flood): sampling counts
# the listener's packets, so exactly 100 events, the first and every tenth.
limited_flood $tmp/sample "--sample 10 --rcvbuf 4194304" "-c 1000"
seen=$SEEN report=$REPORT total=$TOTAL events=$EVENTS
diag "$(cat $tmp/sample.sum); packets seen $seen; listener: $report"
check "1 in 10 of $seen echo requests: 100 events, no gap" \
	test "$seen-$events-$(summary $tmp/sample missed)" = "1000-100-0"
reported=$(json_field $tmp/sample suppressed | awk '{s += $1} END {print s}')
check "the suppressed counts add up: events + left out ($events + $total) = packets seen, of which events reported $reported" \
	test "$((events + total))" = "$seen" -a "$(( reported + events ))" -le "$seen" -a "$reported" = "$(summary $tmp/sample suppressed)"

# 11-12. A rate limit of 50/s with a burst of 25 under a 4-second flood: 50
# events per second; every packet an event or counted as left out. (The
# burst of half a second's worth rides out the emulated VM's stalls: a
# bucket fills up to its burst only, and a stall longer than that would
# read as a lower rate.)
limited_flood $tmp/rate "--rate 50/25" "-w 4"
seen=$SEEN report=$REPORT total=$TOTAL events=$EVENTS
# Events per second after the burst: (events - 25) over the time from the
# first event to the last.
rate=$(json_field $tmp/rate tstamp_ns | awk -v n="$events" 'NR == 1 {t0 = $1} {t1 = $1}
	END {if (t1 > t0) printf "%.1f", (n - 25) / ((t1 - t0) / 1e9); else print 0}')
diag "$(cat $tmp/rate.sum); packets seen $seen; $rate events/s; listener: $report"
check "50/s under a flood of $seen packets: $events events, $rate per second after the burst (want 45 to 52.5)" \
	awk -v r="$rate" -v s="$seen" 'BEGIN {exit !(r >= 45 && r <= 52.5 && s >= 400)}'
check "... and events + left out ($events + $total) = packets seen" test "$((events + total))" = "$seen"

# 13. The listener report shows what was asked for.
monitor $tmp/show --quiet --snaplen 96 --sample 4 --rate 100/10 --family ipv4
wait_listeners $A 1 || exit $KSFT_FAIL
report=$(in_netns $A imp2 stats --json)
stop_monitor $mon
diag "$report"
check "the listener report: snaplen 96, sample 4, rate 100 burst 10, suppressed total 0" \
	grep -q '"snaplen":96,"sample":4,"rate_limit":100,"rate_burst":10,"suppressed_total":0' <<<"$report"

# 14. Bad values (IMP2_A_BATCH 17, SNAPLEN 19, SAMPLE 21, RATE_LIMIT 22,
# RATE_BURST 23; u32 little-endian): refused, naming the attribute, and
# no listener added.
bad=(
	"sub attr=17:40000000 attr=19:813e0000:IMP2_A_SNAPLEN"   # 16001 bytes in batches of 64
	"sub attr=19:fcff0000:IMP2_A_SNAPLEN"                    # 65532, above IMP2_SNAPLEN_MAX
	"sub attr=21:00000000:IMP2_A_SAMPLE"                     # 1 in 0
	"sub attr=22:00000000:IMP2_A_RATE_LIMIT"                 # 0 per second
	"sub attr=22:01ca9a3b:IMP2_A_RATE_LIMIT"                 # 10^9 + 1 per second
	"sub attr=23:05000000:IMP2_A_RATE_BURST"                 # a burst without a rate
	"sub attr=22:32000000 attr=23:00000000:IMP2_A_RATE_BURST" # a burst of 0
)
good=0
for case in "${bad[@]}"; do
	spec=${case%:*} name=${case##*:}
	out=$(in_netns $A imp2_v2send "$spec")
	diag "$spec -> $out"
	grep -q "^ack seq=1 error=$EINVAL .*msg=$name" <<<"$out" && good=$((good + 1))
done
check "7 bad snaplen, sample and rate values: EINVAL naming the attribute ($good), no listener added" \
	bash -c "(( $good == 7 && \$(listener_count $A) == 0 ))"
ktap_finish
