//! Secrets engines (`sys/mounts`) and auth methods (`sys/auth`): what is mounted where, and enabling one.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::Result;

/// A mounted secrets engine or auth method.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Its type, e.g. `kv`, `approle`.
    #[serde(rename = "type", default)]
    pub mount_type: String,
    /// Its options (`version` for KV).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub options: BTreeMap<String, String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

impl Client {
    /// The secrets engines, by path (`secret/`, …).
    pub async fn mounts(&self) -> Result<BTreeMap<String, Mount>> {
        let answer = self.request(Method::GET, "sys/mounts", None).await?.unwrap_or_default();
        Ok(parse_mounts(&answer))
    }

    /// Mounts a secrets engine of `engine` type at `path` with `options` (e.g. `version = 2` for KV).
    pub async fn enable_mount(&self, path: &str, engine: &str, options: &BTreeMap<String, String>) -> Result<()> {
        let body = serde_json::json!({ "type": engine, "options": options });
        self.request(Method::POST, &format!("sys/mounts/{}", path.trim_matches('/')), Some(&body)).await.map(drop)
    }

    /// The auth methods, by path (`approle/`, `token/`, …).
    pub async fn auth_methods(&self) -> Result<BTreeMap<String, Mount>> {
        let answer = self.request(Method::GET, "sys/auth", None).await?.unwrap_or_default();
        Ok(parse_mounts(&answer))
    }

    /// Enables the auth method `method` at `path`.
    pub async fn enable_auth(&self, path: &str, method: &str) -> Result<()> {
        let body = serde_json::json!({ "type": method });
        self.request(Method::POST, &format!("sys/auth/{}", path.trim_matches('/')), Some(&body)).await.map(drop)
    }
}

/// The server answers `{"secret/": {…}, …}` and newer ones repeat the map under `data`; entries that are not
/// mounts (`request_id`, …) are skipped.
fn parse_mounts(answer: &serde_json::Value) -> BTreeMap<String, Mount> {
    let map = answer.get("data").filter(|d| d.is_object()).unwrap_or(answer);
    map.as_object()
        .into_iter()
        .flatten()
        .filter(|(path, mount)| path.ends_with('/') && mount.get("type").is_some())
        .filter_map(|(path, mount)| Some((path.clone(), serde_json::from_value(mount.clone()).ok()?)))
        .collect()
}
