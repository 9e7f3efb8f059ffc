//! The harness: temp repositories, the built binary with a clean environment, a dev server, and the
//! python-dotenv reference installed in a venv.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::sync::OnceLock;
use vault_testkit::harness;

use vault_testkit::DevServer;

/// The built `env-migrate` with no inherited Vault settings (the kit's clean tool command), run in `dir`.
pub fn cmd(dir: &Path) -> Command {
    let mut c = harness::tool_command(assert_cmd::cargo::cargo_bin!("env-migrate"));
    c.current_dir(dir);
    c
}

/// `cmd` pointed at a server by its environment pairs.
pub fn cmd_for(dir: &Path, env: &[(String, String)]) -> Command {
    let mut c = cmd(dir);
    c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c
}

/// Runs and returns the output, with stdout and stderr as text.
pub fn run(c: &mut Command) -> (Output, String, String) {
    let out = c.output().expect("env-migrate runs");
    let (stdout, stderr) = (harness::stdout(&out), harness::stderr(&out));
    (out, stdout, stderr)
}

/// The exit code.
pub use vault_testkit::harness::code;
/// Starts a dev server or fails the test.
pub use vault_testkit::harness::dev_server as dev;

/// A root-token client for checking what Vault holds.
pub fn client(server: &DevServer) -> vault_core::Client {
    vault_testkit::root_client!(server)
}

/// Writes files into a folder.
pub fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Asserts none of `values` appears in any of `texts`.
pub use vault_testkit::harness::assert_absent;

/// python-dotenv 1.x in `target/tools/dotenv-venv`, installed on first use. Panics (fails the test) when it
/// cannot be installed: the comparison is the point of the test.
pub fn dotenv_python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = vault_testkit::tools_dir().join("dotenv-venv");
        let python = venv.join("bin/python");
        let ready = |p: &Path| Command::new(p).args(["-c", "import dotenv"]).output().is_ok_and(|o| o.status.success());
        if !ready(&python) {
            std::fs::create_dir_all(vault_testkit::tools_dir()).unwrap();
            let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).output().expect("python3 runs");
            assert!(made.status.success(), "python3 -m venv failed: {}", String::from_utf8_lossy(&made.stderr));
            let pip = Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "python-dotenv==1.*"])
                .output()
                .expect("pip runs");
            assert!(pip.status.success(), "pip install python-dotenv failed: {}", String::from_utf8_lossy(&pip.stderr));
            assert!(ready(&python), "python-dotenv is not importable after installing it");
        }
        python
    })
    .clone()
}
