#!/usr/bin/env bash
# The whole test suite, from nothing: toolchain, test kernels, modules,
# tools, host-side tests and lints, then the kselftest scripts in one VM
# boot per kernel, then the splat-scan self-test.  Ends with "N passed, N
# failed".
#
#   scripts/test.sh [--quick] [TEST...]
#
# Unset IMP2_KERNEL, three kernels, in legs that overlap (below):
#   6.12        our debug kernel (KASAN, lockdep, kmemleak, failslab): every
#               script, hardening workloads at full scale;
#   debian-7.3  Debian's stock kernel, no build: the functional scripts
#               ("# imp2-tier: quick");
#   7.3         the same debug config on 7.3: the scripts that test what
#               differs between kernels ("# imp2-compat: WHY"), the
#               hardening workloads among them scaled down.
# IMP2_KERNEL=K: every script on K (the quick ones on debian-7.3).
# --quick: the functional scripts on Debian's stock kernel (IMP2_KERNEL
# picks another).  TEST...: only these scripts, on the selected kernels.
#
# The legs.  A kernel build keeps both cores busy; a TCG guest uses about
# one.  So while one kernel's suite runs in the VM, the next kernel is
# built or prepared, at a lower priority (nice) so that the guest's timing
# does not suffer.  Every leg has its own log (build/legs/), build tree
# (build/k/<kernel>/, the cache's kernel-<key>/) and console log
# (build/vm/suite-<kernel>.log); a failing leg fails only what depends on
# it.  The summary gives each leg's time and what it overlapped.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:$HOME/.cargo/bin

quick=0
[[ ${1:-} == --quick ]] && { quick=1; shift; }
tests=("$@")
if [[ ${IMP2_KERNEL:-} ]]; then kernels=("$(imp2_kernel)")
elif (( quick )); then kernels=(debian-7.3)
else kernels=("${IMP2_DEFAULT_KERNELS[@]}"); fi
unset IMP2_KERNEL KDIR   # each leg sets its own

legs=$IMP2_ROOT/build/legs
rm -rf "$legs" && mkdir -p "$legs" "$IMP2_ROOT/build/vm"
: >"$IMP2_ROOT/build/figures.txt"

# --- legs -------------------------------------------------------------------
# A step writes build/legs/STEP.{log,time,rc} and, for results, lines
# "NAME<TAB>PASSED<TAB>FAILED" to build/legs/STEP.result.
now() { date +%s; }
step() { # step NAME CMD...: run CMD, its output in the step's log
	local name=$1 rc=0 t0; shift
	t0=$(now)
	echo "$t0" >"$legs/$name.start"
	"$@" >"$legs/$name.log" 2>&1 || rc=$?
	echo "$t0 $(now)" >"$legs/$name.time"
	echo "$rc" >"$legs/$name.rc.tmp" && mv "$legs/$name.rc.tmp" "$legs/$name.rc"   # await reads it
	rm -f "$legs/$name.start"
	if (( rc )); then
		log "FAILED: $name after $(( $(now) - t0 ))s (log: build/legs/$name.log); its tail:"
		tail -n 25 "$legs/$name.log" | sed 's/^/    /' >&2
	else
		log "$name: done in $(( $(now) - t0 ))s"
	fi
	return "$rc"
}
result() { printf '%s\t%s\t%s\n' "$2" "$3" "$4" >>"$legs/$1.result"; }
# await STEP PID: wait until STEP, run by PID, has finished; fails unless
# it passed (or if PID died without saying).
await() {
	while [[ ! -f $legs/$1.rc ]]; do
		kill -0 "$2" 2>/dev/null || { sleep 1; [[ -f $legs/$1.rc ]] || return 1; }
		sleep 2
	done
	[[ $(cat "$legs/$1.rc") == 0 ]]
}

# What each kernel's VM run runs.
suite_args() { # KERNEL FIRST_DEBUG
	if (( ${#tests[@]} )); then printf '%s\n' "${tests[@]}"
	elif [[ $1 == debian-* ]] || (( quick )); then echo --quick
	elif (( ${#kernels[@]} > 1 && ! $2 )); then echo --compat
	fi
}

build_leg() { # KERNEL: the kernel (cached, built or prepared) and its modules
	local k=$1 variants=()
	# --quick builds only the module the VM runs; the full run also checks
	# the release build.
	(( quick )) && variants=(--knobs-only)
	IMP2_KERNEL=$k "$IMP2_ROOT/scripts/build-kernel.sh" >/dev/null &&
		IMP2_KERNEL=$k "$IMP2_ROOT/scripts/build-modules.sh" "${variants[@]}" >/dev/null
}

# How many VMs share a suite: 2 where it would otherwise run alone on the
# host (in the default run, the 7.3 leg once the 6.12 lane is done; and
# --quick), since one TCG guest waits much of the time and kept the 2 cores
# only ~25 % busy during the cold run's last leg.  Beside another suite or
# a build, 1: a second VM would only take their CPU, and their guests'
# timing checks would suffer.  Explicit scripts and the kselftest pass
# (which compares both runners within one boot) stay in one VM.
# IMP2_SUITE_SHARDS=N sets it for every suite that may be split.
suite_shards() { # KERNEL ARGS...
	local k=$1 f; shift
	if (( ${#tests[@]} )) || [[ ${1:-} == --kselftest ]] || (( $# > 1 )); then echo 1; return; fi
	if [[ ${IMP2_SUITE_SHARDS:-} ]]; then echo "$IMP2_SUITE_SHARDS"; return; fi
	for f in "$legs"/suite-*.start "$legs"/build-*.start "$legs"/splat-selftest.start; do
		[[ -e $f && $f != "$legs/suite-$k.start" ]] && { echo 1; return; }
	done
	echo 2
}

# shard_scripts KERNEL N [SELECTION]: the scripts of run_all.sh's SELECTION
# (all by default) dealt to N VMs, one line per VM that gets any, the
# longest first to the least loaded (guest seconds per script on KERNEL
# from the last recorded default run, docs/figures/test-run.txt; 30 s for a
# script it lacks).  Fails if the list does, or names something odd.
shard_scripts() {
	local k=$1 n=$2 list; shift 2
	list=$(bash "$IMP2_ROOT/tests/run_all.sh" --list "$@") || { printf '%s\n' "$list" >&2; return 1; }
	python3 -c '
import re, sys
k, n, figures, listed = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
if not listed or not all(re.fullmatch(r"imp2_[a-z0-9_]+\.sh", s) for s in listed):
    sys.exit("run_all.sh --list gave no script list: %r" % listed[:5])
secs = {}
try:
    for line in open(figures):
        found = re.findall(r"(\w+): (\d+)s", line[len(k) + 4:])
        if line.startswith("  " + k + ": ") and found:
            secs = {m[0]: int(m[1]) for m in found}
except OSError:
    pass
cost = lambda s: secs.get(s[len("imp2_"):-len(".sh")], 30)
load, shards = [0] * n, [[] for _ in range(n)]
for s in sorted(listed, key=lambda s: -cost(s)):
    i = load.index(min(load))
    load[i] += cost(s)
    shards[i].append(s)
for sh in shards:
    if sh:
        print(" ".join(sorted(sh)))
' "$k" "$n" "$IMP2_ROOT/docs/figures/test-run.txt" "$list"
}

suite_leg() { # KERNEL FIRST_DEBUG
	local k=$1 first=$2 args
	mapfile -t args < <(suite_args "$k" "$first")
	# The second debug kernel runs its hardening workloads at half their
	# scale or less (values the caller set win): what differs there is the
	# compat layer, not the volume.
	if [[ $k != debian-* ]] && (( ! first )); then
		export IMP2_CYCLES=${IMP2_CYCLES:-10} IMP2_CHURN=${IMP2_CHURN:-10}
		export IMP2_TEARDOWN_CYCLES=${IMP2_TEARDOWN_CYCLES:-4}
	fi
	# (Debian's kernel boots with one vCPU: scripts/vm-run.sh says why.)
	# The timeout: the 6.12 suite takes about 30 minutes of TCG guest time
	# alone on a slow day, and a suite beside another leg's VM or build
	# runs slower.
	local vm_opts=(--quiet --timeout "${IMP2_SUITE_TIMEOUT:-3600}")
	# Where a full run gives a kernel the quick tier (Debian's), it runs a
	# second time through the kernel's own kselftest runner, from a
	# `make kselftest-install` directory (not in --quick: that is for speed).
	if [[ ${args[*]} == --quick ]] && (( ! quick )); then
		local ksft=$IMP2_ROOT/build/k/$k/kselftest
		if ! INSTALL_PATH=$ksft IMP2_KERNEL=$k IMP2_MODDIR=$IMP2_ROOT/build/k/$k \
			"$IMP2_ROOT/scripts/kselftest-install.sh" >/dev/null; then
			result "suite-$k" "$k: make kselftest-install failed (build/legs/suite-$k.log)" 0 1
			return 1
		fi
		vm_opts+=(--copy "$ksft:/imp2/kselftest")
		args=(--kselftest "${args[@]}")
	fi
	local n consoles=() shard_args=() what=${args[*]:-all scripts}
	n=$(suite_shards "$k" "${args[@]}")
	if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
		result "suite-$k" "$k: VM tests not run: IMP2_SUITE_SHARDS='$n' is not a count of VMs" 0 1
		return 1
	fi
	if (( n > 1 )); then
		# (suite_shards splits only a single selection, or none: all.)
		local dealt
		if ! dealt=$(shard_scripts "$k" "$n" "${args[@]}"); then
			result "suite-$k" "$k: VM tests not run: run_all.sh --list ${args[*]} failed (build/legs/suite-$k.log)" 0 1
			return 1
		fi
		mapfile -t shard_args <<<"$dealt"
		n=${#shard_args[@]}
		what+=" in $n VMs"
	fi
	local i pids=() rcs=() vm_args
	for ((i = 0; i < n; i++)); do
		consoles+=("$IMP2_ROOT/build/vm/suite-$k$( ((n > 1)) && echo "-$((i + 1))").log")
		rm -f "${consoles[i]}"   # never count an earlier run's
		if (( n > 1 )); then read -ra vm_args <<<"${shard_args[i]}"; else vm_args=("${args[@]}"); fi
		IMP2_KERNEL=$k IMP2_MODDIR=$IMP2_ROOT/build/k/$k "$IMP2_ROOT/scripts/vm-run.sh" "${vm_opts[@]}" \
			--log "${consoles[i]}" "$IMP2_ROOT/tests/guest-suite.sh" "${vm_args[@]}" \
			>"$legs/suite-$k.vm$i.out" 2>&1 & pids+=($!)
	done
	for ((i = 0; i < n; i++)); do
		rcs[i]=0
		wait "${pids[i]}" || rcs[i]=$?
		cat "$legs/suite-$k.vm$i.out"
	done
	local tp=0 tf=0 ts=0 failed_all=() ok=1 console vp vf vs failed
	for ((i = 0; i < n; i++)); do
		console=${consoles[i]}
		[[ -e $console ]] || : >"$console"   # the VM never started
		read -r vp vf vs < <(sed -n 's/^IMP2-KTAP-TOTALS: //p' "$console" | tr -d '\r' | tail -n1; echo)
		[[ $vp$vf$vs =~ ^[0-9]+$ ]] || vp=0 vf=0 vs=0   # none, or garbled by kernel output
		# Guest time per script, before the verdicts (a failing step's
		# log tail shows those).
		tr -d '\r' <"$console" | grep -a '^# imp2_.*: [0-9]*s$' | sed 's/^# /  /' || true
		if (( rcs[i] != 0 && vf == 0 )) || (( vp + vf == 0 )); then
			vf=1   # crashed, timed out, splatted or ran nothing, without a failing test case
			echo "VM run on $k failed (exit ${rcs[i]}) outside any test case: see $console"
		fi
		(( rcs[i] == 0 && vf == 0 )) || ok=0
		tp=$((tp + vp)) tf=$((tf + vf)) ts=$((ts + vs))
		failed=$(tr -d '\r' <"$console" | sed -n 's/^# failed scripts: //p' | tail -n1)
		[[ $failed ]] && failed_all+=("$failed")
	done
	result "suite-$k" "$k: VM tests, $what ($ts skipped)${failed_all[*]:+; failed: ${failed_all[*]}}" "$tp" "$tf"
	# Our KTAP as the kernel's own parser reads it (kunit.py, from this
	# kernel's source): the same verdict for every script.
	local kunit_py out vm=
	kunit_py=$(readlink -f "$(kernel_link "$k")/source")/tools/testing/kunit/kunit.py
	for console in "${consoles[@]}"; do
		(( n > 1 )) && vm=" (${console##*/})"
		if out=$(python3 "$IMP2_ROOT/scripts/ktap_check.py" "$kunit_py" "$console" 2>&1); then
			result "suite-$k" "$k$vm: $out" 1 0
		else
			echo "$out"
			result "suite-$k" "$k$vm: kunit.py parse disagrees with run_all.sh: $(tr '\n\t' '  ' <<<"$out")" 0 1
			ok=0
		fi
	done
	# Reliability figures (tests/imp2_fuzz.sh, _faults, _load_cycles, ...).
	local splats=0 leaks=0 s l figures
	for console in "${consoles[@]}"; do
		read -r s l < <("$IMP2_ROOT/scripts/splat-scan.sh" --count "$console" | sed 's/[a-z]*=//g')
		splats=$((splats + s)) leaks=$((leaks + l))
	done
	figures=$(cat "${consoles[@]}" | grep -ao 'IMP2-FIGURE: .*' | tr -d '\r' | sed 's/^IMP2-FIGURE: /  /' || true)
	if [[ $figures ]]; then
		{
			echo "Reliability figures on $k ($(date -u +%Y-%m-%d), $n VM boot$( ((n > 1)) && echo s), TCG):"
			echo "$figures"
			echo "  splats_found=$splats"
			echo "  leaks_found=$leaks"
		} >"$legs/figures-$k.txt"
	fi
	# Each failing case with the diagnostics just before it, last: CI
	# shows only the failing step's log tail.
	cat "${consoles[@]}" | tr -d '\r' | awk '
		function show(line,   i) {
			print "  FAILED: " line
			for (i = (n > 8 ? n - 8 : 0); i < n; i++) print "    " ring[i % 8]
			n = 0
		}
		/^# KTAP version|^# 1\.\.|^KTAP version|^1\.\./ { n = 0; next }
		/^# not ok |^# kselftest runner: not ok / { show(substr($0, 3)); next }
		/^not ok / { show($0); next }
		/^# ok |^ok / { n = 0; next }
		/^# / { ring[n++ % 8] = substr($0, 3) }' || true
	(( ok ))
}

# The splat scan must catch a WARN_ON and a hung-task report: this run has
# to FAIL (once).
splat_selftest_leg() { # KERNEL
	local k=$1 out rc=0
	out=$(IMP2_KERNEL=$k IMP2_MODDIR=$IMP2_ROOT/build/k/$k "$IMP2_ROOT/scripts/vm-run.sh" --quiet --timeout 300 \
		--log "$IMP2_ROOT/build/vm/splat-selftest.log" "$IMP2_ROOT/tests/guest-splat-selftest.sh" 2>&1) || rc=$?
	if (( rc != 0 )) && grep -q 'FAIL: kernel splat scan' <<<"$out" && grep -q 'WARNING:' <<<"$out" &&
		grep -q 'INFO: task .* blocked for more than' <<<"$out"; then
		result splat-selftest "$k: splat-scan self-test (WARN_ON and hung-task report caught)" 1 0
	else
		printf '%s\n' "$out" | tail -n 20
		result splat-selftest "$k: splat-scan self-test: WARN_ON or hung-task report NOT caught (rc=$rc)" 0 1
		return 1
	fi
}

# The tools the VM runs (build-tools.sh), which the suites wait for; then,
# on their own, the host-side cargo tests and clippy (a failing lint there
# fails the run, not the VM suites).
tools_leg() {
	"$IMP2_ROOT/scripts/build-tools.sh" || { result tools "userspace tools build (build/legs/tools.log)" 0 1; return 1; }
}
host_check_leg() {
	local rc=0 hp hf
	(cd "$IMP2_ROOT/tools" && cargo test --release --locked 2>&1) | tee "$IMP2_ROOT/build/cargo-test.log" || rc=1
	read -r hp hf < <(awk '/^test result:/ {p+=$4; f+=$6} END {print p+0, f+0}' "$IMP2_ROOT/build/cargo-test.log")
	(( rc && ! hf )) && hf=1
	result host-check "host cargo tests" "$hp" "$hf"
	if (cd "$IMP2_ROOT/tools" && cargo clippy --release --locked --all-targets -- -D warnings 2>&1); then
		result host-check "host cargo clippy, -D warnings" 1 0
	else
		result host-check "host cargo clippy, -D warnings (build/legs/host-check.log)" 0 1; rc=1
	fi
	return "$rc"
}

# kernel_lane NICE KERNEL FIRST_DEBUG: build at niceness NICE, then (the
# tools built) the suite at the normal priority.
kernel_lane() {
	local nice=$1 k=$2 first=$3
	if ! ( renice -n "$nice" -p "$BASHPID" >/dev/null; step "build-$k" build_leg "$k" ); then
		result "build-$k" "$k: kernel and module build (build/legs/build-$k.log)" 0 1
		return 0
	fi
	if ! await tools "$tools_pid"; then
		result "suite-$k" "$k: VM tests not run: the tools failed to build" 0 1
		return 0
	fi
	step "suite-$k" suite_leg "$k" "$first" || true
	if (( first && ! ${#tests[@]} && ! quick )) && [[ $k != debian-* ]]; then
		step splat-selftest splat_selftest_leg "$k" || true
	fi
}

# --- the run ----------------------------------------------------------------
log "kernels: ${kernels[*]}${tests[*]:+; scripts: ${tests[*]}}$( ((quick)) && echo '; --quick')"
export IMP2_TOOLCHAIN_FOR="${kernels[*]}"
# Debian's packages download and unpack meanwhile (scripts/lib.sh).
prefetch_debian "${kernels[@]}" >/dev/null
# In the foreground, its progress on the terminal (and in its log).
toolchain_t0=$(now)
"$IMP2_ROOT/scripts/setup-toolchain.sh" 2>&1 | tee "$legs/toolchain.log" >&2 ||
	die "the toolchain could not be installed (log: build/legs/toolchain.log)"
echo "$toolchain_t0 $(now)" >"$legs/toolchain.time"

# Interrupted (CI's time limit, ^C): stop every leg, VMs and builds with it.
# The whole tree is listed first and stopped (SIGSTOP), so that no shell
# in it goes on to its next step while its child dies.
tree_of() { # PID: PID and all its descendants
	local c
	echo "$1"
	for c in $(pgrep -P "$1" 2>/dev/null); do tree_of "$c"; done
}
on_signal() { # EXIT_CODE
	trap - INT TERM
	log "interrupted: stopping every leg"
	local all=() p
	for p in $(jobs -p); do mapfile -t -O "${#all[@]}" all < <(tree_of "$p"); done
	if (( ${#all[@]} )); then
		kill -STOP "${all[@]}" 2>/dev/null || true
		kill -TERM "${all[@]}" 2>/dev/null || true
		kill -CONT "${all[@]}" 2>/dev/null || true
	fi
	exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

{ step tools tools_leg && step host-check host_check_leg; } & tools_pid=$!
lanes=() debug=() distro=()
if (( ${#kernels[@]} == 1 )); then
	kernel_lane 0 "${kernels[0]}" 1 & lanes+=($!)
else
	# Lane 1: the first debug kernel (6.12: the longest suite, so it
	# starts first), its build just below a VM's priority: Debian's guest
	# runs beside it.  Lane 2, its builds lower still: Debian's tree
	# (minutes, no build) and its suite, then the other debug kernels (7.3)
	# and their suites.  Suites run at the normal
	# priority, so that no build slows a guest's timing.
	for k in "${kernels[@]}"; do
		if [[ $k == debian-* ]]; then distro+=("$k"); else debug+=("$k"); fi
	done
	(( ${#debug[@]} )) && { kernel_lane 2 "${debug[0]}" 1 & lanes+=($!); }
	(
		for k in "${distro[@]}"; do kernel_lane 5 "$k" 0; done
		for k in "${debug[@]:1}"; do kernel_lane 10 "$k" 0; done
	) & lanes+=($!)
fi

# Progress: what runs, every minute.
while :; do
	alive=0
	for p in "${lanes[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	(( alive )) || break
	running=()
	for f in "$legs"/*.start; do
		[[ -e $f ]] || continue
		n=$(basename "$f" .start)
		t=$(cat "$f" 2>/dev/null) && [[ $t ]] || continue   # it may just have ended
		running+=("$n $(( $(now) - t ))s")
	done
	log "running: ${running[*]:-(waiting)}"
	for ((i = 0; i < 30; i++)); do
		alive=0
		for p in "${lanes[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		(( alive )) || break
		sleep 2
	done
done
wait

# --- summary ----------------------------------------------------------------
cat "$legs"/figures-*.txt >"$IMP2_ROOT/build/figures.txt" 2>/dev/null || true
[[ -s $IMP2_ROOT/build/figures.txt ]] && cat "$IMP2_ROOT/build/figures.txt" >&2
pass=0 fail=0
report=$legs/summary.txt
{
	echo "results:"
	for f in "$legs"/*.result; do
		[[ -e $f ]] || continue
		while IFS=$'\t' read -r name p f_; do
			pass=$((pass + p)) fail=$((fail + f_))
			printf '  %s: %s passed, %s failed\n' "$name" "$p" "$f_"
		done <"$f"
	done
	# A step that failed without a result of its own, or a kernel with no
	# result at all (a lane that died), fails the run too.
	for f in "$legs"/*.rc; do
		[[ -e $f && $(cat "$f") != 0 ]] || continue
		n=$(basename "$f" .rc)
		[[ -e $legs/$n.result ]] && continue
		fail=$((fail + 1))
		printf '  %s: failed without a result (build/legs/%s.log): 0 passed, 1 failed\n' "$n" "$n"
	done
	for k in "${kernels[@]}"; do
		[[ -e $legs/suite-$k.result || -e $legs/build-$k.result ]] && continue
		fail=$((fail + 1))
		printf '  %s: no result (its lane stopped early): 0 passed, 1 failed\n' "$k"
	done
	echo "legs (start, time, overlapped with):"
	for f in $(for t in "$legs"/*.time; do echo "$(cut -d' ' -f1 "$t") $t"; done | sort -n | cut -d' ' -f2); do
		read -r a b <"$f"
		n=$(basename "$f" .time) over=() cache=
		for g in "$legs"/*.time; do
			[[ $g == "$f" ]] && continue
			read -r c d <"$g"
			(( c < b && a < d )) && over+=("$(basename "$g" .time)")
		done
		if [[ $n == build-* ]]; then
			if grep -q 'cache hit' "$legs/$n.log"; then cache=" (cached)"; else cache=" (built)"; fi
		fi
		printf '  %-16s +%3dm%02ds %3dm%02ds%s  %s\n' "$n" $(( (a - _imp2_t0) / 60 )) $(( (a - _imp2_t0) % 60 )) \
			$(( (b - a) / 60 )) $(( (b - a) % 60 )) "$cache" "${over[*]:-alone}"
	done
	echo "per-script guest time:"
	for k in "${kernels[@]}"; do
		[[ -f $legs/suite-$k.log ]] || continue
		echo "  $k: $(grep -o '^  imp2_[a-z0-9_]*: [0-9]*s$' "$legs/suite-$k.log" | sed 's/^  imp2_//' | tr '\n' ' ')"
	done
	echo "total time $(elapsed): $pass passed, $fail failed"
} >"$report"
log "summary:"
cat "$report" >&2
# A default run (every kernel, every script) that passed records its
# figures where the docs link to them: docs/figures/.
if (( ${#kernels[@]} > 1 && ! ${#tests[@]} && ! quick && fail == 0 )); then
	figs=$IMP2_ROOT/docs/figures
	mkdir -p "$figs"
	rev=$(git -C "$IMP2_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
	stamp="$(date -u +%Y-%m-%d), commit $rev, $(nproc) cores"
	{ echo "# ./scripts/test.sh, $stamp"; cat "$report"; } >"$figs/test-run.txt"
	for f in "$legs"/figures-*.txt; do
		[[ -e $f ]] || continue
		k=${f##*/figures-}; k=${k%.txt}
		{ echo "# written by ./scripts/test.sh, $stamp"; cat "$f"; } >"$figs/reliability-$k.txt"
	done
	log "figures written to docs/figures/ (test-run.txt, reliability-*.txt)"
fi
echo "$pass passed, $fail failed"
(( fail == 0 ))
