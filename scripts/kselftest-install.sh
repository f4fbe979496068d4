#!/usr/bin/env bash
# make kselftest-install: our tests laid out as the kernel's own
# `make kselftest-install` lays out a collection, so that the kernel's
# runner runs them on any machine that has the module:
#
#   INSTALL_PATH/run_kselftest.sh       from the kernel source (KDIR's)
#   INSTALL_PATH/kselftest/runner.sh    (and prefix.pl, ktap_helpers.sh)
#   INSTALL_PATH/kselftest-list.txt     imp2:imp2_events.sh, ...
#   INSTALL_PATH/imp2/                  the scripts, lib.sh, settings, config,
#                                       imp2.ko, modules/, bin/ (tool, clients)
#
#   cd INSTALL_PATH && ./run_kselftest.sh -c imp2      (as root)
#
# INSTALL_PATH defaults to build/kselftest.  The modules come from
# IMP2_MODDIR (default build/k/<IMP2_KERNEL>/, else the checkout's `make`
# build); the tools from build/bin (scripts/build-tools.sh).  The kernel
# source (for the runner) is KDIR's: an O= build tree links to it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dest=${INSTALL_PATH:-$IMP2_ROOT/build/kselftest}
k=$(imp2_kernel)
KDIR=${KDIR:-$(kernel_link "$k")}
src=$KDIR
[[ -e $KDIR/source ]] && src=$(readlink -f "$KDIR/source")
ksft=$src/tools/testing/selftests
[[ -f $ksft/run_kselftest.sh && -f $ksft/kselftest/runner.sh ]] ||
	die "no kselftest runner in $ksft: is KDIR=$KDIR a kernel tree (IMP2_KERNEL=$k make kernel)?"
moddir=${IMP2_MODDIR:-$IMP2_ROOT/build/k/$k}
[[ -f $moddir/imp2.ko ]] || moddir=$IMP2_ROOT
[[ -f $moddir/imp2.ko ]] || die "no imp2.ko in build/k/$k or the checkout: run scripts/build-modules.sh (or make)"
[[ -x $IMP2_ROOT/build/bin/imp2 ]] || die "no tools in build/bin: run scripts/build-tools.sh"

# Only our collection is replaced: INSTALL_PATH may hold other collections
# (a kernel's own kselftest install), whose list entries are kept.
rm -rf "$dest/imp2" && mkdir -p "$dest/kselftest" "$dest/imp2/modules" "$dest/imp2/bin"
# The runner, unless the directory has one already (a kernel's own install).
[[ -f $dest/run_kselftest.sh ]] || install -m 0755 "$ksft/run_kselftest.sh" "$dest/"
for f in runner.sh prefix.pl ktap_helpers.sh; do
	[[ -f $ksft/kselftest/$f && ! -f $dest/kselftest/$f ]] &&
		install -m "$([[ $f == *.pl ]] && echo 0755 || echo 0644)" "$ksft/kselftest/$f" "$dest/kselftest/"
done

c=$dest/imp2
install -m 0755 "$IMP2_ROOT"/tests/imp2_*.sh "$c/"
install -m 0644 "$IMP2_ROOT/tests/lib.sh" "$IMP2_ROOT/tests/guest-bench.sh" "$c/"
install -m 0644 "$moddir/imp2.ko" "$c/"
find "$moddir/tests/modules" "$moddir/bench" -name '*.ko' -exec install -m 0644 {} "$c/modules/" \; 2>/dev/null || true
cp -a "$IMP2_ROOT/build/bin/." "$c/bin/"
# The runner's per-test timeout (its default is 45 s).  The longest script
# takes about 4 minutes of TCG guest time on a debug kernel; run_all.sh
# allows 900 s, and so does this.
printf '%s\n' "timeout=900" >"$c/settings"
# The kernel options the tests need: the test kernel's config fragment.
grep -E '^CONFIG_[A-Z0-9_]+=' "$IMP2_ROOT/kconfig/imp2.config" |
	sed -E 's/^(CONFIG_[A-Z0-9_]+)=n$/# \1 is not set/' >"$c/config"
list=$dest/kselftest-list.txt
{
	grep -v '^imp2:' "$list" 2>/dev/null || true
	(cd "$c" && for t in imp2_*.sh; do echo "imp2:$t"; done)
} >"$list.tmp" && mv "$list.tmp" "$list"
log "kselftest collection imp2 ($(grep -c '^imp2:' "$list") tests, module from ${moddir#$IMP2_ROOT/}, runner from $ksft) installed in $dest"
echo "$dest"
