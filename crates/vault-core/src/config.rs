//! Connection settings: flags over environment over defaults, read the way the Vault and OpenBao CLIs read them.
//!
//! Every `VAULT_*` variable has a `BAO_*` twin, and the `BAO_*` one wins when both are set, as OpenBao's own CLI
//! does. A token never comes from a flag (it would land in shell history and `ps`): it comes from `VAULT_TOKEN`,
//! a file named by `--token-file`, or `~/.vault-token`. AppRole's secret_id comes from `VAULT_SECRET_ID` or a
//! file that is read again at each login, so a rotated secret_id is picked up without a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use url::Url;

use crate::error::Error;
use crate::secret::SecretString;

/// The default address when nothing is configured, as the Vault CLI has it.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";
/// Retries after the first attempt, as the Vault CLI has it.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Time allowed for one request, as the Vault CLI has it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Where AppRole is mounted unless told otherwise.
pub const DEFAULT_APPROLE_MOUNT: &str = "approle";
/// The longest token, role_id, secret_id or namespace accepted. Real ones are under 200 bytes; the cap keeps a
/// wrong file (a certificate, a log) from being sent as a header.
pub const MAX_CREDENTIAL_LEN: usize = 4096;

/// Everything needed to reach and authenticate to a Vault server.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server's address, e.g. `https://vault.example.com:8200`.
    pub address: Url,
    /// How the client authenticates.
    pub auth: AuthConfig,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// Retries after the first attempt on connection errors, 5xx and 429.
    pub max_retries: u32,
    /// Time allowed for connecting and for each read of a response.
    pub timeout: Duration,
}

/// How the client proves who it is.
#[derive(Clone, Debug)]
pub enum AuthConfig {
    /// A token, and where it came from (for error messages; never the token itself).
    Token { token: SecretString, source: String },
    /// AppRole login, repeated whenever the token cannot be renewed.
    AppRole(AppRoleConfig),
    /// No credentials: only unauthenticated endpoints (health, seal status, init, unseal) work.
    None,
}

/// AppRole credentials.
#[derive(Clone, Debug)]
pub struct AppRoleConfig {
    /// Where the AppRole method is mounted (`approle` by default).
    pub mount: String,
    /// The role_id. Not a secret on its own, but not printed either.
    pub role_id: String,
    /// Where the secret_id comes from.
    pub secret_id: SecretIdSource,
}

/// Where an AppRole secret_id comes from.
#[derive(Clone, Debug)]
pub enum SecretIdSource {
    /// A value given through the environment.
    Value(SecretString),
    /// A file read again at each login (trailing whitespace trimmed).
    File(PathBuf),
}

impl SecretIdSource {
    /// Reads the current secret_id.
    pub fn read(&self) -> Result<SecretString, Error> {
        let (secret, source) = match self {
            SecretIdSource::Value(v) => (v.clone(), "VAULT_SECRET_ID".to_owned()),
            SecretIdSource::File(path) => {
                (read_secret_file(path, "AppRole secret_id")?, format!("the secret_id file {}", path.display()))
            }
        };
        check_credential(secret.expose(), &source, "an AppRole secret_id")?;
        Ok(secret)
    }
}

/// TLS settings. Verification is on unless `skip_verify` is set, and turning it off is loud.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// A PEM file of CA certificates to trust instead of the system's.
    pub ca_cert: Option<PathBuf>,
    /// A folder of PEM files of CA certificates to trust instead of the system's.
    pub ca_path: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub client_key: Option<PathBuf>,
    /// The name to verify the server's certificate against, when it differs from the address's host.
    pub server_name: Option<String>,
    /// Do not verify the server's certificate at all.
    pub skip_verify: bool,
}

impl TlsConfig {
    /// Describes the trust anchors in use, for error messages.
    pub fn trust_description(&self) -> String {
        match (&self.ca_cert, &self.ca_path) {
            (Some(f), _) => format!("CA file {}", f.display()),
            (None, Some(d)) => format!("CA folder {}", d.display()),
            (None, None) => "the system's trusted CAs".to_owned(),
        }
    }

    /// The files of CA certificates to trust instead of the system's: the CA file, then the CA folder's regular
    /// files in name order. Empty when neither is set (trust the system's roots).
    pub fn ca_files(&self) -> crate::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = self.ca_cert.iter().cloned().collect();
        if let Some(dir) = &self.ca_path {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| crate::Error::Config(format!("cannot read the CA folder {}: {e}", dir.display())))?;
            let mut found: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            found.sort();
            files.extend(found);
        }
        Ok(files)
    }

    /// The trusted CA certificates, each with the file it came from, in [`ca_files`](Self::ca_files) order: the
    /// one reading of `VAULT_CACERT`/`VAULT_CAPATH` behind every TLS stack (the HTTP client, vault-health's own
    /// handshake), so both trust exactly the same certificates. Empty when neither is set. A file that cannot be
    /// read, is not PEM or holds no certificate is an error naming it.
    pub fn trusted_ca_certs(&self) -> crate::Result<Vec<(PathBuf, CertificateDer<'static>)>> {
        let mut certs = Vec::new();
        for file in self.ca_files()? {
            certs.extend(read_pem_certs("the CA file", &file)?.into_iter().map(|cert| (file.clone(), cert)));
        }
        Ok(certs)
    }
}

/// The certificates of a PEM file (`what` names it in errors: "the CA file", "the client certificate"): at least
/// one, or an error.
pub fn read_pem_certs(what: &str, file: &Path) -> crate::Result<Vec<CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    let pem =
        std::fs::read(file).map_err(|e| crate::Error::Config(format!("cannot read {what} {}: {e}", file.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::Error::Config(format!("{what} {} is not PEM certificates: {e}", file.display())))?;
    if certs.is_empty() {
        return Err(crate::Error::Config(format!("{what} {} holds no certificate", file.display())));
    }
    Ok(certs)
}

/// Connection flags every tool accepts. Unset flags fall back to the environment, then to defaults.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// Vault address [env: BAO_ADDR, VAULT_ADDR] [default: https://127.0.0.1:8200]
    #[arg(long = "address", value_name = "URL", global = true)]
    pub address: Option<String>,
    /// Read the token from FILE instead of VAULT_TOKEN or ~/.vault-token
    #[arg(long = "token-file", value_name = "FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// AppRole role_id [env: VAULT_ROLE_ID]
    #[arg(long = "role-id", value_name = "ID", global = true)]
    pub role_id: Option<String>,
    /// AppRole role_id from a file [env: VAULT_ROLE_ID_FILE]
    #[arg(long = "role-id-file", value_name = "FILE", global = true)]
    pub role_id_file: Option<PathBuf>,
    /// AppRole secret_id file, read at each login [env: VAULT_SECRET_ID_FILE]
    #[arg(long = "secret-id-file", value_name = "FILE", global = true)]
    pub secret_id_file: Option<PathBuf>,
    /// AppRole mount [env: VAULT_APPROLE_MOUNT] [default: approle]
    #[arg(long = "approle-mount", value_name = "MOUNT", global = true)]
    pub approle_mount: Option<String>,
    /// CA certificate file (PEM) [env: VAULT_CACERT]
    #[arg(long = "ca-cert", value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Folder of CA certificates (PEM) [env: VAULT_CAPATH]
    #[arg(long = "ca-path", value_name = "DIR", global = true)]
    pub ca_path: Option<PathBuf>,
    /// Client certificate for mutual TLS [env: VAULT_CLIENT_CERT]
    #[arg(long = "client-cert", value_name = "FILE", global = true)]
    pub client_cert: Option<PathBuf>,
    /// Client key for mutual TLS [env: VAULT_CLIENT_KEY]
    #[arg(long = "client-key", value_name = "FILE", global = true)]
    pub client_key: Option<PathBuf>,
    /// Verify the server certificate against NAME [env: VAULT_TLS_SERVER_NAME]
    #[arg(long = "tls-server-name", value_name = "NAME", global = true)]
    pub tls_server_name: Option<String>,
    /// Do not verify the server certificate (dangerous) [env: VAULT_SKIP_VERIFY]
    #[arg(long = "tls-skip-verify", global = true)]
    pub tls_skip_verify: bool,
    /// Namespace [env: VAULT_NAMESPACE]
    #[arg(long = "namespace", value_name = "NS", global = true)]
    pub namespace: Option<String>,
    /// Retries on connection errors, 5xx and 429 [env: VAULT_MAX_RETRIES] [default: 2]
    #[arg(long = "max-retries", value_name = "N", global = true)]
    pub max_retries: Option<u32>,
    /// Time allowed to connect and for each read, e.g. 30s [env: VAULT_CLIENT_TIMEOUT] [default: 60s]
    #[arg(long = "client-timeout", value_name = "DURATION", global = true)]
    pub client_timeout: Option<String>,
}

impl Config {
    /// Reads the configuration from the process environment and `~/.vault-token`, with no flags.
    pub fn from_env() -> Result<Self, Error> {
        Self::resolve(&ConnectArgs::default())
    }

    /// Flags over the process environment over defaults.
    pub fn resolve(args: &ConnectArgs) -> Result<Self, Error> {
        Self::resolve_with(args, |k| std::env::var(k).ok(), std::env::home_dir())
    }

    /// Flags over `lookup` over defaults; `home` is where `.vault-token` is looked for. Tests use this to avoid
    /// touching the real environment.
    pub fn resolve_with(
        args: &ConnectArgs,
        lookup: impl Fn(&str) -> Option<String>,
        home: Option<PathBuf>,
    ) -> Result<Self, Error> {
        // BAO_X wins over VAULT_X; empty values count as unset.
        let var = |name: &str| -> Option<String> {
            [format!("BAO_{name}"), format!("VAULT_{name}")].iter().find_map(|k| lookup(k).filter(|v| !v.is_empty()))
        };
        let path_var = |name: &str| var(name).map(PathBuf::from);
        // The name of the variable `var(name)` took its value from, for messages that must not show the value.
        let var_name = |name: &str| -> String {
            let bao = format!("BAO_{name}");
            if lookup(&bao).is_some_and(|v| !v.is_empty()) { bao } else { format!("VAULT_{name}") }
        };

        let address_text = args.address.clone().or_else(|| var("ADDR")).unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
        let address = parse_address(&address_text)?;

        let tls = TlsConfig {
            ca_cert: args.ca_cert.clone().or_else(|| path_var("CACERT")),
            ca_path: args.ca_path.clone().or_else(|| path_var("CAPATH")),
            client_cert: args.client_cert.clone().or_else(|| path_var("CLIENT_CERT")),
            client_key: args.client_key.clone().or_else(|| path_var("CLIENT_KEY")),
            server_name: args.tls_server_name.clone().or_else(|| var("TLS_SERVER_NAME")),
            skip_verify: args.tls_skip_verify
                || match var("SKIP_VERIFY") {
                    Some(v) => parse_bool(&v)
                        .ok_or_else(|| Error::Config(format!("VAULT_SKIP_VERIFY must be true or false, not {v:?}")))?,
                    None => false,
                },
        };
        if tls.client_cert.is_some() != tls.client_key.is_some() {
            return Err(Error::Config("a client certificate needs its key and a key its certificate".into()));
        }

        let max_retries = match (args.max_retries, var("MAX_RETRIES")) {
            (Some(n), _) => n,
            (None, Some(v)) => v
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("VAULT_MAX_RETRIES must be a whole number, not {v:?}")))?,
            (None, None) => DEFAULT_MAX_RETRIES,
        };
        let timeout = match args.client_timeout.clone().or_else(|| var("CLIENT_TIMEOUT")) {
            Some(v) => parse_duration(&v).ok_or_else(|| {
                Error::Config(format!("client timeout must be seconds or a duration like 30s, not {v:?}"))
            })?,
            None => DEFAULT_TIMEOUT,
        };
        if timeout.is_zero() {
            // Zero would make every request fail at once (or, in some HTTP stacks, wait forever).
            return Err(Error::Config("client timeout must be more than 0, e.g. 30s".into()));
        }

        let role_id = match (
            args.role_id.clone().or_else(|| var("ROLE_ID")),
            args.role_id_file.clone().or_else(|| path_var("ROLE_ID_FILE")),
        ) {
            (Some(id), _) => {
                let source = if args.role_id.is_some() { "--role-id".to_owned() } else { var_name("ROLE_ID") };
                check_credential(&id, &source, "an AppRole role_id")?;
                Some(id)
            }
            (None, Some(file)) => {
                let id = read_secret_file(&file, "AppRole role_id")?;
                check_credential(id.expose(), &format!("the role_id file {}", file.display()), "an AppRole role_id")?;
                Some(id.expose().to_owned())
            }
            (None, None) => None,
        };
        let auth = if let Some(role_id) = role_id {
            let secret_id = if let Some(file) = args.secret_id_file.clone().or_else(|| path_var("SECRET_ID_FILE")) {
                // Read at each login; a file that is there now is checked now too, so a bad one is reported at
                // start rather than by the first request of a long-running process.
                let source = SecretIdSource::File(file);
                if let Err(error @ Error::Config(_)) = source.read()
                    && !error.to_string().contains("cannot read")
                {
                    return Err(error);
                }
                source
            } else if let Some(value) = var("SECRET_ID") {
                let value = SecretString::new(value);
                check_credential(value.expose(), &var_name("SECRET_ID"), "an AppRole secret_id")?;
                SecretIdSource::Value(value)
            } else {
                return Err(Error::Config(
                    "AppRole needs a secret_id: set VAULT_SECRET_ID_FILE (or --secret-id-file) or VAULT_SECRET_ID"
                        .into(),
                ));
            };
            let mount = args.approle_mount.clone().or_else(|| var("APPROLE_MOUNT"));
            let mount = mount.unwrap_or_else(|| DEFAULT_APPROLE_MOUNT.to_owned()).trim_matches('/').to_owned();
            let source =
                if args.approle_mount.is_some() { "--approle-mount".to_owned() } else { var_name("APPROLE_MOUNT") };
            check_mount(&mount, &source)?;
            AuthConfig::AppRole(AppRoleConfig { mount, role_id, secret_id })
        } else if let Some(file) = &args.token_file {
            AuthConfig::Token {
                token: read_secret_file(file, "token")?,
                source: format!("token file {}", file.display()),
            }
        } else if let Some(token) = var("TOKEN") {
            AuthConfig::Token { token: SecretString::new(token), source: var_name("TOKEN") }
        } else if let Some(file) = home.map(|h| h.join(".vault-token")).filter(|f| f.is_file()) {
            AuthConfig::Token { token: read_secret_file(&file, "token")?, source: file.display().to_string() }
        } else {
            AuthConfig::None
        };
        if let AuthConfig::Token { token, source } = &auth {
            check_credential(token.expose(), source, "a token")?;
        }
        let namespace = match (&args.namespace, var("NAMESPACE")) {
            (Some(ns), _) => Some((ns.clone(), "--namespace".to_owned())),
            (None, Some(ns)) => Some((ns, var_name("NAMESPACE"))),
            (None, None) => None,
        };
        if let Some((ns, source)) = &namespace {
            check_namespace(ns, source)?;
        }

        Ok(Config { address, auth, tls, namespace: namespace.map(|(ns, _)| ns), max_retries, timeout })
    }

    /// A configuration for `address` with a token, defaults for the rest. Handy in tests and the xtask.
    pub fn with_token(address: &str, token: SecretString) -> Result<Self, Error> {
        Ok(Config {
            address: parse_address(address)?,
            auth: AuthConfig::Token { token, source: "the caller".into() },
            tls: TlsConfig::default(),
            namespace: None,
            max_retries: DEFAULT_MAX_RETRIES,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// Checks that `text` is an `http` or `https` URL with a host, which is all Vault's API accepts.
pub fn parse_address(text: &str) -> Result<Url, Error> {
    let url = Url::parse(text.trim()).map_err(|e| {
        Error::Config(format!("Vault address {text:?} is not a URL ({e}); expected e.g. https://127.0.0.1:8200"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!("Vault address {text:?} must start with https:// or http://")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::Config(format!("Vault address {text:?} has no host")));
    }
    Ok(url)
}

/// Checks a credential that travels in a header or a login body: printable ASCII without spaces, as every
/// token, role_id and secret_id Vault and OpenBao issue is. A control character would make the HTTP stack refuse
/// (or, in vaultrs, panic on) the header; anything else outside that set cannot be a real credential. The message
/// names where the value came from and never shows it.
pub fn check_credential(value: &str, source: &str, what: &str) -> Result<(), Error> {
    let why = if value.len() > MAX_CREDENTIAL_LEN {
        format!("is longer than {MAX_CREDENTIAL_LEN} bytes")
    } else if value.chars().any(char::is_control) {
        "contains a control character (a newline, tab, escape, …)".to_owned()
    } else if value.contains(' ') {
        "contains a space".to_owned()
    } else if !value.is_ascii() {
        "contains a non-ASCII character".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::Config(format!("{source} {why}: it cannot be {what} (its value is not shown)")))
}

/// Checks a namespace, which is sent as the `X-Vault-Namespace` header: no control characters, and short.
/// Namespaces are not secret, but the value is still not echoed: it may be a paste of something that is.
pub fn check_namespace(value: &str, source: &str) -> Result<(), Error> {
    let why = if value.len() > MAX_CREDENTIAL_LEN {
        format!("is longer than {MAX_CREDENTIAL_LEN} bytes")
    } else if value.chars().any(char::is_control) {
        "contains a control character (a newline, tab, escape, …)".to_owned()
    } else if value.trim() != value {
        "starts or ends with whitespace".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::Config(format!("{source} {why}: it cannot be a namespace (its value is not shown)")))
}

/// Checks an auth mount name, which becomes part of a URL path (`auth/MOUNT/login`).
pub fn check_mount(value: &str, source: &str) -> Result<(), Error> {
    let bad = value.is_empty()
        || value.len() > 256
        || value.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#' | '%' | '\\'))
        || value.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(Error::Config(format!(
            "{source} is not a mount name: use letters, digits, -, _ and / between segments (its value is not shown)"
        )));
    }
    Ok(())
}

/// Reads a one-line secret file (token, secret_id), trimming the trailing newline editors add.
pub fn read_secret_file(path: &Path, what: &str) -> Result<SecretString, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read the {what} file {}: {e}", path.display())))?;
    let secret = SecretString::new(text);
    let trimmed = secret.expose().trim();
    if trimmed.is_empty() {
        return Err(Error::Config(format!("the {what} file {} is empty", path.display())));
    }
    Ok(SecretString::from(trimmed))
}

/// Go's `strconv.ParseBool`, which the Vault CLI uses for its boolean variables.
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Whole seconds (`30`) or a duration (`30s`, `1m30s`, `500ms`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn trusted_cas_are_read_from_the_file_then_the_folder_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let pem = |name: &str| {
            let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap().cert;
            cert.pem()
        };
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, pem("a")).unwrap();
        let folder = dir.path().join("cas");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("2.pem"), pem("c")).unwrap();
        std::fs::write(folder.join("1.pem"), format!("{}{}", pem("b1"), pem("b2"))).unwrap();
        let mut tls = TlsConfig { ca_cert: Some(file.clone()), ca_path: Some(folder.clone()), ..TlsConfig::default() };
        let found: Vec<PathBuf> = tls.trusted_ca_certs().unwrap().into_iter().map(|(f, _)| f).collect();
        assert_eq!(found, [file, folder.join("1.pem"), folder.join("1.pem"), folder.join("2.pem")]);
        assert!(TlsConfig::default().trusted_ca_certs().unwrap().is_empty(), "no CA set: the system's roots");

        std::fs::write(folder.join("3.pem"), "not a certificate\n").unwrap();
        let error = tls.trusted_ca_certs().unwrap_err().to_string();
        assert!(
            error.contains("the CA file") && error.contains("3.pem") && error.contains("holds no certificate"),
            "{error}"
        );
        tls.ca_path = None;
        tls.ca_cert = Some(dir.path().join("missing.pem"));
        let error = tls.trusted_ca_certs().unwrap_err().to_string();
        assert!(error.contains("cannot read the CA file") && error.contains("missing.pem"), "{error}");
    }

    fn resolve(args: &ConnectArgs, vars: &[(&str, &str)], home: Option<PathBuf>) -> Result<Config, Error> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::resolve_with(args, |k| vars.get(k).cloned(), home)
    }

    fn token_of(c: &Config) -> (&str, &str) {
        match &c.auth {
            AuthConfig::Token { token, source } => (token.expose(), source),
            other => panic!("expected a token, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = resolve(&ConnectArgs::default(), &[], None).unwrap();
        assert_eq!(c.address.as_str(), "https://127.0.0.1:8200/");
        assert!(matches!(c.auth, AuthConfig::None));
        assert_eq!(c.max_retries, 2);
        assert_eq!(c.timeout, Duration::from_secs(60));
        assert!(!c.tls.skip_verify);
    }

    #[test]
    fn bao_wins_over_vault_and_flags_win_over_both() {
        let vars = [
            ("VAULT_ADDR", "http://vault:8200"),
            ("BAO_ADDR", "http://bao:8200"),
            ("VAULT_TOKEN", "v-token"),
            ("BAO_TOKEN", "b-token"),
            ("VAULT_CACERT", "/v/ca.pem"),
            ("VAULT_MAX_RETRIES", "5"),
            ("BAO_CLIENT_TIMEOUT", "1m30s"),
        ];
        let c = resolve(&ConnectArgs::default(), &vars, None).unwrap();
        assert_eq!(c.address.host_str(), Some("bao"));
        assert_eq!(token_of(&c), ("b-token", "BAO_TOKEN"));
        assert_eq!(c.tls.ca_cert.as_deref(), Some(Path::new("/v/ca.pem")));
        assert_eq!(c.max_retries, 5);
        assert_eq!(c.timeout, Duration::from_secs(90));

        let args =
            ConnectArgs { address: Some("https://flag:8200".into()), max_retries: Some(0), ..Default::default() };
        let c = resolve(&args, &vars, None).unwrap();
        assert_eq!(c.address.host_str(), Some("flag"));
        assert_eq!(c.max_retries, 0);
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let c = resolve(&ConnectArgs::default(), &[("BAO_ADDR", ""), ("VAULT_ADDR", "http://v:1")], None).unwrap();
        assert_eq!(c.address.host_str(), Some("v"));
    }

    #[test]
    fn token_file_in_home() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".vault-token"), "s.fromhome\n").unwrap();
        let c = resolve(&ConnectArgs::default(), &[], Some(home.path().to_owned())).unwrap();
        assert_eq!(token_of(&c).0, "s.fromhome");
        // The environment wins over the file.
        let c = resolve(&ConnectArgs::default(), &[("VAULT_TOKEN", "s.env")], Some(home.path().to_owned())).unwrap();
        assert_eq!(token_of(&c).0, "s.env");
    }

    #[test]
    fn approle_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret-id");
        std::fs::write(&file, "first\n").unwrap();
        let vars =
            [("VAULT_ROLE_ID", "role-1"), ("VAULT_SECRET_ID_FILE", file.to_str().unwrap()), ("VAULT_TOKEN", "t")];
        let c = resolve(&ConnectArgs::default(), &vars, None).unwrap();
        let AuthConfig::AppRole(a) = &c.auth else { panic!("expected AppRole") };
        assert_eq!(a.mount, "approle");
        assert_eq!(a.role_id, "role-1");
        assert_eq!(a.secret_id.read().unwrap().expose(), "first");
        std::fs::write(&file, "second").unwrap();
        assert_eq!(a.secret_id.read().unwrap().expose(), "second", "re-read at each login");

        let err = resolve(&ConnectArgs::default(), &[("VAULT_ROLE_ID", "r")], None).unwrap_err();
        assert!(err.to_string().contains("secret_id"), "{err}");
    }

    #[test]
    fn bad_values_are_config_errors() {
        for (k, v) in [
            ("VAULT_ADDR", "not a url"),
            ("VAULT_ADDR", "ftp://x"),
            ("VAULT_SKIP_VERIFY", "maybe"),
            ("VAULT_MAX_RETRIES", "-1"),
            ("VAULT_CLIENT_TIMEOUT", "soon"),
        ] {
            let err = resolve(&ConnectArgs::default(), &[(k, v)], None).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{k}={v}: {err:?}");
        }
        let err = resolve(&ConnectArgs::default(), &[("VAULT_CLIENT_CERT", "/c.pem")], None).unwrap_err();
        assert!(err.to_string().contains("key"), "{err}");
    }

    #[test]
    fn unsendable_credentials_name_their_variable_never_their_value() {
        let dir = tempfile::tempdir().unwrap();
        let bad_file = dir.path().join("bad");
        std::fs::write(&bad_file, "ab\x01cd\n").unwrap();
        let bad_file = bad_file.to_str().unwrap();
        // Every way a token, namespace, role_id, secret_id or mount gets in, with every kind of bad byte.
        for bad in ["ro\x01ot", "a\nb", "tab\there", "esc\x1b[0m", "del\x7f", "sp ace", "caf\u{e9}"] {
            type Case<'a> = (Vec<(&'a str, &'a str)>, ConnectArgs, &'a str);
            let cases: Vec<Case<'_>> = vec![
                (vec![("VAULT_TOKEN", bad)], ConnectArgs::default(), "VAULT_TOKEN"),
                (vec![("BAO_TOKEN", bad), ("VAULT_TOKEN", "ok")], ConnectArgs::default(), "BAO_TOKEN"),
                (vec![("VAULT_ROLE_ID", bad), ("VAULT_SECRET_ID", "s")], ConnectArgs::default(), "VAULT_ROLE_ID"),
                (vec![("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID", bad)], ConnectArgs::default(), "VAULT_SECRET_ID"),
                (
                    vec![("VAULT_SECRET_ID", "s")],
                    ConnectArgs { role_id: Some(bad.into()), ..Default::default() },
                    "--role-id",
                ),
            ];
            for (vars, args, name) in cases {
                let err = resolve(&args, &vars, None).unwrap_err();
                let text = err.to_string();
                assert!(matches!(err, Error::Config(_)), "{name}={bad:?}: {err:?}");
                assert!(text.contains(name), "{name}: {text}");
                assert!(!text.contains(bad), "{name}: the value is shown: {text}");
                assert_eq!(err.exit(), crate::Exit::Usage);
            }
        }
        for bad in ["a\nb", "ro\x01ot", "\x7f", " lead"] {
            for (vars, args, name) in [
                (vec![("VAULT_NAMESPACE", bad)], ConnectArgs::default(), "VAULT_NAMESPACE"),
                (vec![("BAO_NAMESPACE", bad)], ConnectArgs::default(), "BAO_NAMESPACE"),
                (vec![], ConnectArgs { namespace: Some(bad.into()), ..Default::default() }, "--namespace"),
            ] {
                let err = resolve(&args, &vars, None).unwrap_err().to_string();
                assert!(err.contains(name) && !err.contains(bad), "{name}: {err}");
            }
        }
        for bad in ["a b", "a/../b", "x?y", "a\n"] {
            let vars = [("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID", "s"), ("VAULT_APPROLE_MOUNT", bad)];
            let err = resolve(&ConnectArgs::default(), &vars, None).unwrap_err().to_string();
            assert!(err.contains("VAULT_APPROLE_MOUNT"), "{err}");
        }
        // Files: the token file and role_id file fail at once; a secret_id file at each login (it is re-read).
        let args = ConnectArgs { token_file: Some(bad_file.into()), ..Default::default() };
        let err = resolve(&args, &[], None).unwrap_err().to_string();
        assert!(err.contains(bad_file) && !err.contains("ab\x01cd"), "{err}");
        let args = ConnectArgs { role_id_file: Some(bad_file.into()), ..Default::default() };
        let err = resolve(&args, &[("VAULT_SECRET_ID", "s")], None).unwrap_err().to_string();
        assert!(err.contains(bad_file), "{err}");
        let err = resolve(&ConnectArgs::default(), &[("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID_FILE", bad_file)], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(bad_file) && err.contains("control character"), "checked at start: {err}");
        let later = dir.path().join("later");
        let c = resolve(
            &ConnectArgs::default(),
            &[("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID_FILE", later.to_str().unwrap())],
            None,
        )
        .expect("a secret_id file that is not there yet is read at login");
        std::fs::write(&later, "x\ty").unwrap();
        let AuthConfig::AppRole(a) = &c.auth else { panic!("expected AppRole") };
        let err = a.secret_id.read().unwrap_err().to_string();
        assert!(err.contains("later") && err.contains("control character"), "and at each login: {err}");
        // A home ~/.vault-token too.
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".vault-token"), "s.x\x02y").unwrap();
        let err = resolve(&ConnectArgs::default(), &[], Some(home.path().to_owned())).unwrap_err().to_string();
        assert!(err.contains(".vault-token"), "{err}");
        // Good values pass, including a trailing newline in a file (trimmed).
        std::fs::write(home.path().join(".vault-token"), "hvs.CAESIJ-abc_123.x\n").unwrap();
        resolve(&ConnectArgs::default(), &[("VAULT_NAMESPACE", "team-a/ns_1")], Some(home.path().to_owned())).unwrap();
    }

    #[test]
    fn a_zero_client_timeout_is_refused() {
        for v in ["0", "0s", "0ms"] {
            let err = resolve(&ConnectArgs::default(), &[("VAULT_CLIENT_TIMEOUT", v)], None).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{v}: {err:?}");
            let args = ConnectArgs { client_timeout: Some(v.into()), ..Default::default() };
            assert!(resolve(&args, &[], None).is_err(), "--client-timeout {v}");
        }
    }

    #[test]
    fn skip_verify_parses_like_go() {
        let c = resolve(&ConnectArgs::default(), &[("VAULT_SKIP_VERIFY", "1")], None).unwrap();
        assert!(c.tls.skip_verify);
        let c = resolve(&ConnectArgs::default(), &[("VAULT_SKIP_VERIFY", "false")], None).unwrap();
        assert!(!c.tls.skip_verify);
    }
}
