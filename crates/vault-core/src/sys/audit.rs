//! Audit devices: which are enabled (`sys/audit`, which needs `sudo`) and enabling a file device through the
//! API (HashiCorp Vault; OpenBao takes devices from its config file only).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Serialize;

use crate::client::Client;
use crate::error::Result;

/// An enabled audit device. Its options are left out: they differ by device type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditDevice {
    /// Where it is enabled, e.g. `file/`.
    pub path: String,
    /// Its type: `file`, `syslog`, `socket`.
    #[serde(rename = "type")]
    pub device_type: String,
}

impl Client {
    /// The enabled audit devices, sorted by path.
    pub async fn audit_devices(&self) -> Result<Vec<AuditDevice>> {
        let answer = self.request(Method::GET, "sys/audit", None).await?.unwrap_or_default();
        Ok(parse_devices(&answer))
    }

    /// Enables a `file` audit device at `name` writing to `file_path`.
    pub async fn enable_file_audit(&self, name: &str, file_path: &str) -> Result<()> {
        let options = BTreeMap::from([("file_path", file_path)]);
        let body = serde_json::json!({ "type": "file", "options": options });
        self.request(Method::PUT, &format!("sys/audit/{}", name.trim_matches('/')), Some(&body)).await.map(drop)
    }
}

/// Vault answers `{"file/": {"type": "file", …}, …}`, and newer servers repeat the map under `data`.
pub fn parse_devices(answer: &serde_json::Value) -> Vec<AuditDevice> {
    let map = answer.get("data").filter(|d| d.is_object()).unwrap_or(answer);
    let mut devices: Vec<AuditDevice> = map
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(path, device)| {
            let kind = device.get("type")?.as_str()?;
            Some(AuditDevice { path: path.clone(), device_type: kind.to_owned() })
        })
        .collect();
    devices.sort_by(|a, b| a.path.cmp(&b.path));
    devices
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn devices_come_from_either_shape() {
        let device = json!({"type": "file", "description": "", "options": {"file_path": "/var/log/a"}});
        let flat = json!({"file/": device, "request_id": "x", "lease_id": ""});
        let nested = json!({"data": {"file/": device, "sys/": {"type": "syslog"}}});
        assert_eq!(parse_devices(&flat), vec![AuditDevice { path: "file/".into(), device_type: "file".into() }]);
        assert_eq!(parse_devices(&nested).len(), 2);
        assert!(parse_devices(&json!({})).is_empty());
    }
}
