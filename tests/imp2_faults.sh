#!/bin/bash
# imp2-tier: full
# imp2-compat: allocation-failure paths, which the compat layer's pin-init differs in
# Fault injection (failslab), restricted to the module's own code where the
# stack trace filter allows it:
#  - module init: fail-nth walks every fault site of insmod; each failure
#    returns an errno, and a normal insmod afterwards succeeds;
#  - hook path: every event allocation fails; it is counted, packets flow;
#  - netlink input path: reply/ack allocations fail; requests are dropped
#    cleanly and the module keeps working.
# Leaks are caught by the runner's kmemleak scan after rmmod.
. "$(dirname "$0")/lib.sh"
ktap_plan 8
FS=/sys/kernel/debug/failslab
A=imp2-fi-a B=imp2-fi-b
tmp=$(mktemp -d)
# No stack filter: require-end's default is ULONG_MAX (0 would match nothing,
# and fail-nth checks the filter too).
no_stack_filter() { echo 0 >$FS/require-start; echo 0xffffffffffffffff >$FS/require-end; }
trap 'echo 0 >$FS/probability; no_stack_filter; fault_injection_end; cleanup_netns $A $B; rm -rf $tmp' EXIT
[[ -d $FS ]] || { ktap_skip "failslab not available"; exit $KSFT_SKIP; }
echo 0 >$FS/verbose        # verbose dumps stacks, which would look like splats
echo 0 >$FS/probability
echo -1 >$FS/times
echo 1 >$FS/interval
no_stack_filter
fault_injection_begin

# --- module init ----------------------------------------------------------
imp2_unload
echo N >$FS/ignore-gfp-wait
# One process walks n = 1, 2, ... until a load injects nothing (every site
# walked); it unloads whatever loaded before the next step.
imp2_failnth_insmod 1 2000 "$IMP2_KO" >"$tmp/walk"
wrc=$?
# Fields: $2 n, $4 rc, $6 errno, $8 injected, $10 unloaded.
read -r sites failures bad last_n errnos < <(awk -F '[ =]' -v badf="$tmp/bad" '
	function bad_step() { bad++; print >badf }
	$8 == "no" { last = $2; if ($4 == 0) { if ($10 != "yes") bad_step(); next } }
	{ sites++ }
	$4 == 0 && $10 != "yes" { bad_step() }    # loaded (a tolerated failure) but not removable
	$4 != 0 {
		failures++
		if (!($6 in seen)) { seen[$6] = 1; errnos = errnos " " $6 }
		if ($6 == 0 || $10 != "no") bad_step()    # no errno, or loaded after all
	}
	END { print sites + 0, failures + 0, bad + 0, last + 0, errnos }' "$tmp/walk")
(( wrc == 0 )) || diag "the walk did not complete (exit $wrc): $(tail -n 3 "$tmp/walk" | tr '\n' ' ')"
(( bad == 0 )) || diag "bad steps (no errno, or loaded and not removable): $(head -n 5 "$tmp/bad" | tr '\n' ' ')"
diag "insmod: $sites fault sites walked, $failures failed loads, errnos: $errnos"
check "every injected insmod fault ended in an errno or a clean load ($sites sites)" \
	test "$wrc" -eq 0 -a "$bad" -eq 0 -a "$sites" -gt 0 -a "$last_n" -gt 0
check "insmod works normally afterwards" imp2_load
echo "IMP2-FIGURE: init_fault_sites=$sites"
echo "IMP2-FIGURE: init_failed_loads=$failures"

# --- hook path --------------------------------------------------------------
setup_pair $A $B || exit $KSFT_FAIL
text=$(cat /sys/module/imp2/sections/.text)
end=$(awk '$4 == "[imp2]" && ($2 == "t" || $2 == "T") {print $1}' /proc/kallsyms | sort | tail -n1)
end=$(printf '0x%x' $((0x$end + 0x1000)))
diag "module text: $text .. $end"
echo "$text" >$FS/require-start
echo "$end" >$FS/require-end
echo Y >$FS/ignore-gfp-wait     # hook allocations are GFP_ATOMIC

ip netns exec $A imp2 monitor --v1 >"$tmp/ev" 2>/dev/null &
mon=$!
wait_subscribed $A
alloc0=$(imp2_counter alloc_failures $A)
echo 100 >$FS/probability
ip netns exec $B ping -c 5 -i 0.2 -q 10.99.0.1 >"$tmp/ping"
prc=$?
echo 0 >$FS/probability
alloc1=$(imp2_counter alloc_failures $A)
diag "alloc_failures: $alloc0 -> $alloc1"
check "hook: failed event allocations are counted (5)" test $((alloc1 - alloc0)) -eq 5
check "hook: packets still flow (ping 0% loss)" bash -c "(( $prc == 0 )) && grep -q ' 0% packet loss' $tmp/ping"
ip netns exec $B ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
check "hook: events resume once injection stops" busywait 5000 has_lines $tmp/ev 2
echo "IMP2-FIGURE: hook_faults=$((alloc1 - alloc0))"
kill -INT $mon; wait $mon

# --- netlink input path ------------------------------------------------------
echo N >$FS/ignore-gfp-wait     # replies and acks are GFP_KERNEL
rej0=$(imp2_counter rejected_msgs $A)
echo 100 >$FS/probability
ip netns exec $A imp2_nlsend -w 500 type=0x10,flags=4,seq=3 type=0,flags=4,seq=4 type=2,flags=4,seq=5 >"$tmp/nl" 2>&1
src=$?
echo 0 >$FS/probability
diag "input path under injection: rc=$src: $(tr '\n' ' ' <"$tmp/nl")"
check "input: requests are dropped cleanly (no stats reply, no crash)" \
	bash -c "(( $src == 0 )) && ! grep -q 'msg type=17' $tmp/nl"
rej1=$(imp2_counter rejected_msgs $A)
check "input: the failed stats request is counted as rejected" test $((rej1 - rej0)) -ge 1
check "input: the module answers normally afterwards" \
	bash -c "ip netns exec $A imp2 stats --json | grep -q '\"unit\":31'"
echo "IMP2-FIGURE: input_faults_tested=3"
no_stack_filter
fault_injection_end
ktap_finish
