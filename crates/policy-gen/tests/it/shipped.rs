//! The shipped policies: rendered from their specs byte for byte, clean under `check --strict`, and their
//! matrices pass offline.

use policy_gen::spec;

use crate::util::{policy_gen, repo};

#[test]
fn shipped_hcl_is_what_the_specs_render() {
    let root = repo();
    for name in ["dagster-secrets", "readonly-secrets", "admin-secrets"] {
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
        .arg("policies/specs/dagster-secrets.toml")
        .arg("policies/specs/readonly-secrets.toml")
        .arg("policies/specs/admin-secrets.toml")
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
        .args([
            "policies/tests/dagster-secrets.toml",
            "policies/tests/readonly-secrets.toml",
            "policies/tests/admin-secrets.toml",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", crate::util::stdout(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["failed"], 0);
    assert!(report["summary"]["cases"].as_u64().unwrap() >= 50);
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
