#!/usr/bin/env bash
# Write rust-project.json for rust-analyzer, for the kernel IMP2_KERNEL
# selects (or KDIR): the kernel's crates (core, kernel, macros, ...) from the
# kernel's own generator, plus our crate (with --cfg imp2_v7 on 7.x).
# (6.12's `make M=... rust-analyzer` fails for O= kernel builds, and its
# generator only finds crate roots whose own directory has a Kbuild.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
KDIR=${KDIR:-$(default_kdir)}
[[ -f $KDIR/Module.symvers ]] || die "no built kernel at $KDIR: run IMP2_KERNEL=$(imp2_kernel) scripts/build-kernel.sh"
release=$(cat "$KDIR/include/config/kernel.release")
sysroot=$(/usr/bin/rustc --print sysroot)
if [[ ${release%%.*} -ge 7 ]]; then
	# 7.x: the kernel's own target knows every crate's cfgs (pin_init, ...).
	mapfile -t vars < <(kernel_make_vars)
	[[ -f $KDIR/imp2.mk ]] && vars=(CC=gcc RUSTC=/usr/bin/rustc "BINDGEN=$BINDGEN")
	make -C "$KDIR" "${vars[@]}" rust-analyzer >"$IMP2_CACHE/logs/rust-analyzer.log" 2>&1 ||
		{ tail -n 20 "$IMP2_CACHE/logs/rust-analyzer.log" >&2; die "make rust-analyzer in $KDIR failed"; }
	cp "$KDIR/rust-project.json" "$IMP2_ROOT/rust-project.json.tmp"
	cfgs='["imp2_v7"]'
else
	python3 "$KDIR/source/scripts/generate_rust_analyzer.py" --cfgs='core=--cfg no_fp_fmt_parse' 2021 \
		"$(realpath "$KDIR/source")" "$(realpath "$KDIR")" "$sysroot" \
		"$sysroot/lib/rustlib/src/rust/library" >"$IMP2_ROOT/rust-project.json.tmp"
	cfgs='[]'
fi
python3 - "$IMP2_ROOT" "$cfgs" <<'PY'
import json, sys
root = sys.argv[1]
extra_cfgs = json.loads(sys.argv[2])
path = f"{root}/rust-project.json"
data = json.load(open(path + ".tmp"))
index = {c.get("display_name"): i for i, c in enumerate(data["crates"])}
template = data["crates"][index["kernel"]]
data["crates"].append({
    "display_name": "imp2",
    "root_module": f"{root}/src/imp2_main.rs",
    "is_workspace_member": True,
    "deps": [{"crate": index[n], "name": n} for n in ("core", "ffi", "kernel", "pin_init") if n in index],
    "cfg": template.get("cfg", []) + extra_cfgs,
    "edition": "2021",
    "env": template.get("env", {}),
})
json.dump(data, open(path, "w"), indent=1)
PY
rm -f "$IMP2_ROOT/rust-project.json.tmp"
log "wrote rust-project.json"
