#!/usr/bin/env bash
# Build the cached base initramfs for the test VM: busybox plus the host tools
# the tests need (bash, iproute2, iputils ping, capsh, setpriv, nft, tcpdump) with
# their shared libraries, and the libraries of the dynamically linked test
# clients (HOST_LIBS).  Prints the path of the gzip'd cpio.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOST_BINS=(bash ip ping capsh setpriv nft tcpdump)
for b in "${HOST_BINS[@]}"; do
	command -v "$b" >/dev/null || die "$b missing on host: run scripts/setup-toolchain.sh"
done
# Shared libraries that build/bin's dynamically linked programs need
# (tests/clients/imp2_nflog_lib.c: libnetfilter_log, which needs
# libnfnetlink and libmnl; the imp2 tool: libpcap, for expressions), with
# their own dependencies.
HOST_LIBS=(libnetfilter_log.so.1 libnfnetlink.so.0 libmnl.so.0 libpcap.so.0.8)
multiarch=$(uname -m)-linux-gnu
lib_paths=()
for l in "${HOST_LIBS[@]}"; do
	p=
	for d in "/lib/$multiarch" "/usr/lib/$multiarch"; do
		[[ -e $d/$l ]] && { p=$d/$l; break; }
	done
	[[ $p ]] || die "$l missing on host (in /lib/$multiarch or /usr/lib/$multiarch): run scripts/setup-toolchain.sh (it installs libnetfilter-log-dev and libpcap-dev)"
	lib_paths+=("$p")
done

key=$( {
	cat "$IMP2_ROOT/scripts/guest/init" "$0"
	for b in busybox "${HOST_BINS[@]}"; do sha256sum "$(command -v "$b")"; done
	for p in "${lib_paths[@]}"; do echo "$p"; sha256sum <"$p"; done
} | sha256sum | cut -c1-16)
out=$IMP2_CACHE/initramfs-base-$key.cpio.gz
if [[ -f $out ]]; then echo "$out"; exit 0; fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,tmp,root,imp2,var/run/netns}
cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$IMP2_ROOT/scripts/guest/init" "$stage/init"

for b in "${HOST_BINS[@]}"; do
	p=$(readlink -f "$(command -v "$b")")
	mkdir -p "$stage$(dirname "$p")"
	cp -L "$p" "$stage$p"
	copy_libs "$stage" "$p"
	# keep the name the tests call it by, even where it is a symlink on the host
	[[ $p == */bin/$b || $p == */sbin/$b ]] || ln -sf "$p" "$stage/usr/bin/$b"
done
for p in "${lib_paths[@]}"; do
	if [[ ! -e $stage$p ]]; then
		mkdir -p "$stage$(dirname "$p")"
		cp -L "$p" "$stage$p"
	fi
	copy_libs "$stage" "$p"
done
# Scripts start with #!/bin/bash, and the kernel's kselftest runner execs
# them as they are; /bin is busybox's, so bash gets its link there.
[[ -e $stage/bin/bash ]] || ln -s "$(readlink -f "$(command -v bash)")" "$stage/bin/bash"
ln -sf usr/lib "$stage/usr/lib64" 2>/dev/null || true
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "nobody:x:65534:65534:nobody:/:/bin/sh" >>"$stage/etc/passwd"
# Debian's tcpdump, started as root, drops to its own user (after opening
# its files) and stops if there is none.
echo "tcpdump:x:104:104::/nonexistent:/bin/false" >>"$stage/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\ntcpdump:x:104:\n' >"$stage/etc/group"
mkdir -p "$stage/etc/iproute2"

(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"   # atomic: VM runs of concurrent legs may build it at once
log "base initramfs: $out ($(du -h "$out" | cut -f1))"
echo "$out"
