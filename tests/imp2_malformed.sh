#!/bin/bash
# imp2-tier: quick
# Message validation: short, zero-length, bad nlmsg_len, several messages
# per datagram, unknown types. Each is rejected (counted, acked with an
# error only on NLM_F_ACK) and the module keeps working.
. "$(dirname "$0")/lib.sh"
ktap_plan 12
A=imp2-mal-a B=imp2-mal-b
tmp=$(mktemp -d)
trap 'cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL
NLM_F_ACK=4
send() { ip netns exec $A imp2_nlsend -w 300 "$@"; }
rejected() { imp2_counter rejected_msgs $A; }

# expect_rejected DESC N CMD...: CMD must raise rejected_msgs by exactly N.
expect_rejected() {
	local desc=$1 n=$2; shift 2
	local before after sent=1
	before=$(rejected)
	"$@" >"$tmp/out" || sent=0
	after=$(rejected)
	check "$desc (rejected +$n)" test $sent -eq 1 -a $((after - before)) -eq "$n" ||
		diag "rejected_msgs went $before -> $after; output: $(cat "$tmp/out")"
}

# Since 6.x the netlink core refuses empty datagrams itself (ENODATA); the
# module's framing would reject one too (host-side tests cover that).
expect_rejected "zero-length datagram is refused before reaching the module" 0 \
	bash -c "! ip netns exec $A imp2_nlsend -r 2>/dev/null"
expect_rejected "truncated header (8 bytes)" 1 send raw=8
expect_rejected "nlmsg_len 0" 1 send len=0
expect_rejected "nlmsg_len smaller than the header" 1 send len=12
expect_rejected "nlmsg_len larger than the datagram" 1 send len=4096
expect_rejected "unknown type 0x30 without ack" 1 send type=0x30
send type=0x30,flags=$NLM_F_ACK,seq=5 >"$tmp/unknown"
check "unknown type with NLM_F_ACK gets EOPNOTSUPP" grep -qx 'ack seq=5 error=-95' "$tmp/unknown"
expect_rejected "kernel-to-user type IMP2_K_MSG sent to the kernel" 1 send type=1
# A valid message, then garbage: the first is handled, the rest rejected.
send type=0x10,seq=1 raw=10 >"$tmp/mixed"
check "stats request before trailing garbage is answered" grep -q 'msg type=17 seq=1' "$tmp/mixed"

# Several messages in one datagram: subscribe, stats, close, stats.
send type=0,flags=$NLM_F_ACK,seq=1 type=0x10,seq=2 type=2,flags=$NLM_F_ACK,seq=3 type=0x10,seq=4 >"$tmp/multi"
diag "multi: $(tr '\n' ' ' <"$tmp/multi")"
check "4 messages in one datagram are all processed in order" \
	bash -c "grep -qx 'ack seq=1 error=0' $tmp/multi && grep -q 'msg type=17 seq=2' $tmp/multi &&
		grep -qx 'ack seq=3 error=0' $tmp/multi && grep -q 'msg type=17 seq=4' $tmp/multi"
# A valid 2007 subscribe (no NLM_F_ACK) gets no reply at all.
send type=0 >"$tmp/quiet"
check "a 2007-style subscribe gets no ack" test ! -s "$tmp/quiet"
send type=2 >/dev/null

# Still working: subscribe and get events.
ip netns exec $A imp2 monitor --v1 --count 2 >"$tmp/ev" 2>/dev/null &
m=$!
wait_subscribed $A
ip netns exec $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
wait $m
check "module still delivers events afterwards" test "$(grep -c 'src: 10.99.0.2' "$tmp/ev")" -eq 2
ktap_finish
