# Runs inside the VM (via scripts/vm-run.sh): the kselftest scripts through
# tests/run_all.sh.
#
#   guest-suite.sh [--kselftest] [run_all.sh ARGS...]
#
# --kselftest: then the quick tier once more, through the kernel's own
# runner from a `make kselftest-install` directory copied to /imp2/kselftest
# (scripts/test.sh does), and one more test case: both runners gave every
# quick-tier script the same verdict.
ksft=0
[[ ${1:-} == --kselftest ]] && { ksft=1; shift; }
out=/tmp/run_all.out
bash /imp2/tests/run_all.sh "$@" | tee "$out"
rc=${PIPESTATUS[0]}
(( ksft )) || exit "$rc"

# verdicts FILE: "script verdict" per top-level result line of either
# runner ("ok 3 imp2_events", "ok 3 selftests: imp2: imp2_events.sh # SKIP").
verdicts() {
	sed -n -E 's/^(not ok|ok) [0-9]+ (selftests: imp2: )?(imp2_[a-z0-9_]+)(\.sh)?( # (SKIP|exit=[0-9]+|TIMEOUT.*))?.*$/\3 \1\5/p' "$1" |
		sed -E 's/ # (exit=|TIMEOUT).*//; s/ # SKIP/ skip/' | sort
}
quick=()
for t in /imp2/tests/imp2_*.sh; do
	grep -q '^# imp2-tier: quick' "$t" && quick+=("$(basename "$t")")
done
echo "# kselftest runner: run_kselftest.sh on the ${#quick[@]} quick-tier scripts"
args=()
for t in "${quick[@]}"; do args+=(-t "imp2:$t"); done
ks_out=/tmp/kselftest.out
(cd /imp2/kselftest && ./run_kselftest.sh "${args[@]}") | tee "$ks_out" | sed 's/^/# /'
mine=$(verdicts "$out" | grep -F -f <(printf '%s\n' "${quick[@]%.sh}" | sed 's/$/ /'))
theirs=$(verdicts "$ks_out")
read -r p f s < <(sed -n 's/^IMP2-KTAP-TOTALS: //p' "$out" | tail -n1)
if [[ $theirs && $mine == "$theirs" ]] && (( $(wc -l <<<"$theirs") == ${#quick[@]} )); then
	echo "# kselftest runner: ok 1 both runners agree on all ${#quick[@]} quick-tier scripts"
	p=$((p + 1))
else
	echo "# kselftest runner: not ok 1 the verdicts differ (run_all.sh, then run_kselftest.sh):"
	diff <(echo "$mine") <(echo "$theirs") | sed 's/^/#   /'
	f=$((f + 1)) rc=1
fi
echo "IMP2-KTAP-TOTALS: $p $f $s"
exit "$rc"
