#!/bin/bash
# imp2-tier: full
# imp2-compat: netns exit with live listeners, timers and work, repeated
# With the module loaded, create and destroy IMP2_CHURN (default 20)
# network namespace pairs, each with a veth pair, a v1 subscriber and a v2
# listener (with the tcpdump expression icmp) that must both receive their own pair's event.  Pairs are churned
# in batches of IMP2_CHURN_BATCH (default 10) that live side by side, with
# distinct names and subnets, and are deleted together.  Per-netns state is
# created and freed each time; the runner's kmemleak scan after rmmod
# catches any leak.
# The size: a leak of one netns is a kmemleak report; two batches of 10
# pairs exit together, which cleanup_net() batches, twice (the old default
# was 50 pairs).
. "$(dirname "$0")/lib.sh"
ktap_plan 3
CHURN=${IMP2_CHURN:-20}
BATCH=${IMP2_CHURN_BATCH:-10}
tmp=$(mktemp -d)
PING=$(type -P ping) IMP2=$(type -P imp2)    # for nsenter (see in_netns)
trap 'rm -rf $tmp' EXIT
imp2_load || exit $KSFT_FAIL

ok=0
for ((first = 1; first <= CHURN; first += BATCH)); do
	last=$((first + BATCH - 1 > CHURN ? CHURN : first + BATCH - 1))
	pairs=$(seq "$first" "$last")
	# All namespaces and veths of the batch from one ip process.
	names=() cmds=() net=() mon=() mon2=() ping=()
	for i in $pairs; do
		names+=(imp2-ch$i-a imp2-ch$i-b)
		cmds+=("netns add imp2-ch$i-a" "netns add imp2-ch$i-b"
			"link add v netns imp2-ch$i-a type veth peer name v netns imp2-ch$i-b")
	done
	ip_batch "" "${cmds[@]}" || break
	for i in $pairs; do
		net[i]=10.98.$((i - first + 1))    # one subnet per pair of the batch
		ip_batch imp2-ch$i-a "addr add ${net[i]}.1/24 dev v" "link set v up"
		ip_batch imp2-ch$i-b "addr add ${net[i]}.2/24 dev v" "link set v up"
		nsenter --net=/run/netns/imp2-ch$i-a $IMP2 monitor --v1 --count 1 --timeout 60 >"$tmp/ev$i" 2>/dev/null &
		mon[i]=$!
		nsenter --net=/run/netns/imp2-ch$i-a $IMP2 monitor --count 1 --timeout 60 icmp >"$tmp/ev2-$i" 2>/dev/null &
		mon2[i]=$!
		# Ping until both monitors have their one event (the first pings may go
		# before it subscribed, or wait for ARP).
		nsenter --net=/run/netns/imp2-ch$i-b $PING -q -i 0.2 -w 60 ${net[i]}.1 >/dev/null 2>&1 &
		ping[i]=$!
	done
	# SIGKILL: a job killed before its exec would run our EXIT trap.
	for i in $pairs; do wait ${mon[i]} ${mon2[i]}; kill -KILL ${ping[i]}; wait ${ping[i]}; done 2>/dev/null
	for i in $pairs; do
		read -r ev <"$tmp/ev$i" && [[ $ev == "src: ${net[i]}.2, dest: ${net[i]}.1" ]] &&
			read -r ev2 <"$tmp/ev2-$i" && [[ $ev2 == "src: ${net[i]}.2, dest: ${net[i]}.1"* ]] && ok=$((ok + 1))
	done
	cleanup_netns "${names[@]}"
done
diag "$ok of $CHURN namespaces delivered their event"
check "$CHURN namespace pairs created, used and destroyed" test "$ok" -eq "$CHURN"
check "no namespace is left behind" bash -c '! ip netns list | grep -q imp2-ch'
check "rmmod after the churn" imp2_unload
echo "IMP2-FIGURE: namespaces_churned=$((2 * ok))"
ktap_finish
