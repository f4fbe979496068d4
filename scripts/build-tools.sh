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

for c in "$IMP2_ROOT"/tests/clients/*.c; do
	gcc -static -O2 -Wall -Wextra -Werror -I"$IMP2_ROOT/include" \
		-o "$IMP2_ROOT/build/bin/$(basename "$c" .c)" "$c" ||
		die "compiling $c failed"
done
log "tools: $(ls "$IMP2_ROOT/build/bin" | tr '\n' ' ')"

