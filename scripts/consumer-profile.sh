#!/usr/bin/env bash
# What `imp2 monitor --quiet` costs per event in userspace, on the host:
# tools/imp2/examples/consumer_cost.rs feeds batches of 64 events, encoded
# by the module's own encoder, through the monitor's Consumer::datagram
# under callgrind, and this prints instructions per event and where they
# go. (The kernel's share of receiving, recvmsg and poll, is measured in
# the VM by make bench.)
#   scripts/consumer-profile.sh [--ipv6] [--batch N]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || die "valgrind missing: apt-get install valgrind"
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (userspace tool)"
target=$IMP2_ROOT/tools/target/profile
run_long "cargo build (consumer_cost, with symbols)" "$IMP2_CACHE/logs/consumer-profile-build.log" \
	env CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
	cargo build --release --locked --example consumer_cost --target-dir "$target" \
	--manifest-path "$IMP2_ROOT/tools/Cargo.toml" || die "building the consumer_cost example failed (log above)"
rounds=10 datagrams=16 batch=64
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [[ ${args[i]} == --batch ]] && batch=${args[i + 1]:-64}; done
out=$(mktemp)
valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*Consumer*datagram*' \
	"$target/release/examples/consumer_cost" --rounds "$rounds" --datagrams "$datagrams" "$@" >/dev/null 2>&1 ||
	die "consumer_cost failed under valgrind: run it alone to see why"
events=$((rounds * datagrams * batch))
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "consumer, userspace: $((total / events)) instructions per event ($events events, batches of $batch${*:+, $*})"
echo "inclusive, per event, by function (callgrind_annotate --inclusive=yes $out):"
callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
	awk -v n="$events" '$1 ~ /^[0-9,]+$/ && !/x\)$/ && match($0, /[:](<?imp2::[^[]*|<?netlink_packet_core::[^[]*)/) {
		c = $1; gsub(",", "", c); f = substr($0, RSTART + 1, RLENGTH - 1); sub(/ +$/, "", f)
		if (!seen[f]++ && c / n >= 5) printf "  %6d  %s\n", c / n, f }' | head -12
