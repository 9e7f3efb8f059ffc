//! TLS material for the server: the operator's certificate and key when given, otherwise a CA and a server
//! certificate generated here (EC P-256) for the names clients use; a node that joins a cluster can instead have
//! its certificate issued here from the first node's CA (its certificate and key copied over). Keys are written
//! 0600, certificates 0644.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};

use super::files::write_file;

/// How long a generated CA and server certificate are valid.
const CA_YEARS: i32 = 10;
const SERVER_DAYS: i64 = 397;

/// What the TLS step did and what clients need to know.
#[derive(Debug)]
pub struct TlsOutcome {
    /// A sentence for the report.
    pub summary: String,
    /// Whether anything was written.
    pub changed: bool,
}

/// Generates a CA and a server certificate for `names` (DNS names and IP addresses) into `dir`, unless a
/// server certificate is already there (a re-run keeps it, so clients keep trusting the same CA). The CA's key
/// goes to `ca_key_file` (0600), so the nodes that later join a cluster can have their certificates issued
/// from the same CA (`deploy --join … --tls-ca ca.pem --tls-ca-key ca-key.pem`).
pub fn ensure_generated(dir: &Path, names: &[String], ca_key_file: &Path) -> anyhow::Result<TlsOutcome> {
    let cert_path = dir.join("server.pem");
    if cert_path.exists() {
        let expiry = expiry_of(&cert_path)?;
        return Ok(TlsOutcome { summary: format!("server certificate kept (expires {expiry})"), changed: false });
    }
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, "vault-toolkit deployment CA");
    let now = time::OffsetDateTime::now_utc();
    ca.not_before = now - time::Duration::hours(1);
    ca.not_after = now.replace_year(now.year() + CA_YEARS).unwrap_or(now + time::Duration::days(3650));
    let ca_cert = ca.self_signed(&ca_key)?;
    write_file(ca_key_file, zeroize::Zeroizing::new(ca_key.serialize_pem()).as_bytes(), 0o600)?;
    let issuer = Issuer::new(ca, ca_key);
    // The certificate last: its presence is what tells a re-run that the CA and key are there.
    write_file(&dir.join("ca.pem"), ca_cert.pem().as_bytes(), 0o644)?;
    let not_after = issue_leaf(dir, &issuer, &ca_cert.pem(), names)?;
    Ok(TlsOutcome {
        summary: format!(
            "generated a CA (expires {}, its key in {}) and a server certificate for {} (expires {})",
            date(ca_cert_not_after(&ca_cert)?),
            ca_key_file.display(),
            names.join(", "),
            date(not_after)
        ),
        changed: true,
    })
}

/// Issues this node's server certificate for `names` from the CA whose certificate and key the operator copied
/// from the first node, and installs that CA as `dir/ca.pem`. A re-run keeps a certificate this CA issued that
/// already names every one of `names`.
pub fn issue_from_ca(dir: &Path, ca: &Path, ca_key: &Path, names: &[String]) -> anyhow::Result<TlsOutcome> {
    let (ca_pem, issuer) = read_ca(ca, ca_key)?;
    let cert_path = dir.join("server.pem");
    let installed_ca = std::fs::read(dir.join("ca.pem")).ok();
    if installed_ca.as_deref() == Some(ca_pem.as_bytes())
        && dir.join("server-key.pem").exists()
        && names_of(&cert_path).is_ok_and(|have| names.iter().all(|n| have.contains(n)))
    {
        let expiry = expiry_of(&cert_path)?;
        return Ok(TlsOutcome {
            summary: format!("server certificate from {} kept (expires {expiry})", ca.display()),
            changed: false,
        });
    }
    let not_after = issue_leaf(dir, &issuer, &ca_pem, names)?;
    write_file(&dir.join("ca.pem"), ca_pem.as_bytes(), 0o644)?;
    Ok(TlsOutcome {
        summary: format!(
            "issued a server certificate for {} from the CA {} (expires {})",
            names.join(", "),
            ca.display(),
            date(not_after)
        ),
        changed: true,
    })
}

/// Reads a CA certificate and its key, checking they belong together: an input error otherwise.
pub fn read_ca(ca: &Path, ca_key: &Path) -> anyhow::Result<(String, Issuer<'static, KeyPair>)> {
    let ca_pem = std::fs::read_to_string(ca).with_context(|| format!("reading the CA {}", ca.display()))?;
    let key_pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(ca_key).with_context(|| format!("reading the CA key {}", ca_key.display()))?,
    );
    let Ok(key) = KeyPair::from_pem(&key_pem) else {
        vault_core::usage_bail!("{} is not a PEM private key", ca_key.display());
    };
    let Some(der) = first_certificate(ca_pem.as_bytes()) else {
        vault_core::usage_bail!("{} holds no PEM certificate", ca.display());
    };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(&der) else {
        vault_core::usage_bail!("{} holds no valid certificate", ca.display());
    };
    if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        vault_core::usage_bail!("the CA key {} does not belong to the CA {}", ca_key.display(), ca.display());
    }
    if !parsed.is_ca() {
        vault_core::usage_bail!("{} is not a CA certificate", ca.display());
    }
    let issuer = Issuer::from_ca_cert_der(&der.into(), key)
        .with_context(|| format!("reading the CA {} to issue from it", ca.display()))?;
    Ok((ca_pem, issuer))
}

/// Signs a server certificate (and a new key) for `names`, and writes it with the CA's chain; returns its expiry.
fn issue_leaf(
    dir: &Path,
    issuer: &Issuer<'_, KeyPair>,
    ca_pem: &str,
    names: &[String],
) -> anyhow::Result<time::OffsetDateTime> {
    let now = time::OffsetDateTime::now_utc();
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(Vec::<String>::new())?;
    for name in names {
        leaf.subject_alt_names.push(match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => {
                SanType::DnsName(name.as_str().try_into().with_context(|| format!("{name:?} is not a DNS name"))?)
            }
        });
    }
    leaf.distinguished_name.push(DnType::CommonName, names.first().map(String::as_str).unwrap_or("vault"));
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - time::Duration::hours(1);
    leaf.not_after = now + time::Duration::days(SERVER_DAYS);
    let cert = leaf.signed_by(&key, issuer)?;
    write_file(&dir.join("server-key.pem"), zeroize::Zeroizing::new(key.serialize_pem()).as_bytes(), 0o600)?;
    // The chain goes with the leaf so clients that trust only the CA can verify it.
    write_file(&dir.join("server.pem"), format!("{}{ca_pem}", cert.pem()).as_bytes(), 0o644)?;
    Ok(leaf.not_after)
}

/// The DNS names and IP addresses a PEM file's first certificate is valid for.
fn names_of(path: &Path) -> anyhow::Result<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let pem = std::fs::read(path)?;
    let der = first_certificate(&pem).context("no PEM certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(IpAddr::from(<[u8; 4]>::try_from(*bytes)?).to_string()),
                    16 => names.push(IpAddr::from(<[u8; 16]>::try_from(*bytes)?).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(names)
}

/// Installs the operator's certificate and key (and CA, when given) into `dir`, after checking they parse and
/// belong together.
pub fn install_given(dir: &Path, cert: &Path, key: &Path, ca: Option<&Path>) -> anyhow::Result<TlsOutcome> {
    let cert_pem = std::fs::read(cert).with_context(|| format!("reading the TLS certificate {}", cert.display()))?;
    let key_pem =
        zeroize::Zeroizing::new(std::fs::read(key).with_context(|| format!("reading the TLS key {}", key.display()))?);
    let parsed_key = KeyPair::from_pem(&String::from_utf8_lossy(&key_pem))
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    let leaf = first_certificate(&cert_pem).with_context(|| format!("{} holds no PEM certificate", cert.display()))?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(&leaf).with_context(|| format!("parsing {}", cert.display()))?;
    if parsed.public_key().subject_public_key.data.as_ref() != parsed_key.public_key_raw() {
        vault_core::usage_bail!("the TLS key {} does not belong to the certificate {}", key.display(), cert.display());
    }
    let mut changed = false;
    for (target, bytes, mode) in
        [(dir.join("server.pem"), cert_pem, 0o644), (dir.join("server-key.pem"), key_pem.to_vec(), 0o600)]
    {
        if std::fs::read(&target).ok().as_deref() != Some(&bytes[..]) {
            write_file(&target, &bytes, mode)?;
            changed = true;
        }
    }
    if let Some(ca) = ca {
        let bytes = std::fs::read(ca).with_context(|| format!("reading the CA {}", ca.display()))?;
        if std::fs::read(dir.join("ca.pem")).ok() != Some(bytes.clone()) {
            write_file(&dir.join("ca.pem"), &bytes, 0o644)?;
            changed = true;
        }
    }
    let expiry = expiry_of(&dir.join("server.pem"))?;
    let verb = if changed { "installed" } else { "kept" };
    Ok(TlsOutcome {
        summary: format!("{verb} the operator's certificate {} (expires {expiry})", cert.display()),
        changed,
    })
}

/// The expiry date of the first certificate in a PEM file.
pub fn expiry_of(path: &Path) -> anyhow::Result<String> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let der = first_certificate(&pem).with_context(|| format!("{} holds no PEM certificate", path.display()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).with_context(|| format!("parsing {}", path.display()))?;
    Ok(date(cert.validity().not_after.to_datetime()))
}

fn ca_cert_not_after(cert: &rcgen::Certificate) -> anyhow::Result<time::OffsetDateTime> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.der())?;
    Ok(parsed.validity().not_after.to_datetime())
}

fn first_certificate(pem: &[u8]) -> Option<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
}

fn date(t: time::OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer_and_subject(pem: &Path) -> (String, String) {
        let der = first_certificate(&std::fs::read(pem).unwrap()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        (cert.issuer().to_string(), cert.subject().to_string())
    }

    #[test]
    fn a_joining_node_gets_a_certificate_from_the_first_nodes_ca_for_its_own_names() {
        let first = tempfile::tempdir().unwrap();
        let joining = tempfile::tempdir().unwrap();
        let ca_key = first.path().join("ca-key.pem");
        assert!(ensure_generated(first.path(), &["localhost".into()], &ca_key).unwrap().changed);
        let ca = first.path().join("ca.pem");
        let names = vec!["localhost".to_owned(), "10.0.0.3".to_owned(), "vault-3.internal".to_owned()];
        let issued = issue_from_ca(joining.path(), &ca, &ca_key, &names).unwrap();
        assert!(issued.changed, "{}", issued.summary);
        assert_eq!(names_of(&joining.path().join("server.pem")).unwrap(), names);
        let (issuer, _) = issuer_and_subject(&joining.path().join("server.pem"));
        assert_eq!(issuer, issuer_and_subject(&ca).1, "issued by the first node's CA");
        assert_eq!(std::fs::read(joining.path().join("ca.pem")).unwrap(), std::fs::read(&ca).unwrap());
        // A re-run keeps it; a new name issues a new one.
        assert!(!issue_from_ca(joining.path(), &ca, &ca_key, &names).unwrap().changed);
        let more = [names.clone(), vec!["vault.example.com".to_owned()]].concat();
        assert!(issue_from_ca(joining.path(), &ca, &ca_key, &more).unwrap().changed);
        // A key that is not the CA's is an input error.
        let error = issue_from_ca(joining.path(), &ca, &joining.path().join("server-key.pem"), &names).unwrap_err();
        assert!(error.to_string().contains("does not belong to the CA"), "{error}");
    }
}
