#!/usr/bin/env python3
"""Turn the IMP2-BENCH lines of benchmark VM console logs into a JSON file,
a table on stdout and (if gnuplot is installed) a PNG plot.

    bench_report.py OUT_JSON OUT_PNG CONSOLE_LOG...

Every figure is given as min / median / max over the repetitions. Ratios
between peers are computed per repetition (the peers run interleaved in
each one) and also given as min / median / max, with the spread
(max - min) / median. The figures come from emulated (TCG) VMs: only ratios
within one boot mean anything. The fast path and the matching path's
bursts run under QEMU's instruction counting (guest time = instructions);
the matching path's timed floods run in wall time.
"""
import json
import shutil
import statistics
import subprocess
import sys
import tempfile

LABEL = {
    "none": "no module", "emptyhook": "empty C hook", "imp2-idle": "imp2 idle",
    "imp2-used": "imp2 after use",
    "imp2-v1": "imp2 v1", "imp2-v2": "imp2 v2", "imp2-v2-batch": "imp2 v2 batched",
    # tests/clients/imp2_v2count.c on a v2 batched listener: counts message
    # headers, decodes nothing (the floor of reading imp2, as nflog's).
    "imp2-v2-count": "imp2 v2 batched header count (floor)",
    "cref": "C reference v1",
    # tests/clients/imp2_nflog.c: meta only, counts message headers, decodes
    # nothing: the floor of reading NFLOG at all.
    "nflog": "NFLOG header count (floor)", "nflog-q64": "NFLOG header count q64 (floor)",
    # tests/clients/imp2_nflog_lib.c: libnetfilter_log as ulogd2 uses it,
    # 64 bytes of each packet, every field imp2 reports decoded.
    "nflog-lib": "NFLOG libnetfilter_log", "nflog-lib-q64": "NFLOG libnetfilter_log q64",
    # v2 listeners with 128 bytes of each packet (IMP2_A_SNAPLEN), and one
    # that samples 1 matching packet in 100 (IMP2_A_SAMPLE).
    "imp2-v2-snap128": "imp2 v2 snaplen 128", "imp2-v2-batch-snap128": "imp2 v2 batched snaplen 128",
    "imp2-v2-sample100": "imp2 v2 sampled 1 in 100",
    # v2 listeners with tcpdump expressions (IMP2_A_BPF): "icmp" (interest
    # derived: IPv4 protocol 1), "udp port 9999" (matches none of the ICMP
    # load), "src net 10.97.0.0/24" (interest not derivable: all of IPv4).
    "imp2-v2-expr-icmp": "imp2 v2 expression icmp", "imp2-v2-expr-none": "imp2 v2 expression udp port 9999",
    "imp2-v2-expr-any": "imp2 v2 expression src net",
}
# The peer column's width: the longest label.
W = max(len(v) for v in LABEL.values())
FAST_PEERS = ["none", "emptyhook", "imp2-idle", "imp2-used", "imp2-v1", "imp2-v2", "cref", "nflog",
              "imp2-v2-expr-icmp", "imp2-v2-expr-none", "imp2-v2-expr-any"]
MATCH_PEERS = ["imp2-v1", "imp2-v2", "imp2-v2-batch", "cref", "nflog", "nflog-q64", "nflog-lib", "nflog-lib-q64"]
BURST_PEERS = ["none", "imp2-v1", "imp2-v2", "imp2-v2-batch", "imp2-v2-count", "cref", "nflog-q64", "nflog-lib-q64"]
ICMPGEN_PEERS = BURST_PEERS + ["imp2-v2-snap128", "imp2-v2-batch-snap128", "imp2-v2-sample100",
                               "imp2-v2-expr-icmp", "imp2-v2-expr-none", "imp2-v2-expr-any"]
# Sampled 1 in SAMPLE: of every SAMPLE packets, one is an event.
SAMPLE = 100


def icmpgens(records):
    """The matching path's kernel side, from in-kernel ICMP under icount:
    per listener count and peer, the instructions per event beyond the
    receive path's own (the "none" peer of the same repetition), and the
    loss; ratios of those costs, inverted (above 1: the first is cheaper);
    what packet bytes add per event, and what a packet that sampling leaves
    out costs against a sent event."""
    out, ratio_out = {"scenarios": {}, "receive_path_per_packet": None, "derived": {}}, {}
    recs = [r for r in records if r["metric"] == "icmpgen"]
    base = {r["rep"]: r["ns"] for r in recs if r["peer"] == "none"}
    for listeners in sorted({r["listeners"] for r in recs}):
        rs = [r for r in recs if r["listeners"] == listeners and r["peer"] != "none"]
        timed = [r for r in rs if r["rep"] in base and r["packets"]]
        cost = per_rep([r for r in timed if sum(r["events"])], lambda r: (r["ns"] - base[r["rep"]]) / sum(r["events"]))
        per_packet = per_rep(timed, lambda r: (r["ns"] - base[r["rep"]]) / r["packets"])
        # Loss against what the peer should deliver (a sampled one: 1 in
        # 100; one whose expression matches nothing: none).
        loss = per_rep([r for r in rs if r["packets"]],
                       lambda r: 100.0 * (1 - min(r["events"]) / r["expected"]) if r.get("expected", r["packets"])
                       else (100.0 if sum(r["events"]) else 0.0))
        out["scenarios"][f"{listeners} listener(s)"] = {
            p: {"instructions_per_event": spread(list(cost.get(p, {}).values())),
                "instructions_per_packet": spread(list(per_packet.get(p, {}).values())),
                "loss_pct": spread(list(loss[p].values()))}
            for p in ICMPGEN_PEERS if p in loss}
        if listeners == 1:
            for name, a, b in MATCH_RATIOS:
                r = spread(ratios(cost, b, a))
                if r:
                    ratio_out[f"in-kernel ICMP, kernel cost, inverse: {name}"] = r
            derived = out["derived"]
            for name, a, b in [("payload copy (snaplen 128), per event, unbatched", "imp2-v2-snap128", "imp2-v2"),
                               ("payload copy (snaplen 128), per event, batched", "imp2-v2-batch-snap128",
                                "imp2-v2-batch")]:
                d = spread([cost[a][k] - cost[b][k] for k in cost.get(a, {}) if k in cost.get(b, {})])
                if d:
                    derived[name] = d
            for name, peer in [("expression udp port 9999 (matches none), per ICMP packet", "imp2-v2-expr-none"),
                               ("expression icmp, per event", "imp2-v2-expr-icmp"),
                               ("expression src net (interest not derived), per event", "imp2-v2-expr-any")]:
                src = per_packet if peer == "imp2-v2-expr-none" else cost
                d = spread(list(src.get(peer, {}).values()))
                if d:
                    derived[name] = d
            r = spread(ratios(cost, "imp2-v2-expr-icmp", "imp2-v2"))
            if r:
                ratio_out["in-kernel ICMP: expression icmp / --proto icmp (imp2 v2), kernel cost per event"] = r
            # Per SAMPLE packets: one event (as imp2 v2's) and SAMPLE - 1 left out.
            sampled, sent = per_packet.get("imp2-v2-sample100", {}), cost.get("imp2-v2", {})
            left_out = {k: (SAMPLE * sampled[k] - sent[k]) / (SAMPLE - 1) for k in sampled if k in sent}
            d = spread(list(left_out.values()))
            if d:
                derived["a packet sampling leaves out, beyond no listener (instructions)"] = d
                r = spread([left_out[k] / sent[k] for k in left_out if sent[k]])
                ratio_out["in-kernel ICMP: a suppressed packet / a sent v2 event, kernel cost (goal <= 0.20)"] = r
    out["receive_path_per_packet"] = spread(
        [r["ns"] / r["packets"] for r in recs if r["peer"] == "none" and r["packets"]])
    return out, ratio_out
MATCH_RATIOS = [("v2 batched / v1 per-event", "imp2-v2-batch", "imp2-v1"),
                ("v2 batched / NFLOG header count q64 (floor)", "imp2-v2-batch", "nflog-q64"),
                ("v2 batched / NFLOG libnetfilter_log q64", "imp2-v2-batch", "nflog-lib-q64"),
                ("v2 unbatched / v1", "imp2-v2", "imp2-v1"),
                ("imp2 v1 / C reference v1", "imp2-v1", "cref")]


def load(consoles):
    records = []
    for console in consoles:
        with open(console, errors="replace") as f:
            for line in f:
                if "IMP2-BENCH: " in line:
                    records.append(json.loads(line.split("IMP2-BENCH: ", 1)[1].strip()))
    return records


def spread(values):
    """min, median, max and the spread in % of the median."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    med = statistics.median(values)
    return {"min": min(values), "median": med, "max": max(values), "n": len(values),
            "spread_pct": 100.0 * (max(values) - min(values)) / med if med else 0.0}


def per_rep(records, key):
    """{peer: {rep: value}} for the records, value = key(record)."""
    out = {}
    for r in records:
        out.setdefault(r["peer"], {})[r["rep"]] = key(r)
    return out


def ratios(by_peer, a, b):
    """a / b per repetition both have."""
    ra, rb = by_peer.get(a, {}), by_peer.get(b, {})
    return [ra[k] / rb[k] for k in ra if k in rb and rb[k]]


def bursts(records):
    """The matching path's icount bursts: per scenario and peer, events/s
    (all listeners, burst and drain), and per delivered event the
    instructions of the kernel side (the burst beyond the sender's own,
    which is the "none" peer of the same repetition and scenario) and of
    the consumers (the drain); and the loss."""
    out, ratio_out = {}, {}
    scenarios = {}
    for r in records:
        if r["metric"] == "burst":
            scenarios.setdefault((r["senders"], r["listeners"]), []).append(r)
    base = {(r["senders"], r["rep"]): r["burst_us"] for r in records
            if r["metric"] == "burst" and r["peer"] == "none"}
    for (senders, listeners), rs in sorted(scenarios.items()):
        label = f"{senders} sender(s), {listeners} listener(s)"
        delivered = [r for r in rs if r["peer"] != "none" and sum(r["events"])]
        eps = per_rep(delivered, lambda r: sum(r["events"]) / (r["us"] / 1e6))
        kernel = per_rep([r for r in delivered if (senders, r["rep"]) in base],
                         lambda r: 1000.0 * (r["burst_us"] - base[(senders, r["rep"])]) / sum(r["events"]))
        consumer = per_rep(delivered, lambda r: 1000.0 * (r["us"] - r["burst_us"]) / sum(r["events"]))
        # What monitoring costs per event: the kernel side plus the
        # consumer, the bursts' sender excluded.
        monitoring = {p: {k: v + consumer[p][k] for k, v in reps.items() if k in consumer.get(p, {})}
                      for p, reps in kernel.items()}
        loss = per_rep([r for r in rs if r["peer"] != "none" and r["packets"]],
                       lambda r: 100.0 * (1 - min(r["events"]) / r["packets"]))
        scen = {}
        for p in BURST_PEERS:
            if p in loss:   # a peer that lost everything has no rates, but shows
                scen[p] = {"events_per_s": spread(list(eps.get(p, {}).values())),
                           "kernel_instructions_per_event": spread(list(kernel.get(p, {}).values())),
                           "consumer_instructions_per_event": spread(list(consumer.get(p, {}).values())),
                           "monitoring_instructions_per_event": spread(list(monitoring.get(p, {}).values())),
                           "loss_pct": spread(list(loss[p].values()))}
        out[label] = scen
        if listeners == 1:
            for name, a, b in MATCH_RATIOS:
                r = spread(ratios(eps, a, b))
                if r:
                    ratio_out[f"bursts ({senders} sender(s)): {name}"] = r
                # Costs, inverted: above 1, the first peer is the cheaper.
                r = spread(ratios(kernel, b, a))
                if r:
                    ratio_out[f"bursts ({senders} sender(s)), kernel cost, inverse: {name}"] = r
                r = spread(ratios(monitoring, b, a))
                if r:
                    ratio_out[f"bursts ({senders} sender(s)), monitoring cost (kernel + consumer), inverse: {name}"] = r
    return out, ratio_out


def summarise(records):
    out = {"fastpath": {}, "icmpgen": {}, "bursts": {}, "matching": {}, "ratios": {}}
    fast = per_rep([r for r in records if r["metric"] == "fastpath_pps"], lambda r: r["value"])
    for p in FAST_PEERS:
        if p in fast:
            out["fastpath"][p] = spread(list(fast[p].values()))
    for name, a, b in [("fast: imp2 idle / no module", "imp2-idle", "none"),
                       ("fast: imp2 after use (hooks kept, nobody listening) / no module", "imp2-used", "none"),
                       ("fast: imp2 after use / empty C hook", "imp2-used", "emptyhook"),
                       ("fast: empty C hook / no module", "emptyhook", "none"),
                       ("fast: imp2 v1 (listening) / empty C hook", "imp2-v1", "emptyhook"),
                       ("fast: imp2 v2 (listening) / empty C hook", "imp2-v2", "emptyhook"),
                       ("fast: imp2 v1 / C reference v1", "imp2-v1", "cref"),
                       ("fast: NFLOG (header count) / no module", "nflog", "none"),
                       # pps ratios: above 1, the second is cheaper per packet.
                       ("fast: --proto icmp (imp2 v2) / expression icmp, pps: cost of the expression (goal <= 1.05)",
                        "imp2-v2", "imp2-v2-expr-icmp"),
                       ("fast: imp2 v2 / expression udp port 9999, pps (UDP load: runs the program)",
                        "imp2-v2", "imp2-v2-expr-none"),
                       ("fast: imp2 v2 / expression src net, pps (interest not derived: runs the program)",
                        "imp2-v2", "imp2-v2-expr-any")]:
        r = spread(ratios(fast, a, b))
        if r:
            out["ratios"][name] = r

    out["icmpgen"], icmpgen_ratios = icmpgens(records)
    out["ratios"].update(icmpgen_ratios)
    out["bursts"], burst_ratios = bursts(records)
    out["ratios"].update(burst_ratios)

    match = [r for r in records if r["metric"] == "matching"]
    scenarios = {}
    for r in match:
        scenarios.setdefault((r["senders"], r["listeners"], r["rcvbuf"]), []).append(r)
    for (senders, listeners, rcvbuf), rs in sorted(scenarios.items()):
        label = f"{senders} sender(s), {listeners} listener(s), rcvbuf {rcvbuf}"
        eps = per_rep(rs, lambda r: sum(r["events"]) / r["secs"])
        per_listener = per_rep(rs, lambda r: sum(r["events"]) / len(r["events"]) / r["secs"])
        loss = per_rep(rs, lambda r: 100.0 * (1 - min(r["events"]) / r["ip_in"]) if r["ip_in"] else 0.0)
        scen = {}
        for p in MATCH_PEERS:
            if p in eps:
                scen[p] = {"events_per_s": spread(list(eps[p].values())),
                           "events_per_s_per_listener": spread(list(per_listener[p].values())),
                           "loss_pct": spread(list(loss[p].values()))}
        out["matching"][label] = scen
        if listeners == 1:
            for name, a, b in MATCH_RATIOS:
                r = spread(ratios(eps, a, b))
                if r:
                    out["ratios"][f"matching, wall time ({senders} sender(s)): {name}"] = r
    return out


def fmt(v, digits=0):
    return f"{v:,.{digits}f}"


def print_table(s):
    print("imp2 benchmark: QEMU TCG VMs; absolute numbers mean little. Each figure is")
    print("min / median / max over the repetitions; ratios are per repetition.")
    if s["fastpath"]:
        print("\nfast path: non-matching UDP, pktgen netif_receive, QEMU -icount (pps = instructions per packet)")
        print(f"  {'peer':<{W}} {'min':>12} {'median':>12} {'max':>12} {'spread':>8}")
        for p, v in s["fastpath"].items():
            print(f"  {LABEL[p]:<{W}} {fmt(v['min']):>12} {fmt(v['median']):>12} {fmt(v['max']):>12} {v['spread_pct']:>7.2f}%")
    recv = s["icmpgen"]["receive_path_per_packet"]
    for label, scen in s["icmpgen"]["scenarios"].items():
        print(f"\nmatching path, kernel side: in-kernel ICMP echo requests (bench/icmpgen), {label}, QEMU -icount")
        if recv:
            print(f"  (the receive path alone: {fmt(recv['median'])} instructions per packet)")
        print(f"  {'peer':<{W}} {'instr/event min':>15} {'median':>8} {'max':>8} {'spread':>8} {'loss %':>7}")
        for p, v in scen.items():
            c, l = v["instructions_per_event"], v["loss_pct"]
            cost = (f"{fmt(c['min']):>15} {fmt(c['median']):>8} {fmt(c['max']):>8} {c['spread_pct']:>7.2f}%"
                    if c else f"{'-':>15} {'-':>8} {'-':>8} {'-':>8}")
            print(f"  {LABEL[p]:<{W}} {cost} {l['max']:>7.1f}")
        pp = scen.get("imp2-v2-sample100", {}).get("instructions_per_packet")
        if pp:
            print(f"  (imp2 v2 sampled 1 in 100, per packet: {fmt(pp['min'])} / {fmt(pp['median'])} / {fmt(pp['max'])})")
    for name, d in s["icmpgen"].get("derived", {}).items():
        print(f"  {name}: {fmt(d['min'])} / {fmt(d['median'])} / {fmt(d['max'])}")
    for label, scen in s["bursts"].items():
        print(f"\nmatching path, bursts: ICMP over veth, consumers stopped, then drained; {label}; QEMU -icount")
        print(f"  {'peer':<{W}} {'events/s min':>12} {'median':>10} {'max':>10} {'spread':>8} "
              f"{'kernel instr/event':>18} {'consumer':>9} {'both':>7} {'loss %':>7}")
        for p, v in scen.items():
            e, k, c, l = (v["events_per_s"], v["kernel_instructions_per_event"],
                          v["consumer_instructions_per_event"], v["loss_pct"])
            m = v.get("monitoring_instructions_per_event")
            rates = (f"{fmt(e['min']):>12} {fmt(e['median']):>10} {fmt(e['max']):>10} {e['spread_pct']:>7.2f}%"
                     if e else f"{'-':>12} {'-':>10} {'-':>10} {'-':>8}")
            print(f"  {LABEL[p]:<{W}} {rates} {fmt(k['median']) if k else '-':>18} "
                  f"{fmt(c['median']) if c else '-':>9} {fmt(m['median']) if m else '-':>7} {l['max']:>7.1f}")
    for label, scen in s["matching"].items():
        print(f"\nmatching path: ICMP flood over veth, {label}, wall time")
        print(f"  {'peer':<{W}} {'events/s min':>12} {'median':>10} {'max':>10} {'spread':>8} {'per listener':>13} {'loss % med':>10} {'max':>6}")
        for p, v in scen.items():
            e, pl, l = v["events_per_s"], v["events_per_s_per_listener"], v["loss_pct"]
            print(f"  {LABEL[p]:<{W}} {fmt(e['min']):>12} {fmt(e['median']):>10} {fmt(e['max']):>10} "
                  f"{e['spread_pct']:>7.1f}% {fmt(pl['median']):>13} {l['median']:>10.1f} {l['max']:>6.1f}")
    print("\nratios (per repetition)")
    rw = max([58] + [len(name) for name in s["ratios"]])
    print(f"  {'':<{rw}} {'min':>7} {'median':>7} {'max':>7} {'spread':>8}")
    for name, r in s["ratios"].items():
        print(f"  {name:<{rw}} {r['min']:>7.3f} {r['median']:>7.3f} {r['max']:>7.3f} {r['spread_pct']:>7.2f}%")


def plot(s, png):
    if not shutil.which("gnuplot"):
        print("(gnuplot not installed: no plot; apt-get install gnuplot-nox)", file=sys.stderr)
        return False
    fast = s["fastpath"]
    base = fast.get("none", {}).get("median")
    # The bursts if this run has them, else the wall-time floods.
    one, method = s["bursts"].get("1 sender(s), 1 listener(s)", {}), "ICMP bursts, 1 sender, -icount"
    if not one:
        one = next((scen for label, scen in s["matching"].items() if label.startswith("1 sender(s), 1 listener")), {})
        method = "ICMP floods, 1 sender, wall time"
    if not fast or not one:
        print("(no plot: it needs the fast path and the matching path of one run)", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/fast.dat", "w") as f:
            for p, v in fast.items():
                f.write(f"\"{LABEL[p]}\" {v['median'] / base if base else 0} {v['min'] / base if base else 0} {v['max'] / base if base else 0}\n")
        with open(f"{d}/match.dat", "w") as f:
            for p, v in one.items():
                e = v["events_per_s"]
                if not e:
                    continue
                f.write(f"\"{LABEL[p]}\" {e['median']} {e['min']} {e['max']}\n")
        script = f"""
set terminal png size 1300,520
set output '{png}'
set multiplot layout 1,2 title 'imp2 benchmark, QEMU TCG VMs: compare ratios only (bars: median, whiskers: min-max)'
set style fill solid 0.8 border -1
set grid ytics
set yrange [0:*]
set boxwidth 0.7
set key off
set xtics rotate by -30 font ',9'
set title 'Fast path (UDP, -icount): pps relative to no module'
plot '{d}/fast.dat' using 0:2:xtic(1) with boxes lc rgb '#4477aa', '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt -1
set title 'Matching path ({method}): events/s'
plot '{d}/match.dat' using 0:2:xtic(1) with boxes lc rgb '#aa7744', '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt -1
unset multiplot
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: bench_report.py OUT_JSON OUT_PNG CONSOLE_LOG...")
    out_json, png, consoles = sys.argv[1], sys.argv[2], sys.argv[3:]
    records = load(consoles)
    if not records:
        sys.exit(f"no IMP2-BENCH lines in {' '.join(consoles)}: did the benchmark run? see those logs")
    summary = summarise(records)
    with open(out_json, "w") as f:
        json.dump({"note": "QEMU TCG VMs: compare ratios only; fast path under -icount",
                   "records": records, "summary": summary}, f, indent=1)
    print_table(summary)
    if plot(summary, png):
        print(f"\nplot: {png}")
    print(f"json: {out_json}")


if __name__ == "__main__":
    main()
