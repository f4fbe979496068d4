#!/usr/bin/env bash
# Build imp2.ko and the test and bench modules for the kernel IMP2_KERNEL
# selects (KDIR= overrides the tree), in build/k/<kernel>/: a copy of the
# module sources, because Kbuild puts an external module's objects next to
# its sources (6.12 has no MO=) and test.sh builds for several kernels at
# once.  Two clean CLIPPY=1 builds, both of which must be warning-free: the
# release build (what `make` gives users), then the one the VM runs, with
# the test-only knobs (src/test_knobs.rs), which stays.
#
#   build-modules.sh [--release-only|--knobs-only]   prints the module directory
#
# --release-only: one build, without the knobs (the demo); --knobs-only:
# only the one the VM runs (./scripts/test.sh --quick).  Nothing is rebuilt
# if the sources, the kernel tree and the variants are those of the last
# successful, warning-free build here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k=$(imp2_kernel)
KDIR=${KDIR:-$(kernel_link "$k")}
[[ -f $KDIR/Module.symvers ]] ||
	die "no built kernel at $KDIR: run IMP2_KERNEL=$k scripts/build-kernel.sh first"
variants=(release test-knobs)
case ${1:-} in
--release-only) variants=(release) ;;
--knobs-only) variants=(test-knobs) ;;
'') ;;
*) die "unknown option $1" ;;
esac

out=$IMP2_ROOT/build/k/$k
# What Kbuild and the top-level Makefile read: nothing else is copied.
sources=(Kbuild Makefile include src tests/modules bench scripts/versions.env)
stamp=$( {
	tar -C "$IMP2_ROOT" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		--exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' --exclude='*.mod*' -cf - "${sources[@]}"
	# The kernel tree as built (a tree rebuilt in place changes these), and
	# the compilers.
	readlink -f "$KDIR"; echo "${variants[*]}"
	cat "$KDIR/Module.symvers" "$KDIR/.config" "$KDIR/include/config/kernel.release" 2>/dev/null
	cat "$KDIR/imp2.mk" 2>/dev/null; /usr/bin/rustc --version; /usr/bin/clippy-driver --version 2>/dev/null
} | sha256sum | cut -c1-16)
if [[ -f $out/imp2.ko && $(cat "$out/.imp2-stamp" 2>/dev/null) == "$stamp" ]]; then
	log "$k: modules up to date (${variants[*]}, sources unchanged): $out"
	echo "$out"
	exit 0
fi
rm -rf "$out" && mkdir -p "$out"
tar -C "$IMP2_ROOT" --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' -cf - "${sources[@]}" |
	tar -C "$out" -xf -

for v in "${variants[@]}"; do
	vars=()
	[[ $v == test-knobs ]] && vars=(IMP2_TEST_KNOBS=1)
	modlog=$out/module-build-$v.log
	# Cleaning first, so that clippy really sees every file.
	make -C "$out" KDIR="$KDIR" clean >/dev/null 2>&1 || true
	start=$(date +%s)
	if ! make -C "$out" KDIR="$KDIR" CLIPPY=1 "${vars[@]}" modules >"$modlog" 2>&1; then
		tail -n 60 "$modlog" >&2
		die "$k: $v module build failed (full log: $modlog)"
	fi
	if grep -qE '(^|: )warning[:\[]' "$modlog"; then
		grep -E -A8 '(^|: )warning[:\[]' "$modlog" >&2
		die "$k: $v module build has warnings (rustc/clippy/C): the build must be warning-free (log: $modlog)"
	fi
	log "$k: $v modules built, warning-free with CLIPPY=1, in $(( $(date +%s) - start ))s"
done
echo "$stamp" >"$out/.imp2-stamp"
echo "$out"
