//! The policy file: `[[policy]]` entries, one per secret or path glob, each saying when a secret rotates
//! (schedule and window), how (strategy), how the new value is proven to work (verification), who is told
//! (hooks) and who owns it. Parsed first (TOML), then validated, with every problem reported as `FILE:LINE: …`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use toml::Spanned;

use crate::derive::Template;
use crate::schedule::{Cron, Schedule, Window, parse_duration};

/// One problem in a policy file, located by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the file could not be read at all).
    pub line: usize,
    /// What is wrong, as a lowercase fragment.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// A policy file that failed to load: every problem found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PolicyError(pub Vec<Diagnostic>);

/// Characters for generated values.
pub const ALPHANUMERIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Symbols that survive URLs, shells, `.env` files and connection strings without quoting.
pub const SAFE_SYMBOLS: &str = "-_.~+=";

/// How a secret is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// A random value written as a new KV v2 version.
    Generate(Generate),
    /// A user command that creates the credential at its provider and prints it.
    Command(CommandSpec),
    /// A database secrets engine static role.
    Database(DatabaseSpec),
}

impl Strategy {
    /// `generate`, `command` or `database`.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Generate(_) => "generate",
            Strategy::Command(_) => "command",
            Strategy::Database(_) => "database",
        }
    }
}

/// The `generate` strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generate {
    /// The key in the secret's data that gets the new value (other keys are kept).
    pub key: String,
    /// Where the value comes from.
    pub source: GenerateSource,
}

/// Where a generated value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenerateSource {
    /// `length` characters drawn uniformly from `chars` by the operating system's CSPRNG-seeded generator.
    Charset {
        /// The alphabet.
        chars: Vec<char>,
        /// How many characters.
        length: usize,
    },
    /// The server's password policy of this name (`sys/policies/password/NAME/generate`).
    PasswordPolicy(String),
}

/// A program and its arguments, never a shell string, with a time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Killed after this long.
    pub timeout: Duration,
}

impl fmt::Display for Argv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.argv.join(" "))
    }
}

/// The `command` strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command that makes the new credential.
    pub run: Argv,
}

/// The `database` strategy: a static role of the database secrets engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSpec {
    /// The engine's mount (`database`).
    pub mount: String,
    /// The static role's name.
    pub role: String,
    /// The connection (`database/config/NAME`) the role uses.
    pub db_name: String,
    /// The database user the role manages.
    pub username: String,
    /// The server's own rotation period for the role (at least 5 s).
    pub rotation_period: Duration,
    /// A built-in verification: log in with the new password through `psql`.
    pub connection_test: Option<ConnectionTest>,
}

/// Logging in with `psql` as the role's user: the password goes through a 0600 password file, never argv or env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionTest {
    /// A libpq connection string without user or password (`host=db port=5432 dbname=app sslmode=require`).
    pub conninfo: String,
    /// The `psql` program.
    pub psql: PathBuf,
    /// Killed after this long.
    pub timeout: Duration,
}

/// What a policy applies to.
#[derive(Debug, Clone)]
pub enum Target {
    /// One KV v2 secret (`secret/app/db`).
    Secret(String),
    /// KV v2 secrets matching a glob (`secret/apps/*/api-key`; `*` stays inside one segment, `**` crosses them).
    Glob {
        /// The pattern as written.
        pattern: String,
        /// The compiled glob.
        matcher: GlobMatcher,
        /// The folder to list: the segments before the first one with a glob character.
        prefix: String,
    },
    /// A database static role, named `MOUNT/static-roles/ROLE`.
    StaticRole(String),
}

impl Target {
    /// The path or pattern as written.
    pub fn text(&self) -> &str {
        match self {
            Target::Secret(p) | Target::StaticRole(p) => p,
            Target::Glob { pattern, .. } => pattern,
        }
    }

    /// Whether a concrete path is covered.
    pub fn matches(&self, path: &str) -> bool {
        let path = normalize(path);
        match self {
            Target::Secret(p) | Target::StaticRole(p) => *p == path,
            Target::Glob { matcher, .. } => matcher.is_match(&path),
        }
    }
}

/// `secret/data/app/db` and `/secret/app/db/` mean `secret/app/db`.
pub fn normalize(path: &str) -> String {
    let path = path.trim_matches('/');
    match path.split_once('/') {
        Some((mount, rest)) => match rest.strip_prefix("data/") {
            Some(rest) => format!("{mount}/{rest}"),
            None => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

/// One `[[policy]]` entry, validated.
#[derive(Debug, Clone)]
pub struct SecretRotationPolicy {
    /// The entry's line in the file.
    pub line: usize,
    /// What it applies to.
    pub target: Target,
    /// Who to ask about it (a team, an e-mail address).
    pub owner: Option<String>,
    /// How often.
    pub schedule: Schedule,
    /// When rotations may run (`run --due` waits for it; explicit paths do not).
    pub window: Option<Window>,
    /// After a failed rotation, how long to wait before `run --due` tries again.
    pub retry: Duration,
    /// How.
    pub strategy: Strategy,
    /// How a new value is proven to work before it becomes current.
    pub verify: Option<Argv>,
    /// Commands run after a successful rotation (and after a rollback), in order.
    pub hooks: Vec<Argv>,
    /// Keys rendered from templates over the secret's other keys, rewritten in the same write as the rotated value.
    pub derived: BTreeMap<String, Template>,
    /// Extra environment variables (by name) the policy's programs inherit, beyond the documented allow list.
    pub pass_env: Vec<String>,
}

/// A loaded policy file.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// Where it came from.
    pub file: PathBuf,
    /// The entries, in file order: the first entry that matches a path wins.
    pub policies: Vec<SecretRotationPolicy>,
}

impl PolicyFile {
    /// Reads and validates a file.
    pub fn load(file: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            PolicyError(vec![Diagnostic { file: file.to_owned(), line: 0, message: format!("cannot read it: {e}") }])
        })?;
        Self::parse(file, &text)
    }

    /// Validates a file's text; `file` names it in diagnostics.
    pub fn parse(file: &Path, text: &str) -> Result<Self, PolicyError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let diag = |line: usize, message: String| Diagnostic { file: file.to_owned(), line, message };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(s.start));
            PolicyError(vec![diag(line, e.message().trim().to_owned())])
        })?;
        let mut problems = Vec::new();
        let mut policies: Vec<SecretRotationPolicy> = Vec::new();
        if raw.policy.is_empty() {
            problems.push(diag(1, "no [[policy]] entries".into()));
        }
        for spanned in raw.policy {
            let line = line_of(spanned.span().start);
            match validate(spanned.into_inner(), line) {
                Ok(policy) => {
                    if let Some(other) = policies.iter().find(|p| p.target.text() == policy.target.text()) {
                        problems.push(diag(
                            line,
                            format!("{} already has a policy at line {}", policy.target.text(), other.line),
                        ));
                    }
                    policies.push(policy);
                }
                Err(messages) => problems.extend(messages.into_iter().map(|m| diag(line, m))),
            }
        }
        if problems.is_empty() { Ok(Self { file: file.to_owned(), policies }) } else { Err(PolicyError(problems)) }
    }

    /// The policy for a concrete path: the first entry that matches.
    pub fn find(&self, path: &str) -> Option<&SecretRotationPolicy> {
        self.policies.iter().find(|p| p.target.matches(path))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    policy: Vec<Spanned<RawPolicy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    path: Option<String>,
    owner: Option<String>,
    every: Option<String>,
    cron: Option<String>,
    window: Option<String>,
    retry: Option<String>,
    strategy: String,
    generate: Option<RawGenerate>,
    command: Option<RawArgv>,
    database: Option<RawDatabase>,
    verify: Option<RawArgv>,
    #[serde(default)]
    hooks: Vec<Vec<String>>,
    hook_timeout: Option<String>,
    #[serde(default)]
    derived: BTreeMap<String, String>,
    #[serde(default)]
    pass_env: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGenerate {
    key: Option<String>,
    length: Option<usize>,
    charset: Option<String>,
    chars: Option<String>,
    password_policy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArgv {
    argv: Vec<String>,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    mount: Option<String>,
    role: String,
    db_name: String,
    username: String,
    rotation_period: String,
    connection_test: Option<String>,
    psql: Option<PathBuf>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_RETRY: Duration = Duration::from_secs(3600);

fn validate(raw: RawPolicy, line: usize) -> Result<SecretRotationPolicy, Vec<String>> {
    let mut errors = Vec::new();
    let mut duration = |field: &str, text: &Option<String>, default: Duration| match text {
        None => default,
        Some(t) => parse_duration(t).unwrap_or_else(|e| {
            errors.push(format!("{field}: {e}"));
            default
        }),
    };
    let retry = duration("retry", &raw.retry, DEFAULT_RETRY);
    let hook_timeout = duration("hook_timeout", &raw.hook_timeout, DEFAULT_TIMEOUT);
    let mut argv = |field: &str, raw: Option<RawArgv>| -> Option<Argv> {
        let raw = raw?;
        if raw.argv.is_empty() || raw.argv[0].trim().is_empty() {
            errors.push(format!("{field}.argv: needs a program (a list such as [\"/usr/local/bin/check\", \"--db\"])"));
        }
        let timeout = match &raw.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => parse_duration(t).unwrap_or_else(|e| {
                errors.push(format!("{field}.timeout: {e}"));
                DEFAULT_TIMEOUT
            }),
        };
        Some(Argv { argv: raw.argv, timeout })
    };
    let verify = argv("verify", raw.verify);
    let command = argv("command", raw.command);

    let schedule = match (&raw.every, &raw.cron) {
        (Some(every), None) => match parse_duration(every) {
            Ok(d) => Some(Schedule::Every(d)),
            Err(e) => {
                errors.push(format!("every: {e}"));
                None
            }
        },
        (None, Some(cron)) => match Cron::parse(cron) {
            Ok(c) => Some(Schedule::Cron(c)),
            Err(e) => {
                errors.push(format!("cron: {e}"));
                None
            }
        },
        (Some(_), Some(_)) => {
            errors.push("give either `every` or `cron`, not both".into());
            None
        }
        (None, None) => {
            errors.push("no schedule: add `every = \"30d\"` or `cron = \"0 3 * * 1\"`".into());
            None
        }
    };
    let window =
        raw.window.as_deref().and_then(|w| Window::parse(w).map_err(|e| errors.push(format!("window: {e}"))).ok());

    let mut hooks = Vec::new();
    for (i, hook) in raw.hooks.into_iter().enumerate() {
        if hook.is_empty() || hook[0].trim().is_empty() {
            errors.push(format!("hooks[{i}]: needs a program, e.g. [\"systemctl\", \"reload\", \"app.service\"]"));
        }
        hooks.push(Argv { argv: hook, timeout: hook_timeout });
    }

    let sections =
        [("generate", raw.generate.is_some()), ("command", command.is_some()), ("database", raw.database.is_some())];
    for (name, present) in sections {
        if present && name != raw.strategy {
            errors.push(format!("a [policy.{name}] table does not belong to strategy {:?}", raw.strategy));
        }
    }

    let strategy = match raw.strategy.as_str() {
        "generate" => {
            let g = raw.generate.unwrap_or(RawGenerate {
                key: None,
                length: None,
                charset: None,
                chars: None,
                password_policy: None,
            });
            generate(g, &mut errors).map(Strategy::Generate)
        }
        "command" => match command {
            Some(run) => Some(Strategy::Command(CommandSpec { run })),
            None => {
                errors.push("strategy \"command\" needs a [policy.command] table with argv".into());
                None
            }
        },
        "database" => {
            match raw.database {
                Some(d) => database(d, &mut errors).map(Strategy::Database),
                None => {
                    errors.push("strategy \"database\" needs a [policy.database] table (role, db_name, username, rotation_period)".into());
                    None
                }
            }
        }
        other => {
            errors.push(format!("unknown strategy {other:?} (use generate, command or database)"));
            None
        }
    };

    let derived = derived_keys(&raw.derived, strategy.as_ref(), &mut errors);
    for name in &raw.pass_env {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            errors.push(format!("pass_env: {name:?} is not an environment variable name"));
        } else if crate::exec::is_forbidden(name) {
            errors.push(format!(
                "pass_env: {name} is never passed on (secret-rotate's own credentials and settings stay with it)"
            ));
        }
    }

    let target = match (&strategy, raw.path) {
        (Some(Strategy::Database(d)), path) => {
            let name = vault_core::database::static_role_path(&d.mount, &d.role);
            if let Some(p) = path
                && normalize(&p) != name
            {
                errors.push(format!("a database policy is named by its role: omit path or write path = {name:?}"));
            }
            Some(Target::StaticRole(name))
        }
        (_, None) => {
            errors.push(
                "no path: add `path = \"secret/app/db\"` (a glob such as secret/apps/*/api-key works too)".into(),
            );
            None
        }
        (_, Some(path)) => kv_target(&path).map_err(|e| errors.push(e)).ok(),
    };

    match (errors.is_empty(), target, schedule, strategy) {
        (true, Some(target), Some(schedule), Some(strategy)) => Ok(SecretRotationPolicy {
            line,
            target,
            owner: raw.owner,
            schedule,
            window,
            retry,
            strategy,
            verify,
            hooks,
            derived,
            pass_env: raw.pass_env,
        }),
        _ => Err(errors),
    }
}

/// Parses and checks `[policy.derived]`: each template parses, uses only stored keys (not other derived ones),
/// and, for `generate`, uses the key the policy rotates (else it would never change).
fn derived_keys(
    raw: &BTreeMap<String, String>,
    strategy: Option<&Strategy>,
    errors: &mut Vec<String>,
) -> BTreeMap<String, Template> {
    let mut derived = BTreeMap::new();
    if raw.is_empty() {
        return derived;
    }
    if let Some(Strategy::Database(_)) = strategy {
        errors.push("derived: a database role has no KV secret to derive keys in".into());
        return derived;
    }
    let rotated = match strategy {
        Some(Strategy::Generate(g)) => Some(g.key.as_str()),
        _ => None,
    };
    for (key, text) in raw {
        if key.trim().is_empty() {
            errors.push("derived: a key name must not be empty".into());
            continue;
        }
        let template = match Template::parse(text) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("derived.{key}: {e}"));
                continue;
            }
        };
        if rotated == Some(key.as_str()) {
            errors.push(format!("derived.{key}: is the key this policy generates; it cannot also be derived"));
        }
        for used in template.keys() {
            if raw.contains_key(used) {
                errors.push(format!(
                    "derived.{key}: uses {{{used}}}, which is derived too (templates use stored keys only)"
                ));
            }
        }
        if let Some(rotated) = rotated
            && !template.keys().contains(rotated)
        {
            errors.push(format!(
                "derived.{key}: does not use {{{rotated}}}, the key this policy rotates, so rotation would never change it"
            ));
        }
        derived.insert(key.clone(), template);
    }
    derived
}

fn kv_target(path: &str) -> Result<Target, String> {
    let normalized = normalize(path);
    if normalized.is_empty() || !normalized.contains('/') {
        return Err(format!("path {path:?}: write the mount and the secret's path, e.g. secret/app/db"));
    }
    if normalized.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(format!("path {path:?}: empty, . or .. segments are not allowed"));
    }
    if !normalized.contains(['*', '?', '[', '{']) {
        return Ok(Target::Secret(normalized));
    }
    let matcher =
        Glob::new(&normalized).map(|g| g.compile_matcher()).map_err(|e| format!("path {path:?}: invalid glob: {e}"))?;
    // globset's default lets `*` cross `/`; build with literal separators so `*` means one segment.
    let matcher = globset::GlobBuilder::new(&normalized)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .unwrap_or(matcher);
    let segments: Vec<&str> = normalized.split('/').collect();
    let fixed = segments.iter().take_while(|s| !s.contains(['*', '?', '[', '{'])).count();
    if fixed == 0 {
        return Err(format!("path {path:?}: the mount cannot be a glob"));
    }
    let prefix = format!("{}/", segments[..fixed].join("/"));
    Ok(Target::Glob { pattern: normalized, matcher, prefix })
}

fn generate(raw: RawGenerate, errors: &mut Vec<String>) -> Option<Generate> {
    let key = raw.key.unwrap_or_else(|| "password".to_owned());
    if key.is_empty() {
        errors.push("generate.key: must not be empty".into());
    }
    if let Some(policy) = raw.password_policy {
        if raw.length.is_some() || raw.charset.is_some() || raw.chars.is_some() {
            errors.push("generate: password_policy decides length and characters; drop length/charset/chars".into());
        }
        if policy.is_empty() || policy.contains('/') {
            errors.push(format!("generate.password_policy: {policy:?} is not a policy name"));
        }
        return Some(Generate { key, source: GenerateSource::PasswordPolicy(policy) });
    }
    let chars: Vec<char> = match (raw.charset.as_deref(), raw.chars) {
        (Some(_), Some(_)) => {
            errors.push("generate: give charset or chars, not both".into());
            return None;
        }
        (_, Some(chars)) => {
            let mut c: Vec<char> = chars.chars().collect();
            c.sort_unstable();
            c.dedup();
            if c.len() < 10 || c.iter().any(|ch| ch.is_control() || ch.is_whitespace()) {
                errors.push("generate.chars: needs at least 10 distinct printable, non-space characters".into());
            }
            c
        }
        (None | Some("alphanumeric"), None) => ALPHANUMERIC.chars().collect(),
        (Some("alphanumeric-symbols"), None) => ALPHANUMERIC.chars().chain(SAFE_SYMBOLS.chars()).collect(),
        (Some("hex"), None) => "0123456789abcdef".chars().collect(),
        (Some(other), None) => {
            errors.push(format!(
                "generate.charset: unknown charset {other:?} (alphanumeric, alphanumeric-symbols, hex; or chars = \"…\")"
            ));
            return None;
        }
    };
    let length = raw.length.unwrap_or(32);
    if !(16..=1024).contains(&length) {
        errors.push(format!("generate.length: {length} is outside 16-1024"));
    }
    Some(Generate { key, source: GenerateSource::Charset { chars, length } })
}

fn database(raw: RawDatabase, errors: &mut Vec<String>) -> Option<DatabaseSpec> {
    let mount = raw.mount.unwrap_or_else(|| "database".to_owned()).trim_matches('/').to_owned();
    for (field, value) in
        [("mount", &mount), ("role", &raw.role), ("db_name", &raw.db_name), ("username", &raw.username)]
    {
        if value.is_empty() || (field != "mount" && value.contains('/')) {
            errors.push(format!("database.{field}: {value:?} is not a valid name"));
        }
    }
    let period = match parse_duration(&raw.rotation_period) {
        Ok(d) if d < Duration::from_secs(5) => {
            errors.push("database.rotation_period: the server needs at least 5s".into());
            d
        }
        Ok(d) => d,
        Err(e) => {
            errors.push(format!("database.rotation_period: {e}"));
            return None;
        }
    };
    let connection_test = raw.connection_test.map(|conninfo| {
        let lower = conninfo.to_ascii_lowercase();
        if lower.contains("password") || lower.contains("user") || lower.contains("://") {
            errors.push(
                "database.connection_test: give key=value settings without user or password (host=… port=… dbname=…); \
                 the role's user and its new password are added by secret-rotate"
                    .into(),
            );
        }
        ConnectionTest {
            conninfo,
            psql: raw.psql.clone().unwrap_or_else(|| PathBuf::from("psql")),
            timeout: DEFAULT_TIMEOUT,
        }
    });
    if raw.psql.is_some() && connection_test.is_none() {
        errors.push("database.psql: only used with connection_test".into());
    }
    Some(DatabaseSpec {
        mount,
        role: raw.role,
        db_name: raw.db_name,
        username: raw.username,
        rotation_period: period,
        connection_test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PolicyFile, PolicyError> {
        PolicyFile::parse(Path::new("rotation.toml"), text)
    }

    #[test]
    fn a_full_file_loads() {
        let file = parse(
            r#"
[[policy]]
path = "secret/app/db"
owner = "data-team"
every = "30d"
window = "weekdays 02:00-04:00"
strategy = "generate"
generate = { key = "password", length = 40, charset = "alphanumeric-symbols" }
verify = { argv = ["/usr/local/bin/check-db"], timeout = "20s" }
hooks = [["systemctl", "reload", "app.service"]]

[[policy]]
path = "secret/apis/*/key"
cron = "0 3 * * 1"
strategy = "command"
command = { argv = ["/usr/local/bin/new-key"] }

[[policy]]
every = "7d"
strategy = "database"
[policy.database]
role = "app"
db_name = "pg"
username = "app"
rotation_period = "24h"
"#,
        )
        .unwrap();
        assert_eq!(file.policies.len(), 3);
        assert_eq!(file.policies[0].line, 2);
        assert_eq!(file.find("secret/data/app/db").unwrap().line, 2);
        assert_eq!(file.find("secret/apis/stripe/key").unwrap().strategy.name(), "command");
        assert!(file.find("secret/apis/stripe/deep/key").is_none(), "* stays in one segment");
        assert_eq!(file.find("database/static-roles/app").unwrap().strategy.name(), "database");
        let Strategy::Generate(g) = &file.policies[0].strategy else { panic!() };
        assert!(matches!(&g.source, GenerateSource::Charset { length: 40, .. }));
        assert_eq!(file.policies[0].verify.as_ref().unwrap().timeout, Duration::from_secs(20));
    }

    #[test]
    fn derived_keys_and_pass_env_load() {
        let file = parse(
            r#"
[[policy]]
path = "secret/app/db"
every = "30d"
strategy = "generate"
generate = { key = "DB_PASSWORD" }
pass_env = ["HTTPS_PROXY", "PGSSLROOTCERT"]

[policy.derived]
DATABASE_URL = "postgresql://app:{DB_PASSWORD}@db:5432/app"
"JDBC.url" = "jdbc:postgresql://db/app?password={DB_PASSWORD|url}"
"#,
        )
        .unwrap();
        let p = &file.policies[0];
        assert_eq!(p.derived.keys().collect::<Vec<_>>(), ["DATABASE_URL", "JDBC.url"]);
        assert_eq!(p.pass_env, ["HTTPS_PROXY", "PGSSLROOTCERT"]);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse(
            r#"
[[policy]]
path = "secret/a"
every = "30d"
strategy = "generate"

[[policy]]
path = "secret/b"
every = "often"
window = "sometimes"
strategy = "teleport"
"#,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("rotation.toml:7: every: invalid duration"), "{text}");
        assert!(text.contains("rotation.toml:7: window:"), "{text}");
        assert!(text.contains("rotation.toml:7: unknown strategy \"teleport\""), "{text}");
        assert!(!text.contains(":2:"), "{text}");
    }

    #[test]
    fn syntax_and_unknown_fields() {
        let err = parse("[[policy]]\npath = \"secret/a\"\nevry = \"30d\"\n").unwrap_err();
        assert!(err.to_string().starts_with("rotation.toml:"), "{err}");
        assert!(err.to_string().contains("evry"), "{err}");
        let err = parse("[[policy]]\npath = \"secret/a\nevery = 1\n").unwrap_err();
        assert!(err.to_string().contains("rotation.toml:2"), "{err}");
    }

    #[test]
    fn duplicates_and_missing_parts() {
        let err = parse(
            "[[policy]]\npath = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\n\
             [[policy]]\npath = \"secret/data/a\"\nevery = \"1d\"\nstrategy = \"generate\"\n\
             [[policy]]\nstrategy = \"command\"\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("rotation.toml:5: secret/a already has a policy at line 1"), "{text}");
        assert!(text.contains("rotation.toml:9: no schedule"), "{text}");
        assert!(text.contains("rotation.toml:9: strategy \"command\" needs"), "{text}");
        assert!(text.contains("rotation.toml:9: no path"), "{text}");
    }

    #[test]
    fn generate_limits() {
        let err = parse(
            "[[policy]]\npath = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\n\
             generate = { length = 4, charset = \"emoji\" }\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown charset"), "{err}");
        let err = parse(
            "[[policy]]\npath = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\ngenerate = { length = 4 }\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("outside 16-1024"), "{err}");
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    /// The example shipped with the crate (and quoted in the docs) stays valid.
    #[test]
    fn the_example_file_checks() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies.example.toml");
        let policies = PolicyFile::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let strategies: Vec<_> = policies.policies.iter().map(|p| p.strategy.name()).collect();
        assert_eq!(strategies, ["generate", "generate", "command", "database"]);
        assert!(policies.find("secret/services/billing/webhook").is_some());
        assert_eq!(policies.policies[0].derived.keys().collect::<Vec<_>>(), ["url"]);
    }

    /// Negative examples: each is rejected with a message that says what to write instead.
    #[test]
    fn negative_examples() {
        let cases = [
            (
                "path = \"secret/a\"\nevery = \"1d\"\ncron = \"0 3 * * *\"\nstrategy = \"generate\"",
                "either `every` or `cron`",
            ),
            ("path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"command\"\ncommand = { argv = [] }", "needs a program"),
            ("path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\nhooks = [[]]", "hooks[0]: needs a program"),
            ("path = \"a\"\nevery = \"1d\"\nstrategy = \"generate\"", "write the mount"),
            ("path = \"*/a\"\nevery = \"1d\"\nstrategy = \"generate\"", "the mount cannot be a glob"),
            (
                "every = \"1d\"\nstrategy = \"database\"\ndatabase = { role = \"r\", db_name = \"d\", username = \"u\", rotation_period = \"2s\" }",
                "at least 5s",
            ),
            (
                "every = \"1d\"\nstrategy = \"database\"\ndatabase = { role = \"r\", db_name = \"d\", username = \"u\", rotation_period = \"1h\", connection_test = \"host=x password=p\" }",
                "without user or password",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\ncommand = { argv = [\"x\"] }",
                "does not belong to strategy",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\npass_env = [\"VAULT_TOKEN\"]",
                "pass_env: VAULT_TOKEN is never passed on",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\npass_env = [\"bao_secret_id_file\"]",
                "is never passed on",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\npass_env = [\"CREDENTIALS_DIRECTORY\"]",
                "is never passed on",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\npass_env = [\"A=B\"]",
                "not an environment variable name",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\nderived = { URL = \"postgresql://app:{password@db\" }",
                "derived.URL: the placeholder at character 18 is not closed",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\nderived = { URL = \"postgresql://app:{PASSWORD}@db\" }",
                "derived.URL: does not use {password}",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\nderived = { password = \"x{password}\" }",
                "is the key this policy generates",
            ),
            (
                "path = \"secret/a\"\nevery = \"1d\"\nstrategy = \"generate\"\nderived = { A = \"{password}\", B = \"{A}{password}\" }",
                "derived.B: uses {A}, which is derived too",
            ),
            (
                "every = \"1d\"\nstrategy = \"database\"\nderived = { A = \"{password}\" }\ndatabase = { role = \"r\", db_name = \"d\", username = \"u\", rotation_period = \"1h\" }",
                "a database role has no KV secret",
            ),
        ];
        for (body, expected) in cases {
            let err = PolicyFile::parse(Path::new("p.toml"), &format!("[[policy]]\n{body}\n")).unwrap_err();
            assert!(err.to_string().contains(expected), "{body}\n→ {err}");
            assert!(err.to_string().starts_with("p.toml:1: "), "{err}");
        }
    }
}
