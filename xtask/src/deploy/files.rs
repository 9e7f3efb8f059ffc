//! Files with the right mode from the first byte: written to a temp file created with its final mode, synced,
//! then renamed into place, so no reader sees half a file and no secret file is ever briefly world-readable.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use vault_core::fsutil::{Atomic, Mode};

/// Writes `bytes` to `path` atomically with `mode` (vault-core's one implementation: a 0600 temp file in the same
/// folder, synced, given `mode`, renamed into place).
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.tmp-");
    Atomic::new(Mode::Exact(mode))
        .prefix(&prefix)
        .write(path, bytes)
        .with_context(|| format!("writing {} atomically", path.display()))?;
    Ok(())
}

/// Writes `bytes` only when the file's content differs; returns whether it wrote.
pub fn write_if_changed(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<bool> {
    let same = fs::read(path).is_ok_and(|old| old == bytes)
        && fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode);
    if !same {
        write_file(path, bytes, mode)?;
    }
    Ok(!same)
}

/// Gives a file to group `gid` (owner root) when it belongs to another; returns whether it changed anything.
pub fn ensure_group(path: &Path, gid: u32) -> anyhow::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.uid() == 0 && meta.gid() == gid {
        return Ok(false);
    }
    std::os::unix::fs::chown(path, Some(0), Some(gid))
        .with_context(|| format!("giving {} to root and group {gid}", path.display()))?;
    Ok(true)
}

/// Keeps `bytes` (the previous content of `path`) beside it as `NAME.edited-YYYYMMDDTHHMMSSZ`, 0600: a file deploy
/// is about to overwrite may hold something its author wants back. Returns the copy's path.
pub fn keep_copy(path: &Path, bytes: &[u8]) -> anyhow::Result<std::path::PathBuf> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let copy = path.with_file_name(format!("{name}.edited-{stamp}"));
    write_file(&copy, bytes, 0o600)?;
    Ok(copy)
}

/// Creates a folder (and parents) and sets its mode.
pub fn ensure_dir(path: &Path, mode: u32) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Hands a file or folder to a user (and that user's primary group).
pub fn chown_to(path: &Path, user: &User) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
        .with_context(|| format!("giving {} to {}", path.display(), user.name))
}

/// A local account.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl User {
    /// Looks a user up in `/etc/passwd` (system accounts are local; no NSS needed).
    pub fn lookup(name: &str) -> anyhow::Result<User> {
        let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
        passwd
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() >= 4 && fields[0] == name).then(|| {
                    Some(User { name: name.to_owned(), uid: fields[2].parse().ok()?, gid: fields[3].parse().ok()? })
                })?
            })
            .next()
            .with_context(|| {
                format!("there is no user {name:?} on this machine (create it first: useradd --system {name})")
            })
    }

    /// The user running this command.
    pub fn current() -> User {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let name = fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| {
                p.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[2] == uid.to_string()).then(|| f[0].to_owned())
                })
            })
            .unwrap_or_else(|| uid.to_string());
        User { name, uid, gid }
    }
}
