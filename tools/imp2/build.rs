//! Generates the wire ABI from the module's C header, the single source of
//! truth shared with the kernel module (include/uapi/imp2.h).

use std::{env, path::PathBuf};

fn main() {
    let header = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../include/uapi/imp2.h")
        .canonicalize()
        .expect("include/uapi/imp2.h not found next to tools/");
    println!("cargo:rerun-if-changed={}", header.display());

    let bindings = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .allowlist_type("packet_info|imp2_stats|imp2_msg_type|imp2_attr|imp2_hook")
        .allowlist_var("NL_IMP2|IMP2_.*")
        .derive_default(true)
        .prepend_enum_name(false)
        .layout_tests(true)
        .generate()
        .expect("bindgen failed on include/uapi/imp2.h (is libclang-19-dev installed?)");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("imp2_abi.rs");
    bindings.write_to_file(out).expect("cannot write imp2_abi.rs");
}
