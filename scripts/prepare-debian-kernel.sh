#!/usr/bin/env bash
# IMP2_KERNEL=debian-7.3: prepare (or reuse from cache) a kernel tree that
# matches Debian's stock linux-image-<abi>-amd64 from trixie-backports
# (abi 7.3.4+deb13 for the pinned DEBIAN_KERNEL_VERSION), so that imp2.ko
# built against it loads into Debian's own kernel as is.  Also stages that
# kernel's vmlinuz and the modules the tests need, for scripts/vm-run.sh.
#
# The recipe (issue 10; README "Your own distro kernel"):
#  1. linux-source-7.3, unpacked (shared with the 7.3 debug kernel);
#  2. Debian's .config and Module.symvers from linux-headers-<abi>-amd64,
#     CONFIG_MODULE_SIG_KEY cleared (we do not sign);
#  3. pahole (dwarves) installed: without it olddefconfig drops the BTF
#     options, struct module changes layout and insmod fails;
#  4. CC=gcc (Debian builds with gcc-14; only compiler-capability options
#     differ with our gcc-12);
#  5. RUSTC_FORCE_RUSTC_VERSION set to Debian's rustc version string, so our
#     rustc 1.85.0 produces Debian's crate hashes and thus its symbol names;
#  6. LOCALVERSION=+deb13-amd64, for the vermagic;
#  7. make modules_prepare.
# Debian has CONFIG_MODVERSIONS off (no CRCs to match) and does not enforce
# module signatures: the module loads with taint O+E.
#
# The tree lives in $IMP2_CACHE/kernel-debian-<key> (key: the Debian version,
# its .config, this recipe, the toolchain); kernel-debian-7.3-current links
# to it.  Prints the tree (usable as KDIR) on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# What Debian's kernel was built with (its /proc/version and .config).
DEBIAN_RUSTC_VERSION="1.85.1 (4eb161250 2025-03-15) (built from a source tarball)"
# Modules the functional tests need that Debian builds as modules (loaded at
# boot by scripts/guest/init, dependencies first). nf_tables: nft's cache
# needs it even for `nft list hooks` (nfnetlink_hook), which imp2_idle_hooks
# reads. nfnetlink_queue and nft_queue: imp2_nfqueue's NFQUEUE user.
VM_MODULES=(veth dummy nf_tables nfnetlink_hook nfnetlink_queue nft_queue)

[[ ${1:-} == --profile ]] && {
	[[ ${2:-} == imp2 ]] || die "IMP2_KERNEL=debian-7.3 is Debian's stock kernel: there is no '${2:-}' profile of it (make bench needs IMP2_KERNEL=6.12 or 7.3)"
	shift 2
}
[[ $(imp2_kernel) == debian-7.3 ]] || die "$0 is for IMP2_KERNEL=debian-7.3"
abi=$DEBIAN_KERNEL_ABI-amd64
[[ -x $BINDGEN ]] || die "bindgen not found at $BINDGEN: run scripts/setup-toolchain.sh"
command -v gcc >/dev/null || die "gcc missing: run scripts/setup-toolchain.sh"
if ! command -v pahole >/dev/null; then
	SUDO=; (( EUID == 0 )) || SUDO=sudo
	run_long "apt-get install dwarves (pahole, for Debian's BTF options)" "$IMP2_CACHE/logs/apt-dwarves.log" \
		env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends dwarves ||
		die "installing dwarves failed: without pahole the tree would not match Debian's struct module"
fi

mapfile -t debs < <("$IMP2_ROOT/scripts/fetch-debian.sh" "linux-headers-$abi" "linux-binary-$abi" "linux-modules-$abi")
(( ${#debs[@]} == 3 )) || die "fetching Debian's kernel packages failed (see above)"
headers_deb=${debs[0]} binary_deb=${debs[1]} modules_deb=${debs[2]}

key=$( {
	echo "$DEBIAN_KERNEL_VERSION $DEBIAN_RUSTC_VERSION ${VM_MODULES[*]}"
	sha256sum "$headers_deb" "$binary_deb" "$modules_deb" | cut -d' ' -f1
	cat "$0"
	grep -v '^DEBIAN_' "$IMP2_ROOT/scripts/versions.env"
	/usr/bin/rustc --version; gcc --version | head -n1; "$BINDGEN" --version; pahole --version
} | sha256sum | cut -c1-16)
OUT=$IMP2_CACHE/kernel-debian-$key
link=$(kernel_link debian-7.3)
if [[ -f $OUT/.imp2-built ]]; then
	log "Debian kernel tree cache hit: $OUT ($abi)"
	ln -sfn "$OUT" "$link"
	echo "$OUT"
	exit 0
fi
log "Debian kernel tree cache miss (key $key): preparing a tree matching linux-image-$abi, expect 2-5 min"
SRC=$(kernel_source 7.3)

rm -rf "$OUT" && mkdir -p "$OUT/imp2-vm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 2. Debian's .config and Module.symvers.
dpkg-deb -x "$headers_deb" "$work/headers"
hdr=$work/headers/usr/src/linux-headers-$abi
[[ -f $hdr/.config && -f $hdr/Module.symvers ]] ||
	die "linux-headers-$abi has no .config/Module.symvers under usr/src/linux-headers-$abi"
cp "$hdr/.config" "$OUT/.config"
cp "$hdr/.config" "$OUT/.config.debian"
cp "$hdr/Module.symvers" "$OUT/Module.symvers.debian"
grep -q '^CONFIG_RUST=y' "$OUT/.config" || die "Debian's $abi config has no CONFIG_RUST=y: it cannot load Rust modules"
"$SRC/scripts/config" --file "$OUT/.config" --set-str MODULE_SIG_KEY ""

# 4.-6.: the make variables of the recipe.
export RUSTC_FORCE_RUSTC_VERSION=$DEBIAN_RUSTC_VERSION
KMAKE_VARS=(CC=gcc HOSTCC=gcc LOCALVERSION=+deb13-amd64)
KMAKE=("${KMAKE_VARS[@]}" RUSTC=/usr/bin/rustc BINDGEN="$BINDGEN")
kmake() { make -C "$SRC" O="$OUT" "${KMAKE[@]}" "$@"; }
kmake olddefconfig >"$IMP2_CACHE/logs/debian-olddefconfig.log" 2>&1 ||
	{ tail -n 20 "$IMP2_CACHE/logs/debian-olddefconfig.log" >&2; die "olddefconfig on Debian's config failed"; }
for opt in CONFIG_RUST CONFIG_DEBUG_INFO_BTF CONFIG_DEBUG_INFO_BTF_MODULES; do
	if grep -q "^$opt=y" "$OUT/.config.debian" && ! grep -q "^$opt=y" "$OUT/.config"; then
		die "$opt=y of Debian's config was dropped by olddefconfig: is pahole (dwarves) / the Rust toolchain usable? (see scripts/setup-toolchain.sh)"
	fi
done
ndiff=$(diff <(grep '^CONFIG_' "$OUT/.config.debian" | sort) <(grep '^CONFIG_' "$OUT/.config" | sort) | grep -c '^[<>]' || true)
log "config: $ndiff lines differ from Debian's (compiler capabilities; see diff $OUT/.config.debian $OUT/.config)"

# 7.
run_long "make modules_prepare (Debian $abi config, gcc)" "$IMP2_CACHE/logs/debian-modules-prepare.log" \
	kmake -j"$(nproc)" modules_prepare ||
	die "modules_prepare failed: see $IMP2_CACHE/logs/debian-modules-prepare.log"
cp "$OUT/Module.symvers.debian" "$OUT/Module.symvers"
release=$(cat "$OUT/include/config/kernel.release")
[[ $release == "$abi" ]] || die "prepared tree is $release, not Debian's $abi: check LOCALVERSION/CONFIG_LOCALVERSION"
[[ -f $OUT/rust/libkernel.rmeta ]] || die "modules_prepare built no rust/libkernel.rmeta: is CONFIG_RUST still set?"

# Debian's kernel and the modules the VM needs (decompressed: busybox insmod
# reads no .ko.xz), plus their load order.
dpkg-deb -x "$binary_deb" "$work/bin"
vmlinuz=$(find "$work/bin" -name "vmlinuz*" -type f | head -n1)
[[ $vmlinuz ]] || die "no vmlinuz in $binary_deb"
cp "$vmlinuz" "$OUT/imp2-vm/vmlinuz"
dpkg-deb -x "$modules_deb" "$work/mods"
modroot=$work/mods/usr   # trixie: /usr/lib/modules
[[ -d $modroot/lib/modules/$abi ]] || modroot=$work/mods
[[ -d $modroot/lib/modules/$abi ]] || die "no lib/modules/$abi in $modules_deb"
# The package ships no modules.order or modules.builtin*: empty ones keep
# depmod from warning about them.
touch "$modroot/lib/modules/$abi/modules.order" "$modroot/lib/modules/$abi/modules.builtin" \
	"$modroot/lib/modules/$abi/modules.builtin.modinfo"
depmod -b "$modroot" "$abi" || die "depmod on Debian's modules failed"
ov=$work/vm
mkdir -p "$ov/lib/modules/imp2"
: >"$ov/lib/modules/imp2/load-order"
for m in "${VM_MODULES[@]}"; do
	deps=$(modprobe -d "$modroot" -S "$abi" --show-depends "$m" 2>&1) ||
		die "Debian's $abi has no module $m: $deps"
	while read -r kind path _; do
		[[ $kind == insmod ]] || continue
		name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
		grep -qx "$name" "$ov/lib/modules/imp2/load-order" && continue
		case $path in
		*.xz) xz -dc "$path" ;;
		*.zst) zstd -dcq "$path" ;;
		*) cat "$path" ;;
		esac >"$ov/lib/modules/imp2/$name"
		echo "$name" >>"$ov/lib/modules/imp2/load-order"
	done <<<"$deps"
done
(cd "$ov" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$OUT/imp2-vm/modules.cpio.gz"
log "VM: Debian's vmlinuz and modules $(tr '\n' ' ' <"$ov/lib/modules/imp2/load-order")staged in $OUT/imp2-vm"

# How to build modules for this tree (read by the top-level Makefile).
cat >"$OUT/imp2.mk" <<EOF
# Written by scripts/prepare-debian-kernel.sh: make variables for building
# modules against this tree, which matches Debian's linux-image-$abi.
IMP2_KMAKE_VARS := ${KMAKE_VARS[*]}
export RUSTC_FORCE_RUSTC_VERSION := $DEBIAN_RUSTC_VERSION
EOF
echo "$DEBIAN_KERNEL_VERSION" >"$OUT/.imp2-built"
ln -sfn "$OUT" "$link"
log "Debian kernel tree ready: $OUT ($release)"
echo "$OUT"
