//! Where backups live: a local folder or an S3-compatible bucket, behind one small interface.
//!
//! Data arrives as a stream of chunks and is written in two phases: the upload task writes everything somewhere
//! invisible (a temp file in the folder; the parts of a multipart upload, or a buffer smaller than one part), and
//! only [`Pending::commit`] makes it appear under its final name (rename; complete the multipart upload or put
//! the small object). [`Pending::abort`] removes the temp file or aborts the multipart upload, so a failed
//! save leaves nothing under a backup's name.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::s3::{S3Settings, S3Store};

/// A stream of bytes read from a store or from Vault.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A destination as the user writes it: a folder path, or `s3://bucket/prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A local folder.
    Local(PathBuf),
    /// A bucket and a key prefix (no leading or trailing slash; may be empty).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix.
        prefix: String,
    },
}

impl Destination {
    /// Parses `s3://bucket/prefix` or a folder path.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{text:?} has no bucket: expected s3://bucket/prefix"));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|part| part == "." || part == "..") {
                return Err(format!("{text:?}: the prefix may not contain . or .. segments"));
            }
            return Ok(Destination::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() });
        }
        if text.contains("://") {
            return Err(format!("{text:?}: only folders and s3://bucket/prefix are supported"));
        }
        if text.is_empty() {
            return Err("an empty destination".to_owned());
        }
        Ok(Destination::Local(PathBuf::from(text)))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Local(path) => write!(f, "{}", path.display()),
            Destination::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Destination::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// What went wrong with a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (connection refused, timeouts, DNS).
    #[error("{location}: cannot reach the store: {detail}")]
    Unreachable { location: String, detail: String },
    /// The file or object is not there.
    #[error("{location}: not found")]
    NotFound { location: String },
    /// Configuration is missing or wrong (credentials, endpoint).
    #[error("{0}")]
    Config(String),
    /// Anything else: permissions, a full disk, the store refusing a request.
    #[error("{location}: {detail}")]
    Failed { location: String, detail: String },
}

impl StoreError {
    pub(crate) fn io(location: impl fmt::Display, action: &str, e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            return StoreError::NotFound { location: location.to_string() };
        }
        StoreError::Failed { location: location.to_string(), detail: format!("cannot {action}: {e}") }
    }

    /// The exit code this deserves.
    pub fn exit(&self) -> vault_core::Exit {
        match self {
            StoreError::Unreachable { .. } => vault_core::Exit::Unavailable,
            StoreError::Config(_) => vault_core::Exit::Usage,
            StoreError::NotFound { .. } | StoreError::Failed { .. } => vault_core::Exit::Failed,
        }
    }
}

/// A file or object in a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name within the folder or prefix.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the store says.
    pub modified: Option<DateTime<Utc>>,
}

/// An opened destination.
#[derive(Clone, Debug)]
pub enum Store {
    /// A local folder.
    Local(PathBuf),
    /// An S3 bucket and prefix.
    S3(S3Store),
}

impl Store {
    /// Opens a destination (for S3: builds a client; no request yet).
    pub fn open(destination: &Destination, s3: &S3Settings) -> Result<Self, StoreError> {
        match destination {
            Destination::Local(path) => Ok(Store::Local(path.clone())),
            Destination::S3 { bucket, prefix } => Ok(Store::S3(S3Store::new(bucket, prefix, s3)?)),
        }
    }

    /// The destination as the user wrote it.
    pub fn location(&self) -> String {
        match self {
            Store::Local(path) => path.display().to_string(),
            Store::S3(s3) => s3.location(),
        }
    }

    /// Where `name` lives, for messages and records.
    pub fn location_of(&self, name: &str) -> String {
        match self {
            Store::Local(path) => path.join(name).display().to_string(),
            Store::S3(s3) => s3.url_of(name),
        }
    }

    /// The entries directly in the folder or under the prefix.
    pub async fn list(&self) -> Result<Vec<Entry>, StoreError> {
        match self {
            Store::Local(dir) => {
                let dir = dir.clone();
                blocking(move || list_dir(&dir)).await
            }
            Store::S3(s3) => s3.list().await,
        }
    }

    /// Reads a small file whole (a manifest).
    pub async fn read_small(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        match self {
            Store::Local(dir) => {
                let path = dir.join(name);
                blocking(move || std::fs::read(&path).map_err(|e| StoreError::io(path.display(), "read", &e))).await
            }
            Store::S3(s3) => s3.read_small(name).await,
        }
    }

    /// Streams a file.
    pub async fn open_read(&self, name: &str) -> Result<ByteStream, StoreError> {
        match self {
            Store::Local(dir) => {
                let path = dir.join(name);
                let file =
                    tokio::fs::File::open(&path).await.map_err(|e| StoreError::io(path.display(), "open", &e))?;
                Ok(file_stream(file))
            }
            Store::S3(s3) => s3.open_read(name).await,
        }
    }

    /// Writes a small file atomically (a manifest): a reader sees all of it or nothing.
    pub async fn put_small(&self, name: &str, data: Vec<u8>) -> Result<(), StoreError> {
        match self {
            Store::Local(dir) => {
                let dir = dir.clone();
                let name = name.to_owned();
                blocking(move || {
                    let mut temp = temp_in(&dir)?;
                    let location = dir.join(&name);
                    temp.write_all(&data).map_err(|e| StoreError::io(location.display(), "write", &e))?;
                    persist(temp, &dir, &name)
                })
                .await
            }
            Store::S3(s3) => s3.put(name, Bytes::from(data)).await,
        }
    }

    /// Deletes a file; a missing one is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        match self {
            Store::Local(dir) => {
                let path = dir.join(name);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(StoreError::io(path.display(), "delete", &e)),
                }
            }
            Store::S3(s3) => s3.delete(name).await,
        }
    }

    /// Starts writing `name` from the chunks sent on the returned channel. Close the channel when done; the task
    /// then returns a [`Pending`] upload to commit or abort. Memory is bounded by the channel and, for S3, by
    /// [`S3Settings::part_size`] times the parts in flight.
    pub fn begin_upload(&self, name: &str) -> Result<(mpsc::Sender<Bytes>, UploadTask), StoreError> {
        let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
        let task = match self {
            Store::Local(dir) => {
                // Create the folder and the temp file now, so a wrong path fails before the snapshot starts.
                create_private_dir(dir).map_err(|e| StoreError::io(dir.display(), "create the folder", &e))?;
                let temp = temp_in(dir)?;
                let dir = dir.clone();
                let name = name.to_owned();
                tokio::task::spawn_blocking(move || write_local(temp, dir, name, rx))
            }
            Store::S3(s3) => {
                let s3 = s3.clone();
                let name = name.to_owned();
                tokio::spawn(async move { s3.upload(&name, rx).await.map(Pending::S3) })
            }
        };
        Ok((tx, task))
    }
}

/// How many chunks may wait between the reader and each writer.
const CHANNEL_CHUNKS: usize = 16;

/// The task writing one destination.
pub type UploadTask = tokio::task::JoinHandle<Result<Pending, StoreError>>;

/// Data written but not yet visible under its final name.
#[derive(Debug)]
pub enum Pending {
    /// A complete, synced temp file in the destination folder.
    Local {
        /// The temp file (removed on drop unless persisted).
        temp: tempfile::NamedTempFile,
        /// The folder.
        dir: PathBuf,
        /// The final name.
        name: String,
        /// Bytes written.
        size: u64,
    },
    /// An S3 upload waiting for its last step.
    S3(crate::s3::PendingUpload),
}

impl Pending {
    /// Bytes written.
    pub fn size(&self) -> u64 {
        match self {
            Pending::Local { size, .. } => *size,
            Pending::S3(p) => p.size(),
        }
    }

    /// Makes the data visible under its final name.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Pending::Local { temp, dir, name, .. } => blocking(move || persist(temp, &dir, &name)).await,
            Pending::S3(p) => p.commit().await,
        }
    }

    /// Throws the data away.
    pub async fn abort(self) -> Result<(), StoreError> {
        match self {
            Pending::Local { temp, .. } => {
                let path = temp.path().to_owned();
                temp.close().map_err(|e| StoreError::io(path.display(), "remove the temp file", &e))
            }
            Pending::S3(p) => p.abort().await,
        }
    }
}

/// Temp files in a folder start with this. No `.snap` in it: vault-health's `*.snap*` glob must not take a
/// half-written file for a backup.
pub const TEMP_PREFIX: &str = ".tmp-vault-backup-";

fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile, StoreError> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| StoreError::io(dir.display(), "create a temp file in", &e))
}

fn write_local(
    temp: tempfile::NamedTempFile,
    dir: PathBuf,
    name: String,
    mut rx: mpsc::Receiver<Bytes>,
) -> Result<Pending, StoreError> {
    let location = dir.join(&name);
    let failed = |action: &str, e: io::Error| StoreError::io(location.display(), action, &e);
    let mut writer = io::BufWriter::with_capacity(256 * 1024, temp);
    let mut size = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        writer.write_all(&chunk).map_err(|e| failed("write", e))?;
        size += chunk.len() as u64;
    }
    let temp = writer.into_inner().map_err(|e| failed("write", e.into_error()))?;
    temp.as_file().sync_all().map_err(|e| failed("sync", e))?;
    Ok(Pending::Local { temp, dir, name, size })
}

/// Renames a synced temp file to `dir/name` (refusing to replace an existing file) and syncs the folder so the
/// rename survives a crash.
fn persist(temp: tempfile::NamedTempFile, dir: &Path, name: &str) -> Result<(), StoreError> {
    let target = dir.join(name);
    temp.as_file().sync_all().map_err(|e| StoreError::io(target.display(), "sync", &e))?;
    let file =
        temp.persist_noclobber(&target).map_err(|e| StoreError::io(target.display(), "rename into", &e.error))?;
    // Owner read-write, group read: the restore drill and the health check read backups through the backup
    // user's group (their units add it); the folder's own mode (0700 when this tool creates it) decides whether
    // anyone else gets that far. The snapshot is encrypted by the server's barrier key either way.
    set_mode(&file, 0o640).map_err(|e| StoreError::io(target.display(), "set the mode of", &e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir.display(), "sync the folder", &e))
}

/// Creates `dir` and any missing parents 0700: they will hold snapshots of every secret. A folder that already
/// exists keeps its mode (deploy or the operator chose it).
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

fn list_dir(dir: &Path) -> Result<Vec<Entry>, StoreError> {
    let read = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir.display(), "list", &e))?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| StoreError::io(dir.display(), "list", &e))?;
        let meta = entry.metadata().map_err(|e| StoreError::io(entry.path().display(), "stat", &e))?;
        if !meta.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        entries.push(Entry { name, size: meta.len(), modified: meta.modified().ok().map(DateTime::<Utc>::from) });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn file_stream(file: tokio::fs::File) -> ByteStream {
    use tokio::io::AsyncReadExt;
    Box::pin(futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 256 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    }))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}

/// A blocking `Read` over chunks arriving on a channel, for the archive check running on a blocking thread while
/// the chunks stream past. The channel closing is the end of the data.
#[derive(Debug)]
pub struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    /// Reads what arrives on `rx`.
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelReader { rx, current: Bytes::new() }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Drop for ChannelReader {
    fn drop(&mut self) {
        // Stop the sender from waiting on a reader that gave up (a damaged archive stops being read early).
        self.rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        assert_eq!(
            Destination::parse("s3://backups/vault/prod/").unwrap(),
            Destination::S3 { bucket: "backups".into(), prefix: "vault/prod".into() }
        );
        assert_eq!(
            Destination::parse("s3://b").unwrap(),
            Destination::S3 { bucket: "b".into(), prefix: String::new() }
        );
        assert_eq!(Destination::parse("/var/backups/vault").unwrap(), Destination::Local("/var/backups/vault".into()));
        assert!(Destination::parse("s3:///x").is_err());
        assert!(Destination::parse("gs://b/x").is_err());
        assert!(Destination::parse("s3://b/../x").is_err());
        assert_eq!(Destination::parse("s3://b/p").unwrap().to_string(), "s3://b/p");
    }

    #[tokio::test]
    async fn created_folders_are_private_and_files_readable_by_the_group_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = root.path().join("a/b/vault");
        let store = Store::Local(dir.clone());
        let (tx, task) = store.begin_upload("snap.tar.gz").unwrap();
        tx.send(Bytes::from_static(b"data")).await.unwrap();
        drop(tx);
        task.await.unwrap().unwrap().commit().await.unwrap();
        for created in [root.path().join("a"), root.path().join("a/b"), dir.clone()] {
            assert_eq!(mode(&created), 0o700, "{}", created.display());
        }
        // 0640: the drill and health units read backups through the vault-backup group; the 0700 folder this tool
        // created keeps everyone else out.
        assert_eq!(mode(&dir.join("snap.tar.gz")), 0o640);
        // A folder that exists keeps the mode its owner gave it.
        assert_eq!(mode(root.path()), 0o755);
    }
}
