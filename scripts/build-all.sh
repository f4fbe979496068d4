#!/usr/bin/env bash
# Everything a fresh machine needs before a VM run: toolchain, the cached
# test kernel, imp2.ko (+ test modules) and the userspace tools.
# Module build runs through clippy and must be warning-free.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$IMP2_ROOT/scripts/setup-toolchain.sh"
KDIR=$("$IMP2_ROOT/scripts/build-kernel.sh")
export KDIR

modlog=$IMP2_ROOT/build/module-build.log
mkdir -p "$IMP2_ROOT/build"
# Clean first so that clippy really sees every file.
make -C "$IMP2_ROOT" KDIR="$KDIR" clean >/dev/null 2>&1 || true
mkdir -p "$IMP2_ROOT/build"
if ! make -C "$IMP2_ROOT" KDIR="$KDIR" CLIPPY=1 modules >"$modlog" 2>&1; then
	tail -n 60 "$modlog" >&2
	die "module build failed (full log: $modlog)"
fi
if grep -qE '(^|: )warning[:\[]' "$modlog"; then
	grep -E -A8 '(^|: )warning[:\[]' "$modlog" >&2
	die "module build has warnings (rustc/clippy/C): the build must be warning-free"
fi
log "built $(ls "$IMP2_ROOT"/imp2.ko "$IMP2_ROOT"/tests/modules/*.ko "$IMP2_ROOT"/bench/cref/*.ko | xargs -n1 basename | tr '\n' ' ')(warning-free, CLIPPY=1)"
"$IMP2_ROOT/scripts/build-tools.sh" "$@"
