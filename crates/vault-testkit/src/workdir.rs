//! The temporary directory each server owns (config, certificates, data, log).
//!
//! It is removed when the server is dropped, unless `VAULT_TESTKIT_KEEP=1`: then it stays for a post-mortem and its
//! path is printed on stderr, which the test harness shows for failing tests.

use std::path::Path;

use tempfile::TempDir;

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct WorkDir {
    // An `Option` so that `drop` can take the directory out to keep it.
    dir: Option<TempDir>,
}

impl WorkDir {
    pub(crate) fn new(kind: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("vault-testkit-{kind}-"))
            .tempdir()
            .map_err(|e| Error::io(format!("cannot create a temporary directory for the {kind} server"), e))?;
        Ok(WorkDir { dir: Some(dir) })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.as_ref().expect("the directory is only taken on drop").path()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("VAULT_TESTKIT_KEEP").is_some_and(|keep| keep == "1")
            && let Some(dir) = self.dir.take()
        {
            eprintln!("vault-testkit: kept {}", dir.keep().display());
        }
    }
}
