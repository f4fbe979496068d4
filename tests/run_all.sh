#!/bin/bash
# Run the imp2 kselftest-style scripts inside the test VM and aggregate
# their KTAP output: each script is one top-level test whose own KTAP
# lines are nested as "# " diagnostics, kselftest-runner style.
#
#   run_all.sh [--list] [--quick|--compat] [TEST...]
#                              (default: every tests/imp2_*.sh, in order)
#
# --list prints the scripts the selection runs, one per line, and runs
# none (scripts/test.sh splits a suite across VMs with it).
#
# Each script declares its tier in a line "# imp2-tier: quick" (functional,
# seconds: runs in every tier) or "# imp2-tier: full" (hardening workloads:
# only in the full run).  --quick runs the quick-tier scripts only.
# --compat runs the scripts with a line "# imp2-compat: WHY", whatever their
# tier: those that test what differs between kernel versions (the compat
# layer, teardown and lifetimes, the race windows the test knobs widen, hook
# registration), for the second debug kernel.
cd "$(dirname "$0")" || exit 1
export PATH=/imp2/bin:$PATH

quick=0 compat=0 list=0
[[ ${1:-} == --list ]] && { list=1; shift; }
case ${1:-} in
--quick) quick=1; shift ;;
--compat) compat=1; shift ;;
esac
tests=("$@")
if (( ! ${#tests[@]} )); then
	untagged=()
	for t in imp2_*.sh; do
		tier=$(sed -n 's/^# imp2-tier: *\([a-z]*\).*/\1/p' "$t")
		if (( compat )); then
			grep -q '^# imp2-compat: ' "$t" && [[ $tier ]] && tests+=("$t")
			[[ $tier ]] || untagged+=("$t")
			continue
		fi
		case $tier in
		quick) tests+=("$t") ;;
		full) (( quick )) || tests+=("$t") ;;
		*) untagged+=("$t") ;;
		esac
	done
	if (( ${#untagged[@]} )); then
		echo "Bail out! no '# imp2-tier: quick|full' line in: ${untagged[*]} (add one under the script's header comment)"
		echo "IMP2-KTAP-TOTALS: 0 1 0"
		exit 1
	fi
fi

if (( list )); then
	printf '%s\n' "${tests[@]}"
	exit 0
fi
echo "KTAP version 1"
echo "1..${#tests[@]}"
pass=0 fail=0 skip=0 n=0 failed_scripts=()
for t in "${tests[@]}"; do
	n=$((n + 1))
	out=$(mktemp)
	start=${EPOCHREALTIME/./}
	timeout 900 bash "./$t" >"$out" 2>&1
	rc=$?
	secs=$(( (${EPOCHREALTIME/./} - start) / 1000000 ))
	sed 's/^/# /' "$out"
	echo "# ${t%.sh}: ${secs}s"
	p=$(grep -c '^ok .*[^#]*$' "$out" | head -n1)
	sk=$(grep -c '^ok .*# SKIP' "$out")
	f=$(grep -c '^not ok ' "$out")
	p=$((p - sk))
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + sk))
	case $rc in
	0) echo "ok $n ${t%.sh}" ;;
	4) echo "ok $n ${t%.sh} # SKIP" ;;
	*)
		# A script that dies without a "not ok" still counts as a failure.
		(( f == 0 )) && fail=$((fail + 1))
		failed_scripts+=("$t")
		echo "not ok $n ${t%.sh} # exit=$rc" ;;
	esac
	rm -f "$out"
done
echo "# imp2 VM tests: $pass passed, $fail failed, $skip skipped"
(( ${#failed_scripts[@]} )) && echo "# failed scripts: ${failed_scripts[*]}"
echo "IMP2-KTAP-TOTALS: $pass $fail $skip"
(( fail == 0 ))
