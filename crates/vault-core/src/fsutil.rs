//! Files that are never half-written: the one implementation of "temp file in the same folder, fsync, rename"
//! every tool uses (`-o` output, vault-env's exported files, env-migrate's rewritten `.env` files, deploy's
//! configuration, keys and units).
//!
//! The temporary file is created 0600 by its creator (so a secret is never readable by others, not even for the
//! moment between its first byte and the rename), gets its final mode and, when asked, the owner of the file it
//! replaces just before the rename, and the folder is synced after it so the rename itself survives a crash.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The mode the written file ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Exactly this mode, whatever the replaced file had (files holding secrets: `Exact(0o600)`).
    Exact(u32),
    /// The mode of the file it replaces, or this one when the file is new.
    KeepOr(u32),
}

/// How to write a file atomically; [`Atomic::new`] then [`create`](Atomic::create) or [`write`](Atomic::write).
#[derive(Clone, Copy, Debug)]
pub struct Atomic<'a> {
    mode: Mode,
    keep_owner: bool,
    follow_link: bool,
    prefix: &'a str,
}

impl<'a> Atomic<'a> {
    /// Atomic writes ending with `mode`; the owner is the writer's, a symbolic link is replaced by the file.
    pub fn new(mode: Mode) -> Self {
        Self { mode, keep_owner: false, follow_link: false, prefix: ".tmp-" }
    }

    /// Gives the new file the owner and group of the file it replaces (best effort: only root can give a file
    /// to another user, and an ordinary user's own files keep their owner anyway).
    pub fn keep_owner(mut self) -> Self {
        self.keep_owner = true;
        self
    }

    /// Through a symbolic link, replaces the file it points to and keeps the link.
    pub fn follow_link(mut self) -> Self {
        self.follow_link = true;
        self
    }

    /// The temporary file's name starts with `prefix` (so a tool's leftovers after a kill are recognisable).
    pub fn prefix(mut self, prefix: &'a str) -> Self {
        self.prefix = prefix;
        self
    }

    /// Starts writing `path`: nothing changes at `path` until [`AtomicFile::commit`].
    pub fn create(&self, path: &Path) -> io::Result<AtomicFile> {
        let path = if self.follow_link && path.is_symlink() { fs::canonicalize(path)? } else { path.to_path_buf() };
        let old = fs::metadata(&path).ok();
        let mode = match (self.mode, &old) {
            (Mode::Exact(m), _) => m,
            (Mode::KeepOr(_), Some(meta)) => mode_of(meta),
            (Mode::KeepOr(m), None) => m,
        };
        let owner = if self.keep_owner { old.as_ref().and_then(owner_of) } else { None };
        let temp = tempfile::Builder::new().prefix(self.prefix).tempfile_in(folder_of(&path))?;
        // tempfile creates it 0600 already; say so in case a default ACL or another platform disagrees.
        set_mode(temp.as_file(), 0o600)?;
        Ok(AtomicFile { temp, path, mode, owner })
    }

    /// Writes `bytes` to `path` atomically.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<File> {
        let mut file = self.create(path)?;
        file.write_all(bytes)?;
        file.commit()
    }
}

/// A file being written; dropped without [`commit`](Self::commit), it disappears and the target is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
    mode: u32,
    owner: Option<(u32, u32)>,
}

impl AtomicFile {
    /// The file this will replace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the content, sets the owner and mode, renames the file into place and syncs the folder.
    pub fn commit(self) -> io::Result<File> {
        let file = self.temp.as_file();
        file.sync_all()?;
        if let Some((uid, gid)) = self.owner {
            // Only root may give a file away; anyone else keeps their own file, which is what they had.
            let _ = chown(self.temp.path(), uid, gid);
        }
        set_mode(file, self.mode)?;
        let file = self.temp.persist(&self.path).map_err(|e| e.error)?;
        if let Ok(dir) = File::open(folder_of(&self.path)) {
            let _ = dir.sync_all();
        }
        Ok(file)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Whether `path` must be written in place rather than replaced: an existing device, FIFO or socket (`-o
/// /dev/null`, a named pipe), or anything under `/dev` or `/proc` (`/dev/stdout` links to whatever the shell
/// opened, a regular file included, and renaming over that file would leave the shell's descriptor on the old one).
pub fn writes_in_place(path: &Path) -> bool {
    let special = path.starts_with("/dev") || path.starts_with("/proc");
    fs::metadata(path).is_ok_and(|meta| special || !meta.is_file())
}

/// The folder a file lives in (`.` for a bare name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_meta: &fs::Metadata) -> u32 {
    0o644
}

#[cfg(unix)]
fn owner_of(meta: &fs::Metadata) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.uid(), meta.gid()))
}

#[cfg(not(unix))]
fn owner_of(_meta: &fs::Metadata) -> Option<(u32, u32)> {
    None
}

#[cfg(unix)]
fn chown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

#[cfg(not(unix))]
fn chown(_path: &Path, _uid: u32, _gid: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn entries(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn exact_mode_wins_over_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        Atomic::new(Mode::Exact(0o600)).write(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(entries(dir.path()), 1, "no temporary file left");
    }

    #[test]
    fn keep_mode_keeps_the_old_files_mode_or_uses_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        Atomic::new(Mode::KeepOr(0o640)).write(&path, b"a").unwrap();
        assert_eq!(mode(&path), 0o640, "a new file gets the default");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
        Atomic::new(Mode::KeepOr(0o600)).keep_owner().write(&path, b"b").unwrap();
        assert_eq!(mode(&path), 0o604, "the old mode is kept");
        assert_eq!(fs::read_to_string(&path).unwrap(), "b");
    }

    #[test]
    fn the_temporary_file_is_private_until_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report");
        let mut file = Atomic::new(Mode::Exact(0o644)).prefix(".report-").create(&path).unwrap();
        file.write_all(b"half").unwrap();
        let temp: Vec<PathBuf> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(temp.len(), 1);
        assert!(temp[0].file_name().unwrap().to_string_lossy().starts_with(".report-"));
        assert_eq!(mode(&temp[0]), 0o600, "nobody else reads a file being written");
        assert!(!path.exists(), "nothing at the target before the commit");
        file.commit().unwrap();
        assert_eq!(mode(&path), 0o644);
    }

    #[test]
    fn a_dropped_file_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "old").unwrap();
        let mut file = Atomic::new(Mode::Exact(0o600)).create(&path).unwrap();
        file.write_all(b"new and unfinished").unwrap();
        drop(file);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), 1);
    }

    #[test]
    fn links_are_replaced_or_followed_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join("link");
        fs::write(&target, "old").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        Atomic::new(Mode::Exact(0o600)).follow_link().write(&link, b"through").unwrap();
        assert!(link.is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "through");
        Atomic::new(Mode::Exact(0o600)).write(&link, b"replaced").unwrap();
        assert!(!link.is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "through");
    }

    #[test]
    fn devices_are_written_in_place() {
        assert!(writes_in_place(Path::new("/dev/null")));
        assert!(!writes_in_place(Path::new("/nonexistent/file")));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "").unwrap();
        assert!(!writes_in_place(&file));
        assert_eq!(folder_of(Path::new("bare")), Path::new("."));
    }
}
