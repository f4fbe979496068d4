#!/usr/bin/env bash
# Boot the imp2 test kernel selected by IMP2_KERNEL (6.12, 7.3, debian-7.3;
# or KDIR=) in QEMU, run a shell script inside the guest and return its exit
# status.
#
#   scripts/vm-run.sh [--timeout SECS] [--log FILE] [--cpus N] [--mem MB]
#                     [--quiet] [--icount] [--copy HOSTDIR:GUESTDIR]...
#                     SCRIPT [ARGS...]
#
# The guest gets, under /imp2: imp2.ko, the test modules in /imp2/modules,
# the userspace tool and test helpers in /imp2/bin (also on PATH), tests/
# and the script itself, all in the initramfs (nothing is shared: results
# come back on the console).  The modules come from IMP2_MODDIR; unset,
# from build/k/<kernel>/ (scripts/build-modules.sh) or the checkout's own
# `make` build, whichever is newer.  --copy adds a host directory to the
# initramfs at GUESTDIR.  The full
# console is kept in the log file (--quiet shows only the script's own
# output, not kernel messages, on the terminal); the run fails if the script fails, if the
# VM times out or crashes, or if the console shows a kernel splat, a leak or
# an unexpected taint.  --icount runs QEMU's instruction counting (TCG:
# guest time advances with executed instructions, 1 ns each), for
# benchmarks whose figures must not depend on the host's load.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

timeout_s=${IMP2_VM_TIMEOUT:-600}
cpus=${IMP2_VM_CPUS:-}
mem=${IMP2_VM_MEM:-2048}
logfile=
quiet=0
icount=()
copies=()
while (( $# )); do
	case $1 in
	--timeout) timeout_s=$2; shift 2 ;;
	--log) logfile=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--copy) [[ ${2:-} == ?*:/?* && -d ${2%%:*} ]] || die "--copy needs HOSTDIR:/GUESTDIR, HOSTDIR a directory (got '${2:-}')"
		copies+=("$2"); shift 2 ;;
	--icount) icount=(-icount shift=0,sleep=off); shift ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
(( $# >= 1 )) || die "usage: $0 [options] SCRIPT [ARGS...]"
script=$1; shift
[[ -f $script ]] || die "script $script not found"

KDIR=${KDIR:-$(default_kdir)}
if [[ -f $KDIR/imp2-vm/vmlinuz ]]; then
	# A tree prepared for a distro kernel (scripts/prepare-debian-kernel.sh):
	# boot the distro's own kernel, with the modules the tests need.
	bzimage=$KDIR/imp2-vm/vmlinuz
	kernel_cpio=$KDIR/imp2-vm/modules.cpio.gz
	# Debian's kernel patches its code at run time (CONFIG_JUMP_LABEL:
	# static keys such as netstamp_needed, toggled by every ping) with int3
	# breakpoints; under TCG with two vCPUs another vCPU can still execute
	# a stale breakpoint ("Oops: int3" in netif_rx_internal, seen here).
	# One vCPU for it, unless asked; our debug kernels have no JUMP_LABEL.
	cpus=${cpus:-1}
else
	bzimage=$KDIR/arch/x86/boot/bzImage
	kernel_cpio=
fi
cpus=${cpus:-2}
[[ -f $bzimage ]] || die "no test kernel at $KDIR: run IMP2_KERNEL=$(imp2_kernel) scripts/build-kernel.sh (or make kernel)"
base=$("$IMP2_ROOT/scripts/mkinitramfs.sh")

mkdir -p "$IMP2_ROOT/build/vm"
logfile=${logfile:-$IMP2_ROOT/build/vm/console-$(date +%Y%m%d-%H%M%S)-$$.log}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

moddir=${IMP2_MODDIR:-}
if [[ -z $moddir ]]; then
	moddir=$IMP2_ROOT
	kbuilt=$IMP2_ROOT/build/k/$(imp2_kernel)
	[[ -f $kbuilt/imp2.ko && ( ! -f $moddir/imp2.ko || $kbuilt/imp2.ko -nt $moddir/imp2.ko ) ]] && moddir=$kbuilt
fi
[[ -f $moddir/imp2.ko ]] || log "warning: no imp2.ko in $moddir: run scripts/build-modules.sh (or make)"

# Per-run overlay, appended to the cached base cpio (the kernel unpacks both).
ov=$work/overlay
mkdir -p "$ov/imp2/bin"
[[ -f $moddir/imp2.ko ]] && cp "$moddir/imp2.ko" "$ov/imp2/"
[[ -d $IMP2_ROOT/build/bin ]] && cp -a "$IMP2_ROOT/build/bin/." "$ov/imp2/bin/"
# Dynamically linked tools need their libraries in the guest too.
for b in "$ov"/imp2/bin/*; do copy_libs "$ov" "$b"; done
mkdir -p "$ov/imp2/modules"
find "$moddir/tests/modules" "$moddir/bench" -name '*.ko' -exec cp {} "$ov/imp2/modules/" \; 2>/dev/null || true
cp -a "$IMP2_ROOT/tests" "$ov/imp2/tests"
for c in "${copies[@]}"; do
	mkdir -p "$ov${c#*:}" && cp -a "${c%%:*}/." "$ov${c#*:}/"
done
{
	printf '#!/bin/bash\n'
	# Test knobs (IMP2_FUZZ_MESSAGES, IMP2_CYCLES, ...) reach the guest.
	while IFS='=' read -r name _; do
		[[ $name =~ ^IMP2_(FUZZ|CYCLES|CHURN|RACE|BENCH|TEARDOWN) ]] && printf 'export %s=%q\n' "$name" "${!name}"
	done < <(env)
	if (( $# )); then printf 'set -- %s\n' "$(printf '%q ' "$@")"; fi
	cat "$script"
} >"$ov/imp2/run"
chmod +x "$ov/imp2/run"
(cd "$ov" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$work/overlay.cpio.gz"
cat "$base" ${kernel_cpio:+"$kernel_cpio"} "$work/overlay.cpio.gz" >"$work/initrd.cpio.gz"

# KVM only when the CPU really exposes virtualization: /dev/kvm alone is not
# enough (guests hang right after "Booting from ROM" on these hosts).
accel=tcg
if [[ ${IMP2_ACCEL:-} ]]; then
	accel=$IMP2_ACCEL
elif [[ -r /dev/kvm && -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
	accel=kvm
fi

# kasan_multi_shot: report every bad access, not only the first of the boot.
cmdline="console=ttyS0 panic=-1 printk.devkmsg=on kasan.fault=report kasan_multi_shot"

[[ ${#icount[@]} -gt 0 && $accel != tcg ]] && die "--icount needs TCG (IMP2_ACCEL=tcg)"
log "VM: $accel${icount:+ (icount)}, $cpus cpus, ${mem}M, timeout ${timeout_s}s, console log $logfile"
# Not under set -e: a timed-out or crashed VM must still reach the checks
# below.
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel "$accel" -cpu max,la57=off -smp "$cpus" -m "$mem" \
	-kernel "$bzimage" -initrd "$work/initrd.cpio.gz" -append "$cmdline" \
	-display none -serial stdio -monitor none -no-reboot \
	-nic none "${icount[@]}" </dev/null 2>&1 |
	tee "$logfile" |
	if (( quiet )); then grep -av --line-buffered '^\[ *[0-9]*\.[0-9]*\]' || true; else cat; fi
rc=${PIPESTATUS[0]}
set -e
if (( rc == 124 || rc == 137 )); then
	log "FAIL: VM timed out after ${timeout_s}s (console: $logfile)"
	exit 1
fi

"$IMP2_ROOT/scripts/splat-scan.sh" "$logfile" || exit 1

exit_line=$(grep -a '^IMP2-EXIT: ' "$logfile" | tail -n1 | tr -d '\r')
[[ $exit_line ]] || { log "FAIL: guest never reported an exit status (crash? see $logfile)"; exit 1; }
guest_rc=${exit_line#IMP2-EXIT: }
log "guest script exited $guest_rc"
exit "$guest_rc"
