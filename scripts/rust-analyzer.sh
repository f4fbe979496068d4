#!/usr/bin/env bash
# Write rust-project.json for rust-analyzer: the kernel's crates (core,
# kernel, macros, ...) from the kernel's own generator, plus our crate.
# (6.12's `make M=... rust-analyzer` fails for O= kernel builds, and its
# generator only finds crate roots whose own directory has a Kbuild.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
KDIR=${KDIR:-$IMP2_CACHE/kernel-current}
[[ -f $KDIR/Module.symvers ]] || die "no built kernel at $KDIR: run scripts/build-kernel.sh"
sysroot=$(/usr/bin/rustc --print sysroot)
python3 "$KDIR/source/scripts/generate_rust_analyzer.py" --cfgs='core=--cfg no_fp_fmt_parse' 2021 \
	"$(realpath "$KDIR/source")" "$(realpath "$KDIR")" "$sysroot" \
	"$sysroot/lib/rustlib/src/rust/library" >"$IMP2_ROOT/rust-project.json.tmp"
python3 - "$IMP2_ROOT" <<'PY'
import json, sys
root = sys.argv[1]
path = f"{root}/rust-project.json"
data = json.load(open(path + ".tmp"))
index = {c.get("display_name"): i for i, c in enumerate(data["crates"])}
template = data["crates"][index["kernel"]]
data["crates"].append({
    "display_name": "imp2",
    "root_module": f"{root}/src/imp2_main.rs",
    "is_workspace_member": True,
    "deps": [{"crate": index[n], "name": n} for n in ("core", "kernel") if n in index],
    "cfg": template.get("cfg", []),
    "edition": "2021",
    "env": template.get("env", {}),
})
json.dump(data, open(path, "w"), indent=1)
PY
rm -f "$IMP2_ROOT/rust-project.json.tmp"
log "wrote rust-project.json"
