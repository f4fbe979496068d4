#!/usr/bin/env bash
# The main job, from nothing: set everything up, boot the test VM, load
# imp2, subscribe with the imp2 tool, ping from a peer namespace, print the
# reported packets and the counters, remove the module, show its dmesg.
#
# It runs on the kernel users run: Debian's stock 7.3 (IMP2_KERNEL unset;
# a tree prepared in minutes, nothing to build).  IMP2_KERNEL=6.12 or 7.3
# runs it on our debug kernel instead (a 12 to 20 minute build, cached).
set -euo pipefail
export IMP2_KERNEL=${IMP2_KERNEL:-debian-7.3}
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:$HOME/.cargo/bin

log "demo on IMP2_KERNEL=$IMP2_KERNEL"
"$IMP2_ROOT/scripts/build-all.sh" --release-only
# The module just built for this kernel, not a checkout `make` build for
# another.
IMP2_MODDIR=$IMP2_ROOT/build/k/$IMP2_KERNEL exec "$IMP2_ROOT/scripts/vm-run.sh" --quiet --timeout 300 --log "$IMP2_ROOT/build/vm/demo.log" \
	"$IMP2_ROOT/tests/guest-demo.sh"
