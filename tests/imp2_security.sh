#!/bin/bash
# imp2-tier: quick
# The modern-kernel fixes: the sender is identified by NETLINK_CB portid
# (a spoofed CLOSE is ignored), subscribing needs CAP_NET_ADMIN over the
# netns, refusals are only reported when NLM_F_ACK asks for it.
. "$(dirname "$0")/lib.sh"
ktap_plan 10
A=imp2-sec-a B=imp2-sec-b
tmp=$(mktemp -d)
trap 'kill $mon 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL
setup_pair $A $B || exit $KSFT_FAIL
NLM_F_ACK=4

subscriber() { subscriber_port $A; }

ip netns exec $A imp2 monitor --v1 >"$tmp/events" 2>&1 &
mon=$!
wait_subscribed $A
port=$(subscriber)
diag "subscriber port $port"

# Spoofed CLOSE: nlmsg_pid claims to be the subscriber, from another socket.
rej0=$(imp2_counter rejected_msgs $A)
ip netns exec $A imp2_nlsend -w 500 "type=2,pid=$port" >"$tmp/spoof-noack"
check "spoofed CLOSE without NLM_F_ACK gets no reply" test ! -s "$tmp/spoof-noack"
ip netns exec $A imp2_nlsend -w 500 "type=2,pid=$port,flags=$NLM_F_ACK,seq=7" >"$tmp/spoof-ack"
check "spoofed CLOSE with NLM_F_ACK gets EPERM" grep -qx 'ack seq=7 error=-1' "$tmp/spoof-ack"
check "spoofed CLOSE leaves the subscriber in place" test "$(subscriber)" = "$port"
check "rejected_msgs counted both spoofed CLOSEs" \
	bash -c "(( \$(imp2_counter rejected_msgs $A) - $rej0 == 2 ))"
ip netns exec $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines $tmp/events 2
check "events still reach the real subscriber" grep -q 'src: 10.99.0.2, dest: 10.99.0.1' "$tmp/events"

# Without CAP_NET_ADMIN (uid 65534 has no capabilities).
out=$(ip netns exec $A setpriv --reuid=65534 --regid=65534 --clear-groups imp2 monitor --v1 --timeout 3 2>&1)
rc=$?
diag "unprivileged: rc=$rc: $out"
check "unprivileged subscribe fails with a permission error" \
	bash -c "(( $rc != 0 )) && [[ '$out' == *'permission denied'*CAP_NET_ADMIN* ]]"
check "unprivileged subscribe changed nothing" test "$(subscriber)" = "$port"
ip netns exec $A setpriv --reuid=65534 --regid=65534 --clear-groups imp2_nlsend -w 500 "type=0" >"$tmp/unpriv-noack"
check "unprivileged subscribe without NLM_F_ACK gets no reply (2007 clients see nothing)" \
	bash -c "test ! -s $tmp/unpriv-noack && (( \$(subscriber_port $A) == $port ))"

# Who is subscribed is not for everyone: the port id is all it takes to bind
# that port once the subscriber closes.
unpriv_port=$(ip netns exec $A setpriv --reuid=65534 --regid=65534 --clear-groups \
	imp2 stats --json | sed -n 's/.*"subscriber_portid":\([0-9]*\).*/\1/p')
check "stats show the subscriber port to CAP_NET_ADMIN only (root: $port, uid 65534: ${unpriv_port:-none})" \
	bash -c "(( $port != 0 )) && [[ '$unpriv_port' == 0 ]]"

# CAP_NET_ADMIN over the socket's own netns is what counts: root in a new
# user namespace owning a new netns may subscribe there.
out=$(unshare -Urn bash -c 'ip link set lo up; imp2 monitor --v1 --timeout 1' 2>&1)
rc=$?
diag "userns+netns: rc=$rc: $out"
check "root of a new user+net namespace may subscribe in its own netns" test $rc -eq 0
ktap_finish
