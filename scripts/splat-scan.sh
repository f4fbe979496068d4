#!/usr/bin/env bash
# Fail (exit 1) if a VM console log shows a kernel splat, a kmemleak report
# or a taint other than O (out-of-tree) / E (unsigned).  Prints the lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# With --count, print "splats=N leaks=M" and always exit 0.
count=0
[[ ${1:-} == --count ]] && { count=1; shift; }
log=${1:?usage: splat-scan.sh [--count] CONSOLE_LOG}

patterns='BUG:|WARNING:|KASAN|UBSAN:|Call Trace:|general protection fault|kernel BUG at|Kernel panic|panicked at|possible recursive locking|circular locking dependency|inconsistent lock state|unreferenced object 0x'
# RCU stalls ("rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "...
# detected expedited stalls", "rcu: INFO: rcu_preempt self-detected stall
# on CPU") and hung tasks ("INFO: task NAME:PID blocked for more than N
# seconds."), which need not come with a "Call Trace:".
patterns+='|rcu: INFO: .*detected.* stall|self-detected stall|INFO: task .* blocked for more than'
# Between IMP2-FAULT-INJECTION-BEGIN/END (tests/lib.sh), allocation-failure
# reports (warn_alloc's "... allocation failure" / "vmalloc error" header,
# then its stack dump up to </TASK>) are expected: their "Call Trace:" line
# is not a splat. Every other line is still scanned, even in that window.
filtered() {
	tr -d '\r' <"$log" | awk '
		/IMP2-FAULT-INJECTION-BEGIN/ { fi = 1 }
		/IMP2-FAULT-INJECTION-END/ { fi = 0; skip = 0 }
		fi && /page allocation failure|vmalloc error|allocation failed/ { skip = 1 }
		{ if (skip && /Call Trace:/) print NR ":"; else print NR ":" $0 }
		skip && /<\/TASK>/ { skip = 0 }'
}
found=$(filtered | grep -aE "^[0-9]+:.*($patterns)" | grep -v 'KernelAddressSanitizer initialized' || true)

if (( count )); then
	leaks=$(grep -c 'unreferenced object 0x' <<<"$found" || true)
	total=$(grep -c . <<<"$found" || true)
	echo "splats=$((total - leaks)) leaks=$leaks"
	exit 0
fi

taint=$(tr -d '\r' <"$log" | sed -n 's/^IMP2-TAINT: //p' | tail -n1)
TAINT_OK_MASK=$(( (1 << 12) | (1 << 13) ))   # O and E
bad_taint=
if [[ $taint =~ ^[0-9]+$ ]] && (( taint & ~TAINT_OK_MASK )); then
	bad_taint=$taint
fi

if [[ $found || $bad_taint ]]; then
	log "FAIL: kernel splat scan of $log:"
	[[ $found ]] && printf '%s\n' "$found" | head -n 40 >&2
	[[ $bad_taint ]] && log "  kernel tainted: $bad_taint (only O and E are allowed)"
	exit 1
fi
exit 0
