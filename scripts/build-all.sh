#!/usr/bin/env bash
# Everything a fresh machine needs before a VM run on the kernel IMP2_KERNEL
# selects: toolchain, the cached test kernel (or Debian's prepared tree),
# the modules in build/k/<kernel>/ (scripts/build-modules.sh: warning-free
# with CLIPPY=1) and the userspace tools in build/bin/.
#
#   build-all.sh [--release-only]
#
# --release-only: only the release module (no test knobs; the demo).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

modules_args=()
for a in "$@"; do
	case $a in
	--release-only) modules_args+=(--release-only) ;;
	*) die "unknown option $a" ;;
	esac
done
# Debian's packages download and unpack meanwhile (a failure there shows
# again, with its message, when the kernel step needs them).
prefetch_debian "$(imp2_kernel)" >/dev/null
"$IMP2_ROOT/scripts/setup-toolchain.sh"
# The tools build while the kernel is built or prepared: the preparation
# spends part of its time in downloads and single-threaded xz.
"$IMP2_ROOT/scripts/build-tools.sh" & tools_pid=$!
KDIR=$("$IMP2_ROOT/scripts/build-kernel.sh")
export KDIR
"$IMP2_ROOT/scripts/build-modules.sh" "${modules_args[@]}" >/dev/null
wait "$tools_pid" || die "building the tools failed (see above)"
