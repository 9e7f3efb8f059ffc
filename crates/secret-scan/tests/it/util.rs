//! Test harness: temp trees, the built binary, planted secrets, and a real git in temp repositories.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A GitHub-shaped token, built at run time so no complete token is stored in this file.
pub fn token() -> String {
    format!("ghp_{}{}", "Zq81Tn0vKc2Wx7Lr4", "Hs9Ma3Pe6Ud5Yb1Jg0F")
}

/// A second, different token.
pub fn token2() -> String {
    format!("ghp_{}{}", "Rm4Kd8Vx2Nw6Qc0Zt", "3Lb7Hy1Pj5Sg9Ea2Uo4")
}

/// The secret-scan binary with none of the caller's Vault settings (the kit's clean tool command), no colour.
pub fn bin() -> Command {
    let mut cmd = Command::from_std(vault_testkit::harness::tool_command(assert_cmd::cargo::cargo_bin!("secret-scan")));
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A temp folder with files written into it.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tree = Self { dir };
        for (path, text) in files {
            tree.write(path, text.as_bytes());
        }
        tree
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, bytes: &[u8]) {
        let path = self.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// Runs the binary in this folder.
    pub fn run(&self, args: &[&str]) -> Output {
        bin().current_dir(self.path()).args(args).output().unwrap()
    }

    /// Runs git here, failing the test when git fails.
    pub fn git(&self, args: &[&str]) {
        let status = std::process::Command::new("git")
            .current_dir(self.path())
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
    }

    /// A git repository with hooks disabled for the commits the tests make.
    pub fn git_repo(files: &[(&str, &str)]) -> Self {
        let tree = Self::new(files);
        tree.git(&["init", "-q", "-b", "main"]);
        tree
    }
}

pub use vault_testkit::harness::{stderr, stdout};

/// Parses JSON Lines output, checking every record has a `type`.
pub fn jsonl(output: &Output) -> Vec<serde_json::Value> {
    vault_testkit::harness::jsonl(&stdout(output))
}

/// The `finding` records of JSON Lines output, sorted by path and line.
pub fn findings(output: &Output) -> Vec<serde_json::Value> {
    let mut found: Vec<_> = jsonl(output).into_iter().filter(|r| r["type"] == "finding").collect();
    found.sort_by_key(|r| (r["path"].as_str().unwrap().to_owned(), r["line"].as_u64().unwrap()));
    found
}
