#!/bin/bash
# imp2-tier: quick
# imp2-compat: unregistration against queued packets (nf_queue_nf_hook_drop())
# An NFQUEUE user beside imp2 (issue 17 part 4) loses and duplicates
# nothing while imp2's listeners come and go. Every nf_unregister_net_hook()
# flushes every NFQUEUE instance of its netns (nf_queue_nf_hook_drop():
# packets waiting for a verdict are dropped), and every registration in
# front of a queueing hook shifts its index, so that a packet accepted by
# userspace re-runs that hook (nf_reinject() resumes at hook_index + 1 of
# the current array) and is queued twice. By default imp2 therefore
# registers a netns's hooks on first use and keeps them until the netns
# exits; `hooks_on_demand=1` restores "hooks only while somebody listens".
#
# In netns A an nft chain at priority 0 (after imp2's -1) queues ICMP echo
# requests to queue 0; imp2_nfq_verdict holds each one for 30 ms before
# accepting it, and identifies it by (id, seq). B pings A while v2 monitors
# and 2007 clients in A are started and SIGKILLed in turn.
. "$(dirname "$0")/lib.sh"
ktap_plan 12
A=imp2-nfq-a B=imp2-nfq-b
tmp=$(mktemp -d)
pids=()
param=/sys/module/imp2/parameters/hooks_on_demand
# On any exit: stop our processes, and leave the default module loaded.
trap 'kill -KILL "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
	[[ $(cat $param 2>/dev/null) == Y ]] && imp2_unload && imp2_load
	cleanup_netns $A $B; rm -rf $tmp' EXIT

# Sizes. A ping every 50 ms whose echo request waits 30 ms in the queue:
# whenever a hook is registered or unregistered, a packet is waiting with
# probability ~0.6. One loop cycle (a v2 monitor for both families, then a
# 2007 client, each started, seen subscribed, SIGKILLed, seen gone) makes
# 3 registrations and 3 unregistrations (one flush each), so 3 cycles
# during the pings make the unfixed module fail with near certainty
# (0.4^18 < 1e-7); it has failed even with one. 300 pings (15 s) leave
# time for them where the VM runs at its usual speed. A cycle forks and
# execs a dozen times, and on a loaded host (TCG) it has taken 20 s: the
# warm-up cycle is timed and the pings scaled to last MIN_CYCLES * 1.5 of
# its durations, at most 2000 of them (100 s). ping -w: it stops at COUNT
# replies (a lost request makes it send more), so the generous deadline
# (4 times the nominal duration, plus 20 s) costs nothing; it only bounds a
# run that stalls.
N=300 N_MAX=2000 INTERVAL_MS=50 DELAY_MS=30 MIN_CYCLES=3
# The opt-in case only records its cost: fewer pings, the same loop.
N2=100
deadline() { echo $(($1 * INTERVAL_MS * 4 / 1000 + 20)); }

imp2_unload && imp2_load || { diag "(re)loading imp2 failed"; exit $KSFT_FAIL; }
setup_pair $A $B || { diag "topology setup failed"; exit $KSFT_FAIL; }

# skip_all REASON [DETAIL]: the kernel cannot run this test.
skip_all() {
	local i
	[[ ${2:-} ]] && diag "$2"
	for ((i = _ktap_n; i < _ktap_planned; i++)); do ktap_skip "$1"; done
	ktap_finish
}
# Debian's stock kernel has NFQUEUE as modules (scripts/guest/init loads
# the ones scripts/prepare-debian-kernel.sh staged); a modprobe is harmless
# where they are built in or absent.
modprobe -q nfnetlink_queue 2>/dev/null; modprobe -q nft_queue 2>/dev/null
[[ -e /proc/net/netfilter/nfnetlink_queue ]] ||
	skip_all "the kernel lacks CONFIG_NETFILTER_NETLINK_QUEUE" "no /proc/net/netfilter/nfnetlink_queue"
if ! out=$(in_netns $A nft -f - 2>&1 <<-'EOF'
	table inet imp2q {
		chain pre {
			type filter hook prerouting priority 0; policy accept;
			icmp type echo-request queue num 0
		}
	}
	EOF
); then
	skip_all "the kernel lacks CONFIG_NFT_QUEUE" "nft cannot queue: $(echo $out)"
fi

# imp2_hooks NETNS: the families ("ip", "ip6") in which imp2 has a hook
# registered in NETNS (see imp2_idle_hooks.sh).
imp2_hooks() {
	local family out found=()
	for family in ip ip6; do
		out=$(in_netns "$1" nft list hooks $family 2>&1) || { echo "nft-failed"; return; }
		[[ $out == *"[imp2]"* ]] && found+=($family)
	done
	echo "${found[*]}"
}
hooks_are() { [[ $(imp2_hooks "$1") == "$2" ]]; }
have_hook_list=1
[[ $(imp2_hooks $A) == nft-failed ]] && have_hook_list=0
# expect_hooks NAME WANT: a check (a skip without nfnetlink_hook) that
# netns A's imp2 hooks become WANT within 5 s (URELEASE is asynchronous).
expect_hooks() {
	if (( ! have_hook_list )); then ktap_skip "$1: nft list hooks unavailable"; return; fi
	busywait 5000 hooks_are $A "$2"
	check "$1 (hooks: '$(imp2_hooks $A)', want '$2')" hooks_are $A "$2"
}

# churn_once: a v2 monitor for both families, then a 2007 client, in A,
# each started, seen subscribed, SIGKILLed and seen gone. Returns 1 (and
# counts the cycle in `stuck`) if one of them was not seen in time.
stuck=0
churn_once() {
	local p late=()
	nsenter --net=/run/netns/$A "$(type -P imp2)" monitor --family ipv4,ipv6 >/dev/null 2>&1 &
	p=$!; pids+=($p)
	wait_listeners $A 1 || late+=("monitor up")
	kill -KILL $p; wait $p 2>/dev/null
	wait_listeners $A 0 || late+=("monitor gone")
	nsenter --net=/run/netns/$A "$(type -P imp2_2007_client)" >/dev/null 2>&1 &
	p=$!; pids+=($p)
	wait_subscribed $A || late+=("2007 client up")
	kill -KILL $p; wait $p 2>/dev/null
	wait_unsubscribed $A || late+=("2007 client gone")
	(( ${#late[@]} )) || return 0
	stuck=$((stuck + 1))
	(( stuck <= 3 )) && diag "listener cycle: not seen within 5 s: ${late[*]}"
	return 1
}

# queue_idle: queue 0 of A holds no packet (every one has its verdict).
queue_idle() {
	local num portid total rest
	read -r num portid total rest < <(in_netns $A cat /proc/net/netfilter/nfnetlink_queue; echo)
	[[ $total == 0 ]]
}

# run_pings TAG COUNT: the verdict client in A, COUNT pings from
# B, and churn_once in a loop for as long as they run. Sets cycles,
# transmitted/received (ping's statistics), answered (how many of icmp_seq
# 1..COUNT got their reply; missing: the first few that did not) and the
# verdict client's summary fields (nfq_received, nfq_unique, ...).
run_pings() {
	local tag=$1 count=$2 nfq ping f
	nsenter --net=/run/netns/$A "$(type -P imp2_nfq_verdict)" -q 0 -d $DELAY_MS -t 300 \
		>"$tmp/$tag.nfq" 2>&1 &
	nfq=$!; pids+=($nfq)
	busywait 5000 has_lines "$tmp/$tag.nfq" 1
	if ! grep -q '^nfq: bound to queue 0' "$tmp/$tag.nfq"; then
		diag "imp2_nfq_verdict: $(cat "$tmp/$tag.nfq")"
	fi
	nsenter --net=/run/netns/$B "$(type -P ping)" -c $count -i "$(printf 0.%03d $INTERVAL_MS)" -w "$(deadline $count)" 10.99.0.1 \
		>"$tmp/$tag.ping" 2>&1 &
	ping=$!; pids+=($ping)
	cycles=0
	while ! exited $ping; do
		churn_once
		cycles=$((cycles + 1))
	done
	wait $ping
	# The last requests may still be held: let them have their verdicts.
	busywait 5000 queue_idle
	# queue_number portid queue_total copy_mode copy_range queue_dropped
	# user_dropped id_sequence 1
	diag "$tag: /proc/net/netfilter/nfnetlink_queue: $(in_netns $A cat /proc/net/netfilter/nfnetlink_queue)"
	kill -TERM $nfq; wait $nfq
	read -r transmitted received < <(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$tmp/$tag.ping"; echo)
	transmitted=${transmitted:-0} received=${received:-0}
	read -r answered missing < <(awk -v n=$count '
		/icmp_seq=/ { match($0, /icmp_seq=[0-9]+/); s = substr($0, RSTART + 9, RLENGTH - 9) + 0
			if (s >= 1 && s <= n && !seen[s]++) got++ }
		END { for (s = 1; s <= n && m < 5; s++) if (!seen[s]) { l = l (m++ ? "," : "") s }
			print got + 0, (l == "" ? "none" : l) }' "$tmp/$tag.ping")
	for f in received verdicts refused echo unique duplicates other enobufs; do
		printf -v "nfq_$f" '%s' "$(sed -n "s/^nfq-summary:.* $f=\([0-9]*\).*/\1/p" "$tmp/$tag.nfq")"
	done
	diag "$tag: $cycles listener cycles ($stuck not seen in time); ping: $transmitted transmitted, $received received, $answered of 1..$count answered (missing: $missing)"
	diag "$tag: $(grep -h '^nfq-summary' "$tmp/$tag.nfq" || echo "no summary from imp2_nfq_verdict: $(tail -n3 "$tmp/$tag.nfq")")"
	grep -q '^nfq: duplicate' "$tmp/$tag.nfq" && diag "$tag: first duplicates: $(grep '^nfq: duplicate' "$tmp/$tag.nfq" | head -n3 | tr '\n' ';')"
	return 0
}

# --- default: hooks registered on first use, kept --------------------------
mark=$(kmsg_mark nfqueue-default)
check "default module: hooks_on_demand is off (reads '$(cat $param 2>/dev/null || echo absent)')" \
	test "$(cat $param 2>/dev/null)" = N
# The first listeners register the hooks (before any packet is queued:
# that registration itself would shift the nft chain under one).
t0=${EPOCHREALTIME/./}
churn_once
warm_ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
expect_hooks "default: the hooks stay after the first listeners left" "ip ip6"
want=$(( MIN_CYCLES * 3 * warm_ms / 2 / INTERVAL_MS ))
(( want > N )) && N=$(( want < N_MAX ? want : N_MAX ))
diag "the warm-up listener cycle took $warm_ms ms: $N pings"

stuck=0
run_pings default $N
check "listeners came and went during the pings ($cycles cycles, $stuck incomplete, want >= $MIN_CYCLES complete)" \
	test $((cycles - stuck)) -ge $MIN_CYCLES
check "every echo request answered ($answered of icmp_seq 1..$N, missing: $missing; ping: $transmitted sent, $received received)" \
	test "$answered" -eq $N
check "the NFQUEUE client saw each echo request once (${nfq_unique:-?} distinct of $transmitted sent, ${nfq_duplicates:-?} duplicates, ${nfq_other:-?} other)" \
	test "${nfq_unique:-0}" -eq "$transmitted" -a "${nfq_duplicates:-1}" -eq 0 -a "${nfq_other:-1}" -eq 0
check "nothing dropped from the queue (${nfq_refused:-?} verdicts refused of ${nfq_verdicts:-?}, ${nfq_enobufs:-?} ENOBUFS)" \
	test "${nfq_refused:-1}" -eq 0 -a "${nfq_enobufs:-1}" -eq 0 -a "${nfq_verdicts:-0}" -eq "${nfq_received:--1}"
check "no kernel splat (default)" no_splat_since "$mark"

# --- hooks_on_demand=1: the old behaviour, its cost recorded ---------------
mark=$(kmsg_mark nfqueue-on-demand)
imp2_unload && imp2_load hooks_on_demand=1
check "rmmod, insmod hooks_on_demand=1 (hooks_on_demand reads '$(cat $param 2>/dev/null || echo absent)')" \
	test "$(cat $param 2>/dev/null)" = Y
stuck=0
run_pings on_demand $N2
diag "hooks_on_demand=1 costs the NFQUEUE user: $((N2 - answered)) of icmp_seq 1..$N2 unanswered ($transmitted sent for $received replies)," \
	"${nfq_refused:-?} queued packets flushed, ${nfq_duplicates:-?} queued twice, in $cycles listener cycles"
# The opt-in still takes the hooks away with the last listener.
nsenter --net=/run/netns/$A "$(type -P imp2)" monitor --family ipv4,ipv6 >/dev/null 2>&1 &
mon=$!; pids+=($mon)
wait_listeners $A 1
expect_hooks "hooks_on_demand=1: a listener brings both hooks" "ip ip6"
kill -KILL $mon; wait $mon 2>/dev/null
expect_hooks "hooks_on_demand=1: the last listener killed takes them away" ""
check "no kernel splat (hooks_on_demand=1)" no_splat_since "$mark"

check "the default module reloaded" bash -c "rmmod imp2 && insmod $IMP2_KO && test \"\$(cat $param)\" = N"
ktap_finish
