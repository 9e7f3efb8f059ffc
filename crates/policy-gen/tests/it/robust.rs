//! Robustness: no mutated policy (HCL or JSON), spec or test matrix makes the parsers, checks, matcher or writer
//! panic; no mutated command line makes the binary panic; a closed stdout exits 0 for every command and format
//! that writes data to stdout (`fmt` rewrites files and talks on stderr).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use policy_gen::matcher::{Acl, Operation};
use policy_gen::parse::{SourceFormat, parse};
use vault_testkit::fuzz::{ArgvSpace, assert_broken_pipe_exits_0, each_mutation, fuzz_argv};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap()
}

fn shipped(kind: &str, ext: &str) -> Vec<Vec<u8>> {
    let dir = workspace().join(kind);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "shipped {kind}/*.{ext}");
    out
}

fn bin() -> Command {
    let mut c = vault_testkit::harness::tool_command(env!("CARGO_BIN_EXE_policy-gen"));
    c.env("VAULT_ADDR", "http://127.0.0.1:9").env("VAULT_TOKEN", "fuzz").env("VAULT_MAX_RETRIES", "0");
    c
}

#[test]
fn mutated_policies_never_panic() {
    let mut seeds = shipped("policies", "hcl");
    seeds.push(br#"{"path":{"secret/data/+/x":{"capabilities":["read","list"],"allowed_parameters":{"a":[]},"min_wrapping_ttl":"1h"}}}"#.to_vec());
    seeds.push(b"path \"sys/*\" { capabilities = [\"deny\"] }\n# c\n// c\n/* c */ path \"a/b*\" { capabilities = [\"sudo\", \"patch\"] required_parameters = [\"x\"] }\n".to_vec());
    let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    let mut parsed = 0usize;
    each_mutation(0x5eed_9011, &seeds, 1500, 10_000, |input| {
        let text = String::from_utf8_lossy(input);
        for format in [SourceFormat::Hcl, SourceFormat::Json] {
            let Ok(p) = parse("fuzz", &text, format) else { continue };
            parsed += 1;
            let _ = policy_gen::check::check(&p.policy);
            let hcl = policy_gen::write::to_hcl(&p.policy);
            // What the writer writes, the parser reads.
            parse("fuzz", &hcl, SourceFormat::Hcl).unwrap_or_else(|e| panic!("written HCL re-parses: {e}\n{hcl}"));
            if let Ok(acl) = Acl::new(std::slice::from_ref(&p.policy)) {
                for path in ["secret/data/app/db", "sys/seal", "", "a/b/c/", "+/*"] {
                    let _ = acl.capabilities(path);
                    let _ = acl.decide(path, Operation::Read);
                }
            }
        }
    });
    assert!(parsed > 300, "the mutations keep many policies parseable ({parsed})");
}

#[test]
fn mutated_specs_and_matrices_never_panic() {
    let specs = shipped("policies/specs", "toml");
    let seeds: Vec<&[u8]> = specs.iter().map(Vec::as_slice).collect();
    let mut rendered = 0usize;
    each_mutation(0x5eed_9012, &seeds, 1500, 5_000, |input| {
        let Ok(spec) = policy_gen::spec::parse_spec(&String::from_utf8_lossy(input)) else { return };
        if let Ok(policy) = policy_gen::spec::render(&spec, "fuzz.toml") {
            rendered += 1;
            let _ = policy_gen::write::to_hcl(&policy);
        }
    });
    assert!(rendered > 50, "{rendered}");

    let matrices = shipped("policies/tests", "toml");
    let seeds: Vec<&[u8]> = matrices.iter().map(Vec::as_slice).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    each_mutation(0x5eed_9013, &seeds, 600, 5_000, |input| {
        std::fs::write(&file, input).unwrap();
        let _ = policy_gen::cases::load(&file);
    });
}

#[test]
fn a_closed_stdout_exits_0_for_every_command_and_format() {
    let root = workspace();
    let policy = root.join("policies/dagster-secrets.hcl");
    let policy = policy.to_str().unwrap();
    let cases = root.join("policies/tests/dagster-secrets.toml");
    let cases = cases.to_str().unwrap();
    let spec = root.join("policies/specs/dagster-secrets.toml");
    let spec = spec.to_str().unwrap();
    // A policy with findings, so `check` has something to print in every format.
    let dir = tempfile::tempdir().unwrap();
    let flawed = dir.path().join("flawed.hcl");
    std::fs::write(&flawed, "path \"*\" {\n  capabilities = [\"sudo\", \"bogus\"]\n}\npath \"sys/*\" {\n  capabilities = [\"deny\", \"read\"]\n}\n").unwrap();
    let flawed = flawed.to_str().unwrap();
    for format in ["human", "json", "jsonl"] {
        for args in [
            vec!["check", flawed, policy],
            vec!["explain", "--policy", policy, "secret/data/dagster/db"],
            vec!["test", cases],
            vec!["render", spec],
        ] {
            let label = format!("policy-gen {} --format {format}", args.join(" "));
            assert_broken_pipe_exits_0(
                || {
                    let mut c = bin();
                    c.current_dir(root).args(&args).args(["--format", format]);
                    c
                },
                &label,
            );
        }
    }
}

#[test]
fn mutated_command_lines_never_panic() {
    let root = workspace();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let space = ArgvSpace {
        seeds: vec![
            s(&["check", "policies"]),
            s(&["fmt", "--check", "policies/dagster-secrets.hcl"]),
            s(&["explain", "--policy", "policies/admin-secrets.hcl", "secret/data/x", "--op", "read"]),
            s(&["test", "policies/tests"]),
            s(&["render", "policies/specs/dagster-secrets.toml", "--format", "json"]),
            s(&["diff", "policies"]),
            s(&["from-audit", "--role", "dagster", "missing.log"]),
        ],
        words: s(&[
            "check",
            "fmt",
            "explain",
            "test",
            "render",
            "diff",
            "apply",
            "from-audit",
            "--policy",
            "-p",
            "--op",
            "--flavor",
            "--format",
            "-o",
            "--color",
            "--check",
            "--live",
            "--yes",
            "--role",
            "--strict",
        ]),
        values: s(&[
            "policies",
            "policies/dagster-secrets.hcl",
            "policies/specs",
            "vault",
            "openbao",
            "json",
            "read",
            "sudo",
            "secret/data/+/*",
            "/dev/null",
        ]),
    };
    let codes = fuzz_argv(0x5eed_9014, &space, 200, Duration::from_secs(5), || {
        let mut c = bin();
        // Runs must not rewrite the checkout's policies: work on a copy.
        c.current_dir(copy_of_policies(root));
        c
    });
    assert!(codes.get(&2).copied().unwrap_or(0) > 10, "{codes:?}");
    assert!(codes.contains_key(&0), "{codes:?}");
}

/// A scratch copy of `policies/` (fmt without --check rewrites files), made once per test process.
fn copy_of_policies(root: &Path) -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("cp").arg("-r").arg(root.join("policies")).arg(dir.path()).status().unwrap();
        assert!(status.success());
        dir
    })
    .path()
}
