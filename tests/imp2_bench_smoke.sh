#!/bin/bash
# imp2-tier: full
# Smoke variant of `make bench` (a second or so per peer), so that the
# benchmark code cannot rot: every peer must come up and produce numbers.
. "$(dirname "$0")/lib.sh"
ktap_plan 5
if [[ ${IMP2_BENCH_SMOKE:-} == skip ]]; then
	for i in 1 2 3 4 5; do ktap_skip "bench smoke: run on the first debug kernel only (IMP2_BENCH_SMOKE=skip)"; done
	ktap_finish
fi
tmp=$(mktemp)
trap 'rm -f $tmp' EXIT
imp2_unload
bash "$(dirname "$0")/guest-bench.sh" --smoke >"$tmp" 2>&1
rc=$?
grep -v '^IMP2-BENCH' "$tmp" | sed 's/^/# /'
check "bench --smoke ran to the end" bash -c "(( $rc == 0 )) && grep -q 'bench: done' $tmp"
fast=$(grep -c '"metric":"fastpath_pps".*"value":[1-9]' "$tmp")
check "fast path: pps measured for all 11 peers" test "$fast" -eq 11
gen=$(grep '"metric":"icmpgen"' "$tmp" | grep -v '"peer":"none"' | grep -c '"ns":[1-9][0-9]*,"expected":\([1-9][0-9]*\),"events":\[\1\]')
none=$(grep '"metric":"icmpgen","peer":"imp2-v2-expr-none"' "$tmp" | grep -c '"ns":[1-9][0-9]*,"expected":0,"events":\[0\]')
check "in-kernel ICMP: timed, and every event consumed by imp2 v1, v2, v2 batched, cref, nflog-q64, nflog-lib-q64, v2 with a snaplen of 128 (batched or not), v2 sampled 1 in 100, and v2 with the expressions icmp and src net (none for udp port 9999)" \
	test "$gen-$none" = "11-1"
whole=$(grep '"metric":"burst"' "$tmp" | grep -v '"peer":"none"' | grep -c '"packets":\([0-9]*\),"us":[1-9][0-9]*,"burst_us":[0-9]*,"events":\[\1\]')
check "bursts: every event of the burst consumed by imp2 v1, v2, v2 batched, imp2_v2count, cref, nflog-q64 and nflog-lib-q64" test "$whole" -eq 7
events=$(grep '"metric":"matching"' "$tmp" | grep -c '"events":\[[1-9]')
check "matching path: events delivered by imp2 v1, v2, v2 batched, cref, nflog, nflog-q64, nflog-lib and nflog-lib-q64" test "$events" -eq 8
grep '^IMP2-BENCH' "$tmp" | sed 's/^IMP2-BENCH: /# bench: /'
ktap_finish
