//! `.env.example`: the variable names of a folder's env files with no values, so newcomers know what to set.
//! An existing example is refreshed, not replaced: its lines stay and missing names are appended.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::parse::EnvFile;

/// The example file's name.
pub const EXAMPLE: &str = ".env.example";

/// The variables a migrated app sets to read its secrets from Vault (vault-env, the Dagster resource), added to
/// every example so a newcomer sees how the app reaches Vault. File forms only: an example that invites
/// `VAULT_SECRET_ID=value` invites a committed credential.
pub const VAULT_VARS: [&str; 4] = ["VAULT_ADDR", "VAULT_CACERT", "VAULT_ROLE_ID_FILE", "VAULT_SECRET_ID_FILE"];

/// The comment above the `VAULT_*` names.
const VAULT_COMMENT: &str = "# How this app reaches Vault (vault-env, the Dagster resource): its address, the CA that \
signed its certificate, and the AppRole files deploy wrote (APPROLE_DIR/ROLE/role-id and secret-id)\n";

/// What was done for one folder.
#[derive(Clone, Debug, Serialize)]
pub struct ExampleOutcome {
    /// The example file.
    pub file: String,
    /// Names added.
    pub added: Vec<String>,
    /// Whether the file was created.
    pub created: bool,
}

/// The text of an example for `keys` (new file) or the lines to append to `existing`.
pub fn render(existing: Option<&EnvFile>, keys: &[String]) -> (String, Vec<String>) {
    let have: BTreeSet<&str> = existing.map(|f| f.entries.iter().map(|e| e.key.as_str()).collect()).unwrap_or_default();
    let missing: Vec<String> = keys.iter().filter(|k| !have.contains(k.as_str())).cloned().collect();
    let vault: Vec<String> = VAULT_VARS
        .iter()
        .filter(|k| !have.contains(*k) && !keys.iter().any(|key| key == *k))
        .map(|k| (*k).to_owned())
        .collect();
    let mut text = match existing {
        Some(f) => {
            let mut t = f.text.clone();
            if !missing.is_empty() || !vault.is_empty() {
                if !t.is_empty() && !t.ends_with('\n') {
                    t.push('\n');
                }
                t.push_str("# Added by env-migrate\n");
            }
            t
        }
        None => {
            "# Variables this project reads. Set values in your local .env or in Vault; never commit them.\n".into()
        }
    };
    for k in &missing {
        text.push_str(k);
        text.push_str("=\n");
    }
    if !vault.is_empty() {
        text.push_str(VAULT_COMMENT);
        for k in &vault {
            text.push_str(k);
            text.push_str("=\n");
        }
    }
    let mut added = missing;
    added.extend(vault);
    (text, added)
}

/// Creates or refreshes `.env.example` in the folder of each env file in `files`.
pub fn refresh(files: &[PathBuf], write: bool) -> Result<Vec<ExampleOutcome>, crate::parse::ParseError> {
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
    for f in files {
        let parsed = EnvFile::read(f)?;
        let dir = f.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let keys = by_dir.entry(dir).or_default();
        for e in &parsed.entries {
            if !keys.contains(&e.key) {
                keys.push(e.key.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (dir, keys) in by_dir {
        let path = dir.join(EXAMPLE);
        let existing = if path.is_file() { Some(EnvFile::read(&path)?) } else { None };
        let (text, added) = render(existing.as_ref(), &keys);
        if write && (existing.is_none() || !added.is_empty()) {
            crate::fsutil::atomic_write(&path, text.as_bytes(), 0o644)
                .map_err(|source| crate::parse::ParseError::Io { path: path.display().to_string(), source })?;
        }
        out.push(ExampleOutcome { file: path.display().to_string(), added, created: existing.is_none() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn a_new_example_names_the_vault_variables_after_the_apps_own() {
        let (text, added) = render(None, &keys(&["DB_PASSWORD"]));
        assert_eq!(
            added,
            keys(&["DB_PASSWORD", "VAULT_ADDR", "VAULT_CACERT", "VAULT_ROLE_ID_FILE", "VAULT_SECRET_ID_FILE"])
        );
        let db = text.find("DB_PASSWORD=\n").unwrap();
        let comment = text.find("# How this app reaches Vault").unwrap();
        assert!(db < comment, "{text}");
        for name in VAULT_VARS {
            assert!(text.contains(&format!("\n{name}=\n")), "{name}: {text}");
        }
        assert!(!text.contains("VAULT_SECRET_ID=") && !text.contains("VAULT_TOKEN"), "{text}");
    }

    #[test]
    fn vault_names_already_present_are_not_repeated() {
        let existing =
            EnvFile::parse_bytes(Path::new("x"), b"VAULT_ADDR=\nVAULT_CACERT=\nVAULT_ROLE_ID_FILE=\n".to_vec())
                .unwrap();
        let (text, added) = render(Some(&existing), &keys(&["VAULT_SECRET_ID_FILE"]));
        assert_eq!(added, keys(&["VAULT_SECRET_ID_FILE"]));
        assert_eq!(text.matches("VAULT_SECRET_ID_FILE=").count(), 1, "{text}");
        assert!(!text.contains("# How this app reaches Vault"), "{text}");
        let complete = EnvFile::parse_bytes(Path::new("x"), text.clone().into_bytes()).unwrap();
        let (again, added) = render(Some(&complete), &keys(&["VAULT_SECRET_ID_FILE"]));
        assert!(added.is_empty() && again == text, "refreshing twice changes nothing");
    }
}
