#!/usr/bin/env python3
"""Where the instructions go, from tests/guest-bench.sh --profile's console.

  profile_report.py CONSOLE_LOG [TOP]

Each "IMP2-PROFILE: peer phase samples period packets comm dso symbol" line
is a perf cpu-clock bucket recorded under QEMU -icount, where a sample every
PERIOD ns of guest time is a sample every PERIOD instructions. So
samples x period / packets is instructions per packet in that symbol, with
a sampling error of about 1/sqrt(samples).

Kernel side (the insmod of bench/icmpgen): each peer's total and its
symbols beside the "none" peer's (the receive path alone); the difference
is what the peer adds per event. Drain: the consumer's own process, split
into its userspace and the kernel work done on its behalf (recvmsg, poll).
"""
import collections
import math
import re
import shutil
import subprocess
import sys

LINE = re.compile(r"IMP2-PROFILE: (\S+) (kernel|drain) (\d+) (\d+) (\d+) (\S+) (\S+) (.*)$")
CONSUMERS = {"imp2", "imp2_v2count", "imp2_nflog", "imp2_nflog_lib"}


def demangle(names):
    """Rust v0 and C++ symbols through binutils' c++filt, when it is there."""
    names = sorted(set(names))
    if not names or not shutil.which("c++filt"):
        return {n: n for n in names}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True,
                         text=True, check=False).stdout.splitlines()
    if len(out) != len(names):
        return {n: n for n in names}
    return {n: short(d) for n, d in zip(names, out)}


def short(name):
    """Drops v0 crate hashes ([1a2b...]) and generic noise for a table."""
    name = re.sub(r"\[[0-9a-f]{8,}\]", "", name)
    return name if len(name) <= 70 else name[:67] + "..."


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: profile_report.py CONSOLE_LOG [TOP]")
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    # (peer, phase) -> {(comm, dso, sym): instructions per packet}; samples too.
    cost = collections.defaultdict(collections.Counter)
    samples = collections.defaultdict(collections.Counter)
    order = []
    with open(sys.argv[1], errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            peer, phase, n, period, packets, comm, dso, sym = m.groups()
            sym = sym.strip()
            if peer not in order:
                order.append(peer)
            key = (comm, dso, sym)
            cost[peer, phase][key] += int(n) * int(period) / int(packets)
            samples[peer, phase][key] += int(n)
    if not order:
        sys.exit("no IMP2-PROFILE lines in " + sys.argv[1])
    names = demangle(s for c in cost.values() for (_, _, s) in c)

    def by_symbol(counter):
        out = collections.Counter()
        for (_, dso, sym), v in counter.items():
            out[dso.strip("[]") + " " + names.get(sym, sym)] += v
        return out

    def spread(n):
        return f"±{100 / math.sqrt(n):.0f}%" if n else ""

    base = by_symbol(cost.get(("none", "kernel"), {}))
    base_total = sum(base.values())
    print("Kernel side: instructions per packet of bench/icmpgen's run, by symbol "
          "(perf cpu-clock under -icount)")
    for peer in order:
        c = by_symbol(cost[peer, "kernel"])
        n = sum(samples[peer, "kernel"].values())
        total = sum(c.values())
        line = f"\n{peer}: {total:,.0f} per packet ({n:,} samples, {spread(n)})"
        if n < 1000:
            line += " -- too few samples: is CONFIG_HIGH_RES_TIMERS on?"
        if peer != "none" and base:
            line += f", {total - base_total:+,.0f} over none"
        print(line)
        diff = {k: c[k] - base.get(k, 0) for k in set(c) | set(base)} if peer != "none" else dict(c)
        rows = sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]
        for k, d in rows:
            if abs(d) < 3:
                break
            ref = f"{c.get(k, 0):8,.0f} {base.get(k, 0):8,.0f}" if peer != "none" else f"{c.get(k, 0):8,.0f}"
            print(f"  {d:+7,.0f}  {ref}  {k}")
    print("\nDrain: the consumer's process, instructions per event (userspace [.] "
          "and the kernel on its behalf [k])")
    for peer in order:
        d = cost.get((peer, "drain"))
        if not d:
            continue
        own = {k: v for k, v in d.items() if k[0] in CONSUMERS}
        # Kernel and module DSOs are bracketed ([kernel.kallsyms], [imp2]).
        user = sum(v for (_, dso, _), v in own.items() if not dso.startswith("[") or dso == "[vdso]")
        kern = sum(own.values()) - user
        n = sum(v for k, v in samples[peer, "drain"].items() if k[0] in CONSUMERS)
        print(f"\n{peer}: {user + kern:,.0f} per event: userspace {user:,.0f}, kernel {kern:,.0f} "
              f"({n:,} samples, {spread(n)})")
        rows = sorted(by_symbol(own).items(), key=lambda kv: -kv[1])[:top]
        for k, v in rows:
            if v < 3:
                break
            print(f"  {v:7,.0f}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
