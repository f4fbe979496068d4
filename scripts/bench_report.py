#!/usr/bin/env python3
"""Turn the IMP2-BENCH lines of a benchmark VM console log into a JSON
file, a table on stdout and (if gnuplot is installed) a PNG plot.

    bench_report.py CONSOLE_LOG OUT_JSON [OUT_PNG]

Figures come from one boot of a TCG-emulated VM: only ratios between peers
measured in the same run are meaningful.
"""
import json
import shutil
import statistics
import subprocess
import sys
import tempfile

PEERS = ["none", "imp2", "cref", "nflog", "nflog-q64"]
LABEL = {"none": "no module", "imp2": "imp2.ko (Rust)", "cref": "C reference",
         "nflog": "NFLOG", "nflog-q64": "NFLOG qthresh=64"}


def load(console):
    records = []
    with open(console, errors="replace") as f:
        for line in f:
            if "IMP2-BENCH: " in line:
                records.append(json.loads(line.split("IMP2-BENCH: ", 1)[1].strip()))
    return records


def ratio(a, b):
    return f"{a / b:.3f}" if a and b else "-"


def summarise(records):
    rows = []
    fast = {}
    for r in records:
        if r["metric"] == "fastpath_pps":
            fast.setdefault(r["peer"], []).append(r["value"])
    fast = {p: statistics.median(v) for p, v in fast.items()}
    for p in PEERS:
        if p in fast:
            rows.append({"section": "fast path (UDP, pktgen netif_receive)", "peer": p,
                         "metric": "pps", "value": fast[p],
                         "vs_none": ratio(fast[p], fast.get("none")),
                         "vs_cref": ratio(fast[p], fast.get("cref"))})
    runs = {}
    for r in records:
        if r["metric"] == "matching":
            runs.setdefault((r["rcvbuf"], r["senders"], r["peer"]), []).append(r)
    groups = {}
    for (rcvbuf, senders, peer), reps in runs.items():
        # Median of each measured field over the repetitions.
        med = dict(reps[0])
        for field in ("ip_in", "crossed_hook", "events", "overruns"):
            med[field] = statistics.median(x[field] for x in reps)
        med["reps"] = len(reps)
        groups.setdefault((rcvbuf, senders), {})[peer] = med
    for (rcvbuf, senders), by_peer in groups.items():
        section = f"matching path (ICMP flood, {senders} sender(s), rcvbuf {rcvbuf}; median of runs)"
        pps = {p: r["ip_in"] / r["secs"] for p, r in by_peer.items()}
        eps = {p: r["events"] / r["secs"] for p, r in by_peer.items()}
        for p in PEERS:
            r = by_peer.get(p)
            if not r:
                continue
            rows.append({"section": section, "peer": p, "metric": "pps", "value": pps[p],
                         "vs_none": ratio(pps[p], pps.get("none")),
                         "vs_cref": ratio(pps[p], pps.get("cref"))})
            if p == "none":
                continue
            crossed = r["crossed_hook"] or r["ip_in"]
            loss = 100.0 * (1 - r["events"] / crossed) if crossed else 0.0
            rows.append({"section": section, "peer": p, "metric": "events/s", "value": eps[p],
                         "vs_none": "-", "vs_cref": ratio(eps[p], eps.get("cref"))})
            rows.append({"section": section, "peer": p, "metric": "loss %", "value": loss,
                         "vs_none": "-", "vs_cref": "-"})
            rows.append({"section": section, "peer": p, "metric": "overruns", "value": r["overruns"],
                         "vs_none": "-", "vs_cref": "-"})
    return rows


def print_table(rows):
    print("imp2 benchmark: one boot of a QEMU TCG (emulated) VM; absolute numbers mean")
    print("little, compare the ratios (vs no module, vs the C reference) within this run.")
    section = None
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            print(f"\n{section}")
            print(f"  {'peer':<18} {'metric':<9} {'value':>12} {'/none':>7} {'/cref':>7}")
        v = r["value"]
        value = f"{v:.1f}" if isinstance(v, float) and r["metric"] == "loss %" else f"{v:,.0f}"
        print(f"  {LABEL[r['peer']]:<18} {r['metric']:<9} {value:>12} {r['vs_none']:>7} {r['vs_cref']:>7}")


def plot(rows, png):
    if not shutil.which("gnuplot"):
        print("(gnuplot not installed: no plot; apt-get install gnuplot-nox)", file=sys.stderr)
        return False
    fast = [r for r in rows if r["section"].startswith("fast") and r["metric"] == "pps"]
    # Matching path, 1 sender: one cluster per rcvbuf, one bar per peer.
    clusters = {}
    for r in rows:
        if r["section"].startswith("matching") and "1 sender" in r["section"] and r["metric"] == "events/s":
            buf = r["section"].split("rcvbuf ")[1].split(";")[0]
            clusters.setdefault(buf, {})[r["peer"]] = r["value"]
    peers = [p for p in PEERS if p != "none" and any(p in c for c in clusters.values())]
    with tempfile.TemporaryDirectory() as d:
        base = next((r["value"] for r in fast if r["peer"] == "none"), None)
        with open(f"{d}/fast.dat", "w") as f:
            for r in fast:
                f.write(f"\"{LABEL[r['peer']]}\" {r['value'] / base if base else 0}\n")
        with open(f"{d}/match.dat", "w") as f:
            f.write("rcvbuf " + " ".join(f'"{LABEL[p]}"' for p in peers) + "\n")
            for buf, by_peer in clusters.items():
                label = "default" if buf == "default" else f"{int(buf) // 1048576} MiB"
                f.write(f'"rcvbuf {label}" ' + " ".join(str(by_peer.get(p, 0)) for p in peers) + "\n")
        cols = " , ".join(f"'' using {i + 2} title columnheader" for i in range(1, len(peers)))
        script = f"""
set terminal png size 1200,520
set output '{png}'
set multiplot layout 1,2 title 'imp2 benchmark, one QEMU TCG VM boot: compare ratios only'
set style fill solid 0.8 border -1
set grid ytics
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.8
set title 'Fast path (UDP): pps relative to no module'
set key off
set xtics font ',10'
plot '{d}/fast.dat' using 2:xtic(1) lc rgb '#4477aa'
set title 'Matching path (ICMP, 1 sender): events delivered per second'
set key below horizontal autotitle columnheader font ',9'
plot '{d}/match.dat' using 2:xtic(1) title columnheader{', ' + cols if cols else ''}
unset multiplot
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


def main():
    console, out_json = sys.argv[1], sys.argv[2]
    png = sys.argv[3] if len(sys.argv) > 3 else None
    records = load(console)
    if not records:
        sys.exit(f"no IMP2-BENCH lines in {console}: did the benchmark run? see that log")
    rows = summarise(records)
    with open(out_json, "w") as f:
        json.dump({"note": "QEMU TCG VM, one boot: compare ratios only",
                   "records": records, "summary": rows}, f, indent=1)
    print_table(rows)
    if png and plot(rows, png):
        print(f"\nplot: {png}")
    print(f"json: {out_json}")


if __name__ == "__main__":
    main()
