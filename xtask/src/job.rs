//! `cargo xtask job`: the scheduled jobs of a `--local DIR` deployment, where there is no systemd to run them.
//!
//! - `job run DIR/systemd/NAME.service` (or `job run --local DIR NAME`) runs a oneshot unit the way systemd would:
//!   its `Condition*=` checks, `Environment=` and `EnvironmentFile=` (with `%d` and the other specifiers
//!   expanded, and `${VAR}`/`$VAR` in command lines), `LoadCredential=` (each file copied into a fresh 0700
//!   folder named by `$CREDENTIALS_DIRECTORY`), `WorkingDirectory=`, a private temp folder (`PrivateTmp=`), then
//!   `ExecStartPre=`, `ExecStart=` and (after success) `ExecStartPost=` in order, judged by `SuccessExitStatus=`.
//!   It runs as the user who runs it: `User=` and the sandbox are systemd's to enforce.
//! - `job list` shows the jobs, what they run, as whom, and their timers' schedules.
//!
//! The unit file parser reads what the project's units use; anything it does not understand that would change
//! how a command runs is an error, never silently skipped.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::Serialize;
use vault_core::Exit;
use vault_core::output::{Format, OutputArgs, write_json, write_record};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: JobCommand,
}

#[derive(clap::Subcommand, Debug)]
enum JobCommand {
    /// Run a job unit once, as systemd would run the oneshot service (exit 0 when it succeeded or a condition
    /// skipped it, 4 when it failed).
    Run {
        /// The deployment folder (`deploy --local DIR`); UNIT is then a name in DIR/systemd
        #[arg(long, value_name = "DIR")]
        local: Option<PathBuf>,
        /// A unit file (NAME.service or NAME.timer, whose service runs), or with --local a unit name
        unit: String,
    },
    /// Write the job units as deploy installs them on a systemd host into OUT, to review them (or to check them).
    Render {
        /// The folder to write into
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
        /// Folder of the installed tools [default: /usr/local/bin]
        #[arg(long, value_name = "DIR", default_value = "/usr/local/bin")]
        bin_dir: PathBuf,
        /// The server binary the drill starts
        #[arg(long, value_name = "PATH", default_value = "/usr/local/bin/bao")]
        server_bin: PathBuf,
        /// The address the listener binds
        #[arg(long, default_value = "127.0.0.1:8200")]
        listen: std::net::SocketAddr,
        /// Unseal key shares the drill is given
        #[arg(long, default_value_t = 3)]
        threshold: u32,
    },
    /// List the job units in a folder, what each runs and as whom, and their timers' schedules.
    List {
        /// The deployment folder (`deploy --local DIR`): lists DIR/systemd
        #[arg(long, value_name = "DIR", conflicts_with = "dir")]
        local: Option<PathBuf>,
        /// A folder of unit files [default: /etc/systemd/system]
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[command(flatten)]
        output: OutputArgs,
    },
}

pub fn run(args: &Args) -> anyhow::Result<Exit> {
    match &args.command {
        JobCommand::Run { local, unit } => {
            let path = match local {
                Some(dir) => dir.join("systemd").join(with_suffix(unit)),
                None => PathBuf::from(unit),
            };
            if !path.is_file() {
                vault_core::usage_bail!("there is no unit file {}", path.display());
            }
            run_unit(&path)
        }
        JobCommand::Render { out, bin_dir, server_bin, listen, threshold } => {
            let settings = crate::deploy::units::system_settings(bin_dir, server_bin, *listen, *threshold);
            fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            for (name, text) in crate::deploy::units::render_all(&settings)? {
                fs::write(out.join(name), text).with_context(|| format!("writing {}", out.join(name).display()))?;
            }
            Ok(Exit::Ok)
        }
        JobCommand::List { local, dir, format, output } => {
            let dir = match (local, dir) {
                (Some(local), _) => local.join("systemd"),
                (None, Some(dir)) => dir.clone(),
                (None, None) => PathBuf::from(crate::deploy::units::SYSTEM_UNIT_DIR),
            };
            let jobs = list(&dir)?;
            let mut out = output.open()?;
            print_list(&mut out, &jobs, *format)?;
            out.finish()?;
            Ok(Exit::Ok)
        }
    }
}

fn with_suffix(name: &str) -> String {
    if name.ends_with(".service") || name.ends_with(".timer") { name.to_owned() } else { format!("{name}.service") }
}

/// A parsed unit file: section → (key, value) in file order.
#[derive(Debug, Default)]
pub struct UnitFile {
    pub name: String,
    sections: BTreeMap<String, Vec<(String, String)>>,
}

impl UnitFile {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = fs::read_to_string(path).with_context(|| format!("reading the unit {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Self::parse(&name, &text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(name: &str, text: &str) -> anyhow::Result<Self> {
        let mut unit = UnitFile { name: name.to_owned(), ..Default::default() };
        let mut section = None::<String>;
        let mut pending = String::new();
        for (number, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            // A trailing backslash continues the line; comment lines inside a continuation are skipped.
            if !pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            if let Some(head) = line.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let full = std::mem::take(&mut pending);
            if full.starts_with('[') && full.ends_with(']') {
                section = Some(full[1..full.len() - 1].to_owned());
                continue;
            }
            let Some((key, value)) = full.split_once('=') else {
                vault_core::usage_bail!("line {}: {full:?} is not KEY=VALUE", number + 1);
            };
            let Some(section) = &section else {
                vault_core::usage_bail!("line {}: {key} is outside any [section]", number + 1)
            };
            unit.sections.entry(section.clone()).or_default().push((key.trim().to_owned(), value.trim().to_owned()));
        }
        Ok(unit)
    }

    /// Every value of `key` in `section`, in order; an empty assignment resets the list, as in systemd.
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for (k, v) in self.sections.get(section).into_iter().flatten() {
            if k == key {
                if v.is_empty() {
                    out.clear();
                } else {
                    out.push(v.as_str());
                }
            }
        }
        out
    }

    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.values(section, key).last().copied()
    }

    fn keys(&self, section: &str) -> impl Iterator<Item = &str> {
        self.sections.get(section).into_iter().flatten().map(|(k, _)| k.as_str())
    }
}

/// Expands systemd's specifiers (`%d`, `%n`, ...) in `text`.
fn specifiers(text: &str, unit: &str, credentials: &Path) -> anyhow::Result<String> {
    let prefix = unit.rsplit_once('.').map_or(unit, |(p, _)| p);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars.next().unwrap_or('%');
        let value = match spec {
            '%' => "%".to_owned(),
            'd' => credentials.display().to_string(),
            'n' => unit.to_owned(),
            'N' | 'p' => prefix.to_owned(),
            'i' | 'I' | 'j' | 'J' => String::new(),
            'T' => "/tmp".to_owned(),
            'V' => "/var/tmp".to_owned(),
            'h' => std::env::var("HOME").unwrap_or_else(|_| "/".into()),
            'u' => crate::deploy::User::current().name,
            'U' => rustix::process::getuid().as_raw().to_string(),
            'H' | 'l' => fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned(),
            't' => std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/run".into()),
            other => vault_core::usage_bail!("the specifier %{other} is not supported by `job run`"),
        };
        out.push_str(&value);
    }
    Ok(out)
}

/// Splits a value into words the way systemd does: whitespace separates, double and single quotes group, and a
/// backslash escapes the next character.
fn split_words(text: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None::<char>;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                let next = chars.next().ok_or_else(|| {
                    anyhow::Error::new(vault_core::cli::UsageError("a line ends with a lone backslash".into()))
                })?;
                word.push(match next {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        vault_core::usage_bail!("unbalanced quotes in {text:?}");
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Replaces `${VAR}` inside words and expands a word that is exactly `$VAR` into the variable's words.
fn substitute(words: Vec<String>, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for word in words {
        if let Some(name) = word.strip_prefix('$')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            out.extend(env.get(name).into_iter().flat_map(|v| v.split_whitespace().map(str::to_owned)));
            continue;
        }
        let mut text = String::new();
        let mut rest = word.as_str();
        while let Some(start) = rest.find("${") {
            text.push_str(&rest[..start]);
            match rest[start + 2..].find('}') {
                Some(end) => {
                    let name = &rest[start + 2..start + 2 + end];
                    text.push_str(env.get(name).map_or("", String::as_str));
                    rest = &rest[start + 3 + end..];
                }
                None => {
                    text.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        text.push_str(rest);
        out.push(text);
    }
    out
}

/// Reads an `EnvironmentFile=`: KEY=VALUE lines, `#`/`;` comments, quotes removed.
fn environment_file(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            vault_core::usage_bail!("{}:{}: not KEY=VALUE", path.display(), number + 1);
        };
        let value = value.trim();
        let value = split_words(value).map(|w| w.join(" ")).unwrap_or_else(|_| value.to_owned());
        out.push((key.trim().to_owned(), value));
    }
    Ok(out)
}

/// One command's outcome.
#[derive(Debug, Serialize)]
pub struct Ran {
    pub kind: &'static str,
    pub command: String,
    pub code: Option<i32>,
    pub success: bool,
}

/// Keys of `[Service]` that `job run` honours; those that only shape the sandbox, the scheduling or the user are
/// systemd's business and change nothing in what a command does.
const HONOURED: &[&str] = &[
    "Type",
    "Environment",
    "EnvironmentFile",
    "LoadCredential",
    "WorkingDirectory",
    "ExecStartPre",
    "ExecStart",
    "ExecStartPost",
    "SuccessExitStatus",
    "UMask",
];
const SYSTEMD_ONLY: &[&str] = &[
    "User",
    "Group",
    "SupplementaryGroups",
    "TimeoutStartSec",
    "Nice",
    "IOSchedulingClass",
    "ReadWritePaths",
    // The drill's private audit folders: without systemd, the throwaway server writes where the live one does.
    "TemporaryFileSystem",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateMounts",
    "PrivateNetwork",
    "PrivateUsers",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "ProtectProc",
    "ProcSubset",
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "RestrictSUIDSGID",
    "RestrictRealtime",
    "RestrictNamespaces",
    "RestrictAddressFamilies",
    "IPAddressDeny",
    "IPAddressAllow",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "RemoveIPC",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "LimitCORE",
    "LimitMEMLOCK",
    "MemorySwapMax",
];

/// Runs a oneshot unit (or a timer's service); the exit code says whether it succeeded.
pub fn run_unit(path: &Path) -> anyhow::Result<Exit> {
    let mut path = path.to_path_buf();
    let mut unit = UnitFile::read(&path)?;
    if unit.name.ends_with(".timer") {
        let service =
            unit.value("Timer", "Unit").map_or_else(|| unit.name.replace(".timer", ".service"), str::to_owned);
        path = path.with_file_name(&service);
        unit = UnitFile::read(&path)?;
    }
    let name = unit.name.clone();
    if let Some(kind) = unit.value("Service", "Type")
        && kind != "oneshot"
    {
        vault_core::usage_bail!("{name} is Type={kind}: `job run` runs oneshot services only");
    }
    for key in unit.keys("Service") {
        if !HONOURED.contains(&key) && !SYSTEMD_ONLY.contains(&key) {
            vault_core::usage_bail!("{name} sets {key}=, which `job run` does not know how to honour");
        }
    }

    // Conditions: a failed one skips the unit, which is not a failure (systemd reports it the same way).
    for (key, value) in unit.sections.get("Unit").into_iter().flatten() {
        let Some(condition) = key.strip_prefix("Condition") else { continue };
        let (negate, target) = match value.trim_start_matches('|').strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, value.trim_start_matches('|')),
        };
        let target = Path::new(target);
        let holds = match condition {
            "PathExists" => target.exists(),
            "PathIsDirectory" => target.is_dir(),
            "FileNotEmpty" => fs::metadata(target).is_ok_and(|m| m.is_file() && m.len() > 0),
            other => vault_core::usage_bail!("{name}: Condition{other}= is not supported by `job run`"),
        };
        if holds == negate {
            eprintln!("job: {name}: skipped: Condition{condition}={value} does not hold");
            return Ok(Exit::Ok);
        }
    }

    let user = unit.value("Service", "User");
    if let Some(user) = user
        && user != crate::deploy::User::current().name
    {
        eprintln!(
            "job: {name}: runs as {} here; under systemd it runs as {user}, in its sandbox",
            crate::deploy::User::current().name
        );
    }

    // The private folder: credentials (0700, files 0400) and a private /tmp, removed when the run ends.
    let private = tempfile::Builder::new().prefix("xtask-job-").tempdir().context("creating a temp folder")?;
    fs::set_permissions(private.path(), fs::Permissions::from_mode(0o700))?;
    let credentials = private.path().join("credentials");
    let tmp = private.path().join("tmp");
    fs::create_dir(&credentials)?;
    fs::create_dir(&tmp)?;
    for spec in unit.values("Service", "LoadCredential") {
        let spec = specifiers(spec, &name, &credentials)?;
        let Some((id, source)) = spec.split_once(':') else {
            vault_core::usage_bail!("{name}: LoadCredential={spec} names no file (the credential store is systemd's)");
        };
        let bytes = match fs::read(source) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("job: {name}: failed: credential {id} from {source}: {e} (systemd: 243/CREDENTIALS)");
                return Ok(Exit::Failed);
            }
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(credentials.join(id))
            .with_context(|| format!("copying the credential {id}"))?;
        std::io::Write::write_all(&mut file, &bytes)?;
    }
    fs::set_permissions(&credentials, fs::Permissions::from_mode(0o500))?;

    // The environment: systemd's clean one, then Environment=, then EnvironmentFile= (which wins).
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned());
    for key in ["LANG", "TZ"] {
        if let Ok(value) = std::env::var(key) {
            env.insert(key.to_owned(), value);
        }
    }
    env.insert("HOME".to_owned(), tmp.display().to_string());
    env.insert("TMPDIR".to_owned(), tmp.display().to_string());
    env.insert("CREDENTIALS_DIRECTORY".to_owned(), credentials.display().to_string());
    for line in unit.values("Service", "Environment") {
        for assignment in split_words(&specifiers(line, &name, &credentials)?)? {
            let Some((key, value)) = assignment.split_once('=') else {
                vault_core::usage_bail!("{name}: Environment={line}: {assignment:?} is not KEY=VALUE");
            };
            env.insert(key.to_owned(), value.to_owned());
        }
    }
    for spec in unit.values("Service", "EnvironmentFile") {
        let (optional, file) = match spec.strip_prefix('-') {
            Some(file) => (true, file),
            None => (false, spec),
        };
        let file = specifiers(file, &name, &credentials)?;
        if optional && !Path::new(&file).exists() {
            continue;
        }
        env.extend(environment_file(Path::new(&file))?);
    }
    let workdir = match unit.value("Service", "WorkingDirectory") {
        Some(dir) => {
            let (optional, dir) = dir.strip_prefix('-').map_or((false, dir), |d| (true, d));
            let dir = if dir == "~" { env["HOME"].clone() } else { specifiers(dir, &name, &credentials)? };
            if !Path::new(&dir).is_dir() && !optional {
                eprintln!("job: {name}: failed: WorkingDirectory={dir} is missing (systemd: 200/CHDIR)");
                return Ok(Exit::Failed);
            }
            Path::new(&dir).is_dir().then(|| PathBuf::from(dir))
        }
        None => None,
    };
    let mut success_codes = vec![0];
    for line in unit.values("Service", "SuccessExitStatus") {
        success_codes.extend(line.split_whitespace().filter_map(|w| w.parse::<i32>().ok()));
    }
    let umask = match unit.value("Service", "UMask") {
        Some(mask) => u32::from_str_radix(mask, 8).with_context(|| format!("{name}: UMask={mask}"))?,
        None => 0o022,
    };

    let mut ran = Vec::new();
    let mut failed = false;
    for kind in ["ExecStartPre", "ExecStart", "ExecStartPost"] {
        if failed {
            break;
        }
        for line in unit.values("Service", kind) {
            let (flags, command) = line.split_at(line.find(|c: char| !"-@:+!".contains(c)).unwrap_or(line.len()));
            let words = split_words(&specifiers(command, &name, &credentials)?)?;
            let words = if flags.contains(':') { words } else { substitute(words, &env) };
            let Some((program, rest)) = words.split_first() else {
                vault_core::usage_bail!("{name}: {kind}= is empty");
            };
            let shown = words.join(" ");
            let mut child = Command::new(program);
            child.args(rest).env_clear().envs(&env);
            if let Some(dir) = &workdir {
                child.current_dir(dir);
            }
            let previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
            let status = child.status();
            rustix::process::umask(previous);
            let code = match status {
                Ok(status) => status.code(),
                Err(e) => {
                    eprintln!("job: {name}: {kind}: cannot start {program}: {e} (systemd: 203/EXEC)");
                    Some(203)
                }
            };
            let success = code.is_some_and(|c| success_codes.contains(&c)) || flags.contains('-');
            let said = match code {
                Some(c) if success && c != 0 => format!("exit {c} (counted as success by this unit)"),
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".to_owned(),
            };
            eprintln!("job: {name}: {kind}: {shown}: {said}");
            ran.push(Ran { kind, command: shown, code, success });
            if !success {
                failed = true;
                break;
            }
        }
    }
    drop(private);
    if failed {
        eprintln!("job: {name}: failed");
        Ok(Exit::Failed)
    } else {
        eprintln!("job: {name}: succeeded");
        Ok(Exit::Ok)
    }
}

/// One job: its service and its timer's schedule.
#[derive(Debug, Serialize)]
pub struct Job {
    pub unit: String,
    pub description: String,
    pub user: String,
    pub commands: Vec<String>,
    pub schedule: Option<String>,
}

/// The oneshot services in `dir` with the schedules of the timers that start them.
pub fn list(dir: &Path) -> anyhow::Result<Vec<Job>> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    names.sort();
    let mut jobs = Vec::new();
    for path in names {
        let unit = UnitFile::read(&path)?;
        if unit.value("Service", "Type") != Some("oneshot") {
            continue;
        }
        let timer_path = path.with_extension("timer");
        let schedule = if timer_path.is_file() {
            let timer = UnitFile::read(&timer_path)?;
            let mut parts = Vec::new();
            for key in ["OnCalendar", "OnBootSec", "OnUnitActiveSec", "RandomizedDelaySec"] {
                for value in timer.values("Timer", key) {
                    parts.push(format!("{key}={value}"));
                }
            }
            Some(parts.join(" "))
        } else {
            None
        };
        let commands = ["ExecStartPre", "ExecStart", "ExecStartPost"]
            .iter()
            .flat_map(|k| unit.values("Service", k))
            .map(str::to_owned)
            .collect();
        jobs.push(Job {
            unit: unit.name.clone(),
            description: unit.value("Unit", "Description").unwrap_or_default().to_owned(),
            user: unit.value("Service", "User").unwrap_or("root").to_owned(),
            commands,
            schedule,
        });
    }
    Ok(jobs)
}

fn print_list(out: &mut vault_core::output::Output, jobs: &[Job], format: Format) -> anyhow::Result<()> {
    use std::io::Write;
    match format {
        Format::Human => {
            let width = jobs.iter().map(|j| j.unit.len()).max().unwrap_or(0);
            for job in jobs {
                writeln!(
                    out,
                    "{:<width$}  as {:<14} {}",
                    job.unit,
                    job.user,
                    job.schedule.as_deref().unwrap_or("(no timer: on demand)")
                )?;
                for command in &job.commands {
                    writeln!(out, "{:<width$}    {command}", "")?;
                }
            }
        }
        Format::Json => write_json(out, &jobs)?,
        Format::Jsonl => {
            for job in jobs {
                write_record(out, "job", job)?;
            }
            write_record(out, "summary", &serde_json::json!({ "jobs": jobs.len() }))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_systemd() {
        assert_eq!(split_words(r#"a "b c" 'd e' f\ g"#).unwrap(), ["a", "b c", "d e", "f g"]);
        assert!(split_words("\"open").is_err());
    }

    #[test]
    fn variables_expand_inside_words_and_as_whole_words() {
        let env: BTreeMap<String, String> =
            [("A".to_owned(), "1".to_owned()), ("L".to_owned(), "x  y".to_owned())].into_iter().collect();
        let words = vec!["--n=${A}".to_owned(), "$L".to_owned(), "${MISSING}z".to_owned(), "$".to_owned()];
        assert_eq!(substitute(words, &env), ["--n=1", "x", "y", "z", "$"]);
    }

    #[test]
    fn specifiers_expand_and_unknown_ones_are_refused() {
        let creds = Path::new("/run/c");
        assert_eq!(specifiers("%d/role-id %n %N %%", "a.service", creds).unwrap(), "/run/c/role-id a.service a %");
        assert!(specifiers("%z", "a.service", creds).is_err());
    }

    #[test]
    fn continuation_lines_join_and_empty_assignments_reset() {
        let unit = UnitFile::parse(
            "x.service",
            "[Service]\nExecStart=/bin/a \\\n  # a comment\n  b\nEnvironment=A=1\nEnvironment=\nEnvironment=B=2\n",
        )
        .unwrap();
        assert_eq!(unit.values("Service", "ExecStart"), ["/bin/a  b"]);
        assert_eq!(unit.values("Service", "Environment"), ["B=2"]);
        assert!(UnitFile::parse("x.service", "ExecStart=/bin/a\n").is_err(), "outside a section");
    }
}
