//! The environment variables a secret may not set unless the user allows them by name: the list lives in
//! `data/guarded-env.toml` (each entry says why), so it can be read, reviewed and extended without reading code.
//!
//! A secret's keys are written by whoever may write to that path in Vault, usually not the person who runs the
//! pipeline. Keys become environment names (`password` → `PASSWORD`), so a key called `bash_env` or
//! `ld_preload` would otherwise let a secret's writer run code in the pipeline's process.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde::Deserialize;

/// The list as shipped.
const GUARDED_TOML: &str = include_str!("../data/guarded-env.toml");

/// One entry of the list.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// An exact name, or a prefix ending in `*`.
    pub name: String,
    /// What the variable does, shown when a name is refused.
    pub why: String,
    /// Names this entry must match (checked by the tests).
    #[serde(default)]
    pub examples: Vec<String>,
    /// Names this entry must not match (checked by the tests).
    #[serde(default)]
    pub not: Vec<String>,
}

impl Guard {
    /// Whether `name` falls under this entry.
    pub fn matches(&self, name: &str) -> bool {
        match self.name.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.name,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    guard: Vec<Guard>,
}

static GUARDS: LazyLock<Vec<Guard>> = LazyLock::new(|| {
    // The file is compiled in and parsed by a unit test, so a failure here is a build defect, not user input.
    toml::from_str::<File>(GUARDED_TOML).expect("data/guarded-env.toml is checked by the tests").guard
});

/// Every guarded name or prefix, in the file's order.
pub fn guards() -> &'static [Guard] {
    &GUARDS
}

/// The entry that guards `name`, if any.
pub fn guard_for(name: &str) -> Option<&'static Guard> {
    GUARDS.iter().find(|g| g.matches(name))
}

/// Names the user allowed on the command line (`--allow-env NAME`, exact names).
#[derive(Clone, Debug, Default)]
pub struct AllowedNames(BTreeSet<String>);

impl AllowedNames {
    /// From the `--allow-env` values.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Self(names.into_iter().collect())
    }

    /// Why `name` may not be set, or `None` when it may (not guarded, or allowed by the user).
    pub fn refusal(&self, name: &str) -> Option<&'static Guard> {
        guard_for(name).filter(|_| !self.0.contains(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_its_examples_hold() {
        assert!(guards().len() > 40);
        for g in guards() {
            assert!(!g.why.is_empty(), "{} says why", g.name);
            let bare = g.name.trim_end_matches('*');
            assert!(g.matches(bare) || g.name.ends_with('*'), "{} matches itself", g.name);
            for e in &g.examples {
                assert!(g.matches(e), "{} should match {e}", g.name);
            }
            for n in &g.not {
                assert!(guard_for(n).is_none(), "{n} should not be guarded (by {})", g.name);
            }
        }
    }

    #[test]
    fn the_issue_s_names_are_all_guarded() {
        for name in [
            "PATH",
            "LD_PRELOAD",
            "DYLD_INSERT_LIBRARIES",
            "BASH_ENV",
            "ENV",
            "BASH_FUNC_x%%",
            "SHELLOPTS",
            "PS4",
            "IFS",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONHOME",
            "PYTHONINSPECT",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PERL5OPT",
            "PERL5LIB",
            "PERLLIB",
            "RUBYOPT",
            "RUBYLIB",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "CLASSPATH",
            "GCONV_PATH",
            "LOCPATH",
            "NLSPATH",
            "HOSTALIASES",
            "RES_OPTIONS",
            "LOCALDOMAIN",
            "SSLKEYLOGFILE",
            "GIT_SSH_COMMAND",
            "GIT_EXEC_PATH",
            "GIT_CONFIG_COUNT",
            "LESSOPEN",
            "PAGER",
            "EDITOR",
        ] {
            assert!(guard_for(name).is_some(), "{name} is not guarded");
        }
        for name in ["PASSWORD", "DB_PATH", "API_KEY", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "ENVIRONMENT"] {
            assert!(guard_for(name).is_none(), "{name} is guarded");
        }
    }

    #[test]
    fn allowing_is_by_exact_name() {
        let allowed = AllowedNames::new(["PYTHONPATH".to_owned()]);
        assert!(allowed.refusal("PYTHONPATH").is_none());
        assert!(allowed.refusal("PYTHONSTARTUP").is_some());
        assert!(allowed.refusal("PASSWORD").is_none());
    }

    #[test]
    fn the_docs_list_every_entry() {
        let docs = include_str!("../../../docs/vault-api.md");
        for g in guards() {
            assert!(docs.contains(&format!("`{}`", g.name)), "docs/vault-api.md does not list `{}`", g.name);
        }
    }
}
