#!/usr/bin/env bash
# Build (or reuse from cache) the Rust-enabled 6.12 test kernel.
#
# The tree lives outside the checkout in $IMP2_CACHE/kernel-<key>, where the
# key hashes the kernel package version, the config fragment and the
# toolchain versions: change any of them and the kernel is rebuilt.
# Prints the build directory (usable as KDIR) on stdout.
#
#   build-kernel.sh [--profile NAME]   (kconfig/NAME.config; default imp2,
#                                       the debug test kernel; bench: make bench)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

profile=imp2
[[ ${1:-} == --profile ]] && { profile=${2:?--profile needs a name}; shift 2; }
FRAGMENT=$IMP2_ROOT/kconfig/$profile.config
[[ -f $FRAGMENT ]] || die "no kernel profile $FRAGMENT"
current_link=$IMP2_CACHE/kernel-current
[[ $profile == imp2 ]] || current_link=$IMP2_CACHE/kernel-$profile-current

[[ -x $BINDGEN ]] || die "bindgen not found at $BINDGEN: run scripts/setup-toolchain.sh"
command -v "clang-$LLVM_VERSION" >/dev/null || die "clang-$LLVM_VERSION missing: run scripts/setup-toolchain.sh"
src_ver=$(dpkg-query -W -f='${Version}' "$KERNEL_SOURCE_PKG" 2>/dev/null) ||
	die "$KERNEL_SOURCE_PKG not installed: run scripts/setup-toolchain.sh"
src_tar=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1)
[[ -n $src_tar ]] || die "kernel tarball missing in /usr/src: reinstall $KERNEL_SOURCE_PKG"

key=$( {
	echo "$src_ver"
	cat "$FRAGMENT" "$IMP2_ROOT/scripts/versions.env"
	/usr/bin/rustc --version
	"clang-$LLVM_VERSION" --version | head -n1
	"$BINDGEN" --version
} | sha256sum | cut -c1-16)

SRC=$IMP2_CACHE/linux-src-$src_ver
OUT=$IMP2_CACHE/kernel-$key
if [[ -f $OUT/.imp2-built ]]; then
	log "kernel cache hit: $OUT ($src_ver, $profile)"
	ln -sfn "$OUT" "$current_link"
	echo "$OUT"
	exit 0
fi
log "kernel cache miss (key $key): building $src_ver ($profile), expect 5-20 min on 2 cores"

if [[ ! -f $SRC/.imp2-extracted ]]; then
	rm -rf "$SRC" && mkdir -p "$SRC"
	run_long "extract $src_tar" "$IMP2_CACHE/logs/extract.log" \
		tar -xf "$src_tar" -C "$SRC" --strip-components=1
	touch "$SRC/.imp2-extracted"
fi

rm -rf "$OUT" && mkdir -p "$OUT"
mapfile -t KMAKE < <(kernel_make_vars)
kmake() { make -C "$SRC" O="$OUT" "${KMAKE[@]}" "$@"; }

kmake rustavailable >"$IMP2_CACHE/logs/rustavailable.log" 2>&1 ||
	{ cat "$IMP2_CACHE/logs/rustavailable.log" >&2; die "kernel says Rust is not available with this toolchain"; }
kmake tinyconfig >/dev/null
# merge_config.sh -m only merges; olddefconfig below resolves dependencies.
(cd "$OUT" && "$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" .config "$FRAGMENT" >/dev/null)
kmake olddefconfig >/dev/null

# olddefconfig silently drops options whose dependencies are unmet: check all.
bad=0
while IFS= read -r line; do
	[[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]] || continue
	opt=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
	if [[ $want == n ]]; then
		grep -q "^$opt=" "$OUT/.config" && { log "config: $opt should be unset but is $(grep "^$opt=" "$OUT/.config")"; bad=1; }
	else
		grep -qx "$opt=$want" "$OUT/.config" || { log "config: $opt=$want missing (got: $(grep "^$opt=\|# $opt " "$OUT/.config" || echo absent))"; bad=1; }
	fi
done <"$FRAGMENT"
(( bad == 0 )) || die "final .config lacks required options (see above): fix kconfig/imp2.config dependencies"

run_long "kernel build ($(nproc) jobs)" "$IMP2_CACHE/logs/kernel-build-$profile.log" kmake -j"$(nproc)" ||
	die "kernel build failed: see $IMP2_CACHE/logs/kernel-build-$profile.log"
[[ -f $OUT/arch/x86/boot/bzImage && -f $OUT/rust/kernel.o ]] ||
	die "kernel build produced no bzImage or rust/kernel.o"
echo "$src_ver" >"$OUT/.imp2-built"
ln -sfn "$OUT" "$current_link"
log "kernel ready: $OUT"
echo "$OUT"
