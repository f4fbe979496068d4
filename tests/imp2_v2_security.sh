#!/bin/bash
# imp2-tier: quick
# Protocol v2 refusals and cleanup: CAP_NET_ADMIN to subscribe and to list;
# only the listener itself unsubscribes; a killed listener is removed and
# its port gets nothing more; the 17th listener is refused; malformed
# attributes get EINVAL with an extended-ack message naming the attribute
# and change nothing.
. "$(dirname "$0")/lib.sh"
ktap_plan 12
A=imp2-v2s-a B=imp2-v2s-b
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B && setup_pair6 $A $B || exit $KSFT_FAIL
EPERM=-1 ENOSPC=-28 EINVAL=-22
unpriv() { ip netns exec $A setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

out=$(unpriv imp2_v2send sub)
check "unprivileged v2 subscribe: EPERM" grep -q "^ack seq=1 error=$EPERM " <<<"$out"
out=$(unpriv imp2_v2send list)
check "unprivileged listener list: EPERM" grep -q "^ack seq=1 error=$EPERM " <<<"$out"

ip netns exec $A imp2 monitor --json >"$tmp/mon" 2>/dev/null & mon=$!; pids+=($mon)
wait_listeners $A 1 || exit $KSFT_FAIL
port=$(ip netns exec $A imp2 stats --json | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
out=$(ip netns exec $A imp2_v2send unsub)
check "unsubscribe from another socket: EPERM, the listener stays" \
	bash -c "grep -q '^ack seq=1 error=$EPERM ' <<<'$out' && (( \$(listener_count $A) == 1 ))"

# Malformed attributes: each refused with EINVAL and a message naming the
# attribute; nothing changes.
rej0=$(imp2_counter rejected_msgs $A)
bad=(
	"sub nla=5:1:0100000000"        # IMP2_A_FAMILIES with a wrong length
	"sub attr=40:00000000"          # an attribute type the module does not know
	"sub attr=0x8002:deadbeef"      # IMP2_A_PROTOS holding garbage
	"sub families=1 families=2"     # a duplicate attribute
	"sub attr=4:02"                 # an event attribute in a request
	"sub families=4"                # a family bit that does not exist
)
good=0
for spec in "${bad[@]}"; do
	out=$(ip netns exec $A imp2_v2send "$spec")
	diag "$spec -> $out"
	grep -q "^ack seq=1 error=$EINVAL .*msg=.*\(IMP2_A_\|attribute type\)" <<<"$out" && good=$((good + 1))
done
check "6 malformed subscribes: EINVAL with an extack message naming the attribute" test $good -eq 6
check "... counted in rejected_msgs, and no listener added" \
	bash -c "(( \$(imp2_counter rejected_msgs $A) - $rej0 == 6 && \$(listener_count $A) == 1 ))"

# A listener killed without unsubscribing is removed (NETLINK_URELEASE)
# and its port gets nothing more, even once someone else binds it.
kill -KILL $mon; wait $mon 2>/dev/null
check "SIGKILLed listener is removed" wait_listeners $A 0
unpriv imp2_nlsend -p "$port" -w 3000 "type=$((0x10))" >"$tmp/rebound" 2>&1 & rebound=$!; pids+=($rebound)
busywait 5000 bash -c "ip netns exec $A cat /proc/net/netlink | awk '{print \$3}' | grep -qx $port"
ip netns exec $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
ip netns exec $B ping -6 -c 2 -i 0.2 -q fd00:99::1 >/dev/null
wait $rebound
check "a process that binds its old port $port gets no v2 event" bash -c "! grep -q '^msg type=34 ' $tmp/rebound"

# 16 listeners (max_listeners): the 17th is refused.
for i in $(seq 1 16); do
	ip netns exec $A imp2_v2send -k -w 20000 sub >"$tmp/l$i" 2>&1 & pids+=($!)
done
check "16 listeners subscribe" wait_listeners $A 16
out=$(ip netns exec $A imp2_v2send sub)
check "the 17th gets ENOSPC" grep -q "^ack seq=1 error=$ENOSPC " <<<"$out"
check "... and changes nothing" test "$(listener_count $A)" -eq 16
out=$(ip netns exec $A imp2 monitor --timeout 1 2>&1)
check "imp2 monitor names max_listeners when refused" grep -q max_listeners <<<"$out"
kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pids=()
check "their sockets closed: all 16 removed" wait_listeners $A 0
ktap_finish
