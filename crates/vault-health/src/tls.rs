//! The certificate the listener actually serves, seen through a TLS handshake of our own.
//!
//! The HTTP client hides the certificate it verified, and a certificate file on disk says nothing about what a
//! running server serves (Vault reads it at start and on SIGHUP). So this module connects to the address itself,
//! with rustls on aws-lc-rs (the stack reqwest uses), and a verifier that records the chain the server sent and
//! then verifies it exactly as the client would: against the configured CA file or folder (`VAULT_CACERT`,
//! `VAULT_CAPATH`), else the system's roots. The handshake fails when verification fails, as it should, but the
//! chain is captured first, so an expired or untrusted certificate is still described.
//!
//! With `--cert-file`, the file's first certificate is compared with the served one: when they differ, the file
//! was replaced but the server was not told (send SIGHUP), or the file is not the one the listener uses.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::Host;
use vault_core::config::{Config, TlsConfig, read_pem_certs};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::Thresholds;
use crate::details::{CertFileDetails, TlsDetails};
use crate::report::{Check, CheckName, Details, Limits, Metric, Status, Unit};

const DAY: f64 = 86_400.0;

/// The longest a connection and handshake may take, as for vault-core's HTTP client's connect timeout: a health
/// check that hangs is worse than one that says "unreachable".
const MAX_HANDSHAKE: Duration = Duration::from_secs(10);

/// What the handshake found.
#[derive(Debug)]
pub(crate) enum Probe {
    /// The address is plain HTTP: there is no certificate.
    PlainHttp { host: String, loopback: bool },
    /// No TCP connection could be made.
    Unreachable(String),
    /// The check could not be set up (an unreadable CA or client-certificate file).
    Setup(String),
    /// A handshake was attempted.
    Handshake(Handshake),
}

/// A handshake's outcome: the chain the server sent (when it got that far) and what went wrong, if anything.
#[derive(Debug)]
pub(crate) struct Handshake {
    server_name: String,
    chain: Vec<CertificateDer<'static>>,
    /// Why the chain was not trusted, from the verifier.
    verify_error: Option<String>,
    /// Why the handshake failed otherwise (protocol mismatch, plain HTTP on the port, …).
    handshake_error: Option<String>,
    protocol: Option<String>,
}

/// Connects to the configured address and performs a TLS handshake, capturing what the server presents; gives up
/// at `deadline` (the run's time limit) if that comes first.
pub(crate) async fn probe(config: &Config, deadline: Option<std::time::Instant>) -> Probe {
    let address = &config.address;
    let (host, loopback) = match address.host() {
        Some(Host::Domain(name)) => (name.to_owned(), name.eq_ignore_ascii_case("localhost")),
        Some(Host::Ipv4(ip)) => (ip.to_string(), ip.is_loopback()),
        Some(Host::Ipv6(ip)) => (ip.to_string(), ip.is_loopback()),
        None => return Probe::Setup(format!("the address {address} has no host")),
    };
    if address.scheme() == "http" {
        return Probe::PlainHttp { host, loopback };
    }
    let port = address.port_or_known_default().unwrap_or(443);
    let name = config.tls.server_name.clone().unwrap_or_else(|| host.clone());
    let server_name = match ServerName::try_from(name.clone()) {
        Ok(n) => n,
        Err(e) => return Probe::Setup(format!("{name:?} is not a valid TLS server name: {e}")),
    };
    let (client_config, capture) = match client_config(&config.tls) {
        Ok(c) => c,
        Err(e) => return Probe::Setup(e),
    };
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| Probe::Unreachable(format!("cannot connect to {host}:{port}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        match connector.connect(server_name, tcp).await {
            Ok(mut stream) => {
                let protocol = stream.get_ref().1.protocol_version().map(|v| format!("{v:?}"));
                // Say goodbye properly so the server does not log an aborted connection; it does not matter if
                // that fails.
                let _ = stream.shutdown().await;
                Ok((protocol, None))
            }
            Err(e) => Ok((None, Some(e.to_string()))),
        }
    };
    let mut limit = config.timeout.min(MAX_HANDSHAKE);
    if let Some(deadline) = deadline {
        limit = limit.min(deadline.saturating_duration_since(std::time::Instant::now()));
    }
    let outcome = match tokio::time::timeout(limit, connect).await {
        Ok(outcome) => outcome,
        Err(_) => {
            Err(Probe::Unreachable(format!("no TLS handshake with {host}:{port} within {:.1}s", limit.as_secs_f64())))
        }
    };
    let (protocol, handshake_error) = match outcome {
        Ok(o) => o,
        Err(probe) => return probe,
    };
    let seen = capture.seen.lock().unwrap_or_else(PoisonError::into_inner).take();
    let (chain, verify_error) = seen.map_or((Vec::new(), None), |s| (s.chain, s.verdict.err()));
    // The verifier's error is the precise one; the handshake error then only repeats it.
    let handshake_error = if verify_error.is_some() { None } else { handshake_error };
    Probe::Handshake(Handshake { server_name: name, chain, verify_error, handshake_error, protocol })
}

/// A rustls client configuration that trusts what the HTTP client trusts and presents the same client certificate,
/// with a verifier that records the chain.
fn client_config(tls: &TlsConfig) -> Result<(ClientConfig, Arc<Capturing>), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner: Arc<dyn ServerCertVerifier> = if tls.ca_cert.is_some() || tls.ca_path.is_some() {
        // A configured CA replaces the system's roots, as in vault-core's HTTP client.
        let mut roots = RootCertStore::empty();
        for (file, cert) in tls.trusted_ca_certs().map_err(message)? {
            roots
                .add(cert)
                .map_err(|e| format!("the CA file {} holds an unusable certificate: {e}", file.display()))?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("cannot use the configured CA certificates: {e}"))?
    } else {
        Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| format!("cannot load the system's trusted CAs: {e}"))?,
        )
    };
    let capture = Arc::new(Capturing { inner, seen: Mutex::new(None) });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(capture.clone());
    let config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let certs = read_pem_certs("the client certificate", cert).map_err(message)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read the client key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("the client certificate {} is not usable: {e}", cert.display()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok((config, capture))
}

/// A vault-core error as this check's message: a configuration error's own words.
fn message(error: vault_core::Error) -> String {
    match error {
        vault_core::Error::Config(message) => message,
        other => other.to_string(),
    }
}

/// What the server presented, and whether it verified.
#[derive(Debug)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    verdict: Result<(), String>,
}

/// Records the chain, then verifies it with the real verifier and returns its verdict unchanged.
#[derive(Debug)]
struct Capturing {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Capturing {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.clone().into_owned()).collect();
        let recorded = verdict.as_ref().map(drop).map_err(ToString::to_string);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(Seen { chain, verdict: recorded });
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Judges the probe: verification, days to expiry, SAN, and the file on disk.
///
/// When our own connection fails but the HTTP client reached the server (`server_reachable`), something between
/// the two differs (a proxy, a firewall): the check cannot tell, rather than being skipped like everything else on
/// a server that is down.
pub(crate) fn check(
    probe: Probe,
    server_reachable: bool,
    cert_file: Option<&Path>,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Check {
    let handshake = match probe {
        Probe::PlainHttp { host, loopback: true } => {
            return Check::skipped(CheckName::Tls, format!("plain HTTP to {host} (loopback): no certificate to check"));
        }
        Probe::PlainHttp { host, loopback: false } => {
            return Check::new(
                CheckName::Tls,
                Status::Warn,
                format!("plain HTTP to {host}: tokens and secrets cross the network unencrypted; use https://"),
            );
        }
        Probe::Unreachable(why) if server_reachable => return Check::new(CheckName::Tls, Status::Unknown, why),
        Probe::Unreachable(why) => return Check::skipped(CheckName::Tls, why),
        Probe::Setup(why) => return Check::new(CheckName::Tls, Status::Unknown, why),
        Probe::Handshake(h) => h,
    };
    let Some(leaf_der) = handshake.chain.first() else {
        let why = handshake.handshake_error.or(handshake.verify_error).unwrap_or_else(|| "no certificate".into());
        return Check::new(CheckName::Tls, Status::Crit, format!("TLS handshake failed: {why}"));
    };
    let leaf = match Certificate::parse(leaf_der) {
        Ok(leaf) => leaf,
        Err(e) => {
            return Check::new(CheckName::Tls, Status::Crit, format!("the served certificate is unreadable: {e}"));
        }
    };

    let expires_in = (leaf.not_after - now).num_seconds();
    let limits = Limits::below(thresholds.cert_warn.as_secs_f64(), thresholds.cert_crit.as_secs_f64());
    let mut status = limits.status(expires_in as f64);
    let mut summary =
        vec![format!("certificate for {} {}", handshake.server_name, expiry_phrase(expires_in, leaf.not_after))];

    let san_matches = leaf.covers(&handshake.server_name);
    if let Some(error) = &handshake.verify_error {
        status = Status::Crit;
        summary.push(format!("not trusted: {error}"));
    } else if let Some(error) = &handshake.handshake_error {
        status = Status::Crit;
        summary.push(format!("handshake failed: {error}"));
    }
    if !san_matches {
        status = Status::Crit;
        summary.push(format!("its names ({}) do not cover {}", leaf.san_list().join(", "), handshake.server_name));
    }

    let cert_file = match cert_file.map(|path| compare_file(path, leaf_der)) {
        None => None,
        Some(Ok(file)) => {
            if !file.matches_served {
                status = status.max(Status::Warn);
                summary.push(format!(
                    "{} differs from the served certificate (the file expires {}): send the server SIGHUP to load it",
                    file.path.display(),
                    file.not_after.format("%Y-%m-%d")
                ));
            }
            Some(file)
        }
        Some(Err(why)) => {
            status = status.max(Status::Unknown);
            summary.push(why);
            None
        }
    };
    if status == Status::Ok {
        summary.push(format!(
            "chain of {}{}",
            handshake.chain.len(),
            handshake.protocol.as_deref().map(|p| format!(", {p}")).unwrap_or_default()
        ));
    }

    let details = TlsDetails {
        server_name: handshake.server_name,
        verified: handshake.verify_error.is_none() && handshake.handshake_error.is_none(),
        verify_error: handshake.verify_error,
        protocol: handshake.protocol,
        chain_length: handshake.chain.len(),
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
        serial: leaf.serial.clone(),
        sha256: fingerprint(leaf_der),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        expires_in_seconds: expires_in,
        san: leaf.san_list(),
        san_matches,
        cert_file,
    };
    Check::new(CheckName::Tls, status, summary.join("; "))
        .metric(Metric { name: "cert_expiry", value: expires_in as f64, unit: Unit::Seconds, limits: Some(limits) })
        .metric(Metric::count("cert_chain", details.chain_length, None))
        .details(Details::Tls(Box::new(details)))
}

/// `expires in 5 days (2026-11-20)`, `expired 2 days ago (…)`; hours when under a day.
fn expiry_phrase(seconds: i64, not_after: DateTime<Utc>) -> String {
    let date = not_after.format("%Y-%m-%d %H:%M UTC");
    let span = |s: i64| {
        let s = s.unsigned_abs() as f64;
        if s >= DAY {
            let days = (s / DAY).floor() as u64;
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        } else {
            let hours = (s / 3600.0).floor() as u64;
            format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
        }
    };
    if seconds >= 0 {
        format!("expires in {} ({date})", span(seconds))
    } else {
        format!("expired {} ago ({date})", span(seconds))
    }
}

/// Compares the file's first certificate with the served one.
fn compare_file(path: &Path, served: &CertificateDer<'_>) -> Result<CertFileDetails, String> {
    let certs = read_pem_certs("the certificate file", path).map_err(|e| format!("--cert-file: {}", message(e)))?;
    let first = &certs[0];
    let parsed = Certificate::parse(first).map_err(|e| format!("--cert-file {}: {e}", path.display()))?;
    Ok(CertFileDetails {
        path: path.to_owned(),
        matches_served: first.as_ref() == served.as_ref(),
        sha256: fingerprint(first),
        not_after: parsed.not_after,
    })
}

/// `AB:CD:…`, as OpenSSL prints fingerprints, so users can compare with `openssl x509 -fingerprint -sha256`.
fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// A subject alternative name the check understands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum San {
    Dns(String),
    Ip(IpAddr),
}

/// The parts of a certificate the check reports.
#[derive(Debug)]
struct Certificate {
    subject: String,
    issuer: String,
    serial: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    san: Vec<San>,
}

impl Certificate {
    fn parse(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let time = |t: i64| DateTime::from_timestamp(t, 0).ok_or_else(|| format!("validity date {t} out of range"));
        let mut san = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => san.push(San::Dns((*dns).to_owned())),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            san.push(San::Ip(IpAddr::from(v4)));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            san.push(San::Ip(IpAddr::from(v6)));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Certificate {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before: time(cert.validity().not_before.timestamp())?,
            not_after: time(cert.validity().not_after.timestamp())?,
            san,
        })
    }

    fn san_list(&self) -> Vec<String> {
        self.san
            .iter()
            .map(|s| match s {
                San::Dns(name) => format!("DNS:{name}"),
                San::Ip(ip) => format!("IP:{ip}"),
            })
            .collect()
    }

    /// Whether a SAN covers `name` as a TLS client checks it: IP addresses exactly, DNS names case-insensitively
    /// with a leading `*.` matching exactly one label. The subject's CN does not count (RFC 6125; rustls and
    /// Go ignore it too).
    fn covers(&self, name: &str) -> bool {
        if let Ok(ip) = name.trim_matches(['[', ']']).parse::<IpAddr>() {
            return self.san.contains(&San::Ip(ip));
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.san.iter().any(|san| match san {
            San::Dns(pattern) => {
                let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
                match pattern.strip_prefix("*.") {
                    Some(parent) => {
                        name.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
                    }
                    None => pattern == name,
                }
            }
            San::Ip(_) => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(san: &[San]) -> Certificate {
        Certificate {
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            not_before: Utc::now(),
            not_after: Utc::now(),
            san: san.to_vec(),
        }
    }

    #[test]
    fn san_matching_follows_tls_clients() {
        let c = cert(&[
            San::Dns("localhost".into()),
            San::Ip("127.0.0.1".parse().unwrap()),
            San::Dns("*.Example.com".into()),
        ]);
        assert!(c.covers("localhost"));
        assert!(c.covers("LOCALHOST."));
        assert!(c.covers("127.0.0.1"));
        assert!(!c.covers("127.0.0.2"));
        assert!(c.covers("vault.example.com"));
        assert!(!c.covers("example.com"), "a wildcard needs a label");
        assert!(!c.covers("a.b.example.com"), "a wildcard matches one label only");
        assert!(!cert(&[San::Dns("127.0.0.1".into())]).covers("127.0.0.1"), "an IP needs an IP SAN");
        assert!(cert(&[San::Ip("::1".parse().unwrap())]).covers("[::1]"));
    }

    #[test]
    fn expiry_reads_naturally() {
        let at = DateTime::from_timestamp(0, 0).unwrap();
        assert_eq!(expiry_phrase(5 * 86_400 + 30, at), "expires in 5 days (1970-01-01 00:00 UTC)");
        assert_eq!(expiry_phrase(86_400, at), "expires in 1 day (1970-01-01 00:00 UTC)");
        assert_eq!(expiry_phrase(3 * 3600 + 1, at), "expires in 3 hours (1970-01-01 00:00 UTC)");
        assert_eq!(expiry_phrase(-2 * 86_400, at), "expired 2 days ago (1970-01-01 00:00 UTC)");
    }

    #[test]
    fn fingerprints_look_like_openssls() {
        assert_eq!(fingerprint(b"").len(), 32 * 3 - 1);
        assert!(fingerprint(b"").starts_with("E3:B0:C4:42"));
    }
}
