//! Writing secrets as a dotenv file, shell `export` lines or a JSON object — to a file created 0600 and renamed
//! into place (never half-written, never readable by others), or to stdout when the user asks for it.
//!
//! Quoting: dotenv values are single-quoted the way python-dotenv (which Dagster uses) reads them — literal, no
//! `${VAR}` expansion, with `\` and `'` escaped by a backslash; shell values are single-quoted POSIX-style
//! (`'` written as `'\''`), so `eval` and `source` give back exactly the value.

use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secrets::EnvSet;

/// The output formats of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// `NAME='value'` lines, as python-dotenv and docker compose read them
    Dotenv,
    /// `export NAME='value'` lines for `source` or `eval`
    Sh,
    /// One JSON object, `{"NAME": "value", …}`
    Json,
}

/// Renders the variables; the text holds the values and is zeroed when dropped.
pub fn render(env: &EnvSet, format: ExportFormat) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    match format {
        ExportFormat::Dotenv => {
            for (name, value) in env.iter() {
                out.push_str(name);
                out.push_str("='");
                for c in value.expose().chars() {
                    if c == '\\' || c == '\'' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push_str("'\n");
            }
        }
        ExportFormat::Sh => {
            for (name, value) in env.iter() {
                out.push_str("export ");
                out.push_str(name);
                out.push_str("='");
                out.push_str(&value.expose().replace('\'', "'\\''"));
                out.push_str("'\n");
            }
        }
        ExportFormat::Json => {
            let mut value = serde_json::Value::Object(vault_core::secret::revealed_json(env.iter()));
            out.push_str(&value.to_string());
            out.push('\n');
            vault_core::secret::zeroize_json(&mut value);
        }
    }
    out
}

/// Writes `bytes` to `file` with mode 0600: a temporary file in the same folder (created 0600), synced, then
/// renamed over `file`, so readers see the old file or the whole new one, and nobody else can read either.
///
/// A target that exists and is not a regular file (`/dev/stdout`, `/dev/null`, a FIFO) is written into as it is:
/// renaming over it would replace a device with a plain file.
pub fn write_private_file(file: &Path, bytes: &[u8]) -> Result<()> {
    use vault_core::fsutil::{Atomic, Mode};
    let io = |what: &'static str| move |source| Error::Io { what, file: file.to_owned(), source };
    if std::fs::metadata(file).is_ok_and(|m| !m.is_file()) {
        let mut target = std::fs::OpenOptions::new().write(true).open(file).map_err(io("cannot open"))?;
        return target.write_all(bytes).map_err(io("cannot write"));
    }
    let mut temp = Atomic::new(Mode::Exact(0o600))
        .prefix(".vault-env-")
        .create(file)
        .map_err(io("cannot create a temporary file beside"))?;
    temp.write_all(bytes).map_err(io("cannot write"))?;
    temp.commit().map_err(io("cannot rename into"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSet {
        let mut env = EnvSet::default();
        for (k, v) in pairs {
            env.insert((*k).to_owned(), (*v).into(), format!("test#{k}")).unwrap();
        }
        env
    }

    #[test]
    fn formats_quote_everything_literally() {
        let e = env(&[("A", "it's ${HOME} \\n"), ("B", "plain")]);
        assert_eq!(&*render(&e, ExportFormat::Dotenv), "A='it\\'s ${HOME} \\\\n'\nB='plain'\n");
        assert_eq!(&*render(&e, ExportFormat::Sh), "export A='it'\\''s ${HOME} \\n'\nexport B='plain'\n");
        let json: serde_json::Value = serde_json::from_str(&render(&e, ExportFormat::Json)).unwrap();
        assert_eq!(json["A"], "it's ${HOME} \\n");
    }

    #[test]
    fn private_files_are_0600_and_replace_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.env");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&file, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        // A device stays a device.
        write_private_file(Path::new("/dev/null"), b"x").unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }
}
