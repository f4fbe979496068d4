# shellcheck shell=bash
# Common helpers for imp2 scripts: logging, timing, cache paths.

IMP2_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/versions.env
. "$IMP2_ROOT/scripts/versions.env"

IMP2_CACHE=${IMP2_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imp2}
BINDGEN_PREFIX=$IMP2_CACHE/bindgen-$BINDGEN_VERSION
BINDGEN=$BINDGEN_PREFIX/bin/bindgen
export LIBCLANG_PATH=/usr/lib/llvm-$LLVM_VERSION/lib

mkdir -p "$IMP2_CACHE/logs"
_imp2_t0=${_imp2_t0:-$(date +%s)}
export _imp2_t0

elapsed() { local s=$(( $(date +%s) - _imp2_t0 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
log()  { printf '[imp2 %s] %s\n' "$(elapsed)" "$*" >&2; }
die()  { printf '[imp2 %s] ERROR: %s\n' "$(elapsed)" "$*" >&2; exit 1; }

# Run a long command, printing a heartbeat with elapsed time every 30 s so
# that CI logs and humans can tell it is alive.  Output goes to a log file;
# its tail is shown on failure.
run_long() {
	local what=$1 logfile=$2; shift 2
	log "$what (log: $logfile)"
	local start; start=$(date +%s)
	"$@" >"$logfile" 2>&1 &
	local pid=$!
	local last=$start now
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		now=$(date +%s)
		if (( now - last >= 30 )); then
			last=$now
			log "  ... $what: $((now - start))s, last: $(tail -n1 "$logfile" | cut -c1-100)"
		fi
	done
	local rc=0
	wait "$pid" || rc=$?
	if (( rc != 0 )); then
		tail -n 40 "$logfile" >&2
		return "$rc"
	fi
	log "$what: done in $(( $(date +%s) - start ))s"
}

# copy_libs ROOT FILE: copy FILE's shared libraries (per ldd) to the same
# paths under ROOT, for the VM's initramfs.
copy_libs() {
	local root=$1 file=$2 lib
	for lib in $(ldd "$file" 2>/dev/null | grep -o '/[^ ]*'); do
		[[ -e $root$lib ]] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# bench_tree KDIR TREE: a copy of this checkout at TREE (build/bin's clients
# included) with the modules built for KDIR there: out-of-tree module
# objects live next to their sources, so the bench kernel's build must not
# share the checkout with the test kernel's.
bench_tree() {
	local kdir=$1 tree=$2
	rm -rf "$tree" && mkdir -p "$tree"
	tar -C "$IMP2_ROOT" --exclude=./build --exclude=./tools/target --exclude=./.git \
		--exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' -cf - . | tar -C "$tree" -xf -
	mkdir -p "$tree/build/bin" && cp -a "$IMP2_ROOT/build/bin/." "$tree/build/bin/"
	make -C "$tree" KDIR="$kdir" modules >"$tree/build/module-build.log" 2>&1 ||
		{ tail -n 40 "$tree/build/module-build.log" >&2; die "building the modules for $kdir failed"; }
}

# IMP2_KERNEL selects the kernel everything builds for and boots:
#   6.12        our debug test kernel from Debian 12's linux-source-6.12 (default)
#   7.3         the same config on linux-source-7.3 (Debian trixie-backports)
#   debian-7.3  Debian's stock linux-image-<abi>-amd64 (no debug options):
#               a tree prepared to match it (scripts/prepare-debian-kernel.sh)
IMP2_KERNELS=(6.12 7.3 debian-7.3)
# What ./scripts/test.sh runs without IMP2_KERNEL: both debug kernels
# (every script), then Debian's stock kernel (the functional ones).
IMP2_DEFAULT_KERNELS=(6.12 7.3 debian-7.3)
imp2_kernel() {
	local k=${IMP2_KERNEL:-6.12}
	[[ " ${IMP2_KERNELS[*]} " == *" $k "* ]] ||
		die "IMP2_KERNEL=$k is not a supported kernel: use one of ${IMP2_KERNELS[*]}"
	echo "$k"
}
# Debian's kernel ABI name for the pinned version: 7.3.4-1~bpo13+1 -> 7.3.4+deb13.
DEBIAN_KERNEL_ABI=${DEBIAN_KERNEL_VERSION%%-*}+deb13
# The cache's "current" link of a kernel (and build profile).  6.12's debug
# kernel also keeps its historical name, kernel-current.
kernel_link() { # KERNEL [PROFILE]
	local k=$1 profile=${2:-imp2}
	if [[ $profile == imp2 ]]; then echo "$IMP2_CACHE/kernel-$k-current"
	else echo "$IMP2_CACHE/kernel-$profile-$k-current"; fi
}
default_kdir() { kernel_link "$(imp2_kernel)"; }
# A mistyped IMP2_KERNEL stops every script here, not in a $(...) subshell.
[[ -z ${IMP2_KERNEL:-} ]] || imp2_kernel >/dev/null

# kernel_source_version 6.12|7.3: the Debian version of its linux-source.
kernel_source_version() {
	case $1 in
	6.12) dpkg-query -W -f='${Version}' "$KERNEL_SOURCE_PKG" 2>/dev/null ||
		die "$KERNEL_SOURCE_PKG not installed: run scripts/setup-toolchain.sh" ;;
	7.3) echo "$DEBIAN_KERNEL_VERSION" ;;
	*) die "no kernel source for $1" ;;
	esac
}
# kernel_source 6.12|7.3: the unpacked source tree (shared by every build of
# that version, which all use O=), unpacked on first use.  6.12 comes from the
# installed linux-source-6.12; 7.3's .deb is downloaded (fetch-debian.sh) and
# its tarball streamed out of it, nothing installed.
kernel_source() {
	local k=$1 ver src
	ver=$(kernel_source_version "$k")
	src=$IMP2_CACHE/linux-src-$ver
	# Legs that run at once (scripts/test.sh: Debian's tree and the 7.3
	# debug kernel) share this tree: one extracts, the other waits.
	local lock_fd
	exec {lock_fd}>"$src.lock"
	flock "$lock_fd"
	if [[ ! -f $src/.imp2-extracted ]]; then
		rm -rf "$src" && mkdir -p "$src"
		if [[ $k == 6.12 ]]; then
			local tarball; tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1)
			[[ -n $tarball ]] || die "kernel tarball missing in /usr/src: reinstall $KERNEL_SOURCE_PKG"
			run_long "extract $tarball" "$IMP2_CACHE/logs/extract-$k.log" \
				tar -xf "$tarball" -C "$src" --strip-components=1 || die "extracting $tarball failed"
		else
			local deb; deb=$("$IMP2_ROOT/scripts/fetch-debian.sh" linux-source-7.3) || exit 1
			# shellcheck disable=SC2016
			run_long "extract linux-source-7.3 $ver" "$IMP2_CACHE/logs/extract-$k.log" bash -o pipefail -c \
				'dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/src/linux-source-7.3.tar.xz | tar -xJ -C "$2" --strip-components=1' \
				_ "$deb" "$src" || die "extracting linux-source-7.3 from $deb failed"
		fi
		touch "$src/.imp2-extracted"
	fi
	exec {lock_fd}>&-
	echo "$src"
}

# prefetch_debian KERNEL...: for the kernels that need them (7.3,
# debian-7.3), download Debian's packages and unpack linux-source-7.3 in
# the background, while the toolchain installs (none of it needs the
# toolchain); the legs then find them in the cache (the locks above make
# them wait if it is not done).  Prints the background job's PID.
prefetch_debian() {
	local pkgs=() k
	for k in "$@"; do
		case $k in
		7.3) ;;
		debian-7.3) pkgs+=("linux-headers-$DEBIAN_KERNEL_ABI-amd64" "linux-binary-$DEBIAN_KERNEL_ABI-amd64"
			"linux-modules-$DEBIAN_KERNEL_ABI-amd64") ;;
		*) continue ;;
		esac
		pkgs+=(linux-source-7.3)
	done
	(( ${#pkgs[@]} )) || return 0
	(
		"$IMP2_ROOT/scripts/fetch-debian.sh" "${pkgs[@]}" >/dev/null &&
			kernel_source 7.3 >/dev/null
	) >"$IMP2_CACHE/logs/prefetch.log" 2>&1 &
	echo $!
}

kernel_make_vars() {
	printf '%s\n' "LLVM=-$LLVM_VERSION" "RUSTC=/usr/bin/rustc" "BINDGEN=$BINDGEN"
}
