#!/bin/bash
# imp2-tier: full
# imp2-compat: module init and exit and the pin-init of per-netns state, repeated
# IMP2_CYCLES (default 20) cycles of insmod -> subscribe (a v1 subscriber
# and a v2 listener with a tcpdump expression, whose program the module holds) -> ping flood -> rmmod.  Each cycle tries rmmod while
# they are attached and packets are in flight (refused: their sockets hold
# the module), then kills them (SIGKILL or SIGINT, alternately) and removes
# the module while the flood goes on.
# The size: a leak of one cycle is a kmemleak report, and a reference
# miscounted once fails that cycle's rmmod; 20 cycles are 10 of each kind
# of kill, against the flood's varying timing (50, the old default, took
# 107 s of guest time on the 6.12 debug kernel).
. "$(dirname "$0")/lib.sh"
ktap_plan 5
CYCLES=${IMP2_CYCLES:-20}
A=imp2-lc-a B=imp2-lc-b
tmp=$(mktemp -d)
PING=$(type -P ping) IMP2=$(type -P imp2)    # for nsenter (see in_netns)
trap 'kill $flood 2>/dev/null; cleanup_netns $A $B; rm -rf $tmp' EXIT
imp2_unload
setup_pair $A $B || exit $KSFT_FAIL
# The flood runs niced: it takes whatever CPU the cycles leave idle (they
# mostly wait: module loader, RCU grace periods) rather than half of it.
nsenter --net=/run/netns/$B $PING -f -q 10.99.0.1 >/dev/null 2>&1 &
flood=$!
renice -n 19 -p $flood >/dev/null
rx_packets() { in_netns $A awk '$1 == "veth-imp2:" {print $3}' /proc/net/dev; }
rx0=$(rx_packets)

done_cycles=0 refused=0 errors=0
for i in $(seq 1 "$CYCLES"); do
	insmod "$IMP2_KO" || { errors=$((errors + 1)); diag "cycle $i: insmod failed"; break; }
	# New files each cycle: lines from the last one must not count.
	nsenter --net=/run/netns/$A $IMP2 monitor --v1 >"$tmp/ev$i" 2>/dev/null &
	mon=$!
	nsenter --net=/run/netns/$A $IMP2 monitor icmp >"$tmp/ev2-$i" 2>/dev/null &
	mon2=$!
	if ! busywait 10000 has_lines $tmp/ev$i 3 || ! busywait 10000 has_lines $tmp/ev2-$i 3; then
		errors=$((errors + 1)); diag "cycle $i: no events (v1: $(wc -l <"$tmp/ev$i"), v2: $(wc -l <"$tmp/ev2-$i"))"
	fi
	rmmod imp2 2>/dev/null && { errors=$((errors + 1)); diag "cycle $i: rmmod succeeded while subscribed?"; } || refused=$((refused + 1))
	if (( i % 2 )); then kill -KILL $mon $mon2; else kill -INT $mon $mon2; fi
	wait $mon $mon2 2>/dev/null
	busywait 10000 rmmod imp2 || { errors=$((errors + 1)); diag "cycle $i: rmmod failed"; break; }
	done_cycles=$((done_cycles + 1))
done
diag "$done_cycles cycles, $refused rmmod attempts refused while subscribed, $errors errors"
flooded=$(( $(rx_packets) - rx0 ))
diag "flood: $flooded packets reached $A during the cycles"
check "$CYCLES load/subscribe/flood/unload cycles without error" test "$done_cycles" -eq "$CYCLES" -a "$errors" -eq 0
check "rmmod was refused every time while the subscribers were attached" test "$refused" -eq "$done_cycles"
check "the flood outlived every cycle" kill -0 $flood
check "the flood kept packets coming (at least 10 per cycle)" test "$flooded" -ge $((10 * CYCLES))
check "lsmod is clean at the end" bash -c '! grep -q "^imp2 " /proc/modules'
echo "IMP2-FIGURE: load_unload_cycles=$done_cycles"
ktap_finish
