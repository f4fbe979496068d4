# Runs inside the VM (scripts/bench.sh, and the smoke test): side-by-side
# benchmark of no module, imp2.ko (Rust), imp2_cref.ko (C reference) and
# NFLOG (nftables "log group", default and tuned qthreshold).
#
#   guest-bench.sh [--smoke]
#
# Prints one "IMP2-BENCH: {json}" line per measurement; the host turns them
# into the table, the JSON file and the plot.  All numbers are from one
# boot of an emulated (TCG) VM: only ratios between peers mean anything.
. /imp2/tests/lib.sh

SMOKE=0
[[ ${1:-} == --smoke ]] && SMOKE=1
if (( SMOKE )); then SECS=1 REPS=1 PKTGEN_COUNT=10000 RCVBUFS="default" SENDERS="1"
else SECS=${IMP2_BENCH_SECS:-5} REPS=${IMP2_BENCH_REPS:-3} PKTGEN_COUNT=${IMP2_BENCH_PKTGEN:-2000000}
	RCVBUFS="default 8388608" SENDERS="1 $(nproc)"; fi
A=bench-rx B=bench-tx
DRAIN=$( ((SMOKE)) && echo 1 || echo 3 )   # seconds for consumers to drain after a flood
LARGE=8388608

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
hook_seen() { ip netns exec $A imp2 stats --unit "$1" --json | sed -n 's/.*"packets_seen":\([0-9]*\).*/\1/p'; }

peer_up() {
	case $1 in
	none) ;;
	imp2) insmod /imp2/imp2.ko ;;
	cref) insmod /imp2/modules/imp2_cref.ko ;;
	nflog*) ip netns exec $A nft -f - <<-'NFT'
		table ip imp2bench {
			chain pre {
				type filter hook prerouting priority -1; policy accept;
				ip protocol icmp log group 5
			}
		}
		NFT
		;;
	esac
}

peer_down() {
	case $1 in
	imp2) rmmod imp2 ;;
	cref) rmmod imp2_cref ;;
	nflog*) ip netns exec $A nft delete table ip imp2bench ;;
	esac
	return 0
}

unit_of() { case $1 in imp2) echo 31 ;; cref) echo 30 ;; esac; }

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

for rep in $(seq 1 $REPS); do
	for peer in none imp2 cref nflog; do
		peer_up $peer || fail "peer $peer did not come up"
		pps=$(pktgen_pps)
		peer_down $peer
		emit "{\"metric\":\"fastpath_pps\",\"peer\":\"$peer\",\"rep\":$rep,\"value\":${pps:-0}}"
	done
done

# --- matching path: ICMP flood from B over veth, live subscriber in A -------
matching() { # matching PEER RCVBUF SENDERS REP
	local peer=$1 rcvbuf=$2 senders=$3 rep=$4 sub="" seen0=0 seen1=0 in0 in1 events=0 overruns=0 tmp
	tmp=$(mktemp)
	peer_up ${peer%%-*} || fail "peer $peer"
	local rb=()
	[[ $rcvbuf != default ]] && rb=(--rcvbuf "$rcvbuf")
	case $peer in
	imp2|cref)
		# --quiet: count only, like the NFLOG reader, so both consumers do
		# the same work per event.
		ip netns exec $A imp2 monitor --v1 --unit "$(unit_of $peer)" --quiet --json "${rb[@]}" 2>"$tmp" &
		sub=$!
		wait_subscribed $A "$(unit_of $peer)"
		seen0=$(hook_seen "$(unit_of $peer)") ;;
	nflog*)
		local q=()
		[[ $peer == nflog-q64 ]] && q=(-q 64)
		[[ $rcvbuf != default ]] && q+=(-r "$rcvbuf")
		ip netns exec $A imp2_nflog -g 5 "${q[@]}" >"$tmp" &
		sub=$!
		busywait 5000 grep -q bound "$tmp" ;;
	esac
	in0=$(in_receives)
	ip netns exec $B imp2_icmpflood -i veth0 -s 10.97.0.2 -d 10.97.0.1 -m "$A_MAC" -t $SECS -p "$senders" >/dev/null
	in1=$(in_receives)
	[[ $peer == imp2 || $peer == cref ]] && seen1=$(hook_seen "$(unit_of $peer)")
	if [[ $sub ]]; then
		# Let the consumer drain what is queued, then stop it.
		sleep "$DRAIN"
		kill -INT $sub
		wait $sub
		case $peer in
		imp2|cref)
			events=$(sed -n 's/.*"events":\([0-9]*\).*/\1/p' "$tmp")
			overruns=$(sed -n 's/.*"overruns":\([0-9]*\).*/\1/p' "$tmp") ;;
		nflog*)
			events=$(sed -n 's/nflog: \([0-9]*\) events.*/\1/p' "$tmp")
			overruns=$(sed -n 's/.* \([0-9]*\) overruns/\1/p' "$tmp") ;;
		esac
	fi
	local crossed=$((in1 - in0))
	[[ $peer == imp2 || $peer == cref ]] && crossed=$((seen1 - seen0))
	peer_down ${peer%%-*}
	rm -f "$tmp"
	emit "{\"metric\":\"matching\",\"peer\":\"$peer\",\"rep\":$rep,\"rcvbuf\":\"$rcvbuf\",\"senders\":$senders,\"secs\":$SECS,\"ip_in\":$((in1 - in0)),\"crossed_hook\":$crossed,\"events\":${events:-0},\"overruns\":${overruns:-0}}"
}

# Peers interleaved within each repetition, so that drift hits all alike;
# the report takes the median over repetitions.
for rep in $(seq 1 $REPS); do
	for rcvbuf in $RCVBUFS; do
		for peer in none imp2 cref nflog nflog-q64; do
			matching $peer "$rcvbuf" 1 "$rep"
		done
	done
	(( SMOKE )) && continue   # the smoke run only checks that every peer works
	for senders in $SENDERS; do
		(( senders == 1 )) && continue   # measured above
		for peer in none imp2 cref nflog-q64; do
			matching $peer "$LARGE" "$senders" "$rep"
		done
	done
done
cleanup_netns $A $B
echo "# bench: done"
