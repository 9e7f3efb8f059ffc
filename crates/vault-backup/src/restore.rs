//! `restore`: a verified backup into a running server, then the unseal with the source's keys and a read-back.
//!
//! 1. verify the backup (refuse a bad one);
//! 2. stream it again from the folder or bucket (decrypting on the way, checking its SHA-256 against the verified
//!    one) into the target's `snapshot-force` upload, with a token valid on the target: memory stays a few
//!    chunks whatever the snapshot's size; the target then seals itself, because its keyring is now the source's;
//! 3. unseal with the SOURCE's key shares (from files); when the target's share count or threshold differ from
//!    the source's, the server process must be restarted first, and the run stops there, saying so (resume with
//!    `--resume` after the restart);
//! 4. read secrets back with a token valid on the source.
//!
//! Into a raft cluster, every node is named: the upload goes to the active node, every node seals itself (the
//! restored keyring reaches them all through raft), and each is unsealed with the source's shares before the run
//! waits for one active node and unsealed standbys.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use vault_core::config::AuthConfig;
use vault_core::progress::{Progress, Unit};
use vault_core::sys::raft::SnapshotStream;
use vault_core::{Client, Config, SecretString};

use crate::crypto::{self, Identity};
use crate::manifest::{self, Manifest};
use crate::store::{ByteStream, ChannelReader, Store, StoreError};
use crate::verify::{self, VerifyReport};

/// How long a server may take to seal itself after `snapshot-force`, and to become active after the unseal.
const WAIT: Duration = Duration::from_secs(60);

/// Why a restore stopped.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The backup failed verification.
    #[error("refusing to restore {id}: it failed verification: {}", .problems.join("; "))]
    Unverified { id: String, problems: Vec<String> },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A Vault call failed.
    #[error("{step}")]
    Vault {
        /// The step.
        step: String,
        /// What went wrong.
        #[source]
        source: vault_core::Error,
    },
    /// A key file could not be used.
    #[error("{0}")]
    Keys(String),
    /// The target did not reach the expected state.
    #[error("{0}")]
    Timeout(String),
}

/// What to do besides uploading.
#[derive(Default)]
pub struct RestoreOptions {
    /// Files holding the source's unseal key shares.
    pub key_files: Vec<PathBuf>,
    /// A token valid on the source, to read secrets back after the restore.
    pub check_token: Option<SecretString>,
    /// KV folders to read back (e.g. `secret/`).
    pub check_paths: Vec<String>,
    /// At most this many secrets are read back (0: all).
    pub check_limit: usize,
    /// The snapshot is already in (the server was restarted since): only unseal and check.
    pub resume: bool,
    /// age private keys, for an encrypted backup.
    pub identities: Vec<Identity>,
}

impl std::fmt::Debug for RestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys and tokens are left out.
        f.debug_struct("RestoreOptions")
            .field("key_files", &self.key_files)
            .field("check_paths", &self.check_paths)
            .field("check_limit", &self.check_limit)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

/// One step of the restore, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// `verify`, `upload`, `sealed`, `restart`, `unseal`, `active`, `check`.
    pub step: &'static str,
    /// `ok`, `pending` (the operator must act) or `skipped`.
    pub status: &'static str,
    /// What happened or what to do.
    pub detail: String,
}

/// The result of a restore.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreOutcome {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Secrets read back.
    pub secrets_read: usize,
    /// Secrets that could not be read back.
    pub secrets_failed: usize,
    /// Whether the operator still has something to do.
    pub pending: bool,
}

fn step(step: &'static str, status: &'static str, detail: impl Into<String>) -> Step {
    Step { step, status, detail: detail.into() }
}

/// Verifies backup `id` in `store` and opens the verified snapshot as a stream (decrypted with `identities` when
/// the backup is encrypted), for [`Client::raft_snapshot_restore`]. Nothing is held in memory but a few chunks
/// in flight: the data is read a second time from the store, hashed on the way, and the stream ends in an error
/// instead of its last chunk when the bytes differ from those verified (the store changed in between), so the
/// server never accepts them.
pub async fn open_verified(
    store: &Store,
    id: &str,
    identities: &[Identity],
) -> Result<(VerifyReport, SnapshotStream), RestoreError> {
    let report = verify::verify(store, id, identities).await?;
    if !report.ok() {
        return Err(RestoreError::Unverified { id: id.to_owned(), problems: report.problems });
    }
    if !report.archive_checked {
        return Err(RestoreError::Keys(format!(
            "{id} is encrypted: pass --identity FILE with the age private key it was encrypted to"
        )));
    }
    let data_name = report.manifest.as_ref().map_or_else(|| manifest::data_name(id), Manifest::data_file);
    let progress = Progress::new(Some(report.size), Unit::Bytes, "restoring the backup");
    let stored = checked(store.open_read(&data_name).await?, report.sha256.clone(), progress);
    let stream = if report.encrypted { decrypted(stored, identities.to_vec(), id.to_owned()) } else { stored };
    Ok((report, stream))
}

/// The chunks of `stream`, hashed (and counted on `progress`) as they pass; ends with an error when the SHA-256
/// is not `expected`.
fn checked(stream: ByteStream, expected: String, progress: Progress) -> SnapshotStream {
    let state = Some((stream, Sha256::new(), expected, progress));
    Box::pin(futures_util::stream::unfold(state, |state| async move {
        let (mut stream, mut hasher, expected, progress) = state?;
        match stream.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                progress.inc(chunk.len() as u64);
                Some((Ok(chunk), Some((stream, hasher, expected, progress))))
            }
            Some(Err(error)) => Some((Err(error), None)),
            None if hex::encode(hasher.finalize()) == expected => {
                progress.finish();
                None
            }
            None => Some((Err(std::io::Error::other("the backup changed between verification and the restore")), None)),
        }
    }))
}

/// Bytes per chunk of decrypted snapshot.
const CHUNK: usize = 256 * 1024;

/// The plaintext of the age-encrypted `stream`: decrypted on a blocking thread between two small channels, so
/// memory stays a few chunks whatever the snapshot's size.
fn decrypted(mut stream: SnapshotStream, identities: Vec<Identity>, id: String) -> SnapshotStream {
    let (cipher_tx, cipher_rx) = mpsc::channel::<Bytes>(4);
    let (plain_tx, plain_rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let errors = plain_tx.clone();
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    if cipher_tx.send(chunk).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    // Sent before the decryption can see the end, so the upload fails rather than ends.
                    let _ = errors.send(Err(error)).await;
                    return;
                }
            }
        }
    });
    tokio::task::spawn_blocking(move || {
        let mut plain = match crypto::decrypt(ChannelReader::new(cipher_rx), &identities) {
            Ok(plain) => plain,
            Err(e) => {
                let _ = plain_tx.blocking_send(Err(std::io::Error::other(format!("cannot decrypt {id}: {e}"))));
                return;
            }
        };
        loop {
            let mut buf = vec![0u8; CHUNK];
            let item = match std::io::Read::read(&mut plain, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(std::io::Error::other(format!("cannot decrypt {id}: {e}"))),
            };
            let failed = item.is_err();
            if plain_tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    Box::pin(futures_util::stream::unfold(plain_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// Restores into the server or the raft cluster `targets` are configured for (one client per node, each with a
/// token valid on the target now). The snapshot goes to the target's active node, whichever node is given first;
/// then every node must seal itself, because the keyring is now the source's on all of them, and each is unsealed
/// with the source's shares. A node that cannot be reached stops the run with every other node done: once it is
/// back, `--resume` unseals what is still sealed.
pub async fn restore(
    targets: &[Client],
    store: &Store,
    id: &str,
    options: &RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    let Some(first) = targets.first() else {
        return Err(RestoreError::Keys("no target given: pass --to ADDR (once per node of a cluster)".into()));
    };
    let mut steps = Vec::new();
    let vault = |step: &str| {
        let step = step.to_owned();
        move |source| RestoreError::Vault { step, source }
    };
    let bare: Vec<Client> = targets.iter().map(|t| client_without_token(t.config())).collect::<Result<_, _>>()?;
    let names: Vec<&str> = targets.iter().map(Client::address).collect();
    let all = names.join(", ");
    let again = if options.resume { "run restore again with --resume" } else { "run restore again" };
    // Before the upload every node must answer: one that missed the restore would keep the old keyring. On
    // --resume the snapshot is in, so the nodes that answer are unsealed (the cluster regains its quorum) and
    // the one that does not is reported at the end.
    let mut before = Vec::new();
    let mut unreachable = None;
    for node in &bare {
        let address = node.address();
        match node.seal_status().await {
            Ok(status) => before.push(Some(status)),
            Err(source) if options.resume && source.exit() == vault_core::Exit::Unavailable => {
                before.push(None);
                unreachable.get_or_insert((address.to_owned(), source));
            }
            Err(source) => {
                return Err(RestoreError::Vault {
                    step: format!(
                        "cannot read the seal status of {address}: every node given with --to must answer; once it \
                         does, {again}"
                    ),
                    source,
                });
            }
        }
    }
    let mut manifest: Option<Manifest> = None;
    if options.resume {
        steps.push(step("upload", "skipped", "--resume: the snapshot was restored before the restart"));
        manifest = crate::catalog::read_manifest(store, &manifest::manifest_name(id)).await.ok();
    } else {
        let (report, snapshot) = open_verified(store, id, &options.identities).await?;
        let raft = report.raft.clone().unwrap_or_default();
        steps.push(step(
            "verify",
            "ok",
            format!("{} ({} bytes, raft index {} term {})", report.location, report.size, raft.index, raft.term),
        ));
        manifest = report.manifest.clone().or(manifest);
        // snapshot-force only works on the active node (a standby redirects it, and a streamed body cannot
        // follow a redirect): upload there.
        let active = crate::save::active_node(first)
            .await
            .map_err(vault(&format!("cannot find the active node of {}", first.address())))?;
        let address = active.address().to_owned();
        active
            .raft_snapshot_restore(snapshot, true)
            .await
            .map_err(vault(&format!("{address} refused the snapshot")))?;
        steps.push(step("upload", "ok", format!("snapshot-force into {address}")));
        for node in &bare {
            if !node.wait_until_sealed(WAIT).await {
                return Err(RestoreError::Timeout(format!(
                    "{} did not seal itself after the restore within {}s",
                    node.address(),
                    WAIT.as_secs()
                )));
            }
        }
        let sealed = if bare.len() == 1 { "the target sealed itself" } else { "every node sealed itself" };
        steps.push(step("sealed", "ok", format!("{sealed}: it now needs the source's unseal keys")));
    }

    let source_seal = manifest.as_ref().and_then(|m| m.seal.clone());
    if !options.resume
        && let Some(seal) = &source_seal
        && let Some(differ) = before.iter().flatten().find(|b| seal.shares != b.shares || seal.threshold != b.threshold)
    {
        let what = if bare.len() == 1 {
            "the target's server process".to_owned()
        } else {
            format!("the server process of every node ({all})")
        };
        steps.push(step(
            "restart",
            "pending",
            format!(
                "the source had {} shares (threshold {}), the target {} (threshold {}): restart {what} \
                 (systemctl restart vault), then run restore again with --resume and the source's key files",
                seal.shares, seal.threshold, differ.shares, differ.threshold
            ),
        ));
        return Ok(RestoreOutcome { steps, secrets_read: 0, secrets_failed: 0, pending: true });
    }

    if options.key_files.is_empty() {
        let needed =
            source_seal.map_or_else(|| "a threshold".to_owned(), |s| format!("{} of the {}", s.threshold, s.shares));
        steps.push(step(
            "unseal",
            "pending",
            format!("unseal {all} with {needed} key shares of the SOURCE (scripts/vault/unseal FILE…), then read a secret back"),
        ));
        return Ok(RestoreOutcome { steps, secrets_read: 0, secrets_failed: 0, pending: true });
    }
    let keys = read_keys(&options.key_files)?;
    for (node, before) in bare.iter().zip(&before) {
        let address = node.address();
        if before.is_none() {
            continue;
        }
        let status = match node.unseal_with(&keys).await {
            Ok(status) => status,
            Err(source) if source.exit() == vault_core::Exit::Unavailable => {
                // The others are unsealed first: the cluster keeps its quorum while this one is away.
                unreachable.get_or_insert((address.to_owned(), source));
                continue;
            }
            Err(source) => {
                return Err(RestoreError::Vault {
                    step: format!("unsealing {address} failed (are these shares of the SOURCE?)"),
                    source,
                });
            }
        };
        if status.sealed {
            return Err(RestoreError::Keys(format!(
                "{address} is still sealed after {} key shares ({} of {} needed): give more of the source's shares",
                keys.len(),
                status.progress,
                status.threshold
            )));
        }
    }
    if let Some((address, source)) = unreachable {
        return Err(RestoreError::Vault {
            step: format!(
                "cannot unseal {address}: the snapshot is in and the other nodes are unsealed; once {address} is back, \
                 run restore again with --resume and the same --to and key files"
            ),
            source,
        });
    }
    let keys_used = format!("{} of the source's key shares", keys.len());
    if bare.len() == 1 {
        steps.push(step("unseal", "ok", format!("unsealed with {keys_used}")));
    } else {
        steps.push(step("unseal", "ok", format!("{} nodes unsealed with {keys_used}", bare.len())));
    }
    let active = wait_cluster_active(&bare).await?;
    if bare.len() == 1 {
        steps.push(step("active", "ok", format!("{} is active", names[active])));
    } else {
        steps.push(step(
            "active",
            "ok",
            format!("{} is active, the {} others are unsealed standbys", names[active], bare.len() - 1),
        ));
    }

    let Some(token) = &options.check_token else {
        steps.push(step("check", "skipped", "no --check-token-file: read a secret back with a token of the source"));
        return Ok(RestoreOutcome { steps, secrets_read: 0, secrets_failed: 0, pending: false });
    };
    let mut config = targets[active].config().clone();
    config.auth = AuthConfig::Token { token: token.clone(), source: "--check-token-file".into() };
    let checker = Client::new(config).map_err(vault("cannot build the check client"))?;
    let paths = if options.check_paths.is_empty() { vec!["secret/".to_owned()] } else { options.check_paths.clone() };
    let (read, failed) = read_back(&checker, &paths, options.check_limit).await?;
    steps.push(step(
        "check",
        if failed == 0 { "ok" } else { "failed" },
        format!("{read} secrets read back under {}, {failed} failed", paths.join(", ")),
    ));
    Ok(RestoreOutcome { steps, secrets_read: read, secrets_failed: failed, pending: false })
}

/// Waits until every node of `nodes` is unsealed and one of them is active (a node says standby for a moment
/// after its unseal, and a cluster elects its leader once a quorum is unsealed); returns the active one's index.
async fn wait_cluster_active(nodes: &[Client]) -> Result<usize, RestoreError> {
    use vault_core::sys::NodeState;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut active = None;
        let mut settled = true;
        for (index, node) in nodes.iter().enumerate() {
            match node.health().await.map(|health| health.state) {
                Ok(NodeState::Active) => active = Some(index),
                Ok(NodeState::Standby | NodeState::PerformanceStandby) => {}
                _ => settled = false,
            }
        }
        if settled && let Some(active) = active {
            return Ok(active);
        }
        if tokio::time::Instant::now() > deadline {
            let names: Vec<&str> = nodes.iter().map(Client::address).collect();
            return Err(RestoreError::Timeout(format!(
                "{} did not become one active node and unsealed standbys within {}s",
                names.join(", "),
                WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads every secret (up to `limit`, 0 = all) under `paths`, 16 at a time; returns (read, failed).
pub async fn read_back(client: &Client, paths: &[String], limit: usize) -> Result<(usize, usize), RestoreError> {
    let mut targets = Vec::new();
    for path in paths {
        let folder_text = if path.ends_with('/') { path.clone() } else { format!("{path}/") };
        let folder = client
            .kv_path(&folder_text)
            .await
            .map_err(|source| RestoreError::Vault { step: format!("cannot resolve {path}"), source })?;
        let secrets = client
            .kv_list_recursive(&folder)
            .await
            .map_err(|source| RestoreError::Vault { step: format!("cannot list {path}"), source })?;
        for secret in secrets {
            targets.push(
                folder
                    .join(&secret)
                    .map_err(|source| RestoreError::Vault { step: format!("bad secret path under {path}"), source })?,
            );
        }
    }
    if limit > 0 {
        targets.truncate(limit);
    }
    let results: Vec<bool> = futures_util::stream::iter(targets)
        .map(|path| async move {
            let ok = client.kv_read(&path, None).await.is_ok();
            if !ok {
                tracing::warn!("cannot read {path} back");
            }
            ok
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let read = results.iter().filter(|ok| **ok).count();
    Ok((read, results.len() - read))
}

/// A client for the same server without a token, for the unauthenticated seal endpoints: the target's own token
/// dies with its data when the snapshot replaces it.
pub fn client_without_token(config: &Config) -> Result<Client, RestoreError> {
    let mut config = config.clone();
    config.auth = AuthConfig::None;
    Client::new(config).map_err(|source| RestoreError::Vault { step: "cannot build a client".into(), source })
}

/// Reads unseal key shares: each file holds one share per line, or is the JSON of `bao operator init -format=json`
/// (`unseal_keys_b64`) or of `sys/init` (`keys_base64`).
pub fn read_keys(files: &[PathBuf]) -> Result<Vec<SecretString>, RestoreError> {
    let mut keys = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map(SecretString::new)
            .map_err(|e| RestoreError::Keys(format!("cannot read the key file {}: {e}", file.display())))?;
        let trimmed = text.expose().trim();
        if trimmed.starts_with('{') {
            let mut value: serde_json::Value = serde_json::from_str(trimmed)
                .map_err(|_| RestoreError::Keys(format!("{}: not valid JSON", file.display())))?;
            let list = ["unseal_keys_b64", "keys_base64"]
                .iter()
                .find_map(|k| value.get(k).and_then(|v| v.as_array()).cloned());
            vault_core::secret::zeroize_json(&mut value);
            let Some(list) = list else {
                return Err(RestoreError::Keys(format!("{}: no unseal_keys_b64 or keys_base64 list", file.display())));
            };
            keys.extend(list.into_iter().map(vault_core::secret::secret_from_json));
        } else {
            keys.extend(trimmed.lines().map(str::trim).filter(|l| !l.is_empty()).map(SecretString::from));
        }
    }
    if keys.is_empty() {
        return Err(RestoreError::Keys("the key files hold no key shares".into()));
    }
    Ok(keys)
}

/// Waits until `sys/health` says active (it says standby for a moment after an unseal).
pub async fn wait_active(client: &Client) -> Result<(), RestoreError> {
    match client.wait_until_active(WAIT).await {
        Ok(vault_core::sys::NodeState::Active) => Ok(()),
        _ => {
            Err(RestoreError::Timeout(format!("{} did not become active within {}s", client.address(), WAIT.as_secs())))
        }
    }
}
