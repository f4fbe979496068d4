#!/bin/bash
# imp2-tier: quick
# Issue 17: what anybody can make the kernel socket hold, and do, is
# bounded.  Anybody may send to port 0 of our unit.  Two processes without
# any capability flood it, one with one-message datagrams, one with ~208 KB
# datagrams of ~13,000 16-byte messages of an unknown type (no NLM_F_ACK).
# Their requests are handled in their own sendmsg() and never queued, so
# the kernel socket's receive memory (Rmem in /proc/net/netlink) stays
# under 1 MiB, MemAvailable falls by at most 64 MB, root's subscribes are
# each acked within 1 s, and an unprivileged datagram that asks for an ack
# is answered at once; nothing is refused.  The flooders die on SIGKILL and
# Rmem is back near 0.  The same flood from an unprivileged user's own
# user+net namespace (`unshare -rn`: CAP_NET_ADMIN over that netns, so its
# requests are queued, at most IMP2_INBOX_ADMIN_BYTES, 256 KiB) keeps that
# netns's Rmem under 1 MiB too; there the excess is refused with ENOBUFS
# and counted in requests_refused.
. "$(dirname "$0")/lib.sh"
ktap_plan 12
A=imp2-flood-a
UNIT=31
RMEM_LIMIT=$((1 << 20))		# bytes
RMEM_DRAINED=4096		# bytes: "back near 0"
MEM_DROP_LIMIT=$((64 * 1024))	# kB
# Safety valve: a module that does not bound the queue (the test has failed
# by then) must not take the VM's 2 GB with it; past this the flooders are
# stopped at once.
RMEM_VALVE=$((256 << 20))	# bytes
ENOBUFS=-105 EOPNOTSUPP=-95
tmp=$(mktemp -d)
chmod 755 "$tmp"	# the userns case (uid 65534) writes in $tmp/u
pids=()
# Every background job is disowned once started: bash still reaps it, but
# prints no "Killed" notice for it.

# dead PID...: every PID is gone (or a zombie: a flooder whose parent does
# not reap it).  A flooder that is draining the queue inside sendmsg() only
# dies when sendmsg() returns.
dead() {
	local p stat
	for p; do
		exited "$p" && continue
		read -r stat 2>/dev/null <"/proc/$p/stat" || continue
		stat=${stat##*) }
		[[ ${stat:0:1} == Z ]] || return 1
	done
}

cleanup() {
	if (( ${#pids[@]} )); then
		kill -KILL "${pids[@]}" 2>/dev/null
		# On a module whose drain never ends, do not hand a CPU stuck in
		# it to the next script without saying so.
		busywait 60000 dead "${pids[@]}" || diag "cleanup: still alive 60 s after SIGKILL: ${pids[*]}"
	fi
	cleanup_netns $A
	rm -rf "$tmp"
}
trap cleanup EXIT

# kernel_rmem PID: sets rmem to the Rmem of the kernel socket of unit $UNIT
# (Eth $UNIT, Pid 0: user sockets are listed once bound, with their port id)
# in PID's netns; fails if there is none.  No fork.
kernel_rmem() {
	local sk eth port groups r rest
	rmem=
	while read -r sk eth port groups r rest; do
		[[ $eth == "$UNIT" && $port == 0 ]] && { rmem=$r; break; }
	done 2>/dev/null <"/proc/$1/net/netlink"
	[[ $rmem ]]
}
rmem_below() { kernel_rmem "$2" && (( rmem < $1 )); }

# mem_available: sets memavail to MemAvailable (kB).  No fork.
mem_available() {
	local k v u
	memavail=
	while read -r k v u; do
		[[ $k == MemAvailable: ]] && { memavail=$v; return 0; }
	done </proc/meminfo
	return 1
}

# sample PID: one sample of the kernel socket's Rmem in PID's netns (the
# maximum is kept) and of MemAvailable (the minimum).  Past RMEM_VALVE it
# kills the flooders, ${flooders[@]}.
sample() {
	samples=$((samples + 1))
	if kernel_rmem "$1"; then
		rmem_samples=$((rmem_samples + 1))
		(( rmem > rmem_max )) && rmem_max=$rmem
		if (( rmem > RMEM_VALVE && ! valved )); then
			valved=1
			kill -KILL "${flooders[@]}" 2>/dev/null
			diag "Rmem $(kib $rmem) > $(kib $RMEM_VALVE) after $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms: flooders stopped (safety valve)"
		fi
	fi
	mem_available && (( memavail < mem_min )) && mem_min=$memavail
	return 0
}
sample_reset() { mem_available; mem0=$memavail mem_min=$memavail rmem_max=0 samples=0 rmem_samples=0 valved=0; }

# sample_until END_US PID [WHILE_PID [MAX_US]]: sample every 100 ms until
# END_US (EPOCHREALTIME, microseconds) and, if given, until WHILE_PID has
# exited, but never more than MAX_US (default 8 s) past END_US.
sample_until() {
	local end=$1 pid=$2 while_pid=${3:-} max=${4:-8000000} now
	while now=${EPOCHREALTIME/./}; (( now < end + max )); do
		(( now >= end )) && { [[ -z $while_pid ]] || dead "$while_pid"; } && break
		sample "$pid"
		nap 0.1
	done
}

# started FILE...: each flooder's output begins with its "started" line
# (printed once its first datagram was sent).
started() {
	local f line
	for f; do
		line=
		read -r line 2>/dev/null <"$f"
		[[ $line == started* ]] || return 1
	done
}

kib() { echo "$(( $1 / 1024 )) KiB"; }
last_line() { tail -n1 "$1" 2>/dev/null; }

# unpriv_flooder NAME ARGS...: starts `imp2_reqflood ARGS` in $A as uid
# 65534 without capabilities, output in $tmp/NAME; sets flooder_pid.  Not a
# background function (its $! would be a subshell's pid): ip netns exec and
# setpriv exec, so $! is the flooder itself.  It runs at nice 0, like any
# attacker; this script observes at nice -10.
unpriv_flooder() {
	local name=$1; shift
	ip netns exec $A setpriv --reuid=65534 --regid=65534 --clear-groups \
		imp2_reqflood "$@" >"$tmp/$name" 2>&1 &
	flooder_pid=$!
	disown
	pids+=($flooder_pid)
	renice 0 -p $flooder_pid >/dev/null 2>&1
}

imp2_load || exit $KSFT_FAIL
ip netns add $A && ip -n $A link set lo up || exit $KSFT_FAIL
# The observer (this script: Rmem samples, the probe) must not starve
# behind two CPU-bound flooders on the VM's 2 vCPUs: on a kernel without
# preemption (our debug kernels), a drain that never yields holds one of
# them outright.
renice -10 -p $$ >/dev/null 2>&1 || diag "renice -10 failed: the samples may be sparse"

# --- case 1: unprivileged flood --------------------------------------------
# How long: the flood runs 1 s before the probes, so that an unbounded queue
# (it grew by ~75 MB/s in the reproduction: past 1 MiB in ~15 ms) would hold
# tens of MB for them to wait behind; then through the 6 probes (at most
# 6 x 1 s + 5 x 0.2 s) and the refused-datagram check, and at least 3 s in
# all: ~30 samples of Rmem.  Not longer: every second of it leaves a module
# without the bound tens of MB to drain, in its flooder's sendmsg().
mark=$(kmsg_mark request-flood)
refused0=$(imp2_counter requests_refused $A)
ip netns exec $A sleep 600 & anchor=$!; disown; pids+=($anchor)	# a process in $A: /proc/$anchor/net
sample_reset
# The small flooder first: on a module without the bound, whichever sender
# wins the try-lock drains for everybody, and the small one could then wait
# in its first sendmsg() for as long as the big one keeps sending.
# Each start is three execs (ip netns exec, setpriv, the flooder), 0.1 to
# 1 s each here, slower beside a kernel build on the host: up to 20 s.
unpriv_flooder small -d 60000 small; small=$flooder_pid
busywait 20000 started "$tmp/small"
unpriv_flooder big -d 60000 big; big=$flooder_pid
busywait 20000 started "$tmp/small" "$tmp/big"; started_rc=$?
t0=${EPOCHREALTIME/./}
flooders=($small $big)

sample_until $((t0 + 1000000)) $anchor
ip netns exec $A imp2_reqflood -n 6 -t 1000 -i 200 -k sub probe >"$tmp/probe" 2>&1 & probe=$!; disown; pids+=($probe)
# An unprivileged datagram with NLM_F_ACK on its first message (of an
# unknown type) is handled in the sender's own sendmsg(): the ack
# (EOPNOTSUPP) comes back at once, whatever the flood (3 of them, of 4 KB:
# a full-size one takes its sender a few hundred ms of its own CPU time
# here, shared with the flooders).
unpriv_flooder answered -a -c 3 -s 4096 -t 2000 big; refchk=$flooder_pid
flooders+=($refchk)
# The probe takes at most ~8 s; a probe stuck in sendmsg() (draining the
# queue itself) is not waited for beyond that.
sample_until $((t0 + 3000000)) $anchor $probe 8000000
# The answered check's flooder competes with the two flooders at nice 0,
# after three execs (each 0.1 to 1 s here): up to 10 s more for it.
sample_until $((t0 + 3000000)) $anchor $refchk 10000000
flood_ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
# Stop everything at once; what follows (forks, imp2 stats) takes a while.
kill -KILL $small $big $probe $refchk 2>/dev/null
t1=${EPOCHREALTIME/./}
busywait 5000 dead $small $big; dead_rc=$? dead_ms=$(( (${EPOCHREALTIME/./} - t1) / 1000 ))
busywait 5000 rmem_below $RMEM_DRAINED $anchor; drained_rc=$? drained_ms=$(( (${EPOCHREALTIME/./} - t1) / 1000 ))
drained_rmem=$rmem

check "two flooders without capabilities are sending (one-message and ~208 KB datagrams)" test $started_rc = 0
diag "$(head -n1 "$tmp/small")"
diag "$(head -n1 "$tmp/big")"
diag "flood: ${flood_ms} ms, $samples samples ($rmem_samples with the kernel socket's line)"
diag "max kernel-socket Rmem: $rmem_max bytes ($(kib $rmem_max)); MemAvailable: $((mem0 / 1024)) MB before, fell by $(( (mem0 - mem_min) / 1024 )) MB at most"
check "kernel socket's Rmem stays under 1 MiB during the flood (max $(kib $rmem_max))" \
	test "$rmem_samples" -gt 0 -a "$rmem_max" -lt $RMEM_LIMIT
check "MemAvailable falls by at most 64 MB ($(( (mem0 - mem_min) / 1024 )) MB)" \
	test $((mem0 - mem_min)) -le $MEM_DROP_LIMIT
while read -r line; do diag "$line"; done <"$tmp/probe"
check "root's 6 subscribes during the flood: 6 acks with error 0, each within 1 s" \
	grep -q '^probe kind=sub sent=6 acked=6 ok=6 timeouts=0 ' "$tmp/probe"
diag "answered-datagram check: $(grep -v '^started' "$tmp/answered" | tr '\n' ' ')"
check "an unprivileged datagram with NLM_F_ACK is answered during the flood (EOPNOTSUPP)" \
	grep -q "^ack seq=[123] error=$EOPNOTSUPP " "$tmp/answered"
diag "small flooder: $(last_line "$tmp/small")"
diag "big flooder: $(last_line "$tmp/big")"
diag "after SIGKILL: flooders $( ((dead_rc)) && echo "still alive" || echo gone) at $dead_ms ms; Rmem ${drained_rmem:-none} bytes at $drained_ms ms"
check "the flooders die on SIGKILL within 5 s" test $dead_rc = 0
check "the queue drains: kernel socket's Rmem under $RMEM_DRAINED bytes within 5 s" test $drained_rc = 0
refused1=$(imp2_counter requests_refused $A)
check "nothing queued for senders without CAP_NET_ADMIN, so nothing refused (requests_refused ${refused0:-missing} -> ${refused1:-missing})" \
	test -n "$refused1" -a "${refused1:-x}" = "${refused0:-y}"

# --- case 2: the same flood in the flooder's own user+net namespace ---------
# There uid 65534 is root with CAP_NET_ADMIN over the netns: the privileged
# budget applies.  2 s: ~20 samples, and 2 s of an unbounded queue would
# be tens of MB.  The namespace's shell goes back to nice 0 for its
# flooders, writes "ns" once unshare has worked, then the flooders' pids
# and its sleep's (the anchor that keeps the netns). Starts take up to
# 20 s here, as in case 1.
u=$tmp/u
mkdir "$u" && chmod 777 "$u"
inner='cd "$1" || exit 1
renice 0 -p $$ >/dev/null 2>&1
echo ok >ns
imp2_reqflood -d 60000 small >small 2>&1 & echo $! >>pids
for i in $(seq 400); do read -r l <small; [[ $l == started* ]] && break; sleep 0.05; done
imp2_reqflood -d 60000 big >big 2>&1 & echo $! >>pids
sleep 600 & anchor=$!; echo $anchor >>pids
# The queue (256 KiB) holds one of the big datagrams: with the big flooder
# keeping it full, those asking for an ack get ENOBUFS.  On one CPU (the
# Debian kernel VM) the queue is full only while the flooder is preempted
# inside its own drain, so 20 ask; one ENOBUFS is enough.
sleep 0.5
imp2_reqflood -a -c 20 -t 4000 big >refused 2>&1
wait $anchor'
userns_settled() { [[ -e $u/ns ]] || dead "$ns2"; }
if ! command -v unshare >/dev/null; then
	ktap_skip "userns flood: no unshare in the VM"
	ktap_skip "userns flood: refusals"
	ktap_skip "userns flood: killable and drained"
else
	setpriv --reuid=65534 --regid=65534 --clear-groups unshare -rn bash -c "$inner" _ "$u" >"$u/log" 2>&1 &
	ns2=$!; disown; pids+=($ns2)
	busywait 20000 userns_settled
	if [[ ! -e $u/ns ]]; then
		why=$(tr '\n' ' ' <"$u/log" | cut -c1-200)
		ktap_skip "userns flood: unshare -rn as uid 65534 failed: ${why:-no output}"
		ktap_skip "userns flood: refusals"
		ktap_skip "userns flood: killable and drained"
	else
		busywait 30000 has_lines "$u/pids" 3
		mapfile -t up <"$u/pids"
		pids+=("${up[@]}")
		busywait 20000 started "$u/small" "$u/big" ||
			diag "userns flooders not both started: $(head -n1 "$u/small" 2>&1); $(head -n1 "$u/big" 2>&1)"
		sample_reset
		t0=${EPOCHREALTIME/./}
		flooders=("${up[@]:0:2}")
		sample_until $((t0 + 2000000)) $ns2
		busywait 10000 grep -q "^flood " "$u/refused"
		kill -KILL "${up[@]:0:2}" 2>/dev/null
		t1=${EPOCHREALTIME/./}
		busywait 5000 dead "${up[@]:0:2}"; dead_rc=$? dead_ms=$(( (${EPOCHREALTIME/./} - t1) / 1000 ))
		busywait 5000 rmem_below $RMEM_DRAINED $ns2; drained_rc=$? drained_ms=$(( (${EPOCHREALTIME/./} - t1) / 1000 ))
		drained_rmem=$rmem
		# Read once the queue has room: a stats request from root in that
		# netns is queued like the flooders', and refused (ENOBUFS) while the
		# queue is full.
		urefused=$(nsenter --net=/proc/${up[2]}/ns/net imp2 stats --json | sed -n 's/.*"requests_refused":\([0-9]*\).*/\1/p')
		diag "userns: $(head -n1 "$u/big")"
		diag "userns flood: $samples samples ($rmem_samples with the kernel socket's line), max kernel-socket Rmem $rmem_max bytes ($(kib $rmem_max)), MemAvailable fell by $(( (mem0 - mem_min) / 1024 )) MB at most"
		check "userns-owned netns: kernel socket's Rmem stays under 1 MiB (privileged budget; max $(kib $rmem_max))" \
			test "${#up[@]}" -eq 3 -a "$rmem_samples" -gt 0 -a "$rmem_max" -lt $RMEM_LIMIT
		diag "userns refusal check: $(grep -v '^started' "$u/refused" | tr '\n' ' ')"
		check "userns-owned netns: a big datagram asking for an ack while the queue is full gets ENOBUFS, counted (requests_refused ${urefused:-missing})" \
			bash -c "grep -q '^ack seq=[0-9]* error=$ENOBUFS ' '$u/refused' && (( ${urefused:-0} > 0 ))"
		diag "userns small flooder: $(last_line "$u/small")"
		diag "userns big flooder: $(last_line "$u/big")"
		diag "userns, after SIGKILL: flooders $( ((dead_rc)) && echo "still alive" || echo gone) at $dead_ms ms; Rmem ${drained_rmem:-none} bytes at $drained_ms ms"
		check "userns-owned netns: the flooders die on SIGKILL and the queue drains within 5 s" \
			test "${#up[@]}" -eq 3 -a $dead_rc = 0 -a $drained_rc = 0
	fi
fi

# A drain that never yields shows as an RCU stall or a soft lockup.
no_splat_or_stall() {
	local found ok=0
	no_splat_since "$mark" || ok=1
	found=$(dmesg | grep -E 'rcu.*(stall|detected stalls)|soft lockup|blocked for more than' | head -n3)
	[[ $found ]] && { diag "$found"; ok=1; }
	return $ok
}
check "no splat, RCU stall or soft lockup since the flood began" no_splat_or_stall
ktap_finish
