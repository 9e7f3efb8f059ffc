//! What a destination holds: backups grouped from their data and manifest files, and finding one backup from
//! what the user typed (a file, an `s3://` object, or a folder or prefix meaning its newest good backup).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use crate::manifest::{self, Manifest, NameKind};
use crate::s3::S3Settings;
use crate::store::{Destination, Entry, Store, StoreError};

/// Whether a backup can be trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Data and a manifest that agrees with it.
    Good,
    /// Data without a manifest: a save that was interrupted (or is still running).
    Incomplete,
    /// A manifest without data, an unreadable manifest, or sizes that disagree.
    Broken,
}

/// One backup in a destination.
#[derive(Clone, Debug)]
pub struct Backup {
    /// Its id.
    pub id: String,
    /// When it was taken (from the id).
    pub time: DateTime<Utc>,
    /// Its data file, when present.
    pub data: Option<Entry>,
    /// Its manifest, when present and readable.
    pub manifest: Option<Manifest>,
    /// Its state.
    pub state: State,
    /// Why it is not good.
    pub problem: Option<String>,
}

/// Lists the backups in `store`, oldest first. Manifests are read to check them against the data.
pub async fn catalog(store: &Store) -> Result<Vec<Backup>, StoreError> {
    let entries = match store.list().await {
        Ok(entries) => entries,
        // A folder that does not exist yet holds no backups.
        Err(StoreError::NotFound { .. }) if matches!(store, Store::Local(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut groups: BTreeMap<String, (Option<Entry>, Option<Entry>)> = BTreeMap::new();
    for entry in entries {
        match manifest::classify(&entry.name) {
            Some(NameKind::Data(id)) => groups.entry(id).or_default().0 = Some(entry),
            Some(NameKind::Manifest(id)) => groups.entry(id).or_default().1 = Some(entry),
            None => {}
        }
    }
    // Manifests are small: read up to 8 at once, which matters for a bucket with hundreds of backups.
    let backups = futures_util::stream::iter(groups)
        .map(|(id, (data, manifest_entry))| async move {
            let time = manifest::parse_id(&id).expect("classified names have valid ids");
            let mut manifest = None;
            let (state, problem) = match (&data, &manifest_entry) {
                (Some(_), None) => (State::Incomplete, Some("no manifest: the save did not finish".to_owned())),
                (None, Some(_)) => (State::Broken, Some(format!("the manifest has no {}", manifest::data_name(&id)))),
                (None, None) => unreachable!("a group has at least one file"),
                (Some(data), Some(entry)) => match read_manifest(store, &entry.name).await {
                    Ok(m) if m.id != id => (State::Broken, Some(format!("the manifest is for {}", m.id))),
                    Ok(m) if m.data_file() != data.name => {
                        (State::Broken, Some(format!("the manifest is for {}, not {}", m.data_file(), data.name)))
                    }
                    Ok(m) if m.size != data.size => {
                        let problem = format!("the data is {} bytes, the manifest says {}", data.size, m.size);
                        manifest = Some(m);
                        (State::Broken, Some(problem))
                    }
                    Ok(m) => {
                        manifest = Some(m);
                        (State::Good, None)
                    }
                    Err(e) => (State::Broken, Some(e)),
                },
            };
            Backup { id, time, data, manifest, state, problem }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    Ok(backups)
}

/// Reads and parses a manifest.
pub async fn read_manifest(store: &Store, name: &str) -> Result<Manifest, String> {
    let bytes = store.read_small(name).await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a manifest: {e}", store.location_of(name)))
}

/// What the user means by a backup argument.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The text is not a destination.
    #[error("{0}")]
    Usage(String),
    /// The destination holds no good backup.
    #[error("{0} holds no complete backup")]
    Empty(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves a backup argument: `…/ID.snap.gz` or `…/ID.manifest.json` (a file or an `s3://` object) is that
/// backup; a folder or `s3://bucket/prefix` is its newest good backup.
pub async fn resolve(text: &str, s3: &S3Settings) -> Result<(Store, String), ResolveError> {
    let destination = Destination::parse(text).map_err(ResolveError::Usage)?;
    let named = match &destination {
        Destination::Local(path) => {
            path.file_name().and_then(|n| n.to_str()).and_then(manifest::classify).map(|kind| {
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                (Destination::Local(parent.to_owned()), kind)
            })
        }
        Destination::S3 { bucket, prefix } => {
            let (rest, last) = prefix.rsplit_once('/').unwrap_or(("", prefix.as_str()));
            manifest::classify(last)
                .map(|kind| (Destination::S3 { bucket: bucket.clone(), prefix: rest.to_owned() }, kind))
        }
    };
    if let Some((parent, kind)) = named {
        let store = Store::open(&parent, s3)?;
        let id = match kind {
            NameKind::Data(id) | NameKind::Manifest(id) => id,
        };
        return Ok((store, id));
    }
    let store = Store::open(&destination, s3)?;
    let newest = catalog(&store).await?.into_iter().rev().find(|b| b.state == State::Good);
    match newest {
        Some(backup) => Ok((store, backup.id)),
        None => Err(ResolveError::Empty(destination.to_string())),
    }
}
