#!/usr/bin/env bash
# make bench: the side-by-side benchmark (no module, imp2.ko, the C
# reference, NFLOG) in one VM boot.  Writes build/bench/bench-<time>.json
# and .png, prints the table.  Not part of CI (slow and noisy there); a
# smoke variant runs in the test suite.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:$HOME/.cargo/bin

"$IMP2_ROOT/scripts/build-all.sh"
if ! command -v gnuplot >/dev/null; then
	run_long "apt-get install gnuplot-nox (for the plot)" "$IMP2_CACHE/logs/apt-gnuplot.log" \
		env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox ||
		log "gnuplot unavailable: the table and JSON are still written"
fi
out=$IMP2_ROOT/build/bench
mkdir -p "$out"
stamp=$(date -u +%Y%m%d-%H%M%S)
"$IMP2_ROOT/scripts/vm-run.sh" --quiet --timeout 3600 --log "$out/console-$stamp.log" \
	"$IMP2_ROOT/tests/guest-bench.sh" "$@" ||
	die "benchmark VM run failed (console: $out/console-$stamp.log)"
python3 "$IMP2_ROOT/scripts/bench_report.py" "$out/console-$stamp.log" \
	"$out/bench-$stamp.json" "$out/bench-$stamp.png" | tee "$out/bench-$stamp.txt"
ln -sfn "bench-$stamp.json" "$out/latest.json"
ln -sfn "bench-$stamp.png" "$out/latest.png"
ln -sfn "bench-$stamp.txt" "$out/latest.txt"
