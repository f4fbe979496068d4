# shellcheck shell=bash
# kselftest-style helpers for the imp2 tests (run inside the test VM).
#
# Each test script: source this, call ktap_plan N, run checks with
# ktap_ok / ktap_fail / ktap_skip / check, and end with ktap_finish.
# Exit status follows kselftest: 0 pass, 1 fail, 4 skip.

KSFT_PASS=0 KSFT_FAIL=1 KSFT_SKIP=4
# Where the module, the test modules and the helpers are: beside the
# scripts in a `make kselftest-install` directory, else where the test VM
# puts them (/imp2).  IMP2_KO and IMP2_MODULES override.
_imp2_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -f $_imp2_here/imp2.ko ]]; then
	IMP2_KO=${IMP2_KO:-$_imp2_here/imp2.ko}
	IMP2_MODULES=${IMP2_MODULES:-$_imp2_here/modules}
	[[ -d $_imp2_here/bin && :$PATH: != *":$_imp2_here/bin:"* ]] && PATH=$_imp2_here/bin:$PATH
fi
IMP2_KO=${IMP2_KO:-/imp2/imp2.ko}
IMP2_MODULES=${IMP2_MODULES:-/imp2/modules}
[[ -d /imp2/bin && :$PATH: != *":/imp2/bin:"* ]] && PATH=/imp2/bin:$PATH
export PATH
_ktap_n=0 _ktap_pass=0 _ktap_fail=0 _ktap_skip=0 _ktap_planned=0

ktap_plan() {
	_ktap_planned=$1
	echo "KTAP version 1"
	echo "1..$1"
}

ktap_ok()   { _ktap_n=$((_ktap_n + 1)); _ktap_pass=$((_ktap_pass + 1)); echo "ok $_ktap_n $*"; }
ktap_fail() { _ktap_n=$((_ktap_n + 1)); _ktap_fail=$((_ktap_fail + 1)); echo "not ok $_ktap_n $*"; }
ktap_skip() { _ktap_n=$((_ktap_n + 1)); _ktap_skip=$((_ktap_skip + 1)); echo "ok $_ktap_n $* # SKIP"; }
diag()      { echo "# $*"; }

# check DESCRIPTION CMD...: one test case, passing iff CMD succeeds.
check() {
	local desc=$1; shift
	if "$@"; then ktap_ok "$desc"; else ktap_fail "$desc"; return 1; fi
}

ktap_finish() {
	if (( _ktap_n != _ktap_planned )); then
		diag "planned $_ktap_planned tests but ran $_ktap_n"
		_ktap_fail=$((_ktap_fail + 1))
	fi
	diag "totals: pass:$_ktap_pass fail:$_ktap_fail skip:$_ktap_skip"
	if (( _ktap_fail )); then exit $KSFT_FAIL; fi
	if (( _ktap_pass == 0 && _ktap_skip > 0 )); then exit $KSFT_SKIP; fi
	exit $KSFT_PASS
}

# busywait TIMEOUT_MS CMD...: retry CMD until it succeeds or time runs out.
# CMD is best a shell function (see has_lines, subscribed): every fork and
# exec costs tens of milliseconds in the emulated, KASAN-instrumented VM.
busywait() {
	local timeout_ms=$1; shift
	local start now
	start=${EPOCHREALTIME/./}	# microseconds (busybox date has no %N)
	while true; do
		"$@" && return 0
		now=${EPOCHREALTIME/./}
		(( (now - start) / 1000 >= timeout_ms )) && { "$@"; return; }
		nap 0.05
	done
}

# nap SECS: busywait's poll interval, without exec'ing sleep: a read that
# times out on a pipe nobody writes to (we hold both ends).  Shells that
# only inherit the function (bash -c) fall back to sleep.  The read's
# timeout status (142) is swallowed: under `set -e` (the demo) it would end
# the script.
exec {_imp2_nap_fd}<> <(:)
nap() {
	if [[ ${_imp2_nap_fd:-} ]]; then read -r -t "$1" -u "$_imp2_nap_fd" || :; else sleep "$1"; fi
}

# has_lines FILE N: FILE holds at least N complete lines (no fork).
has_lines() {
	local i
	for ((i = 0; i < $2; i++)); do read -r || return 1; done 2>/dev/null <"$1"
}

# exited PID: the process is gone.
exited() { ! kill -0 "$1" 2>/dev/null; }

# Allocation-failure reports (warn_alloc: "Call Trace:" and all) are the
# expected result of fault injection: the splat scan tolerates them, and
# only them, between these two markers.
fault_injection_begin() { echo "IMP2-FAULT-INJECTION-BEGIN" >/dev/kmsg; }
fault_injection_end() { echo "IMP2-FAULT-INJECTION-END" >/dev/kmsg; }

# kmsg_mark NAME: clear the kernel's log buffer (the runner reads the
# serial console, which keeps everything) and write a unique marker line to
# it; prints the marker, which records the kernel's taint flags.
kmsg_mark() {
	local m="IMP2-MARK-$1-$$-${EPOCHREALTIME/./}-taint=$(cat /proc/sys/kernel/tainted)"
	dmesg -c >/dev/null   # busybox: print and clear
	echo "$m" >/dev/kmsg
	echo "$m"
}

# Taint bits that mean a splat: B (bad page: KASAN reports), D (oops),
# W (warning), L (soft lockup).
SPLAT_TAINTS=$(( (1 << 5) | (1 << 7) | (1 << 9) | (1 << 14) ))

# no_splat_since MARK: no KASAN report, BUG, WARNING, lockdep report, RCU
# stall or hung task since MARK. The runner's scan of the whole console
# catches them too; this turns them into the failing test case that caused
# them. The whole buffer is searched (it was cleared at MARK: a flood of
# reports can push the marker itself out), and new taint flags count too.
no_splat_since() {
	local found before=${1##*-taint=} now
	now=$(cat /proc/sys/kernel/tainted)
	found=$(dmesg | grep -E 'BUG: KASAN|BUG:|WARNING:|possible circular locking|inconsistent lock state|rcu: INFO: .*detected.* stall|self-detected stall|INFO: task .* blocked for more than' | head -n3)
	if (( (now & ~before) & SPLAT_TAINTS )); then
		found+="${found:+$'\n'}kernel newly tainted: $before -> $now"
	fi
	[[ -z $found ]] && return 0
	diag "kernel log after $1:"
	diag "$found"
	return 1
}

# knob NAME [VALUE]: read or set a test-only module parameter (built only
# with IMP2_TEST_KNOBS=1, see src/test_knobs.rs).
knob() {
	local f=/sys/module/imp2/parameters/$1
	if (( $# > 1 )); then echo "$2" >"$f"; else cat "$f"; fi
}

# require_knobs: skip the whole script unless the loaded module has the
# test knobs (a release build of imp2.ko has none).
require_knobs() {
	[[ -e /sys/module/imp2/parameters/test_hook_delay_us ]] && return 0
	ktap_skip "imp2.ko was built without IMP2_TEST_KNOBS=1"
	exit $KSFT_SKIP
}

# --- module helpers --------------------------------------------------------

imp2_loaded() { grep -q '^imp2 ' /proc/modules; }

imp2_load() {
	imp2_loaded && return 0
	insmod "$IMP2_KO" "$@"
}

imp2_unload() {
	imp2_loaded || return 0
	rmmod imp2
}

# in_netns NETNS CMD...: run CMD in the named netns.  Like `ip netns exec`
# minus its mount namespace and /sys remount, which nothing here needs;
# several times cheaper, for loops and polls.  CMD is looked up in PATH
# first: busybox nsenter would prefer its own applets (its ping has no -f).
# A background job whose PID gets signalled runs `nsenter --net=/run/netns/NS
# /full/path/CMD ...` itself: this function would run in a subshell.
in_netns() {
	local ns=$1 cmd=$2; shift 2
	[[ $cmd == */* ]] || { hash "$cmd" 2>/dev/null && cmd=${BASH_CMDS[$cmd]}; }   # no fork
	nsenter --net="/run/netns/$ns" "$cmd" "$@"
}

# imp2_counter NAME [NETNS [UNIT]]: one field of `imp2 stats --json`.
imp2_counter() {
	local name=$1 ns=${2:-} unit=${3:-31}
	local cmd=(imp2 stats --unit "$unit" --json)
	[[ $ns ]] && cmd=(in_netns "$ns" "${cmd[@]}")
	"${cmd[@]}" | sed -n "s/.*\"$name\":\([0-9]*\).*/\1/p"
}

# subscriber_port NETNS [UNIT]: the subscribed port id (0: nobody).
subscriber_port() { imp2_counter subscriber_portid "$1" "${2:-31}"; }

# subscribed NETNS [UNIT] / unsubscribed NETNS [UNIT]: is anybody subscribed?
subscribed() { local p; p=$(subscriber_port "$1" "${2:-31}"); [[ $p && $p != 0 ]]; }
unsubscribed() { local p; p=$(subscriber_port "$1" "${2:-31}"); [[ $p == 0 ]]; }
# wait_subscribed NETNS [UNIT] / wait_unsubscribed NETNS [UNIT]: up to 5 s.
wait_subscribed() { busywait 5000 subscribed "$1" "${2:-31}"; }
wait_unsubscribed() { busywait 5000 unsubscribed "$1" "${2:-31}"; }

# listener_count NETNS: the protocol v2 listeners of NETNS.
listener_count() { in_netns "$1" imp2 stats --json | grep -o '"port":[0-9]*' | wc -l; }
has_listeners() { [[ $(listener_count "$1") == "$2" ]]; }
# wait_listeners NETNS N: up to 5 s until NETNS has N v2 listeners.
wait_listeners() { busywait 5000 has_listeners "$1" "$2"; }

# --- topology --------------------------------------------------------------
# ip_batch NETNS CMD...: the ip commands CMD... ("addr add ...") from one ip
# process, in NETNS ("": the current one); stops at the first failure.
ip_batch() { local ns=$1; shift; printf '%s\n' "$@" | ip ${ns:+-n "$ns"} -b -; }

# setup_pair NS_A NS_B: two fresh namespaces joined by veth,
# NS_A=10.99.0.1/24 and NS_B=10.99.0.2/24.
setup_pair() {
	local a=$1 b=$2
	ip_batch "" "netns add $a" "netns add $b" \
		"link add veth-imp2 netns $a type veth peer name veth-imp2 netns $b" || return 1
	ip_batch "$a" "link set lo up" "addr add 10.99.0.1/24 dev veth-imp2" "link set veth-imp2 up" &&
		ip_batch "$b" "link set lo up" "addr add 10.99.0.2/24 dev veth-imp2" "link set veth-imp2 up" || return 1
	# First packet over veth waits for neighbour resolution; prime it.
	busywait 5000 in_netns "$b" ping -c1 -W1 -q 10.99.0.1 >/dev/null
}

# setup_pair6 NS_A NS_B: after setup_pair, IPv6 too: NS_A=fd00:99::1/64,
# NS_B=fd00:99::2/64 (no duplicate address detection), neighbours primed.
setup_pair6() {
	local a=$1 b=$2
	ip -n "$a" addr add fd00:99::1/64 dev veth-imp2 nodad || return 1
	ip -n "$b" addr add fd00:99::2/64 dev veth-imp2 nodad || return 1
	busywait 5000 ip netns exec "$b" ping -6 -c1 -W1 -q fd00:99::1 >/dev/null
}

cleanup_netns() {
	local ns
	for ns in "$@"; do echo "netns del $ns"; done | ip -force -b - 2>/dev/null
	return 0
}

# Helpers used from `bash -c` in checks.
export -f in_netns imp2_counter imp2_loaded subscriber_port busywait nap has_lines exited listener_count has_listeners
