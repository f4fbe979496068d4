#!/bin/bash
# imp2-tier: quick
# The edges include/uapi/imp2.h specifies ("What v2 does at the edges"),
# each checked as a client written from the header would meet it:
# attributes outside the subscribe column, undefined bits, a missing
# NLA_F_NESTED and values out of range are EINVAL (never ERANGE) with the
# attribute named and its offset; FAMILIES 0 and an empty PROTOS are
# refused, a protocol listed twice counts once, FLUSH_MS with BATCH 1 has no
# effect; IMP2_A_SEQ starts at 0 and a filter change keeps it; the replies'
# order and nlmsg_seq; what IMP2_LISTENER always carries; and which
# refusals rejected_msgs counts.
. "$(dirname "$0")/lib.sh"
ktap_plan 10
A=imp2-ve-a B=imp2-ve-b
tmp=$(mktemp -d)
pids=()
trap 'kill -KILL "${pids[@]}" 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
# max_listeners=2 for the ENOSPC case: a module an earlier script left
# loaded has the default.
imp2_unload && imp2_load max_listeners=2 || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL
EINVAL=-22
send() { in_netns $A imp2_v2send "$@"; }
# bg_send ARGS...: the same in the background, $! its own pid (a function
# run with & would leave imp2_v2send behind when killed).
V2SEND=$(type -P imp2_v2send)
bg_send() { nsenter --net=/run/netns/$A $V2SEND "$@" & }

# 1. Refused with EINVAL, the attribute named, its offset given (16: the
# first attribute, right after the nlmsghdr). Types: FAMILIES 1, PROTOS 2,
# SRC 5, PAD 16, BATCH 17; 30 is above IMP2_A_MAX.
cases=(
	"sub attr=5:0a630001|IMP2_A_SRC"                 # an E attribute in a subscribe
	"sub attr=16:|IMP2_A_PAD"                        # padding
	"sub attr=30:00000000|attribute type 30"         # above IMP2_A_MAX
	"sub families=4|IMP2_A_FAMILIES"                 # an undefined family bit
	"sub attr=2:0500030001000000|IMP2_A_PROTOS"      # a nest without NLA_F_NESTED
	"sub families=0|IMP2_A_FAMILIES"                 # no family
	"sub protos=|IMP2_A_PROTOS"                      # no protocol
	"sub attr=17:00000000|IMP2_A_BATCH"              # out of range: EINVAL, not ERANGE (-34)
)
good=0
for c in "${cases[@]}"; do
	spec=${c%|*} name=${c#*|}
	out=$(send "$spec")
	diag "$spec -> $out"
	[[ $out == "ack seq=1 error=$EINVAL offs=16 msg=$name"* ]] && good=$((good + 1))
done
check "8 malformed subscribes: EINVAL, never ERANGE, naming the attribute at offset 16 ($good of 8)" \
	bash -c "(( $good == 8 && \$(listener_count $A) == 0 ))"

# 2. A protocol listed twice counts once; FLUSH_MS with BATCH 1 is accepted
# and the listener does not batch.
bg_send -k -w 30000 "sub protos=17,17 attr=17:01000000 attr=18:0a000000" >$tmp/dup
dup=$!; pids+=($dup)
busywait 5000 grep -q '^ack seq=1 error=0' $tmp/dup
report=$(in_netns $A imp2 stats --json)
diag "$report"
check "protos=17,17 and FLUSH_MS with BATCH 1: accepted, one protocol, no batching" \
	bash -c "[[ '$report' == *'\"protos\":[17],'* && '$report' != *'\"batch\"'* ]]"
kill $dup; wait $dup 2>/dev/null
wait_listeners $A 0 || exit $KSFT_FAIL

# 3. Replies: IMP2_STATS (0x11) then the ack; IMP2_LISTENER (0x13) per
# listener, NLMSG_DONE (3), the ack; every one with the request's nlmsg_seq.
out=$(send "type=16 seq=77" "list seq=78")
diag "$out"
check "IMP2_STATS_GET: IMP2_STATS then the ack, both seq 77" \
	bash -c "grep -o 'type=17 seq=77\|ack seq=77 error=0' <<<'$out' | tr '\n' ' ' | grep -qx 'type=17 seq=77 ack seq=77 error=0 '"
check "IMP2_LISTENERS_GET, nobody listening: NLMSG_DONE then the ack, both seq 78" \
	bash -c "grep -o 'type=3 seq=78\|ack seq=78 error=0' <<<'$out' | tr '\n' ' ' | grep -qx 'type=3 seq=78 ack seq=78 error=0 '"

# 4. IMP2_A_SEQ starts at 0; a subscribe from the same socket that changes
# its filter keeps counting. imp2_v2send prints each event's nlmsg_seq.
bg_send -k -w 30000 "sub families=1" "sub families=1 protos=1,17 after=$tmp/go" >$tmp/seq
sender=$!; pids+=($sender)
wait_listeners $A 1 || exit $KSFT_FAIL
in_netns $B ping -c 1 -q 10.99.0.1 >/dev/null
busywait 5000 grep -q '^msg type=34 ' $tmp/seq
touch $tmp/go
busywait 5000 grep -q '^ack seq=2 error=0' $tmp/seq
in_netns $B ping -c 1 -q 10.99.0.1 >/dev/null
busywait 5000 bash -c "(( \$(grep -c '^msg type=34 ' $tmp/seq) == 2 ))"
seqs=$(sed -n 's/^msg type=34 seq=\([0-9]*\).*/\1/p' $tmp/seq | tr '\n' ' ')
check "a new listener's first event is seq 0; after a filter change, seq 1 ($seqs)" test "$seqs" = "0 1 "
kill $sender 2>/dev/null; wait $sender 2>/dev/null
wait_listeners $A 0 || exit $KSFT_FAIL

# 5. IMP2_LISTENER always carries the port, the families and both
# counters, even for a listener that gave no attribute at all.
bg_send -k -w 60000 "sub" >/dev/null
pids+=($!)
wait_listeners $A 1 || exit $KSFT_FAIL
report=$(in_netns $A imp2 stats --json)
diag "$report"
# (Neighbour discovery may have reached it: the counters' values vary.)
check "a default listener's report: port, hook (prerouting), families (both), protos omitted (default), both counters" \
	grep -q '{"port":[0-9]*,"hook":"prerouting","families":\["ipv4","ipv6"\],"protos":null,"events_sent":[0-9]*,"send_failures":[0-9]*}' <<<"$report"

# 6. rejected_msgs counts every refusal: ENOSPC (max_listeners=2, one
# listens: two more subscribe, the second is refused), EPERM (unsubscribing
# a socket that is not a listener), EOPNOTSUPP, EINVAL.
r0=$(imp2_counter rejected_msgs $A)
bg_send -k -w 60000 "sub" >/dev/null
pids+=($!)
wait_listeners $A 2 || exit $KSFT_FAIL
out=$(send "sub" "unsub" "type=99" "sub families=9")
diag "$out"
r1=$(imp2_counter rejected_msgs $A)
check "ENOSPC, EPERM, EOPNOTSUPP and EINVAL answered" \
	bash -c "grep -o 'error=-[0-9]*' <<<'$out' | tr '\n' ' ' | grep -qx 'error=-28 error=-1 error=-95 error=-22 '"
check "... and each counted in rejected_msgs (+$((r1 - r0)), want +4)" test "$((r1 - r0))" = 4

# 7. Requests that take no attributes refuse them.
out=$(send "unsub families=1" "list families=1")
diag "$out"
check "IMP2_V2_UNSUBSCRIBE and IMP2_LISTENERS_GET with an attribute: EINVAL" \
	test "$(grep -c "error=$EINVAL .*this request takes no attributes" <<<"$out")" = 2
kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
gone_and_unloaded() { wait_listeners $A 0 && imp2_unload; }
check "both listeners gone with their sockets, rmmod" gone_and_unloaded
ktap_finish
