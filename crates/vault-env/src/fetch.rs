//! What `get`, `list` and `export` do before anything is printed: read one secret (and pick a key of it), list a
//! folder, and resolve a manifest's secrets for export with the token's revocation decided the way `run` decides
//! it. The command line only renders the results.

use std::path::Path;

use vault_core::{Client, KvPath, KvSecret, SecretString};

use crate::error::{Error, Result};
use crate::guard::AllowedNames;
use crate::manifest::Manifest;
use crate::secrets::{EnvSet, resolve_allowing};

/// One secret as `get` read it: the normalised path and the secret with its metadata.
#[derive(Debug)]
pub struct Fetched {
    /// The path, normalised (`secret/app/db`).
    pub path: KvPath,
    /// The data and the version's metadata.
    pub secret: std::sync::Arc<KvSecret>,
}

impl Fetched {
    /// The value of one key; a missing key is an error that lists the keys there are (names, never values).
    pub fn field(&self, key: &str) -> Result<&SecretString> {
        self.secret.data.get(key).ok_or_else(|| Error::NoKey {
            path: self.path.to_string(),
            key: key.to_owned(),
            keys: self.secret.data.keys().cloned().collect(),
        })
    }

    /// The whole secret as `get` prints it, values revealed: the caller zeroes it with
    /// [`vault_core::secret::zeroize_json`] once written.
    pub fn document(&self) -> serde_json::Value {
        let data = vault_core::secret::revealed_json(self.secret.data.iter().map(|(k, v)| (k.as_str(), v)));
        serde_json::json!({
            "path": self.path.to_string(),
            "version": self.secret.metadata.version,
            "created_time": self.secret.metadata.created_time,
            "custom_metadata": self.secret.metadata.custom_metadata,
            "data": data,
        })
    }
}

/// Reads the secret at `path` (a version, or the latest).
pub async fn get(client: &Client, path: &str, version: Option<u64>) -> Result<Fetched> {
    let path = client.kv_path(path).await?;
    let secret = client.kv_read(&path, version).await?;
    Ok(Fetched { path, secret })
}

/// The keys under the folder `prefix` (all of them below it with `recursive`), and the folder's path.
pub async fn list(client: &Client, prefix: &str, recursive: bool) -> Result<(KvPath, Vec<String>)> {
    let folder = client.kv_path(&format!("{}/", prefix.trim_end_matches('/'))).await?;
    let keys = if recursive { client.kv_list_recursive(&folder).await? } else { client.kv_list(&folder).await? };
    Ok((folder, keys))
}

/// Revokes a token vault-env logged in with (`own_token`), after a command that needs it no more; a failure is
/// a warning, since the token expires at its TTL anyway.
pub async fn revoke_own(client: &Client, own_token: bool) {
    client.revoke_after_run(own_token, "after the command").await;
}

/// Whether `export` writes to stdout: `-o -` or no `-o` when stdout is not a terminal. No `-o` on a terminal is
/// refused (secret values would land on the screen and in its scroll-back).
pub fn export_to_stdout(output: Option<&Path>, stdout_is_terminal: bool) -> std::result::Result<bool, String> {
    match output {
        Some(p) if p == Path::new("-") => Ok(true),
        Some(_) => Ok(false),
        None if stdout_is_terminal => Err(
            "refusing to print secret values to a terminal: use -o FILE (written 0600), or -o - to print them anyway"
                .to_owned(),
        ),
        None => Ok(true),
    }
}

/// The variables `export` writes. A token vault-env logged in with is revoked once they are read, unless
/// database credentials were among them: their lease belongs to the token and must outlive this process.
pub async fn export_env(
    client: &Client,
    manifest: &Manifest,
    allowed: &AllowedNames,
    own_token: bool,
) -> Result<EnvSet> {
    let env = match resolve_allowing(client, &manifest.secrets, &manifest.databases, allowed).await {
        Ok(env) => env,
        Err(error) => {
            revoke_own(client, own_token).await;
            return Err(error);
        }
    };
    if !manifest.databases.is_empty() && own_token {
        // Database credentials written to a file must outlive this process: their lease belongs to our token.
        tracing::warn!("database credentials were exported; the token is kept so their lease lives on until its TTL");
    } else {
        revoke_own(client, own_token).await;
    }
    Ok(env)
}
