#!/usr/bin/env bash
# Everything a fresh machine needs before a VM run: toolchain, the cached
# test kernel, imp2.ko (+ test modules) and the userspace tools.
# Module build runs through clippy and must be warning-free.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$IMP2_ROOT/scripts/setup-toolchain.sh"
KDIR=$("$IMP2_ROOT/scripts/build-kernel.sh")
export KDIR

mkdir -p "$IMP2_ROOT/build"
# build_modules NAME [MAKE VARS...]: a clean, warning-free CLIPPY=1 build
# (cleaning first so that clippy really sees every file).
build_modules() {
	local name=$1; shift
	local modlog=$IMP2_ROOT/build/module-build-$name.log
	make -C "$IMP2_ROOT" KDIR="$KDIR" clean >/dev/null 2>&1 || true
	mkdir -p "$IMP2_ROOT/build"
	if ! make -C "$IMP2_ROOT" KDIR="$KDIR" CLIPPY=1 "$@" modules >"$modlog" 2>&1; then
		tail -n 60 "$modlog" >&2
		die "$name module build failed (full log: $modlog)"
	fi
	if grep -qE '(^|: )warning[:\[]' "$modlog"; then
		grep -E -A8 '(^|: )warning[:\[]' "$modlog" >&2
		die "$name module build has warnings (rustc/clippy/C): the build must be warning-free"
	fi
}
# The release build (what `make` gives users) must be warning-free too; the
# VM runs the build with the test-only knobs (src/test_knobs.rs).
build_modules release
build_modules test-knobs IMP2_TEST_KNOBS=1
log "built $(ls "$IMP2_ROOT"/imp2.ko "$IMP2_ROOT"/tests/modules/*.ko "$IMP2_ROOT"/bench/cref/*.ko | xargs -n1 basename | tr '\n' ' ')(with test knobs; release and test builds warning-free, CLIPPY=1)"
"$IMP2_ROOT/scripts/build-tools.sh" "$@"
