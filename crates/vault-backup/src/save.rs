//! `save`: a raft snapshot from the active node, streamed to every destination at once.
//!
//! One pass over the snapshot stream feeds: the SHA-256 and size for the manifest; the archive check
//! ([`crate::archive::inspect`] on a blocking thread, which also reads the raft index and term); and one writer per
//! destination. Memory stays bounded by the channels between them and the S3 parts in flight, whatever the
//! snapshot's size. Only when the whole stream arrived and the archive is sound are the destinations committed
//! (rename; complete the multipart upload), and only then is each manifest written: a backup without a manifest
//! is incomplete. A destination that fails does not stop the others; the run then reports a partial failure.
//!
//! With age recipients the check still reads the plaintext, while the hash, the size and the destinations get the
//! encrypted stream (`ID.snap.gz.age`).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use vault_core::Client;

use crate::archive::{self, ArchiveError};
use crate::crypto::{self, HashingReader, Recipient};
use crate::manifest::{self, Manifest, Plaintext, SealInfo};
use crate::store::{ByteStream, ChannelReader, Pending, Store, StoreError, UploadTask};

/// Why a save failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Vault refused or could not be reached.
    #[error("cannot take a snapshot from {address}")]
    Vault {
        /// The server.
        address: String,
        /// What went wrong.
        #[source]
        source: vault_core::Error,
    },
    /// The snapshot stream broke off.
    #[error("the snapshot stream from {address} broke after {bytes} bytes: {detail}")]
    Stream { address: String, bytes: u64, detail: String },
    /// The snapshot is not a sound raft snapshot.
    #[error("the snapshot from {address} is not sound, nothing was saved")]
    Archive {
        /// The server.
        address: String,
        /// What is wrong with it.
        #[source]
        source: ArchiveError,
    },
    /// Every destination failed.
    #[error("no destination took the backup: {}", join(.0))]
    AllFailed(Vec<StoreError>),
}

impl SaveError {
    /// The exit code this deserves: unavailable when Vault or every store was unreachable.
    pub fn exit(&self) -> vault_core::Exit {
        match self {
            SaveError::Vault { source, .. } => source.exit(),
            SaveError::AllFailed(errors) if errors.iter().all(|e| e.exit() == vault_core::Exit::Unavailable) => {
                vault_core::Exit::Unavailable
            }
            SaveError::AllFailed(errors) if errors.iter().all(|e| e.exit() == vault_core::Exit::Usage) => {
                vault_core::Exit::Usage
            }
            _ => vault_core::Exit::Failed,
        }
    }
}

fn join(errors: &[StoreError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// What is known about the source before the snapshot starts.
#[derive(Clone, Debug, Default)]
pub struct SourceInfo {
    /// Its address.
    pub address: String,
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Cluster name.
    pub cluster_name: Option<String>,
    /// Server version.
    pub server_version: Option<String>,
    /// Seal configuration.
    pub seal: Option<SealInfo>,
}

/// The result for one destination.
#[derive(Clone, Debug, Serialize)]
pub struct DestinationResult {
    /// The destination.
    pub destination: String,
    /// Where the data went (a path or `s3://` URL).
    pub location: String,
    /// `saved` or `failed`.
    pub status: &'static str,
    /// What went wrong, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a save.
#[derive(Clone, Debug)]
pub struct SaveOutcome {
    /// The manifest written beside every copy.
    pub manifest: Manifest,
    /// One result per destination, in the order given.
    pub destinations: Vec<DestinationResult>,
}

impl SaveOutcome {
    /// Whether some destination failed.
    pub fn partial(&self) -> bool {
        self.destinations.iter().any(|d| d.status != "saved")
    }
}

/// What the archive check sends back when it stopped reading (the archive is damaged).
const CHECK_STOPPED: &str = "the archive check stopped reading";

/// Reads the source's health and seal, then streams its snapshot to `stores`, encrypted to `recipients` when any.
pub async fn save(client: &Client, stores: &[Store], recipients: &[Recipient]) -> Result<SaveOutcome, SaveError> {
    let address = client.address().to_owned();
    let vault = |source| SaveError::Vault { address: address.clone(), source };
    let health = client.health().await.map_err(vault)?;
    if health.body.sealed {
        return Err(vault(vault_core::Error::Sealed { address: address.clone() }));
    }
    let seal = client.seal_status().await.ok().map(|s| SealInfo {
        seal_type: s.seal_type,
        shares: s.shares,
        threshold: s.threshold,
    });
    let info = SourceInfo {
        address: address.clone(),
        cluster_id: health.body.cluster_id.clone(),
        cluster_name: health.body.cluster_name.clone(),
        server_version: health.body.version.clone(),
        seal,
    };
    let active = active_node(client).await.map_err(vault)?;
    let started = Utc::now();
    let stream: ByteStream = active.raft_snapshot().await.map_err(vault)?;
    save_stream(stream, stores, &info, started, recipients).await
}

/// The node to take the snapshot from: the active one. An OpenBao standby answers reads, the snapshot among them,
/// from its own copy of the data, which lags the active node by the writes it has not applied yet: a snapshot
/// taken there can miss secrets whose writes were already acknowledged. So a standby is only asked where the
/// active node is (`sys/leader`), and the snapshot is taken there, with the same TLS settings and token. A node
/// that is not part of an HA cluster (a single server) is its own active node.
pub async fn active_node(client: &Client) -> Result<Client, vault_core::Error> {
    let Some(leader) = client.leader().await? else {
        return Ok(client.clone());
    };
    if !leader.ha_enabled || leader.is_self {
        return Ok(client.clone());
    }
    if leader.leader_address.is_empty() {
        return Err(vault_core::Error::Unreachable {
            address: client.address().to_owned(),
            detail: "this node is a standby and knows no active node (an election is under way?): try again".into(),
        });
    }
    tracing::info!(
        "{} is a standby: the snapshot is taken from the active node {}",
        client.address(),
        leader.leader_address
    );
    client.for_node(&leader.leader_address).await
}

struct Sink {
    tx: Option<mpsc::Sender<Bytes>>,
    task: Option<UploadTask>,
    error: Option<StoreError>,
}

/// Streams `stream` (a snapshot) to `stores` as a backup taken at `started`; see the module documentation.
/// Public so that tests and embedders can feed any stream (a slow one, one that breaks).
pub async fn save_stream(
    stream: ByteStream,
    stores: &[Store],
    info: &SourceInfo,
    started: DateTime<Utc>,
    recipients: &[Recipient],
) -> Result<SaveOutcome, SaveError> {
    let id = manifest::backup_id(started);
    let encrypted = !recipients.is_empty();
    let data_name = if encrypted { manifest::encrypted_data_name(&id) } else { manifest::data_name(&id) };
    let mut sinks: Vec<Sink> = stores
        .iter()
        .map(|store| match store.begin_upload(&data_name) {
            Ok((tx, task)) => Sink { tx: Some(tx), task: Some(task), error: None },
            Err(e) => Sink { tx: None, task: None, error: Some(e) },
        })
        .collect();
    if sinks.iter().all(|s| s.error.is_some()) {
        return Err(SaveError::AllFailed(sinks.into_iter().filter_map(|s| s.error).collect()));
    }

    let (inspect_tx, inspect_rx) = mpsc::channel::<Bytes>(16);
    let inspector = tokio::task::spawn_blocking(move || {
        let mut reader = HashingReader::new(ChannelReader::new(inspect_rx));
        let report = archive::inspect(&mut reader);
        (report, reader.finish())
    });
    // The check reads the plaintext as it passes; what follows (encryption, hash, destinations) reads on.
    let tapped: ByteStream = Box::pin(stream.then(move |item| {
        let tx = inspect_tx.clone();
        async move {
            if let Ok(chunk) = &item
                && tx.send(chunk.clone()).await.is_err()
            {
                return Err(std::io::Error::other(CHECK_STOPPED));
            }
            item
        }
    }));
    let mut stream = if encrypted { crypto::encrypt_stream(tapped, recipients.to_vec()) } else { tapped };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream_error = None;
    // The snapshot's size is not known ahead: a running count on a watched terminal only.
    let progress = vault_core::progress::Progress::new(None, vault_core::progress::Unit::Bytes, "saving the snapshot");
    while let Some(item) = stream.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(e) => {
                stream_error = Some(e.to_string());
                break;
            }
        };
        hasher.update(&chunk);
        size += chunk.len() as u64;
        progress.inc(chunk.len() as u64);
        for sink in &mut sinks {
            if let Some(tx) = &sink.tx
                && tx.send(chunk.clone()).await.is_err()
            {
                sink.tx = None;
            }
        }
        if sinks.iter().all(|s| s.tx.is_none()) {
            break;
        }
    }
    progress.finish();
    // Dropping the stream closes the check's input: it sees the end of the data (or a cut, after a failure).
    drop(stream);
    let mut pendings: Vec<Option<Pending>> = Vec::new();
    for sink in &mut sinks {
        sink.tx = None;
        let pending = match sink.task.take() {
            Some(task) => match task.await.unwrap_or_else(|j| std::panic::resume_unwind(j.into_panic())) {
                Ok(pending) => Some(pending),
                Err(e) => {
                    sink.error = Some(e);
                    None
                }
            },
            None => None,
        };
        pendings.push(pending);
    }
    let (inspected, (plaintext_sha256, plaintext_size)) =
        inspector.await.unwrap_or_else(|j| std::panic::resume_unwind(j.into_panic()));

    let (report, archive_error) = match inspected {
        Ok(report) => (Some(report), None),
        Err(e) => (None, Some(e)),
    };
    let failure = if let Some(detail) = stream_error.filter(|e| !(e.contains(CHECK_STOPPED) && archive_error.is_some()))
    {
        Some(SaveError::Stream { address: info.address.clone(), bytes: size, detail })
    } else if let Some(source) = archive_error {
        // Every destination failing also cuts the stream short: report them rather than a "truncation".
        if sinks.iter().all(|s| s.error.is_some()) {
            None
        } else {
            Some(SaveError::Archive { address: info.address.clone(), source })
        }
    } else {
        None
    };
    let all_failed = sinks.iter().all(|s| s.error.is_some());
    if failure.is_some() || all_failed {
        for pending in pendings.into_iter().flatten() {
            if let Err(e) = pending.abort().await {
                tracing::warn!("{e}");
            }
        }
        return Err(
            failure.unwrap_or_else(|| SaveError::AllFailed(sinks.into_iter().filter_map(|s| s.error).collect()))
        );
    }
    let report = report.expect("a sound archive when nothing failed");
    let manifest = Manifest {
        format: manifest::FORMAT,
        id: id.clone(),
        file: data_name.clone(),
        started,
        completed: Utc::now(),
        size,
        sha256: hex::encode(hasher.finalize()),
        encryption: if encrypted { "age" } else { "none" }.to_owned(),
        recipients: recipients.iter().map(ToString::to_string).collect(),
        plaintext: encrypted.then_some(Plaintext { size: plaintext_size, sha256: plaintext_sha256 }),
        source: info.address.clone(),
        cluster_id: info.cluster_id.clone(),
        cluster_name: info.cluster_name.clone(),
        server_version: info.server_version.clone(),
        seal: info.seal.clone(),
        raft: report.raft,
        members: report.members,
        tool: manifest::tool_version(),
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");

    let mut destinations = Vec::new();
    let mut errors = Vec::new();
    for ((store, sink), pending) in stores.iter().zip(sinks).zip(pendings) {
        let location = store.location_of(&data_name);
        let result = match (pending, sink.error) {
            (Some(pending), _) => commit(store, pending, &id, &data_name, &manifest_bytes).await,
            (None, Some(e)) => Err(e),
            (None, None) => unreachable!("a sink without an upload has an error"),
        };
        destinations.push(DestinationResult {
            destination: store.location(),
            location,
            status: if result.is_ok() { "saved" } else { "failed" },
            error: result.as_ref().err().map(ToString::to_string),
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.len() == destinations.len() {
        return Err(SaveError::AllFailed(errors));
    }
    Ok(SaveOutcome { manifest, destinations })
}

/// Commits the data, then writes the manifest; when the manifest cannot be written the data is removed again, so
/// no half backup stays behind (prune would remove it later anyway).
async fn commit(store: &Store, pending: Pending, id: &str, data_name: &str, manifest: &[u8]) -> Result<(), StoreError> {
    pending.commit().await?;
    if let Err(e) = store.put_small(&manifest::manifest_name(id), manifest.to_vec()).await {
        let _ = store.delete(data_name).await;
        return Err(e);
    }
    Ok(())
}
