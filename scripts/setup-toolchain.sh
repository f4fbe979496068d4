#!/usr/bin/env bash
# Install everything needed to build the imp2 test kernel, the module, the
# userspace tool and to run the QEMU test VM.  Idempotent: a second run only
# checks versions.  Every pinned version lives in scripts/versions.env.
# IMP2_TOOLCHAIN_FOR: the kernels that will be used (default: IMP2_KERNEL,
# or 6.12); linux-source-6.12 is installed only if 6.12 is one of them.
# bindgen-cli (built with cargo) builds while apt installs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for_kernels=${IMP2_TOOLCHAIN_FOR:-${IMP2_KERNEL:-6.12}}

APT_PACKAGES=(
	"rustc-web=$RUST_WEB_VERSION"
	"libstd-rust-web-dev=$RUST_WEB_VERSION"
	"rust-web-src=$RUST_WEB_VERSION"
	"rust-web-clippy=$RUST_WEB_VERSION"
	"libclang-$LLVM_VERSION-dev"   # bindgen's
	qemu-system-x86 busybox-static
	bc flex bison libelf-dev libssl-dev cpio kmod xz-utils zstd
	iproute2 iputils-ping libcap2-bin util-linux procps psmisc nftables
	make gcc libc6-dev python3
	# tests/clients/imp2_nflog_lib.c, the NFLOG peer read through the library
	# ulogd2 uses (pulls libnetfilter-log1, libnfnetlink-dev, libmnl-dev)
	libnetfilter-log-dev
	# the guest's reader of `imp2 monitor -w` pcapng files (tests/imp2_v2_capture.sh)
	tcpdump
	# the tool's tcpdump expressions: libpcap, which the pcap crate links
	libpcap-dev
	# pahole: Debian's config has BTF options that olddefconfig drops without it
	dwarves
)
[[ " $for_kernels " == *" 6.12 "* ]] && APT_PACKAGES+=("$KERNEL_SOURCE_PKG")
# Our debug kernels build with LLVM; Debian's tree (debian-7.3) with gcc.
[[ " $for_kernels " == *" 6.12 "* || " $for_kernels " == *" 7.3 "* ]] &&
	APT_PACKAGES+=("clang-$LLVM_VERSION" "lld-$LLVM_VERSION" "llvm-$LLVM_VERSION")

SUDO=
if (( EUID != 0 )); then
	command -v sudo >/dev/null || die "not root and no sudo: run this script as root"
	SUDO=sudo
fi

missing_apt() {
	local p name want have
	for p in "${APT_PACKAGES[@]}"; do
		name=${p%%=*}
		want=${p#*=}; [[ $want == "$p" ]] && want=
		have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
		if [[ $have != "install ok installed"* ]]; then echo "$p"; continue; fi
		if [[ -n $want && $have != *" $want" ]]; then echo "$p"; fi
	done
}

bindgen_ok() { [[ -x $BINDGEN ]] && "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; }
bindgen_pid=
install_bindgen() {
	command -v cargo >/dev/null || die "cargo not found: install Rust via rustup (needed to build bindgen-cli)"
	run_long "cargo install bindgen-cli $BINDGEN_VERSION" "$IMP2_CACHE/logs/bindgen.log" \
		cargo install --locked --root "$BINDGEN_PREFIX" bindgen-cli --version "=$BINDGEN_VERSION" ||
		die "cargo install bindgen-cli failed: check crates.io access (log above)"
}
# bindgen-cli loads libclang at run time (its "runtime" feature), so it can
# build before apt has installed libclang; it needs only cargo and a linker.
if ! bindgen_ok && command -v cc >/dev/null; then
	install_bindgen & bindgen_pid=$!
fi

mapfile -t todo < <(missing_apt)
if (( ${#todo[@]} )); then
	log "apt: installing ${#todo[@]} packages: ${todo[*]}"
	run_long "apt-get update" "$IMP2_CACHE/logs/apt-update.log" $SUDO apt-get -o DPkg::Lock::Timeout=600 update ||
		die "apt-get update failed: check the network/apt sources (see log above)"
	if [[ " ${todo[*]} " == *" $KERNEL_SOURCE_PKG "* ]] && ! apt-cache show "$KERNEL_SOURCE_PKG" >/dev/null 2>&1; then
		die "$KERNEL_SOURCE_PKG not found in apt: enable bookworm-security / run apt-get update"
	fi
	run_long "apt-get install" "$IMP2_CACHE/logs/apt-install.log" \
		env DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
		--allow-downgrades "${todo[@]}" ||
		die "apt-get install failed; the pinned versions are in scripts/versions.env"
else
	log "apt: all ${#APT_PACKAGES[@]} packages present"
fi

[[ -x /usr/bin/rustc ]] || die "/usr/bin/rustc missing after installing rustc-web"
/usr/bin/rustc --version | grep -q '^rustc 1\.85\.0' ||
	die "/usr/bin/rustc is $(/usr/bin/rustc --version), expected 1.85.0 (rustc-web $RUST_WEB_VERSION)"

if [[ $bindgen_pid ]]; then
	wait "$bindgen_pid" || die "building bindgen-cli failed (log: $IMP2_CACHE/logs/bindgen.log)"
elif bindgen_ok; then
	log "bindgen $BINDGEN_VERSION present at $BINDGEN"
else
	install_bindgen
fi

src_tar=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1)
[[ -n $src_tar || " $for_kernels " != *" 6.12 "* ]] ||
	die "kernel tarball /usr/src/linux-source-6.12.tar.* missing: reinstall $KERNEL_SOURCE_PKG"

ksrc="not needed for $for_kernels"
[[ $src_tar ]] && ksrc="$KERNEL_SOURCE_PKG $(dpkg-query -W -f='${Version}' "$KERNEL_SOURCE_PKG") ($src_tar)"
log "installed:"
{
	echo "  rustc (kernel):  $(/usr/bin/rustc --version)"
	echo "  rust-web-src:    $(dpkg-query -W -f='${Version}' rust-web-src)"
	echo "  clang:           $(clang-$LLVM_VERSION --version 2>/dev/null | head -n1 || echo "not needed for $for_kernels")"
	echo "  bindgen:         $("$BINDGEN" --version)"
	echo "  kernel source:   $ksrc"
	echo "  qemu:            $(qemu-system-x86_64 --version | head -n1)"
	echo "  busybox:         $(busybox 2>&1 | head -n1)"
	echo "  cargo (tools):   $(cargo --version 2>/dev/null || echo none)"
} >&2
