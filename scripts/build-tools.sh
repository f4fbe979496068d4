#!/usr/bin/env bash
# Build the userspace tool and the test helpers into build/bin/, which the VM
# runner copies into the guest.  (The host-side cargo tests and clippy are
# scripts/test.sh's host-check leg.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (userspace tool)"
mkdir -p "$IMP2_ROOT/build/bin"

run_long "cargo build (tools)" "$IMP2_CACHE/logs/tools-build.log" \
	cargo build --release --locked --manifest-path "$IMP2_ROOT/tools/Cargo.toml" ||
	die "building tools/ failed (log above)"
cp "$IMP2_ROOT/tools/target/release/imp2" "$IMP2_ROOT/build/bin/imp2"

# Static, so that the guest needs no libraries for them; but for the NFLOG
# peer read through libnetfilter_log (as ulogd2 reads it), which links
# dynamically: Debian ships libnetfilter_log, libnfnetlink and libmnl as
# shared libraries only. The base initramfs carries them
# (scripts/mkinitramfs.sh, HOST_LIBS).
for c in "$IMP2_ROOT"/tests/clients/*.c; do
	link=(-static)
	if [[ $(basename "$c") == imp2_nflog_lib.c ]]; then
		read -ra link < <(pkg-config --cflags --libs libnetfilter_log) ||
			die "pkg-config finds no libnetfilter_log (for $c): run scripts/setup-toolchain.sh (it installs libnetfilter-log-dev)"
	fi
	gcc -O2 -Wall -Wextra -Werror -I"$IMP2_ROOT/include" \
		-o "$IMP2_ROOT/build/bin/$(basename "$c" .c)" "$c" "${link[@]}" ||
		die "compiling $c failed"
done
log "tools: $(ls "$IMP2_ROOT/build/bin" | tr '\n' ' ')"

