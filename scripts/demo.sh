#!/usr/bin/env bash
# The main job, from nothing: set everything up, boot the test VM, load
# imp2, subscribe with the imp2 tool, ping from a peer namespace, print the
# reported packets and the counters, remove the module, show its dmesg.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:$HOME/.cargo/bin

"$IMP2_ROOT/scripts/build-all.sh"
exec "$IMP2_ROOT/scripts/vm-run.sh" --quiet --timeout 300 --log "$IMP2_ROOT/build/vm/demo.log" \
	"$IMP2_ROOT/tests/guest-demo.sh"
