//! The server's configuration, rendered from the deployment's layout: raft integrated storage (raft snapshots
//! need it), a TLS-only listener (TLS 1.2 at least), `api_addr`/`cluster_addr`, no UI unless asked, telemetry
//! for Prometheus, and on OpenBao the two audit devices (OpenBao enables audit devices only from its config;
//! HashiCorp Vault gets them through the API after init).

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::{Flavor, Layout};

/// Settings that shape the config file.
pub struct ServerSettings<'a> {
    pub flavor: Flavor,
    pub listen: SocketAddr,
    /// The address clients use (goes into `api_addr`).
    pub api_addr: &'a str,
    pub ui: bool,
    pub node_id: &'a str,
    /// The API addresses of the other nodes of a cluster, for `retry_join`; empty for a single node.
    pub retry_join: Vec<String>,
    /// The CA that signed the other nodes' certificates, for `retry_join`.
    pub leader_ca: Option<std::path::PathBuf>,
}

/// The two audit device names and their files. Two, because Vault stops answering requests when no audit device
/// can write: a second device on another path keeps it answering if one file becomes unwritable.
pub fn audit_devices(layout: &Layout) -> [(&'static str, std::path::PathBuf); 2] {
    [
        ("file", layout.audit_dir.join("audit.log")),
        ("file-secondary", layout.audit_secondary_dir.join("audit-secondary.log")),
    ]
}

pub fn render(layout: &Layout, s: &ServerSettings<'_>) -> String {
    let cluster = SocketAddr::new(s.listen.ip(), s.listen.port() + 1);
    let cluster_host = s.api_addr.trim_start_matches("https://").rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    let mut out = String::new();
    let _ = writeln!(out, "# Rendered by `cargo xtask deploy`; a re-run rewrites it. See docs/vault-server-config.md.");
    let _ = writeln!(out, "ui = {}", s.ui);
    let _ = writeln!(out, "api_addr = \"{}\"", s.api_addr);
    let _ = writeln!(out, "cluster_addr = \"https://{cluster_host}:{}\"", cluster.port());
    if s.flavor == Flavor::Vault {
        // HashiCorp's advice for integrated storage: mlock does not play well with memory-mapped raft files.
        // The systemd unit forbids swap (MemorySwapMax=0) instead.
        let _ = writeln!(out, "disable_mlock = true");
    }
    let _ = write!(
        out,
        r#"
storage "raft" {{
  path    = "{data}"
  node_id = "{node}"
  # 1 is the tuning for production; the default (5) is for development.
  performance_multiplier = 1
{joins}}}

listener "tcp" {{
  address         = "{listen}"
  cluster_address = "{cluster}"
  tls_cert_file   = "{tls}/server.pem"
  tls_key_file    = "{tls}/server-key.pem"
  tls_min_version = "tls12"
}}

telemetry {{
  disable_hostname          = true
  prometheus_retention_time = "24h"
}}
"#,
        data = layout.data_dir.display(),
        node = s.node_id,
        listen = s.listen,
        tls = layout.tls_dir.display(),
        joins = retry_join(s),
    );
    if s.flavor == Flavor::OpenBao {
        for (name, file) in audit_devices(layout) {
            let _ = write!(
                out,
                r#"
audit "file" "{name}" {{
  options {{
    file_path = "{}"
  }}
}}
"#,
                file.display()
            );
        }
    }
    out
}

/// One `retry_join` block per other node: a node that starts uninitialised joins whichever of them leads.
fn retry_join(s: &ServerSettings<'_>) -> String {
    let mut out = String::new();
    for addr in &s.retry_join {
        let _ = writeln!(out, "  retry_join {{");
        let _ = writeln!(out, "    leader_api_addr = \"{addr}\"");
        if let Some(ca) = &s.leader_ca {
            let _ = writeln!(out, "    leader_ca_cert_file = \"{}\"", ca.display());
        }
        let _ = writeln!(out, "  }}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openbao_config_has_audit_stanzas_and_no_mlock_setting() {
        let layout = Layout::local(std::path::Path::new("/srv/v"));
        let settings = ServerSettings {
            flavor: Flavor::OpenBao,
            listen: "127.0.0.1:8200".parse().unwrap(),
            api_addr: "https://127.0.0.1:8200",
            ui: false,
            node_id: "vault-1",
            retry_join: Vec::new(),
            leader_ca: None,
        };
        let hcl = render(&layout, &settings);
        assert!(hcl.contains("tls_min_version = \"tls12\""));
        assert!(hcl.contains("cluster_addr = \"https://127.0.0.1:8201\""));
        assert!(hcl.contains("audit \"file\" \"file\""));
        assert!(hcl.contains("audit \"file\" \"file-secondary\""));
        assert!(!hcl.contains("disable_mlock"), "OpenBao rejects disable_mlock");
        assert!(hcl.contains("ui = false"));
        let vault = render(&layout, &ServerSettings { flavor: Flavor::Vault, ..settings });
        assert!(vault.contains("disable_mlock = true") && !vault.contains("audit \"file\""));
        assert!(!hcl.contains("retry_join"), "a single node joins nobody");
    }

    #[test]
    fn a_cluster_node_joins_every_other_node_with_their_ca() {
        let layout = Layout::local(std::path::Path::new("/srv/v/nodes/node2"));
        let settings = ServerSettings {
            flavor: Flavor::OpenBao,
            listen: "127.0.0.1:8202".parse().unwrap(),
            api_addr: "https://127.0.0.1:8202",
            ui: false,
            node_id: "vault-2",
            retry_join: vec!["https://127.0.0.1:8200".into(), "https://127.0.0.1:8204".into()],
            leader_ca: Some("/srv/v/tls/ca.pem".into()),
        };
        let hcl = render(&layout, &settings);
        assert_eq!(hcl.matches("retry_join {").count(), 2, "{hcl}");
        assert!(hcl.contains("leader_api_addr = \"https://127.0.0.1:8204\""));
        assert!(hcl.contains("leader_ca_cert_file = \"/srv/v/tls/ca.pem\""));
        assert!(hcl.contains("node_id = \"vault-2\""));
        assert!(hcl.contains("cluster_addr = \"https://127.0.0.1:8203\""));
        // The blocks sit inside the raft stanza.
        let raft = &hcl[hcl.find("storage \"raft\"").unwrap()..hcl.find("listener").unwrap()];
        assert!(raft.contains("retry_join"));
    }

    #[test]
    fn a_joining_host_names_the_first_node_its_ca_and_the_same_audit_files() {
        // What `deploy --join https://10.0.0.2:8200` renders on the second VPS (the systemd layout).
        let layout = Layout::system();
        let settings = ServerSettings {
            flavor: Flavor::OpenBao,
            listen: "0.0.0.0:8200".parse().unwrap(),
            api_addr: "https://10.0.0.3:8200",
            ui: false,
            node_id: "10.0.0.3",
            retry_join: vec!["https://10.0.0.2:8200".into()],
            leader_ca: Some(layout.ca_file()),
        };
        let hcl = render(&layout, &settings);
        assert_eq!(hcl.matches("retry_join {").count(), 1, "{hcl}");
        assert!(hcl.contains("leader_api_addr = \"https://10.0.0.2:8200\""), "{hcl}");
        assert!(hcl.contains("leader_ca_cert_file = \"/etc/vault.d/tls/ca.pem\""), "{hcl}");
        assert!(hcl.contains("node_id = \"10.0.0.3\""), "{hcl}");
        assert!(hcl.contains("api_addr = \"https://10.0.0.3:8200\""), "{hcl}");
        assert!(hcl.contains("cluster_addr = \"https://10.0.0.3:8201\""), "{hcl}");
        assert!(hcl.contains("cluster_address = \"0.0.0.0:8201\""), "{hcl}");
        // Every host names the same audit files: the audit table is replicated from the first node.
        assert!(hcl.contains("file_path = \"/var/log/vault/audit.log\""), "{hcl}");
        assert!(hcl.contains("file_path = \"/var/lib/vault/audit/audit-secondary.log\""), "{hcl}");
    }
}
