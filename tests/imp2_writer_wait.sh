#!/bin/bash
# imp2-tier: full
# imp2-compat: the rwlock abstraction (qrwlock readers in softirq), window widened by a knob
# Writers of the subscriber rwlock (subscribe, close, NETLINK_URELEASE)
# must not wait behind the hook's readers. qrwlock lets readers in softirq
# context pass a waiting writer, so the read side must stay minimal: the
# port id is copied under the lock and the event is allocated and sent
# outside it.
#
# The test knob test_send_delay_us makes every send take 20 ms, while two
# floods pinned to both CPUs keep the hook busy. The module records
# the longest wait for the write lock (test_max_write_wait_us): it must
# stay far below the send time.
. "$(dirname "$0")/lib.sh"
ktap_plan 3
A=imp2-ww-a B=imp2-ww-b
SEND_US=20000 LIMIT_US=10000 ITER=25
floods=()
trap 'knob test_send_delay_us 0 2>/dev/null; kill $mon "${floods[@]}" 2>/dev/null; cleanup_netns $A $B' EXIT
imp2_load || exit $KSFT_FAIL
require_knobs
setup_pair $A $B || exit $KSFT_FAIL

ip netns exec $A imp2 monitor --v1 --quiet --rcvbuf 8388608 >/dev/null 2>&1 &
mon=$!
wait_subscribed $A || exit $KSFT_FAIL
knob test_send_delay_us $SEND_US
# Echo requests from raw frames (no waiting for replies), one sender per CPU:
# the receive path, and so the hook, runs on the sender's CPU.
mac=$(ip -n $A link show veth-imp2 | awk '/link\/ether/ {print $2}')
for cpu in 0 1; do
	ip netns exec $B taskset -c $cpu imp2_icmpflood -i veth-imp2 -s 10.99.0.2 -d 10.99.0.1 \
		-m "$mac" -t 300 >/dev/null 2>&1 & floods+=($!)
done
sent0=$(imp2_counter events_sent $A)
busywait 20000 bash -c "(( \$(imp2_counter events_sent $A) > $sent0 + 4 ))"
knob test_max_write_wait_us 0
seen0=$(imp2_counter packets_seen $A)
ip netns exec $A imp2_race -p 2 -i $ITER >/dev/null 2>&1
rc=$?
kill -KILL $mon; wait $mon 2>/dev/null   # its URELEASE takes the write lock too
check "$((4 * ITER)) subscribe/close requests acked as expected during the delayed flood" test $rc -eq 0
max=$(knob test_max_write_wait_us)
diag "longest write-lock wait: $max us (each send takes $SEND_US us)"
check "no writer waited $LIMIT_US us or more for the write lock" test "$max" -lt $LIMIT_US
check "the flood kept the hook busy during the churn" \
	test "$(imp2_counter packets_seen $A)" -gt "$seen0"
knob test_send_delay_us 0
ktap_finish
