# Runs inside the VM (scripts/bench.sh, and the smoke test): side-by-side
# benchmark of imp2.ko (Rust) against no module, an empty C hook, the C
# reference (bench/cref) and NFLOG (nftables "log group", default and
# qthreshold 64), read two ways: nflog*, tests/clients/imp2_nflog.c, meta
# only and counting message headers (the floor of reading NFLOG at all);
# nflog-lib*, tests/clients/imp2_nflog_lib.c, through libnetfilter_log the
# way ulogd2 reads it, 64 bytes of each packet, every field decoded.
#
#   guest-bench.sh [--fastpath] [--icmpgen] [--bursts] [--matching] [--profile] | --smoke
#
# --fastpath: non-matching UDP injected with pktgen; the boot is meant to
#   run under QEMU's instruction counting (-icount), where pps measures
#   instructions per packet and repeats to within 0.1 %.
# --icmpgen: the matching path's kernel side under -icount: ICMP echo
#   requests injected in the kernel (bench/icmpgen, like pktgen) into
#   stopped consumers' 32 MiB buffers; instructions per event, no sender.
# --bursts: the matching path's cost, also under -icount: fixed bursts of
#   ICMP over veth while the consumers are stopped, then their drain
#   (lossless: 32 MiB buffers, bursts they can hold).
# --matching: ICMP floods over veth with live consumers for a fixed time,
#   in wall time: throughput and loss when the consumers fall behind.
# --profile: perf profiles of the kernel side and of the drain, under
#   -icount (scripts/kernel-profile.sh).
# --smoke: all three, tiny, once per peer (the test suite, on the debug
#   kernel).
#
# Prints one "IMP2-BENCH: {json}" line per measurement; the host turns them
# into the table (min/median/max over the repetitions, and of the ratios
# per repetition), the JSON file and the plot.  All numbers are from an
# emulated VM: only ratios between peers of one boot mean anything.
. /imp2/tests/lib.sh

SMOKE=0
[[ " $* " == *" --smoke "* ]] && SMOKE=1
REPS=${IMP2_BENCH_REPS:-5}
SECS=${IMP2_BENCH_SECS:-2}
PKTGEN_COUNT=${IMP2_BENCH_PKTGEN:-500000}
# Packets per burst, all held by a BURST_RCVBUF buffer: a multiple of every
# batch size a peer ends up with, so that batches all fill and none waits
# for its flush timer (idle guest time would jump to it, 10 ms, about 330
# instructions per event). imp2 batches 64; NFLOG's qthreshold 64 is cut
# by its default 4 KiB buffer to 32 packets per datagram in meta mode and
# 20 with 64 bytes copied. 30,080 = 64 x 470 = 32 x 940 = 20 x 1,504.
BURST=${IMP2_BENCH_BURST:-30080}
BURST_RCVBUF=33554432
DRAIN=2        # seconds for consumers to drain after a flood
LARGE=8388608  # the 8 MiB receive buffer of the matching path
# The smoke run checks that every peer comes up and produces numbers, not
# the numbers: the smallest sizes that still take each path once.
if (( SMOKE )); then REPS=1 SECS=1 PKTGEN_COUNT=2000 DRAIN=1 BURST=128; fi
A=bench-rx B=bench-tx
IMP2=$(type -P imp2)

emit() { echo "IMP2-BENCH: $*"; }
fail() { echo "# bench: $*"; exit 1; }

ip netns add $A && ip netns add $B || fail "netns"
ip -n $A link set lo up; ip -n $B link set lo up
ip link add veth0 netns $A type veth peer name veth0 netns $B
ip -n $A addr add 10.97.0.1/24 dev veth0 && ip -n $A link set veth0 up
ip -n $B addr add 10.97.0.2/24 dev veth0 && ip -n $B link set veth0 up
ip netns exec $A sysctl -qw net.ipv4.icmp_echo_ignore_all=1   # no reply traffic
ip -n $A link add dummy0 type dummy && ip -n $A link set dummy0 up
A_MAC=$(ip -n $A -br link show veth0 | awk '{print $3}')
D_MAC=$(ip -n $A -br link show dummy0 | awk '{print $3}')
ip -n $B neigh add 10.97.0.1 lladdr "$A_MAC" dev veth0

in_receives() { ip netns exec $A awk '$1 == "Ip:" && $2 ~ /^[0-9]+$/ {print $4}' /proc/net/snmp; }

# --- peers -------------------------------------------------------------------
# Each peer comes up with the consumers it needs: CONSUMERS v2 listeners
# (imp2-v2*), or one v1 subscriber (imp2-v1, cref), or an NFLOG reader.
# The NFLOG rule sets no snaplen: the kernel copies min(rule's snaplen,
# reader's copy range) bytes, so imp2_nflog_lib's 64-byte range applies.
consumers=() outs=()
consume() { # consume OUT CMD...: a consumer in A, its stdout+stderr to OUT
	local out=$1; shift
	nsenter --net=/run/netns/$A "$@" >"$out" 2>&1 &
	consumers+=($!) outs+=("$out")
}
peer_up() { # peer_up PEER RCVBUF LISTENERS [COUNT: consumers exit after it]
	local peer=$1 rcvbuf=$2 n=${3:-1} count=${4:-} rb=() i
	[[ $rcvbuf != default ]] && rb=(--rcvbuf "$rcvbuf")
	[[ $count ]] && rb+=(--count "$count")
	consumers=() outs=()
	case $peer in
	none) ;;
	emptyhook) insmod /imp2/modules/imp2_emptyhook.ko ;;
	imp2-idle) insmod /imp2/imp2.ko ;;
	imp2-used)
		# A v1 subscriber and a v2 listener came and went: both hooks stay
		# registered (the default), nobody listens.
		insmod /imp2/imp2.ko || return 1
		consume "$(mktemp)" $IMP2 monitor --v1 --quiet --json
		consume "$(mktemp)" $IMP2 monitor --quiet --json
		wait_subscribed $A && wait_listeners $A 1 || return 1
		kill -INT "${consumers[@]}"; wait "${consumers[@]}" 2>/dev/null
		consumers=() outs=()
		wait_unsubscribed $A && wait_listeners $A 0 ;;
	imp2-v1)
		insmod /imp2/imp2.ko || return 1
		# --quiet: count only, like the NFLOG reader: the same work per event.
		consume "$(mktemp)" $IMP2 monitor --v1 --quiet --json "${rb[@]}"
		wait_subscribed $A ;;
	imp2-v2-count)
		# The same listener as imp2-v2-batch, read by a counter of message
		# headers that decodes nothing: the floor of reading imp2 at all.
		insmod /imp2/imp2.ko || return 1
		local c=(-b 64 -f 1)
		[[ $rcvbuf != default ]] && c+=(-r "$rcvbuf")
		[[ $count ]] && c+=(-c "$count")
		consume "$(mktemp)" $(type -P imp2_v2count) "${c[@]}"
		wait_listeners $A 1 ;;
	imp2-v2|imp2-v2-batch|imp2-v2-snap128|imp2-v2-batch-snap128|imp2-v2-sample100)
		insmod /imp2/imp2.ko || return 1
		local opts=()
		[[ $peer == imp2-v2-batch* ]] && opts=(--batch 64 --flush-ms 10)
		# 128 bytes of each packet (the echo requests have 84: all of them).
		[[ $peer == *-snap128 ]] && opts+=(--snaplen 128)
		# One in 100: the others are what a suppressed packet costs.
		[[ $peer == *-sample100 ]] && opts+=(--sample 100)
		for ((i = 0; i < n; i++)); do
			consume "$(mktemp)" $IMP2 monitor --family ipv4 --quiet --json "${opts[@]}" "${rb[@]}"
		done
		wait_listeners $A "$n" ;;
	imp2-v2-expr-*)
		# v2 listeners with tcpdump expressions: one whose interest (IPv4
		# protocol 1) the tool derives, as --proto icmp's; one that matches
		# nothing of the ICMP load; one whose interest cannot be derived (every
		# IPv4 packet runs the program).
		insmod /imp2/imp2.ko || return 1
		local expr=()
		case $peer in
		imp2-v2-expr-icmp) expr=(icmp) ;;
		imp2-v2-expr-none) expr=(udp port 9999) ;;
		imp2-v2-expr-any) expr=(src net 10.97.0.0/24) ;;
		*) fail "unknown peer $peer" ;;
		esac
		for ((i = 0; i < n; i++)); do
			consume "$(mktemp)" $IMP2 monitor --quiet --json "${rb[@]}" "${expr[@]}"
		done
		wait_listeners $A "$n" ;;
	cref)
		insmod /imp2/modules/imp2_cref.ko || return 1
		consume "$(mktemp)" $IMP2 monitor --v1 --unit 30 --quiet --json "${rb[@]}"
		wait_subscribed $A 30 ;;
	nflog|nflog-q64|nflog-lib|nflog-lib-q64)
		ip netns exec $A nft -f - <<-'NFT' || return 1
		table ip imp2bench {
			chain pre {
				type filter hook prerouting priority -1; policy accept;
				ip protocol icmp log group 5
			}
		}
		NFT
		local q=() reader=imp2_nflog
		[[ $peer == *-q64 ]] && q=(-q 64)
		[[ $peer == nflog-lib* ]] && reader=imp2_nflog_lib
		[[ $rcvbuf != default ]] && q+=(-r "$rcvbuf")
		[[ $count ]] && q+=(-c "$count")
		consume "$(mktemp)" $(type -P $reader) -g 5 "${q[@]}"
		busywait 5000 grep -q bound "${outs[0]}" ;;
	*) fail "unknown peer $peer" ;;
	esac
}
# peer_down PEER: stops the consumers (SIGINT: they print their counts),
# sets EVENTS (each consumer's count, space-separated) and OVERRUNS (total),
# and unloads.
peer_down() {
	local peer=$1 out e o
	EVENTS="" OVERRUNS=0
	# Those given a count may have exited already.
	(( ${#consumers[@]} )) && { kill -INT "${consumers[@]}" 2>/dev/null; wait "${consumers[@]}" 2>/dev/null; }
	for out in "${outs[@]}"; do
		case $peer in
		nflog*) # both readers, nflog and nflog-lib: "nflog: N events, M overruns"
			e=$(sed -n 's/nflog: \([0-9]*\) events.*/\1/p' "$out")
			o=$(sed -n 's/.* \([0-9]*\) overruns/\1/p' "$out") ;;
		*) e=$(sed -n 's/.*"events":\([0-9]*\).*/\1/p' "$out")
			o=$(sed -n 's/.*"overruns":\([0-9]*\).*/\1/p' "$out") ;;
		esac
		EVENTS+="${EVENTS:+ }${e:-0}" OVERRUNS=$((OVERRUNS + ${o:-0}))
		rm -f "$out"
	done
	case $peer in
	emptyhook) rmmod imp2_emptyhook ;;
	imp2*) busywait 5000 rmmod imp2 ;;
	cref) busywait 5000 rmmod imp2_cref ;;
	nflog*) ip netns exec $A nft delete table ip imp2bench ;;
	esac
	return 0
}

# --- fast path: pktgen UDP, injected with netif_receive on dummy0 -----------
pktgen_pps() {
	ip netns exec $A bash -c "
		pg() { echo \"\$2\" > /proc/net/pktgen/\$1; }
		pg pgctrl reset
		pg kpktgend_0 rem_device_all
		pg kpktgend_0 'add_device dummy0'
		pg dummy0 'count $PKTGEN_COUNT'
		pg dummy0 'pkt_size 64'
		pg dummy0 'flag NO_TIMESTAMP'
		pg dummy0 'dst_mac $D_MAC'
		pg dummy0 'dst 198.18.0.42'
		pg dummy0 'xmit_mode netif_receive'
		pg dummy0 'burst 64'
		pg pgctrl start
		grep -o '[0-9]*pps' /proc/net/pktgen/dummy0 | tr -d pps"
}

fastpath() {
	local rep peer pps
	for rep in $(seq 1 "$REPS"); do
		# Interleaved: drift, if any, hits every peer alike.
		for peer in none emptyhook imp2-idle imp2-used imp2-v1 imp2-v2 cref nflog \
				imp2-v2-expr-icmp imp2-v2-expr-none imp2-v2-expr-any; do
			peer_up $peer default 1 || fail "peer $peer did not come up"
			pps=$(pktgen_pps)
			peer_down $peer
			emit "{\"metric\":\"fastpath_pps\",\"peer\":\"$peer\",\"rep\":$rep,\"value\":${pps:-0}}"
		done
	done
}

# drain_consumers: resumes the stopped consumers and waits until each has
# exited at its count; one that never gets there (lost events) is stopped
# after 30 s by a watchdog, which takes its sleep with it when not needed.
drain_consumers() {
	local dog
	(( ${#consumers[@]} )) || return 0
	kill -CONT "${consumers[@]}"
	(trap 'kill $s 2>/dev/null; exit' TERM; sleep 30 & s=$!; wait $s; kill -INT "${consumers[@]}" 2>/dev/null) &
	dog=$!
	wait "${consumers[@]}"
	kill $dog 2>/dev/null; wait $dog 2>/dev/null
	consumers=()   # reaped: peer_down must not signal their pids
}

# --- matching path, kernel side: in-kernel ICMP under -icount ---------------
# bench/icmpgen injects BURST echo requests into dummy0 in A with
# netif_receive_skb(), as pktgen does UDP, and times that in the kernel
# (guest ns: instructions). The consumers are stopped meanwhile and drain
# afterwards, each exiting at BURST events (a watchdog shows a loss). With
# no userspace sender and no scheduling in the timed part, only the
# receive path and the peer's hook and delivery count: "none" is the
# receive path alone. Plain NFLOG (either reader) is left out, as for the
# bursts.
# expected_events PEER PACKETS: the events a consumer of PEER gets for
# PACKETS matching packets (a sampling listener takes its 1st, 101st, ...).
expected_events() {
	case $1 in
	*-sample100) echo $(( ($2 + 99) / 100 )) ;;
	*-expr-none) echo 0 ;;
	*) echo "$2" ;;
	esac
}

icmpgen() { # icmpgen PEER LISTENERS REP
	local peer=$1 n=$2 rep=$3 ns expected
	expected=$(expected_events $peer $BURST)
	# A consumer expecting nothing runs until peer_down stops it.
	peer_up $peer $BURST_RCVBUF "$n" "${expected#0}" || fail "peer $peer"
	(( ${#consumers[@]} )) && kill -STOP "${consumers[@]}"
	nsenter --net=/run/netns/$A insmod /imp2/modules/imp2_icmpgen.ko count=$BURST dev=dummy0 \
		saddr=10.97.0.2 daddr=10.97.0.1 || fail "imp2_icmpgen did not load"
	ns=$(dmesg | sed -n "s/.*imp2_icmpgen: $BURST echo requests into dummy0 in \([0-9]*\) ns.*/\1/p" | tail -n 1)
	rmmod imp2_icmpgen
	if (( expected )); then
		drain_consumers
	elif (( ${#consumers[@]} )); then
		kill -CONT "${consumers[@]}"
	fi
	peer_down $peer
	local list=${EVENTS// /,}
	emit "{\"metric\":\"icmpgen\",\"peer\":\"$peer\",\"rep\":$rep,\"listeners\":$n,\"packets\":$BURST,\"ns\":${ns:-0},\"expected\":$expected,\"events\":[${list:-0}],\"overruns\":$OVERRUNS}"
}

icmpgens() {
	local rep peer
	for rep in $(seq 1 "$REPS"); do
		for peer in ${IMP2_BENCH_GEN_PEERS:-none imp2-v1 imp2-v2 imp2-v2-batch cref nflog-q64 nflog-lib-q64 \
				imp2-v2-snap128 imp2-v2-batch-snap128 imp2-v2-sample100 \
				imp2-v2-expr-icmp imp2-v2-expr-none imp2-v2-expr-any}; do
			icmpgen $peer 1 "$rep"
		done
		(( SMOKE )) || [[ ${IMP2_BENCH_GEN_PEERS:-} ]] && continue
		for peer in imp2-v2 imp2-v2-batch; do
			icmpgen $peer 4 "$rep"
		done
	done
}

# --- matching path cost: fixed ICMP bursts under -icount -------------------
# Under instruction counting, guest time counts the instructions of every
# CPU. The consumers are stopped (SIGSTOP) during a burst of BURST packets
# from B and resumed after it, so that the two halves do not interleave (how
# often a running consumer is woken changes from run to run): the burst's
# time is the sender's and the kernel side's (hook, event, queueing), the
# drain's is the consumers'. Their 32 MiB buffers (64 MiB of truesize) hold
# a burst's events, even one skb each. "none" (no module, no consumer) is
# the sender's own share.
# Each consumer exits once it has all BURST events; one that missed some
# would not: a watchdog stops it, and the record shows the loss. Plain NFLOG
# (either reader) is left out: one 4 KiB skb per event (its nlbufsiz) would
# not fit.
burst() { # burst PEER SENDERS LISTENERS REP
	local peer=$1 senders=$2 n=$3 rep=$4 t0 t1 t2
	local per=$((BURST / senders)) total=$((BURST / senders * senders))
	peer_up $peer $BURST_RCVBUF "$n" $total || fail "peer $peer"
	(( ${#consumers[@]} )) && kill -STOP "${consumers[@]}"
	t0=${EPOCHREALTIME/./}
	nsenter --net=/run/netns/$B imp2_icmpflood -i veth0 -s 10.97.0.2 -d 10.97.0.1 -m "$A_MAC" \
		-n $per -p "$senders" >/dev/null
	t1=${EPOCHREALTIME/./}
	drain_consumers
	t2=${EPOCHREALTIME/./}
	peer_down $peer
	local list=${EVENTS// /,}
	emit "{\"metric\":\"burst\",\"peer\":\"$peer\",\"rep\":$rep,\"senders\":$senders,\"listeners\":$n,\"packets\":$total,\"us\":$((t2 - t0)),\"burst_us\":$((t1 - t0)),\"events\":[${list:-0}],\"overruns\":$OVERRUNS}"
}

bursts() {
	local rep peer
	for rep in $(seq 1 "$REPS"); do
		for peer in ${IMP2_BENCH_BURST_PEERS:-none imp2-v1 imp2-v2 imp2-v2-batch imp2-v2-count cref nflog-q64 nflog-lib-q64}; do
			burst $peer 1 1 "$rep"
		done
		(( SMOKE )) || [[ ${IMP2_BENCH_BURST_PEERS:-} ]] && continue
		for peer in none imp2-v1 imp2-v2-batch cref nflog-q64 nflog-lib-q64; do
			burst $peer 2 1 "$rep"
		done
		for peer in imp2-v2 imp2-v2-batch; do
			burst $peer 1 4 "$rep"
		done
	done
}

# --- matching path: ICMP flood from B over veth, live consumers in A --------
matching() { # matching PEER RCVBUF SENDERS LISTENERS REP
	local peer=$1 rcvbuf=$2 senders=$3 n=$4 rep=$5 in0 in1
	peer_up $peer "$rcvbuf" "$n" || fail "peer $peer"
	in0=$(in_receives)
	ip netns exec $B imp2_icmpflood -i veth0 -s 10.97.0.2 -d 10.97.0.1 -m "$A_MAC" -t $SECS -p "$senders" >/dev/null
	in1=$(in_receives)
	# Let the consumers drain what is queued (batches flush within 10 ms).
	sleep "$DRAIN"
	peer_down $peer
	local list=${EVENTS// /,}
	emit "{\"metric\":\"matching\",\"peer\":\"$peer\",\"rep\":$rep,\"rcvbuf\":\"$rcvbuf\",\"senders\":$senders,\"listeners\":$n,\"secs\":$SECS,\"ip_in\":$((in1 - in0)),\"events\":[${list:-0}],\"overruns\":$OVERRUNS}"
}

matching_all() {
	local rep peer
	for rep in $(seq 1 "$REPS"); do
		for peer in imp2-v1 imp2-v2 imp2-v2-batch cref nflog nflog-q64 nflog-lib nflog-lib-q64; do
			matching $peer $LARGE 1 1 "$rep"
		done
		(( SMOKE )) && continue   # the smoke run only checks that every peer works
		for peer in imp2-v1 imp2-v2-batch cref nflog-q64 nflog-lib-q64; do
			matching $peer $LARGE 2 1 "$rep"
		done
		for peer in imp2-v2 imp2-v2-batch; do
			matching $peer $LARGE 1 4 "$rep"
		done
	done
}

# --- profile: where the instructions of icmpgen's run and the drain go ----
# Under -icount guest time counts instructions, so perf's cpu-clock samples
# every PERIOD ns are samples every PERIOD instructions. Per peer: the
# kernel side (the insmod of bench/icmpgen, which injects BURST packets in
# its own context) and the consumers' drain (system-wide: their recvmsg
# and their userspace). perf report runs while the peer's module is
# loaded, so that its symbols resolve through /proc/kallsyms. One
# "IMP2-PROFILE: peer phase samples period packets dso symbol" line per
# symbol; scripts/kernel-profile.sh turns them into instructions per event.
PERIOD=${IMP2_BENCH_PERIOD:-5000}
profile_report() { # profile_report PEER PHASE DATA
	local peer=$1 phase=$2 data=$3
	perf report -i "$data" --stdio -n -q --sort comm,dso,sym -g none 2>/dev/null |
		awk -v p="$peer" -v ph="$phase" -v per="$PERIOD" -v n="$BURST" '
			$2 ~ /^[0-9]+$/ { sym = ""
				for (i = 6; i <= NF; i++) sym = sym (i > 6 ? " " : "") $i
				print "IMP2-PROFILE: " p " " ph " " $2 " " per " " n " " $3 " " $4 " " sym }'
}
# drain_profiled: drain_consumers under a system-wide perf record. The
# consumers are resumed from inside the recorded command, so that none of
# their work precedes the recording; it waits until each is a zombie (30 s
# at most, then SIGINT: the record then shows the loss).
drain_profiled() {
	perf record -q -N -a -e cpu-clock -c "$PERIOD" -o /tmp/drain.data -- bash -c '
		kill -CONT "$@"
		for p; do
			for ((t = 0; t < 600; t++)); do
				read -r _ _ state _ <"/proc/$p/stat" 2>/dev/null && [[ $state != Z ]] || break
				sleep 0.05
			done
		done
		kill -INT "$@" 2>/dev/null; :' _ "${consumers[@]}" >/dev/null 2>&1 || fail "perf record -a failed"
	wait "${consumers[@]}"
	consumers=()
}
profile_peer() { # profile_peer PEER
	local peer=$1
	peer_up $peer $BURST_RCVBUF 1 $BURST || fail "peer $peer"
	(( ${#consumers[@]} )) && kill -STOP "${consumers[@]}"
	perf record -q -N -e cpu-clock -c "$PERIOD" -o /tmp/kernel.data -- \
		nsenter --net=/run/netns/$A insmod /imp2/modules/imp2_icmpgen.ko count=$BURST dev=dummy0 \
		saddr=10.97.0.2 daddr=10.97.0.1 >/dev/null 2>&1 || fail "imp2_icmpgen under perf did not load"
	rmmod imp2_icmpgen
	profile_report $peer kernel /tmp/kernel.data
	if (( ${#consumers[@]} )); then
		drain_profiled
		profile_report $peer drain /tmp/drain.data
	fi
	peer_down $peer
	emit "{\"metric\":\"profile\",\"peer\":\"$peer\",\"packets\":$BURST,\"events\":[${EVENTS// /,}],\"overruns\":$OVERRUNS}"
	rm -f /tmp/kernel.data /tmp/drain.data
}
profiles() {
	command -v perf >/dev/null || fail "perf is not in the VM (scripts/kernel-profile.sh copies the host's)"
	local peer
	for peer in ${IMP2_BENCH_PROFILE_PEERS:-none imp2-v1 imp2-v2-batch imp2-v2-count cref nflog-lib-q64}; do
		profile_peer $peer
	done
}

(( $# )) || fail "usage: guest-bench.sh [--fastpath] [--icmpgen] [--bursts] [--matching] [--profile] | --smoke"
for mode in "$@"; do
	case $mode in
	--fastpath) fastpath ;;
	--icmpgen) icmpgens ;;
	--bursts) bursts ;;
	--matching) matching_all ;;
	--profile) profiles ;;
	--smoke|--all) fastpath; icmpgens; bursts; matching_all ;;
	*) fail "usage: guest-bench.sh [--fastpath] [--icmpgen] [--bursts] [--matching] [--profile] | --smoke" ;;
	esac
done
cleanup_netns $A $B
echo "# bench: done"
