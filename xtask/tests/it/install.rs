//! `cargo xtask install` and `cargo xtask dist`: the layout a prefix gets, tools that run from it, units that
//! name it, re-installs that change nothing, and the tarball's own `install.sh` (checksums, refusals, upgrades).
//! Both use the dev profile: a release or dist build is too slow for CI on two cores (the sizes are measured by
//! `cargo xtask dist` and stated in the README). The tools are links to the multi-call `vault-toolkit`: each must
//! still run as itself and name itself, and come with its completions and man page.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::INSTALLED as BINARIES;
use crate::{root, text, xtask};

/// The one real binary; the eight tools are relative links to it.
const MULTICALL: &str = "vault-toolkit";

/// Every regular file and symbolic link under `dir` (links not followed), relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Content (a link's target), mode, inode and modification time of every file and link under `dir`: what a
/// re-install must not change.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32, u64, i64, i64)> {
    tree(dir)
        .into_iter()
        .map(|file| {
            let path = dir.join(&file);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.file_type().is_symlink() {
                std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()
            } else {
                std::fs::read(&path).unwrap()
            };
            let record = (content, meta.mode(), meta.ino(), meta.mtime(), meta.mtime_nsec());
            (file, record)
        })
        .collect()
}

/// What every install into `prefix` must have produced, whichever installer did it.
fn assert_installed(prefix: &Path) {
    let share = prefix.join("share/vault-toolkit");
    assert_bin(&prefix.join("bin"));

    // Every shipped data file is there, and only units are changed on the way (they name the prefix).
    for (from, to) in
        [("policies", "policies"), ("systemd", "systemd"), ("scripts/vault", "scripts/vault"), ("docs", "docs")]
    {
        let source = root().join(from);
        let files = tree(&source);
        assert!(!files.is_empty(), "{from} is empty");
        assert_eq!(files, tree(&share.join(to)), "{to} under {}", share.display());
        for file in files {
            let installed = share.join(to).join(&file);
            if from != "systemd" {
                assert_eq!(std::fs::read(source.join(&file)).unwrap(), std::fs::read(&installed).unwrap(), "{file:?}");
            }
            let mode = std::fs::metadata(&installed).unwrap().mode() & 0o777;
            let expected = if from == "scripts/vault" { 0o755 } else { 0o644 };
            assert_eq!(mode, expected, "{}", installed.display());
        }
    }
    assert_eq!(std::fs::read(root().join("README.md")).unwrap(), std::fs::read(share.join("README.md")).unwrap());
    assert_units_name(prefix);
    assert_completions(&prefix.join("share"));
}

/// Every installed name has its bash, zsh and fish completions and its man page where those look under a prefix,
/// generated for that name (not the xtask's), readable by everyone.
fn assert_completions(share: &Path) {
    for name in BINARIES {
        let files = [
            (format!("bash-completion/completions/{name}"), format!("complete -F _{}", name.replace('-', "__"))),
            (format!("zsh/site-functions/_{name}"), format!("#compdef {name}")),
            (format!("fish/vendor_completions.d/{name}.fish"), format!("complete -c {name} ")),
            (format!("man/man1/{name}.1"), format!(".TH {name} 1")),
        ];
        for (file, marker) in files {
            let path = share.join(&file);
            let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(body.contains(&marker), "{} lacks {marker:?}:\n{}", path.display(), &body[..body.len().min(400)]);
            assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o644, "{}", path.display());
        }
    }
}

/// What a `bin/` folder holds, installed or in the unpacked tarball: `vault-toolkit`, a regular executable, and the
/// eight tools as relative links to it; each name runs as itself (`--version` and `--help` name it, not the
/// xtask), and nothing else is there.
fn assert_bin(bin: &Path) {
    let real = std::fs::symlink_metadata(bin.join(MULTICALL)).unwrap();
    assert!(real.file_type().is_file(), "{MULTICALL} must be the one real binary");
    for name in BINARIES {
        let path = bin.join(name);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(meta.mode() & 0o777, 0o755, "{}", path.display());
        if name != MULTICALL {
            let link = std::fs::read_link(&path).unwrap_or_else(|e| panic!("{} is not a link: {e}", path.display()));
            assert_eq!(link, Path::new(MULTICALL), "{} must link to {MULTICALL}, relatively", path.display());
        }
        let out = Command::new(&path).arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} --version: {}", text(&out));
        // The deployment command calls itself vault-toolkit once installed, not `cargo xtask`; a tool link that
        // fell through to the xtask would say vault-toolkit too.
        assert_eq!(version.trim(), format!("{name} {}", env!("CARGO_PKG_VERSION")), "{name} --version");
        let help = Command::new(&path).arg("--help").output().unwrap();
        assert!(help.status.success(), "{name} --help: {}", text(&help));
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(help.contains(&format!("Usage: {name} ")), "{name} --help does not name itself:\n{help}");
        if name != MULTICALL {
            assert!(!help.contains("Project automation"), "{name} --help is the xtask's:\n{help}");
        }
    }
    assert_eq!(tree(bin).len(), BINARIES.len(), "only the tools go into bin/");
}

/// The unit copies under the prefix name the prefix: no `/usr/local/` left, and every path into the prefix's bin/
/// or share/vault-toolkit/ that a unit names exists (a tool to run, a doc to open).
fn assert_units_name(prefix: &Path) {
    let prefix_text = prefix.to_str().unwrap();
    let mut named = 0;
    for unit in tree(&prefix.join("share/vault-toolkit/systemd")) {
        let body = std::fs::read_to_string(prefix.join("share/vault-toolkit/systemd").join(&unit)).unwrap();
        assert!(!body.contains("/usr/local/"), "{unit:?} still names /usr/local:\n{body}");
        for word in body.split(|c: char| c.is_whitespace() || c == '=') {
            let word = word.strip_prefix("file://").unwrap_or(word);
            let Some(rest) = word.strip_prefix(prefix_text) else { continue };
            if !(rest.starts_with("/bin/") || rest.starts_with("/share/vault-toolkit/")) {
                continue;
            }
            named += 1;
            let meta = std::fs::metadata(word).unwrap_or_else(|e| panic!("{unit:?} names {word}: {e}"));
            if rest.starts_with("/bin/") {
                assert!(meta.mode() & 0o111 != 0, "{unit:?} runs {word}, which is not executable");
            }
        }
    }
    assert!(named > 0, "no unit names a path under {prefix_text}: the rewrite did nothing");
}

fn make_readable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn install_from_a_checkout_into_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("opt");
    let first = xtask(&["install", "--prefix", prefix.to_str().unwrap(), "--profile", "dev"]);
    assert!(first.status.success(), "{}", text(&first));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains(&format!("installed {}", prefix.join("bin/vault-toolkit").display())), "{stdout}");
    assert_installed(&prefix);

    // Idempotent: the second run touches nothing (same inodes and times) and says so.
    let before = fingerprint(&prefix);
    let again = xtask(&["install", "--prefix", prefix.to_str().unwrap(), "--profile", "dev"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains(" 0 installed,"), "{}", text(&again));
    assert!(again.stdout.is_empty(), "a re-install listed changes:\n{}", String::from_utf8_lossy(&again.stdout));
    assert_eq!(before, fingerprint(&prefix), "a re-install changed files");

    // A relative prefix means relative to where the user stands.
    let relative = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["install", "--prefix", "rel", "--profile", "dev"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(relative.status.success(), "{}", text(&relative));
    assert!(dir.path().join("rel/bin/vault-health").is_file());
}

/// Builds a dev tarball into `out` and unpacks it into `unpacked`; returns the package folder.
fn dist_unpacked(out: &Path, unpacked: &Path) -> PathBuf {
    let built = xtask(&["dist", "--profile", "dev", "--out-dir", out.to_str().unwrap()]);
    assert!(built.status.success(), "{}", text(&built));
    let tarball = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    let name = tarball.file_name().unwrap().to_str().unwrap().strip_suffix(".tar.gz").unwrap().to_owned();
    assert!(name.starts_with(&format!("vault-toolkit-{}-", env!("CARGO_PKG_VERSION"))), "{name}");
    assert!(name.ends_with("-dev"), "a dev package must say so: {name}");
    assert!(text(&built).contains("the eight tools total"), "dist prints the total size:\n{}", text(&built));

    // The .sha256 beside the tarball checks with the standard tool.
    let check =
        Command::new("sha256sum").arg("-c").arg(format!("{name}.tar.gz.sha256")).current_dir(out).output().unwrap();
    assert!(check.status.success(), "{}", text(&check));

    std::fs::create_dir_all(unpacked).unwrap();
    let untar = Command::new("tar").arg("xzf").arg(&tarball).current_dir(unpacked).output().unwrap();
    assert!(untar.status.success(), "{}", text(&untar));
    let package = unpacked.join(&name);
    for file in ["install.sh", "README.md", "SHA256SUMS"] {
        assert!(package.join(file).is_file(), "{file} missing from the tarball");
    }
    // SHA256SUMS inside covers every regular file of the package but itself (the one binary among them, and
    // LINKS); LINKS names every link, as it is in bin/.
    let sums = std::fs::read_to_string(package.join("SHA256SUMS")).unwrap();
    let listed: Vec<PathBuf> = sums.lines().map(|l| PathBuf::from(l.split_once("  ").unwrap().1)).collect();
    let mut expected = tree(&package);
    expected.retain(|p| p != Path::new("SHA256SUMS") && !package.join(p).is_symlink());
    assert_eq!(listed, expected);
    assert!(listed.contains(&PathBuf::from("LINKS")) && listed.contains(&PathBuf::from("bin/vault-toolkit")));
    let links = std::fs::read_to_string(package.join("LINKS")).unwrap();
    let mut in_bin: Vec<String> = tree(&package)
        .into_iter()
        .filter(|p| package.join(p).is_symlink())
        .map(|p| format!("{} {}", p.display(), std::fs::read_link(package.join(&p)).unwrap().display()))
        .collect();
    in_bin.sort();
    let mut listed_links: Vec<&str> = links.lines().collect();
    listed_links.sort_unstable();
    assert_eq!(listed_links, in_bin, "LINKS and the links in bin/ differ");
    // Every tool runs from the unpacked tarball, before any install.
    assert_bin(&package.join("bin"));
    assert_completions(&package.join("share"));
    package
}

fn install_sh(package: &Path, args: &[&str]) -> Output {
    Command::new("sh").arg(package.join("install.sh")).args(args).output().unwrap()
}

#[test]
fn the_tarball_installs_with_its_install_sh() {
    let dir = tempfile::tempdir().unwrap();
    make_readable(dir.path());
    let package = dist_unpacked(&dir.path().join("out"), &dir.path().join("unpacked"));
    let prefix = dir.path().join("prefix");

    let first = install_sh(&package, &["--prefix", prefix.to_str().unwrap()]);
    assert!(first.status.success(), "{}", text(&first));
    assert_installed(&prefix);
    let before = fingerprint(&prefix);
    let again = install_sh(&package, &[&format!("--prefix={}/", prefix.display())]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(before, fingerprint(&prefix), "a re-install changed files:\n{}", text(&again));

    // An upgrade removes what the previous version installed and this one no longer ships, and only that.
    let stale = prefix.join("share/vault-toolkit/docs/renamed-long-ago.md");
    std::fs::write(&stale, "old\n").unwrap();
    let manifest = prefix.join("share/vault-toolkit/MANIFEST");
    let mut listed = std::fs::read_to_string(&manifest).unwrap();
    listed.push_str("share/vault-toolkit/docs/renamed-long-ago.md\n");
    std::fs::write(&manifest, listed).unwrap();
    let upgrade = install_sh(&package, &["--prefix", prefix.to_str().unwrap()]);
    assert!(upgrade.status.success(), "{}", text(&upgrade));
    assert!(!stale.exists(), "a file the new version does not ship was left:\n{}", text(&upgrade));
    assert!(String::from_utf8_lossy(&upgrade.stdout).contains(&format!("removed {}", stale.display())));
    assert_installed(&prefix);

    // An older install's separate binary, or a link that points elsewhere, is replaced by the link; then a
    // re-install changes nothing again.
    let old_binary = prefix.join("bin/vault-env");
    std::fs::remove_file(&old_binary).unwrap();
    std::fs::write(&old_binary, "#!/bin/sh\necho old vault-env\n").unwrap();
    make_readable(&old_binary);
    let elsewhere = prefix.join("bin/secret-scan");
    std::fs::remove_file(&elsewhere).unwrap();
    std::os::unix::fs::symlink("/bin/true", &elsewhere).unwrap();
    let replaced = install_sh(&package, &["--prefix", prefix.to_str().unwrap()]);
    assert!(replaced.status.success(), "{}", text(&replaced));
    let listed = String::from_utf8_lossy(&replaced.stdout);
    for path in [&old_binary, &elsewhere] {
        assert!(listed.contains(&format!("installed {} -> vault-toolkit", path.display())), "{listed}");
    }
    assert_eq!(listed.lines().count(), 2, "only the two replaced links were installed:\n{listed}");
    assert_installed(&prefix);
    let before = fingerprint(&prefix);
    let again = install_sh(&package, &["--prefix", prefix.to_str().unwrap()]);
    assert!(again.status.success() && again.stdout.is_empty(), "{}", text(&again));
    assert_eq!(before, fingerprint(&prefix), "a re-install changed files:\n{}", text(&again));

    // Usage errors: exit 2, one line, nothing created.
    for args in [
        vec!["--prefix", "relative/dir"],
        vec!["--prefix", "/tmp/with space"],
        vec!["--prefix", "/tmp/per%cent"],
        vec!["--prefix"],
        vec!["--frobnicate"],
    ] {
        let out = install_sh(&package, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("install.sh: error: "), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    assert!(!Path::new("/tmp/with space").exists() && !Path::new("/tmp/per%cent").exists());

    // A prefix that cannot be written: refused before anything is installed, exit 4, with what to do.
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let out = install_sh(&package, &["--prefix", blocked.join("prefix").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not writable"), "{}", text(&out));

    // Not writable by the user running it (an ordinary user and a root-owned prefix).
    let owned = dir.path().join("root-owned");
    std::fs::create_dir(&owned).unwrap();
    make_readable(&owned);
    let unprivileged = if rustix::process::geteuid().is_root() {
        for path in [dir.path(), &dir.path().join("unpacked"), &package] {
            make_readable(path);
        }
        Command::new("runuser")
            .args(["-u", "nobody", "--", "sh"])
            .arg(package.join("install.sh"))
            .arg("--prefix")
            .arg(&owned)
            .output()
            .unwrap()
    } else {
        std::fs::set_permissions(&owned, std::fs::Permissions::from_mode(0o555)).unwrap();
        install_sh(&package, &["--prefix", owned.to_str().unwrap()])
    };
    assert_eq!(unprivileged.status.code(), Some(4), "{}", text(&unprivileged));
    let stderr = String::from_utf8_lossy(&unprivileged.stderr);
    assert!(stderr.contains("not writable") && stderr.contains("sudo"), "{stderr}");
    assert!(unprivileged.stdout.is_empty());
    assert!(tree(&owned).is_empty(), "something was installed into a prefix the user may not write");

    // A damaged package installs nothing.
    let doc = package.join("share/vault-toolkit/docs/deployment.md");
    let mut body = std::fs::read(&doc).unwrap();
    body.extend_from_slice(b"tampered\n");
    std::fs::write(&doc, body).unwrap();
    let fresh = dir.path().join("fresh");
    let out = install_sh(&package, &["--prefix", fresh.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHA256SUMS"), "{}", text(&out));
    assert!(!fresh.exists(), "a damaged package created {}", fresh.display());
}

#[test]
fn install_sh_is_posix_and_shellcheck_clean() {
    let output = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(root().join("scripts/install.sh"))
        .output()
        .expect("shellcheck must be installed: `apt-get install shellcheck` (cargo xtask test does it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let first = std::fs::read_to_string(root().join("scripts/install.sh")).unwrap();
    assert!(first.starts_with("#!/bin/sh\n"), "install.sh runs on hosts without bash");
}

/// LINKS is data install.sh acts on: a line that would make a link outside bin/, point one outside it, or at a
/// file the package does not hold is refused before anything is installed (exit 4), even when SHA256SUMS vouches
/// for the file (a package built wrong, not a damaged download).
#[test]
fn install_sh_refuses_bad_links_before_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let package = dist_unpacked(&dir.path().join("out"), &dir.path().join("unpacked"));
    let good = std::fs::read_to_string(package.join("LINKS")).unwrap();
    let sums = std::fs::read_to_string(package.join("SHA256SUMS")).unwrap();
    for bad in [
        "bin/../escape vault-toolkit",
        "bin/sub/name vault-toolkit",
        "share/vault-toolkit/vault-env vault-toolkit",
        "bin/ vault-toolkit",
        "bin/.hidden vault-toolkit",
        "bin/vault-env ../../../bin/sh",
        "bin/vault-env /bin/sh",
        "bin/vault-env not-in-the-package",
        "bin/vault-env vault toolkit",
        "bin/vault-env",
        "bin/vault-env .",
        "bin/vault-toolkit vault-toolkit",
    ] {
        let links = format!("{good}{bad}\n");
        std::fs::write(package.join("LINKS"), &links).unwrap();
        let digest = Command::new("sha256sum").arg(package.join("LINKS")).output().unwrap();
        let digest = String::from_utf8_lossy(&digest.stdout).split_whitespace().next().unwrap().to_owned();
        let resummed: String = sums
            .lines()
            .map(|l| if l.ends_with("  LINKS") { format!("{digest}  LINKS\n") } else { format!("{l}\n") })
            .collect();
        std::fs::write(package.join("SHA256SUMS"), resummed).unwrap();
        let prefix = dir.path().join("prefix");
        let out = install_sh(&package, &["--prefix", prefix.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(4), "{bad:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("install.sh: error: LINKS: ") && stderr.lines().count() == 1, "{bad:?}: {stderr}");
        assert!(!prefix.exists(), "{bad:?}: the prefix was created");
    }
}
