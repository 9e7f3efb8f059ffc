//! The shipped policies: rendered from their specs byte for byte, clean under `check --strict`, and their
//! matrices pass offline.

use policy_gen::spec;

use crate::util::{policy_gen, repo};

/// Every file in `policies/DIR` with extension `ext`, relative to the repository, sorted.
pub fn shipped(dir: &str, ext: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("policies").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| format!("policies/{dir}/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_policy_has_a_spec_and_a_matrix() {
    let names = |dir: &str, ext: &str| -> Vec<String> {
        shipped(dir, ext)
            .iter()
            .map(|f| std::path::Path::new(f).file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let hcl = names(".", "hcl");
    assert!(hcl.len() >= 7, "{hcl:?}");
    assert_eq!(names("specs", "toml"), hcl, "every policies/NAME.hcl is rendered from policies/specs/NAME.toml");
    assert_eq!(names("tests", "toml"), hcl, "every policy has a matrix policies/tests/NAME.toml");
}

#[test]
fn shipped_hcl_is_what_the_specs_render() {
    let root = repo();
    let specs = shipped("specs", "toml");
    for spec_path in &specs {
        let name = std::path::Path::new(spec_path).file_stem().unwrap().to_string_lossy().into_owned();
        let spec_file = format!("{name}.toml");
        let text = std::fs::read_to_string(root.join("policies/specs").join(&spec_file)).unwrap();
        let rendered = policy_gen::write::to_hcl(&spec::render(&spec::parse_spec(&text).unwrap(), &spec_file).unwrap());
        let shipped = std::fs::read_to_string(root.join("policies").join(format!("{name}.hcl"))).unwrap();
        assert!(
            rendered == shipped,
            "policies/{name}.hcl is stale: run `policy-gen render policies/specs/*.toml --out-dir policies`"
        );
    }
    // The CLI's own freshness check agrees.
    policy_gen()
        .current_dir(&root)
        .args(["render", "--check", "--out-dir", "policies"])
        .args(&specs)
        .assert()
        .success();
}

#[test]
fn shipped_policies_are_clean_and_canonical() {
    let root = repo();
    policy_gen().current_dir(&root).args(["check", "--strict", "policies"]).assert().success();
    policy_gen().current_dir(&root).args(["fmt", "--check", "policies"]).assert().success();
}

#[test]
fn shipped_matrices_pass_offline() {
    let root = repo();
    let output = policy_gen()
        .current_dir(&root)
        .args(["--format", "json", "test"])
        .args(shipped("tests", "toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", crate::util::stdout(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["failed"], 0);
    assert!(report["summary"]["cases"].as_u64().unwrap() >= 150);
}

#[test]
fn a_wrong_expectation_fails_the_matrix() {
    let shipped = std::fs::read_to_string(repo().join("policies/dagster-secrets.hcl")).unwrap();
    let dir = crate::util::temp_files(&[
        ("dagster-secrets.hcl", &shipped),
        (
            "m.toml",
            "policies = [\"dagster-secrets.hcl\"]\n[[case]]\npath = \"secret/data/dagster/x\"\noperation = \"update\"\nexpect = \"allow\"\n",
        ),
    ]);
    let output = policy_gen().arg("test").arg(dir.path().join("m.toml")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        crate::util::stderr(&output).contains("expected allow, the policies say deny"),
        "{}",
        crate::util::stderr(&output)
    );
}
