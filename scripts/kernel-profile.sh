#!/usr/bin/env bash
# Where the matching path's instructions go, per peer: perf profiles in the
# bench kernel under QEMU -icount (tests/guest-bench.sh --profile), of the
# kernel side (bench/icmpgen's injected ICMP, consumers stopped) and of the
# consumers' drain, reported by scripts/profile_report.py as instructions
# per event by symbol, beside the "none" peer (the receive path alone).
#   scripts/kernel-profile.sh
# IMP2_BENCH_PROFILE_PEERS picks the peers (default: none imp2-v1
# imp2-v2-batch imp2-v2-count cref nflog-lib-q64), IMP2_BENCH_PERIOD the
# sample period in instructions (5000), IMP2_BENCH_BURST the packets (30,080).
# Writes build/bench/profile-<time>.txt and its console log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:$HOME/.cargo/bin

perf=$(command -v perf) || die "perf not found: apt-get install linux-perf (it is copied into the VM)"
head -c 4 "$perf" | grep -q ELF ||
	die "$perf is not the perf binary (a wrapper?): apt-get install linux-perf"
"$IMP2_ROOT/scripts/build-all.sh"     # toolchain, test kernel, tools
BENCH_KDIR=$("$IMP2_ROOT/scripts/build-kernel.sh" --profile bench)
for opt in PERF_EVENTS HIGH_RES_TIMERS; do
	grep -q "^CONFIG_$opt=y" "$BENCH_KDIR/.config" ||
		die "the bench kernel ($BENCH_KDIR) has no CONFIG_$opt: add it to kconfig/bench.config"
done
tree=$IMP2_ROOT/build/profile-tree
bench_tree "$BENCH_KDIR" "$tree"
cp -L "$perf" "$tree/build/bin/perf"   # vm-run.sh copies build/bin and its libraries

out=$IMP2_ROOT/build/bench
mkdir -p "$out"
stamp=$(date -u +%Y%m%d-%H%M%S)
console=$out/console-$stamp-profile.log
start=$(date +%s)
log "profile boot: QEMU -icount (about 10 min)"
KDIR=$BENCH_KDIR "$tree/scripts/vm-run.sh" --quiet --icount --timeout 3600 --log "$console" \
	"$tree/tests/guest-bench.sh" --profile ||
	die "profile VM run failed (console: $console)"
log "profile done in $(( $(date +%s) - start ))s"
python3 "$IMP2_ROOT/scripts/profile_report.py" "$console" | tee "$out/profile-$stamp.txt"
grep -h 'IMP2-BENCH: {"metric":"profile"' "$console" | sed 's/.*IMP2-BENCH: //' | tee -a "$out/profile-$stamp.txt"
