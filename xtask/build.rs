//! Embeds the workspace's `policies/*.hcl` in the xtask binary, so `deploy` never reads the build machine's
//! checkout at run time (a copied binary or an installed tarball deploys the same policies). The list is generated
//! here rather than written by hand, so a new policy file is picked up by the next build without a code change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let policies = manifest.parent().expect("xtask lives inside the workspace").join("policies");
    // A folder here makes cargo rebuild when any file inside it is added, removed or changed.
    println!("cargo::rerun-if-changed={}", policies.display());

    let mut files: Vec<PathBuf> = std::fs::read_dir(&policies)
        .unwrap_or_else(|e| panic!("reading {}: {e}", policies.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "hcl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.hcl policies in {}", policies.display());

    let mut code =
        String::from("/// The workspace's `policies/*.hcl` at build time: (policy name, HCL text), sorted by name.\n");
    code.push_str("pub const EMBEDDED: &[(&str, &str)] = &[\n");
    for file in &files {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("policy file names are UTF-8");
        writeln!(code, "    ({name:?}, include_str!({:?})),", path_str(file)).expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("policies.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("the workspace path is UTF-8")
}
