#!/usr/bin/env bash
# make bench: the side-by-side benchmark (no module, an empty C hook,
# imp2.ko idle / v1 / v2 / v2 batched, the C reference, NFLOG) in two VM
# boots (one under -icount, one in wall time, see below), on a kernel
# without the test kernel's debugging options (kconfig/bench.config).
# Writes build/bench/bench-<time>.json/.png/.txt and prints the table.  Not part of CI (slow and noisy
# there); a smoke variant runs in the test suite, on the debug kernel.
# For a quick A/B: IMP2_BENCH_METHODS="--icmpgen" (any of --fastpath
# --icmpgen --bursts) runs only those in the -icount boot and skips the
# wall-time one; IMP2_BENCH_GEN_PEERS / IMP2_BENCH_BURST_PEERS pick the
# peers and IMP2_BENCH_REPS the repetitions (tests/guest-bench.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:$HOME/.cargo/bin

"$IMP2_ROOT/scripts/build-all.sh"     # toolchain, test kernel, tools
BENCH_KDIR=$("$IMP2_ROOT/scripts/build-kernel.sh" --profile bench)
if ! command -v gnuplot >/dev/null; then
	run_long "apt-get install gnuplot-nox (for the plot)" "$IMP2_CACHE/logs/apt-gnuplot.log" \
		env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox ||
		log "gnuplot unavailable: the table and JSON are still written"
fi

tree=$IMP2_ROOT/build/bench-tree
bench_tree "$BENCH_KDIR" "$tree"

out=$IMP2_ROOT/build/bench
mkdir -p "$out"
stamp=$(date -u +%Y%m%d-%H%M%S)
# Two boots: under instruction counting (guest time then counts
# instructions, repeatable to 0.1 %), the fast path, the matching path's
# kernel side (in-kernel ICMP) and its lossless bursts; in wall time, the
# matching path's timed floods, where consumers fall behind.
start=$(date +%s)
read -ra methods <<<"${IMP2_BENCH_METHODS:---fastpath --icmpgen --bursts}"
log "bench boot 1 of 2: ${methods[*]}, QEMU -icount (about 12 min for all three)"
KDIR=$BENCH_KDIR "$tree/scripts/vm-run.sh" --quiet --icount --timeout 3600 --log "$out/console-$stamp-fastpath.log" \
	"$tree/tests/guest-bench.sh" "${methods[@]}" ||
	die "benchmark VM run failed (console: $out/console-$stamp-fastpath.log)"
matching_log=$out/console-$stamp-matching.log
if [[ -n ${IMP2_BENCH_METHODS:-} ]]; then
	log "IMP2_BENCH_METHODS set: no wall-time boot"
	: >"$matching_log"
else
	log "bench boot 2 of 2: matching path, wall time (about 10 min; $(( $(date +%s) - start ))s so far)"
	KDIR=$BENCH_KDIR "$tree/scripts/vm-run.sh" --quiet --timeout 3600 --log "$out/console-$stamp-matching.log" \
		"$tree/tests/guest-bench.sh" --matching ||
		die "benchmark VM run failed (console: $out/console-$stamp-matching.log)"
fi
log "bench done in $(( $(date +%s) - start ))s"
python3 "$IMP2_ROOT/scripts/bench_report.py" "$out/bench-$stamp.json" "$out/bench-$stamp.png" \
	"$out/console-$stamp-fastpath.log" "$out/console-$stamp-matching.log" | tee "$out/bench-$stamp.txt"
for f in json png txt; do
	[[ -e $out/bench-$stamp.$f ]] && ln -sfn "bench-$stamp.$f" "$out/latest.$f"
done
