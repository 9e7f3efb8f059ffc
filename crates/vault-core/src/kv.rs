//! KV version 2: paths users cannot get wrong, reads (latest or a version), check-and-set writes, merge-patches,
//! lists (and a recursive walk), metadata with `custom_metadata`, delete/undelete/destroy, and the read cache.
//!
//! Paths are written as users think of them, `secret/app/db`: the mount, then the secret's path inside it. The
//! API's own form, `secret/data/app/db`, is accepted too and means the same secret, because users copy it from
//! policies and curl commands. (A secret whose own path starts with `data/` can still be named exactly with
//! [`KvPath::new`].) The client asks the server which mount a path is under, so nested mounts such as
//! `kv/team-a/app` work, and it refuses a KV version 1 mount with a clear message instead of writing to the wrong
//! place.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use vaultrs::api::kv2::requests as kv2;

use crate::client::{Client, Op, consistency};
use crate::error::{Error, Result};
use crate::secret::{SecretString, secret_from_json, zeroize_json};

/// A secret's data: key → value. Non-string JSON values are held as their compact JSON text.
pub type SecretMap = BTreeMap<String, SecretString>;

/// Where a KV v2 secret lives: its mount and its path inside the mount.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KvPath {
    mount: String,
    path: String,
}

impl KvPath {
    /// A path inside a mount, taken exactly as given (no `data/` stripping). An empty `path` names the mount's
    /// root, which only listing accepts.
    pub fn new(mount: &str, path: &str) -> Result<Self> {
        let mount = mount.trim_matches('/');
        let path = path.trim_start_matches('/');
        validate("mount", mount, false)?;
        validate("path", path.trim_end_matches('/'), true)?;
        Ok(Self { mount: mount.to_owned(), path: path.to_owned() })
    }

    /// Parses `mount/path` where the mount is the first segment; `mount/data/path` and `mount/metadata/path`
    /// (the API's forms) mean `mount/path`. Use [`Client::kv_path`] to let the server say where the mount ends.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim_start_matches('/');
        validate("path", text.trim_end_matches('/'), false)?;
        let (mount, rest) = text.split_once('/').unwrap_or((text, ""));
        Self::new(mount, strip_api_prefix(rest))
    }

    /// The mount, without slashes (`secret`).
    pub fn mount(&self) -> &str {
        &self.mount
    }

    /// The path inside the mount (`app/db`); ends with `/` for a folder.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A path below this one.
    pub fn join(&self, child: &str) -> Result<Self> {
        let base = self.path.trim_end_matches('/');
        let joined = if base.is_empty() { child.to_owned() } else { format!("{base}/{child}") };
        Self::new(&self.mount, &joined)
    }

    /// Whether this names a folder (ends with `/`) or the mount's root.
    pub fn is_folder(&self) -> bool {
        self.path.is_empty() || self.path.ends_with('/')
    }

    fn api(&self, kind: &str) -> String {
        format!("{}/{kind}/{}", self.mount, self.path)
    }

    fn require_secret(&self) -> Result<()> {
        if self.is_folder() {
            return Err(Error::Config(format!("{self} names a folder, not a secret")));
        }
        Ok(())
    }
}

impl fmt::Display for KvPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { write!(f, "{}/", self.mount) } else { write!(f, "{}/{}", self.mount, self.path) }
    }
}

impl Serialize for KvPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn strip_api_prefix(rest: &str) -> &str {
    rest.strip_prefix("data/").or_else(|| rest.strip_prefix("metadata/")).unwrap_or(rest)
}

/// Rejects what Vault would misread or a user surely did not mean: empty segments (`a//b`), `.` and `..`,
/// control characters, and surrounding whitespace.
fn validate(what: &str, text: &str, allow_empty: bool) -> Result<()> {
    let bad = |why: &str| Err(Error::Config(format!("invalid KV {what} {}: {why}", crate::client::shorten(text))));
    if text.len() > crate::client::MAX_PATH_LEN {
        return bad(&format!("it is {} bytes long; at most {} are accepted", text.len(), crate::client::MAX_PATH_LEN));
    }
    if text.is_empty() {
        return if allow_empty { Ok(()) } else { bad("it is empty") };
    }
    if text.trim() != text {
        return bad("it starts or ends with whitespace");
    }
    if text.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    for segment in text.split('/') {
        match segment {
            "" => return bad("it has an empty segment (//)"),
            "." | ".." => return bad("it has a . or .. segment"),
            _ => {}
        }
    }
    Ok(())
}

/// A mount as the server describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount's path without slashes.
    pub path: String,
    /// The KV version (1 or 2).
    pub version: u8,
}

/// A secret version: its data and metadata.
#[derive(Clone, Debug)]
pub struct KvSecret {
    /// The values.
    pub data: SecretMap,
    /// The version's metadata.
    pub metadata: VersionMetadata,
}

/// Metadata of one version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMetadata {
    /// The version number.
    pub version: u64,
    /// When it was written (RFC 3339).
    #[serde(default)]
    pub created_time: String,
    /// When it was soft-deleted, empty when it was not.
    #[serde(default)]
    pub deletion_time: String,
    /// Whether it was destroyed.
    #[serde(default)]
    pub destroyed: bool,
    /// The secret's custom metadata (KV v2 returns it with each read).
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_metadata: BTreeMap<String, String>,
}

/// A secret's metadata: versions and settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMetadata {
    /// The newest version.
    pub current_version: u64,
    /// The oldest version kept.
    pub oldest_version: u64,
    /// How many versions are kept (0: the mount's default).
    pub max_versions: u64,
    /// Whether writes must use check-and-set.
    pub cas_required: bool,
    /// How long versions live (`0s`: forever).
    #[serde(default)]
    pub delete_version_after: String,
    /// When the secret was first written.
    #[serde(default)]
    pub created_time: String,
    /// When it last changed.
    #[serde(default)]
    pub updated_time: String,
    /// Free-form key/value metadata (provenance, rotation state, …).
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_metadata: BTreeMap<String, String>,
    /// Each version's state, by number.
    #[serde(default)]
    pub versions: BTreeMap<u64, VersionState>,
}

/// The state of one version in [`KvMetadata`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionState {
    /// When it was written.
    #[serde(default)]
    pub created_time: String,
    /// When it was soft-deleted, empty when it was not.
    #[serde(default)]
    pub deletion_time: String,
    /// Whether it was destroyed.
    #[serde(default)]
    pub destroyed: bool,
}

/// Changes to a secret's metadata; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MetadataUpdate {
    /// Versions to keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u64>,
    /// Require check-and-set on writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Version lifetime, e.g. `720h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_version_after: Option<String>,
    /// Replaces the whole custom metadata map (use [`Client::kv_patch_metadata`] to merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn to_json(data: &SecretMap) -> serde_json::Value {
    serde_json::Value::Object(
        data.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.expose().to_owned()))).collect(),
    )
}

fn from_json(path: &KvPath, value: serde_json::Value) -> Result<SecretMap> {
    match value {
        serde_json::Value::Object(map) => Ok(map.into_iter().map(|(k, v)| (k, secret_from_json(v))).collect()),
        serde_json::Value::Null => Ok(SecretMap::new()),
        mut other => {
            zeroize_json(&mut other);
            Err(Error::Response { path: path.to_string(), detail: "the secret's data is not an object".into() })
        }
    }
}

impl Client {
    /// Resolves a user's path against the server's mounts: the longest mount that prefixes it (asked of the
    /// server once per mount, through `sys/internal/ui/mounts`), falling back to the first segment when the
    /// server will not say. Refuses KV version 1 mounts and non-KV mounts.
    pub async fn kv_path(&self, text: &str) -> Result<KvPath> {
        let text = text.trim_start_matches('/');
        let known = {
            let mounts = self.inner_mounts().lock().expect("mount cache poisoned");
            mounts
                .values()
                .filter(|m| text == m.path || text.starts_with(&format!("{}/", m.path)))
                .max_by_key(|m| m.path.len())
                .cloned()
        };
        let mount = match known {
            Some(m) => m,
            None => {
                let api = format!("sys/internal/ui/mounts/{text}");
                match self.read_data::<UiMount>(Method::GET, &api, None).await {
                    Ok(m) if m.path.is_empty() => first_segment_mount(text),
                    Ok(m) => {
                        if m.kind != "kv" && m.kind != "generic" {
                            return Err(Error::Config(format!(
                                "{text} is under a {} mount ({}/), not a KV mount",
                                m.kind,
                                m.path.trim_end_matches('/')
                            )));
                        }
                        let version = m.options.and_then(|o| o.version).map_or(1, |v| if v == "2" { 2 } else { 1 });
                        MountInfo { path: m.path.trim_end_matches('/').to_owned(), version }
                    }
                    Err(
                        Error::PermissionDenied { .. }
                        | Error::NotFound { .. }
                        | Error::InvalidRequest { .. }
                        | Error::Auth { .. },
                    ) => first_segment_mount(text),
                    Err(other) => return Err(other),
                }
            }
        };
        if mount.version != 2 {
            return Err(Error::Config(format!(
                "the mount {}/ is KV version 1; these tools need version 2 (`bao kv enable-versioning {}/`)",
                mount.path, mount.path
            )));
        }
        self.inner_mounts().lock().expect("mount cache poisoned").insert(mount.path.clone(), mount.clone());
        let rest = text.strip_prefix(&mount.path).unwrap_or("").trim_start_matches('/');
        KvPath::new(&mount.path, strip_api_prefix(rest))
    }

    /// Reads the latest version, or `version`. Served from the cache when it is on and fresh.
    pub async fn kv_read(&self, path: &KvPath, version: Option<u64>) -> Result<Arc<KvSecret>> {
        path.require_secret()?;
        if let Some(cached) = self.cache().and_then(|c| c.get(&path.mount, &path.path, version)) {
            return Ok(cached);
        }
        let shown = path.to_string();
        let op = Op::new("read", &shown);
        // The hot path of every tool and of the Dagster resource: one request, its answer read straight into
        // these two fields (no vaultrs endpoint, no JSON tree of the whole answer).
        #[derive(Deserialize)]
        struct Read {
            #[serde(default)]
            data: serde_json::Value,
            metadata: VersionMetadata,
        }
        let api = path.api("data");
        let response: Read = self
            .execute(op, |session| {
                let api = &api;
                async move {
                    let mut url = self.api_url(api);
                    if let Some(version) = version {
                        url.query_pairs_mut().append_pair("version", &version.to_string());
                    }
                    self.send_for_data(self.http_request_to(Method::GET, url, session.token.as_ref()), op).await
                }
            })
            .await?;
        let secret = Arc::new(KvSecret { data: from_json(path, response.data)?, metadata: response.metadata });
        if let Some(cache) = self.cache() {
            cache.put(&path.mount, &path.path, version, secret.clone());
        }
        Ok(secret)
    }

    /// Writes a new version holding exactly `data`. With `cas: Some(n)` the write succeeds only if the current
    /// version is `n` (`Some(0)`: only if the secret does not exist); a mismatch is [`Error::CasConflict`].
    pub async fn kv_write(&self, path: &KvPath, data: &SecretMap, cas: Option<u64>) -> Result<VersionMetadata> {
        path.require_secret()?;
        let shown = path.to_string();
        let op = Op::new("write", &shown);
        let cas = cas
            .map(|c| u32::try_from(c).map_err(|_| Error::Config(format!("check-and-set version {c} is out of range"))))
            .transpose()?;
        let result = self
            .execute(op, |s| async move {
                let mut body = to_json(data);
                let request = kv2::SetSecretRequest {
                    mount: path.mount.clone(),
                    path: path.path.clone(),
                    data: body.take(),
                    options: cas.map(|cas| kv2::SetSecretRequestOptions { cas }),
                };
                let result = consistency::exec_with_result(s.vault(), self.read_index(), request).await;
                result.map_err(|e| self.map_vaultrs(e, op))
            })
            .await;
        self.invalidate(path);
        let written = result?;
        Ok(VersionMetadata {
            version: written.version,
            created_time: written.created_time,
            deletion_time: written.deletion_time,
            destroyed: written.destroyed,
            custom_metadata: written.custom_metadata.unwrap_or_default().into_iter().collect(),
        })
    }

    /// Merges `data` into the latest version (JSON merge-patch: keys not named stay as they are), creating a new
    /// version. Fails with [`Error::NotFound`] when the secret does not exist. `cas` as for [`Client::kv_write`].
    pub async fn kv_patch(&self, path: &KvPath, data: &SecretMap, cas: Option<u64>) -> Result<VersionMetadata> {
        path.require_secret()?;
        let shown = path.to_string();
        let mut body = serde_json::json!({ "data": to_json(data) });
        if let Some(cas) = cas {
            body["options"] = serde_json::json!({ "cas": cas });
        }
        let mut bytes = zeroize::Zeroizing::new(serde_json::to_vec(&body).expect("JSON values serialize"));
        zeroize_json(&mut body);
        let api = path.api("data");
        let result = self
            .request_bytes(Method::PATCH, &api, Some(&bytes), "application/merge-patch+json", Op::new("patch", &shown))
            .await;
        zeroize::Zeroize::zeroize(&mut *bytes);
        self.invalidate(path);
        let answer = result?.unwrap_or_default();
        serde_json::from_value(answer.get("data").cloned().unwrap_or_default())
            .map_err(|e| Error::Response { path: shown, detail: format!("unexpected patch answer: {e}") })
    }

    /// Lists the keys directly under a folder: secrets by name, sub-folders with a trailing `/`. An empty or
    /// missing folder lists as empty.
    pub async fn kv_list(&self, folder: &KvPath) -> Result<Vec<String>> {
        let shown = folder.to_string();
        let op = Op::new("list", &shown);
        let listed = self
            .execute(op, |s| async move {
                let request = kv2::ListSecretsRequest { mount: folder.mount.clone(), path: folder.path.clone() };
                consistency::exec_with_result(s.vault(), self.read_index(), request)
                    .await
                    .map_err(|e| self.map_vaultrs(e, op))
            })
            .await;
        match listed {
            Ok(mut list) => {
                list.keys.sort();
                Ok(list.keys)
            }
            Err(Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Every secret below a folder, recursively, as paths relative to it, sorted. Folders are listed
    /// concurrently (at most 16 requests at once).
    pub async fn kv_list_recursive(&self, folder: &KvPath) -> Result<Vec<String>> {
        let root = folder.path.trim_end_matches('/');
        let mut secrets = Vec::new();
        let mut pending = vec![String::new()];
        while !pending.is_empty() {
            let level: Vec<Result<(String, Vec<String>)>> = futures_util::stream::iter(pending.drain(..))
                .map(|relative: String| async move {
                    let full = match (root.is_empty(), relative.is_empty()) {
                        (true, _) => relative.clone(),
                        (false, true) => format!("{root}/"),
                        (false, false) => format!("{root}/{relative}"),
                    };
                    let keys = self.kv_list(&KvPath::new(&folder.mount, &full)?).await?;
                    Ok((relative, keys))
                })
                .buffer_unordered(16)
                .collect()
                .await;
            for result in level {
                let (relative, keys) = result?;
                for key in keys {
                    let child = format!("{relative}{key}");
                    if key.ends_with('/') { pending.push(child) } else { secrets.push(child) }
                }
            }
        }
        secrets.sort();
        Ok(secrets)
    }

    /// Reads a secret's metadata.
    pub async fn kv_metadata(&self, path: &KvPath) -> Result<KvMetadata> {
        path.require_secret()?;
        let shown = path.to_string();
        let op = Op::new("read metadata", &shown);
        let m = self
            .execute(op, |s| async move {
                let request = kv2::ReadSecretMetadataRequest { mount: path.mount.clone(), path: path.path.clone() };
                consistency::exec_with_result(s.vault(), self.read_index(), request)
                    .await
                    .map_err(|e| self.map_vaultrs(e, op))
            })
            .await?;
        Ok(KvMetadata {
            current_version: m.current_version,
            oldest_version: m.oldest_version,
            max_versions: m.max_versions,
            cas_required: m.cas_required,
            delete_version_after: m.delete_version_after,
            created_time: m.created_time,
            updated_time: m.updated_time,
            custom_metadata: m.custom_metadata.unwrap_or_default().into_iter().collect(),
            versions: m
                .versions
                .into_iter()
                .filter_map(|(v, s)| {
                    let state = VersionState {
                        created_time: s.created_time,
                        deletion_time: s.deletion_time,
                        destroyed: s.destroyed,
                    };
                    v.parse().ok().map(|v| (v, state))
                })
                .collect(),
        })
    }

    /// Writes metadata settings; `custom_metadata`, when given, replaces the whole map. Creates the metadata of
    /// a secret that has no version yet.
    pub async fn kv_write_metadata(&self, path: &KvPath, update: &MetadataUpdate) -> Result<()> {
        path.require_secret()?;
        let shown = path.to_string();
        let op = Op::new("write metadata", &shown);
        let result = self
            .execute(op, |s| async move {
                let request = kv2::SetSecretMetadataRequest {
                    mount: path.mount.clone(),
                    path: path.path.clone(),
                    max_versions: update.max_versions,
                    cas_required: update.cas_required,
                    delete_version_after: update.delete_version_after.clone(),
                    custom_metadata: update.custom_metadata.as_ref().map(|m| m.clone().into_iter().collect()),
                };
                consistency::exec_with_empty(s.vault(), self.read_index(), request)
                    .await
                    .map_err(|e| self.map_vaultrs(e, op))
            })
            .await;
        self.invalidate(path);
        result
    }

    /// Merges keys into `custom_metadata` (others stay); a `None` value removes that key.
    pub async fn kv_patch_metadata(&self, path: &KvPath, custom: &BTreeMap<String, Option<String>>) -> Result<()> {
        path.require_secret()?;
        let shown = path.to_string();
        let body =
            serde_json::to_vec(&serde_json::json!({ "custom_metadata": custom })).expect("JSON values serialize");
        let api = path.api("metadata");
        let result = self
            .request_bytes(
                Method::PATCH,
                &api,
                Some(&body),
                "application/merge-patch+json",
                Op::new("patch metadata", &shown),
            )
            .await;
        self.invalidate(path);
        result.map(drop)
    }

    /// Soft-deletes the latest version (undelete brings it back).
    pub async fn kv_delete(&self, path: &KvPath) -> Result<()> {
        path.require_secret()?;
        let shown = path.to_string();
        let op = Op::new("delete", &shown);
        let result = self
            .execute(op, |s| async move {
                let request =
                    kv2::DeleteLatestSecretVersionRequest { mount: path.mount.clone(), path: path.path.clone() };
                consistency::exec_with_empty(s.vault(), self.read_index(), request)
                    .await
                    .map_err(|e| self.map_vaultrs(e, op))
            })
            .await;
        self.invalidate(path);
        result
    }

    /// Soft-deletes the given versions.
    pub async fn kv_delete_versions(&self, path: &KvPath, versions: &[u64]) -> Result<()> {
        self.versions_call(path, versions, "delete versions", "delete").await
    }

    /// Restores soft-deleted versions.
    pub async fn kv_undelete(&self, path: &KvPath, versions: &[u64]) -> Result<()> {
        self.versions_call(path, versions, "undelete", "undelete").await
    }

    /// Destroys versions for good (their data cannot be recovered).
    pub async fn kv_destroy(&self, path: &KvPath, versions: &[u64]) -> Result<()> {
        self.versions_call(path, versions, "destroy", "destroy").await
    }

    /// Deletes the secret's metadata and every version, for good.
    pub async fn kv_delete_all(&self, path: &KvPath) -> Result<()> {
        path.require_secret()?;
        let shown = path.to_string();
        let op = Op::new("delete all versions", &shown);
        let result = self
            .execute(op, |s| async move {
                let request = kv2::DeleteSecretMetadataRequest { mount: path.mount.clone(), path: path.path.clone() };
                consistency::exec_with_empty(s.vault(), self.read_index(), request)
                    .await
                    .map_err(|e| self.map_vaultrs(e, op))
            })
            .await;
        self.invalidate(path);
        result
    }

    async fn versions_call(&self, path: &KvPath, versions: &[u64], operation: &str, endpoint: &str) -> Result<()> {
        path.require_secret()?;
        if versions.is_empty() {
            return Err(Error::Config(format!("{operation} {path}: no versions given")));
        }
        let shown = path.to_string();
        let body = serde_json::json!({ "versions": versions });
        let result = self
            .request_bytes(
                Method::POST,
                &path.api(endpoint),
                Some(&serde_json::to_vec(&body).expect("JSON values serialize")),
                "application/json",
                Op::new(operation, &shown),
            )
            .await;
        self.invalidate(path);
        result.map(drop)
    }

    fn invalidate(&self, path: &KvPath) {
        if let Some(cache) = self.cache() {
            cache.invalidate(&path.mount, &path.path);
        }
    }
}

#[derive(Deserialize)]
struct UiMount {
    #[serde(default)]
    path: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    options: Option<UiMountOptions>,
}

#[derive(Deserialize)]
struct UiMountOptions {
    #[serde(default)]
    version: Option<String>,
}

/// When the server will not say which mount a path is under, assume the first segment and KV v2 (the default
/// layout), and let the first request report otherwise.
fn first_segment_mount(text: &str) -> MountInfo {
    MountInfo { path: text.split('/').next().unwrap_or_default().to_owned(), version: 2 }
}

/// The segments that follow a KV v2 mount in the API's own paths (`secret/data/app`, `secret/metadata/app`, …).
const KV2_API_SEGMENTS: [&str; 7] = ["data", "metadata", "delete", "undelete", "destroy", "subkeys", "config"];

/// The mount of `kv_mounts` that `path` is under (the longest, for nested mounts), and the rest after it.
fn split_kv_mount<'a>(path: &'a str, kv_mounts: &[String]) -> Option<(&'a str, &'a str)> {
    let path = path.trim_start_matches('/');
    kv_mounts
        .iter()
        .map(|m| m.trim_matches('/'))
        .filter(|m| !m.is_empty())
        .filter_map(|m| path.strip_prefix(m).and_then(|r| r.strip_prefix('/')).map(|rest| (&path[..m.len()], rest)))
        .max_by_key(|(m, _)| m.len())
}

/// For tools that read paths offline (policies, audit logs) and cannot ask the server which mounts are KV v2:
/// the API paths a logical KV v2 path (`secret/app/db`, as users and vault-env write it) stands for, given the
/// mounts taken to be KV v2. `data/` comes first (read, write, delete), then `metadata/` (list, metadata) and the
/// version operations. `None` when `path` is not under one of `kv_mounts` or already names an API path there
/// (`secret/data/app/db`).
pub fn kv2_api_forms(path: &str, kv_mounts: &[String]) -> Option<Vec<String>> {
    let (mount, rest) = split_kv_mount(path, kv_mounts)?;
    let first = rest.split('/').next().unwrap_or_default();
    if rest.is_empty() || KV2_API_SEGMENTS.contains(&first) {
        return None;
    }
    Some(
        ["data", "metadata", "delete", "undelete", "destroy", "subkeys"]
            .iter()
            .map(|kind| format!("{mount}/{kind}/{rest}"))
            .collect(),
    )
}

/// The API path a request on a logical KV v2 path goes to: `metadata/` for a list, `data/` otherwise. `None`
/// as for [`kv2_api_forms`].
pub fn kv2_api_path(path: &str, kv_mounts: &[String], list: bool) -> Option<String> {
    let forms = kv2_api_forms(path, kv_mounts)?;
    Some(forms[usize::from(list)].clone())
}

/// The other spellings of a KV v2 API path on one of `kv_mounts`: `secret/data/app` → `secret/metadata/app` and
/// the logical `secret/app` (and the other way round for `metadata/`). What a search that found nothing under one
/// form suggests; empty when `path` is not such an API path.
pub fn kv2_other_forms(path: &str, kv_mounts: &[String]) -> Vec<String> {
    let Some((mount, rest)) = split_kv_mount(path, kv_mounts) else { return Vec::new() };
    let Some((kind, inner)) = rest.split_once('/') else { return Vec::new() };
    match kind {
        "data" => vec![format!("{mount}/metadata/{inner}"), format!("{mount}/{inner}")],
        "metadata" => vec![format!("{mount}/data/{inner}"), format!("{mount}/{inner}")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn logical_kv2_paths_map_to_their_api_forms_offline() {
        let mounts = vec!["secret".to_owned(), "kv/team-a".to_owned()];
        let forms = kv2_api_forms("secret/dagster/x", &mounts).unwrap();
        assert_eq!(forms[..2], ["secret/data/dagster/x".to_owned(), "secret/metadata/dagster/x".to_owned()]);
        assert_eq!(kv2_api_path("secret/dagster/*", &mounts, false).unwrap(), "secret/data/dagster/*");
        assert_eq!(kv2_api_path("secret/dagster/", &mounts, true).unwrap(), "secret/metadata/dagster/");
        assert_eq!(kv2_api_path("kv/team-a/app", &mounts, false).unwrap(), "kv/team-a/data/app");
        // Already an API path, another mount, or the mount alone: left as given.
        assert_eq!(kv2_api_forms("secret/data/dagster/x", &mounts), None);
        assert_eq!(kv2_api_forms("database/creds/etl", &mounts), None);
        assert_eq!(kv2_api_forms("secretive/x", &mounts), None);
        assert_eq!(kv2_api_forms("secret/", &mounts), None);
        assert_eq!(kv2_api_forms("secret/x", &[]), None);
        assert_eq!(kv2_other_forms("secret/data/a/*", &mounts), ["secret/metadata/a/*", "secret/a/*"]);
        assert_eq!(kv2_other_forms("secret/metadata/a", &mounts), ["secret/data/a", "secret/a"]);
        assert!(kv2_other_forms("secret/a", &mounts).is_empty());
    }
    use super::*;

    #[test]
    fn parse_accepts_both_forms() {
        for text in ["secret/app/db", "/secret/app/db", "secret/data/app/db", "secret/metadata/app/db"] {
            let p = KvPath::parse(text).unwrap();
            assert_eq!((p.mount(), p.path()), ("secret", "app/db"), "{text}");
            assert_eq!(p.to_string(), "secret/app/db");
        }
        let exact = KvPath::new("secret", "data/app").unwrap();
        assert_eq!(exact.api("data"), "secret/data/data/app");
    }

    #[test]
    fn folders_and_joins() {
        let root = KvPath::parse("secret").unwrap();
        assert!(root.is_folder());
        assert_eq!(root.to_string(), "secret/");
        let folder = KvPath::parse("secret/app/").unwrap();
        assert!(folder.is_folder());
        assert_eq!(folder.join("db").unwrap().to_string(), "secret/app/db");
        assert_eq!(root.join("x").unwrap().to_string(), "secret/x");
    }

    #[test]
    fn rejects_paths_users_did_not_mean() {
        for text in ["", "secret//db", "secret/../sys", "secret/./x", "secret/a\nb", " secret/x", "secret/x "] {
            assert!(KvPath::parse(text).is_err(), "{text:?} should be refused");
        }
    }
}
