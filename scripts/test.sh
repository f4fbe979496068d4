#!/usr/bin/env bash
# The whole test suite, from nothing: toolchain, test kernel, module, tools,
# host-side tests and lints, then every kselftest script in one VM boot,
# then the splat-scan self-test.  Ends with "N passed, N failed".
#
#   test.sh [--quick] [TEST...]
#
# --quick: only the quick-tier scripts (tests/run_all.sh --quick: the
# functional ones, no hardening workloads) and no splat-scan self-test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:$HOME/.cargo/bin

# --quick is passed through to tests/run_all.sh.
quick=()
[[ ${1:-} == --quick ]] && { quick=(--quick); shift; }

pass=0 fail=0
record() { # record NAME PASSED FAILED
	pass=$((pass + $2)) fail=$((fail + $3))
	log "$1: $2 passed, $3 failed"
}

"$IMP2_ROOT/scripts/build-all.sh" --check
# Host-side cargo tests (build-all ran them): count their results.
read -r hp hf < <(awk '/^test result:/ {p+=$4; f+=$6} END {print p+0, f+0}' "$IMP2_ROOT/build/cargo-test.log")
record "host cargo tests" "$hp" "$hf"

# All VM tests in one boot.
console=$IMP2_ROOT/build/vm/suite.log
vm_rc=0
"$IMP2_ROOT/scripts/vm-run.sh" --quiet --timeout "${IMP2_SUITE_TIMEOUT:-2400}" --log "$console" \
	"$IMP2_ROOT/tests/guest-suite.sh" "${quick[@]}" "$@" || vm_rc=$?
read -r vp vf vs < <(sed -n 's/^IMP2-KTAP-TOTALS: //p' "$console" | tr -d '\r' | tail -n1; echo)
vp=${vp:-0} vf=${vf:-0}
if (( vm_rc != 0 && vf == 0 )); then
	vf=1   # crashed, timed out or splatted without a failing test case
	log "VM run failed (exit $vm_rc) outside any test case: see $console"
fi
record "VM tests (${vs:-0} skipped)" "$vp" "$vf"

# The splat scan must catch a WARN_ON: this run has to FAIL.
if [[ $# -eq 0 && ${#quick[@]} -eq 0 ]]; then
	splat_log=$IMP2_ROOT/build/vm/splat-selftest.log
	out=$("$IMP2_ROOT/scripts/vm-run.sh" --quiet --timeout 300 --log "$splat_log" \
		"$IMP2_ROOT/tests/guest-splat-selftest.sh" 2>&1) && rc=0 || rc=$?
	if (( rc != 0 )) && grep -q 'FAIL: kernel splat scan' <<<"$out" && grep -q 'WARNING:' <<<"$out"; then
		record "splat-scan self-test (WARN_ON caught)" 1 0
	else
		printf '%s\n' "$out" | tail -n 20 >&2
		record "splat-scan self-test: WARN_ON was NOT caught (rc=$rc)" 0 1
	fi
fi

# Reliability figures (tests/imp2_fuzz.sh, _faults, _load_cycles, ...).
read -r splats leaks < <("$IMP2_ROOT/scripts/splat-scan.sh" --count "$console" | sed 's/[a-z]*=//g')
{
	echo "Reliability figures ($(date -u +%Y-%m-%d), one VM boot, TCG):"
	grep -ao 'IMP2-FIGURE: .*' "$console" | tr -d '\r' | sed 's/^IMP2-FIGURE: /  /'
	echo "  splats_found=$splats"
	echo "  leaks_found=$leaks"
} | tee "$IMP2_ROOT/build/figures.txt"

log "total time $(elapsed)"
echo "$pass passed, $fail failed"
(( fail == 0 ))
