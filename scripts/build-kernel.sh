#!/usr/bin/env bash
# Build (or reuse from cache) a Rust-enabled test kernel: IMP2_KERNEL=6.12
# (default; Debian 12's linux-source-6.12) or 7.3 (linux-source-7.3 from
# Debian trixie-backports, scripts/fetch-debian.sh).  IMP2_KERNEL=debian-7.3
# hands over to scripts/prepare-debian-kernel.sh (Debian's stock kernel).
#
# The tree lives outside the checkout in $IMP2_CACHE/kernel-<key>, where the
# key hashes the kernel source version, the config fragment(s) and the
# toolchain versions: change any of them and the kernel is rebuilt.
# $IMP2_CACHE/kernel-<IMP2_KERNEL>-current links to the latest build.
# Prints the build directory (usable as KDIR) on stdout.
#
#   build-kernel.sh [--profile NAME]   (kconfig/NAME.config, plus
#                                       kconfig/NAME-<IMP2_KERNEL>.config if
#                                       present; default imp2, the debug test
#                                       kernel; bench: make bench)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=$(imp2_kernel)
[[ $kver == debian-* ]] && exec "$IMP2_ROOT/scripts/prepare-debian-kernel.sh" "$@"

profile=imp2
[[ ${1:-} == --profile ]] && { profile=${2:?--profile needs a name}; shift 2; }
FRAGMENT=$IMP2_ROOT/kconfig/$profile.config
[[ -f $FRAGMENT ]] || die "no kernel profile $FRAGMENT"
# Options renamed between kernel versions go in a per-version overlay.
FRAGMENTS=("$FRAGMENT")
[[ -f $IMP2_ROOT/kconfig/$profile-$kver.config ]] && FRAGMENTS+=("$IMP2_ROOT/kconfig/$profile-$kver.config")
current_link=$(kernel_link "$kver" "$profile")

[[ -x $BINDGEN ]] || die "bindgen not found at $BINDGEN: run scripts/setup-toolchain.sh"
command -v "clang-$LLVM_VERSION" >/dev/null || die "clang-$LLVM_VERSION missing: run scripts/setup-toolchain.sh"
src_ver=$(kernel_source_version "$kver")

key=$( {
	echo "$src_ver"
	cat "${FRAGMENTS[@]}"
	# The DEBIAN_* pins are part of src_ver where they matter (7.3).
	grep -v '^DEBIAN_' "$IMP2_ROOT/scripts/versions.env"
	/usr/bin/rustc --version
	"clang-$LLVM_VERSION" --version | head -n1
	"$BINDGEN" --version
} | sha256sum | cut -c1-16)

OUT=$IMP2_CACHE/kernel-$key
link_current() {
	ln -sfn "$OUT" "$current_link"
	# The name every script used before IMP2_KERNEL existed: 6.12's debug kernel.
	if [[ $kver == 6.12 && $profile == imp2 ]]; then ln -sfn "$OUT" "$IMP2_CACHE/kernel-current"; fi
}
# Two runs that want the same kernel (two checkouts' test.sh) must not both
# build into $OUT: the second waits for the first, then finds it built.
exec {build_lock_fd}>"$OUT.lock"
if ! flock -n "$build_lock_fd"; then
	log "another run is building $OUT: waiting for it"
	flock "$build_lock_fd"
fi
if [[ -f $OUT/.imp2-built ]]; then
	log "kernel cache hit: $OUT ($src_ver, $profile)"
	link_current
	echo "$OUT"
	exit 0
fi
log "kernel cache miss (key $key): building $kver ($src_ver, $profile), expect 6-20 min on 2 cores"

SRC=$(kernel_source "$kver")

rm -rf "$OUT" && mkdir -p "$OUT"
mapfile -t KMAKE < <(kernel_make_vars)
kmake() { make -C "$SRC" O="$OUT" "${KMAKE[@]}" "$@"; }

kmake rustavailable >"$IMP2_CACHE/logs/rustavailable-$kver.log" 2>&1 ||
	{ cat "$IMP2_CACHE/logs/rustavailable-$kver.log" >&2; die "kernel says Rust is not available with this toolchain"; }
kmake tinyconfig >/dev/null
# merge_config.sh -m only merges; olddefconfig below resolves dependencies.
(cd "$OUT" && "$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" .config "${FRAGMENTS[@]}" >/dev/null)
kmake olddefconfig >/dev/null

# olddefconfig silently drops options whose dependencies are unmet: check all.
renamed=" $(sed -n 's/^# renamed: \(CONFIG_[A-Z0-9_]*\) -> .*/\1/p' "${FRAGMENTS[@]}" | tr '\n' ' ')"
bad=0
while IFS= read -r line; do
	[[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]] || continue
	opt=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
	[[ $renamed == *" $opt "* ]] && continue
	if [[ $want == n ]]; then
		grep -q "^$opt=" "$OUT/.config" && { log "config: $opt should be unset but is $(grep "^$opt=" "$OUT/.config")"; bad=1; }
	else
		grep -qx "$opt=$want" "$OUT/.config" || { log "config: $opt=$want missing (got: $(grep "^$opt=\|# $opt " "$OUT/.config" || echo absent))"; bad=1; }
	fi
done < <(cat "${FRAGMENTS[@]}")
(( bad == 0 )) || die "final $kver .config lacks required options (see above): fix the dependencies in ${FRAGMENTS[*]#$IMP2_ROOT/} (options renamed in $kver go in kconfig/$profile-$kver.config)"

buildlog=$IMP2_CACHE/logs/kernel-build-$profile-$kver.log
# One job more than cores: alone, a -j2 build left the 2 cores 25 to 35 %
# idle in its long single-job stretches (the Rust crates, the links).
jobs=$(( $(nproc) + 1 ))
run_long "kernel $kver build ($jobs jobs)" "$buildlog" kmake -j"$jobs" ||
	die "kernel $kver build failed: see $buildlog"
[[ -f $OUT/arch/x86/boot/bzImage && -f $OUT/rust/kernel.o ]] ||
	die "kernel build produced no bzImage or rust/kernel.o"
echo "$src_ver" >"$OUT/.imp2-built"
link_current
log "kernel ready: $OUT"
echo "$OUT"
