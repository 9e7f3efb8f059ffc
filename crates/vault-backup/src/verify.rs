//! `verify`: the offline integrity check of one backup, streamed from its folder or bucket.
//!
//! The data's size and SHA-256 must match the manifest; the archive must be sound (gzip CRC, tar headers, members
//! against `SHA256SUMS`, see [`crate::archive`]); its raft index, term and members must match what the manifest
//! recorded at save time. Every problem found is reported, not just the first.
//!
//! An encrypted backup (`ID.snap.gz.age`) is checked against the manifest's SHA-256 always; the archive inside is
//! checked too when an age identity is given (decryption also authenticates every chunk).

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::archive::{self, ArchiveError, ArchiveReport, Member, RaftMeta};
use crate::catalog::read_manifest;
use crate::crypto::{self, HashingReader, Identity};
use crate::manifest::{self, Manifest};
use crate::store::{ChannelReader, Store, StoreError};

/// The outcome of a check.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The backup id.
    pub id: String,
    /// Where the data is.
    pub location: String,
    /// Bytes read.
    pub size: u64,
    /// SHA-256 of what was read.
    pub sha256: String,
    /// The raft position, when the archive is sound.
    pub raft: Option<RaftMeta>,
    /// The members, when the archive is sound.
    pub members: Vec<Member>,
    /// Whether the data file is encrypted.
    pub encrypted: bool,
    /// Whether the archive inside was checked (not when encrypted and no identity was given).
    pub archive_checked: bool,
    /// Everything wrong; empty when the backup is good.
    pub problems: Vec<String>,
    /// The manifest, when readable.
    #[serde(skip)]
    pub manifest: Option<Manifest>,
}

impl VerifyReport {
    /// Whether the backup passed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the archive check found.
type Inspected = Option<(Result<ArchiveReport, ArchiveError>, (String, u64))>;

/// Checks backup `id` in `store`, decrypting with `identities` when it is encrypted. Errors are for a store that
/// cannot be read at all; a damaged backup is a report with problems.
pub async fn verify(store: &Store, id: &str, identities: &[Identity]) -> Result<VerifyReport, StoreError> {
    let mut problems = Vec::new();
    let manifest = match read_manifest(store, &manifest::manifest_name(id)).await {
        Ok(m) => Some(m),
        Err(e) => {
            problems.push(format!("no usable manifest ({e}): the backup is incomplete or damaged"));
            None
        }
    };
    let data_name = manifest.as_ref().map_or_else(|| manifest::data_name(id), Manifest::data_file);
    let encrypted = manifest.as_ref().is_some_and(Manifest::encrypted);
    let archive_checked = !encrypted || !identities.is_empty();
    let mut stream = store.open_read(&data_name).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let identities = identities.to_vec();
    let inspector = tokio::task::spawn_blocking(move || -> Inspected {
        let reader = ChannelReader::new(rx);
        if !encrypted {
            return Some((archive::inspect(reader), (String::new(), 0)));
        }
        if identities.is_empty() {
            return None;
        }
        match crypto::decrypt(reader, &identities) {
            Ok(plain) => {
                let mut hashing = HashingReader::new(plain);
                let report = archive::inspect(&mut hashing);
                Some((report, hashing.finish()))
            }
            Err(e) => Some((Err(ArchiveError::Damaged(e)), (String::new(), 0))),
        }
    });
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut tx = archive_checked.then_some(tx);
    let progress = vault_core::progress::Progress::new(
        manifest.as_ref().map(|m| m.size),
        vault_core::progress::Unit::Bytes,
        "verifying",
    );
    while let Some(item) = stream.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(e) => {
                return Err(StoreError::Failed {
                    location: store.location_of(&data_name),
                    detail: format!("reading broke off after {size} bytes: {e}"),
                });
            }
        };
        hasher.update(&chunk);
        size += chunk.len() as u64;
        progress.inc(chunk.len() as u64);
        if let Some(sender) = &tx
            && sender.send(chunk).await.is_err()
        {
            // The archive check gave up (damage found); keep hashing to report the outer checksum too.
            tx = None;
        }
    }
    drop(tx);
    let sha256 = hex::encode(hasher.finalize());
    let inspected = inspector.await.unwrap_or_else(|j| std::panic::resume_unwind(j.into_panic()));
    if let Some(m) = &manifest {
        if m.size != size {
            problems.push(format!("size {size} differs from the manifest's {} (truncated or appended to)", m.size));
        }
        if !m.sha256.eq_ignore_ascii_case(&sha256) {
            problems.push(format!("SHA-256 {sha256} differs from the manifest's {}", m.sha256));
        }
        if !matches!(m.encryption.as_str(), "none" | "age") {
            problems.push(format!("encryption {:?} is not supported by this version", m.encryption));
        }
    }
    let (raft, members) = match inspected {
        None => (m_raft(manifest.as_ref()), Vec::new()),
        Some((Ok(report), (plain_sha256, plain_size))) => {
            if let Some(plain) = manifest.as_ref().and_then(|m| m.plaintext.as_ref())
                && (plain.sha256 != plain_sha256 || plain.size != plain_size)
            {
                problems.push("the decrypted snapshot differs from the manifest's plaintext checksum".to_owned());
            }
            if let Some(m) = &manifest {
                if m.raft != report.raft {
                    problems.push(format!(
                        "raft index/term {}/{} differ from the manifest's {}/{}",
                        report.raft.index, report.raft.term, m.raft.index, m.raft.term
                    ));
                }
                if !m.members.is_empty() && m.members != report.members {
                    for member in &report.members {
                        if !m.members.contains(member) {
                            problems.push(format!("member {} differs from the manifest", member.name));
                        }
                    }
                    if report.members.len() != m.members.len() {
                        problems.push("the archive's members differ from the manifest's".to_owned());
                    }
                }
            }
            (Some(report.raft), report.members)
        }
        Some((Err(e), _)) => {
            problems.push(e.to_string());
            (None, Vec::new())
        }
    };
    Ok(VerifyReport {
        id: id.to_owned(),
        location: store.location_of(&data_name),
        size,
        sha256,
        raft,
        members,
        encrypted,
        archive_checked,
        problems,
        manifest,
    })
}

/// The raft position the manifest recorded, for an archive that could not be opened (encrypted, no identity).
fn m_raft(manifest: Option<&Manifest>) -> Option<RaftMeta> {
    manifest.map(|m| m.raft.clone())
}
