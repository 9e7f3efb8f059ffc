//! Audit devices: `GET sys/audit` (which needs a token with `sudo` on `sys/audit`; deploy's `health` identity has
//! it). Any other identity is refused, and the check is then skipped with the reason: whether the devices work
//! is not that identity's question, and an UNKNOWN would turn every other identity's run red.
//!
//! No device at all is critical: nothing records who read which secret, which fails any audit, and the
//! toolkit's own `audit-parse` has nothing to read. One device is a warning by default (`--audit-min-devices 2`):
//! Vault refuses every request when no enabled device can write, so a single device on a full disk takes the
//! whole server down; `cargo xtask deploy` enables two for that reason.

use vault_core::Client;

use crate::Thresholds;
use crate::details::{AuditDetails, AuditDevice};
use crate::report::{Check, CheckName, Details, Limits, Metric, Status};

/// Lists the enabled audit devices.
pub(crate) async fn probe(client: &Client) -> vault_core::Result<Vec<AuditDevice>> {
    client.audit_devices().await
}

/// Judges the number of devices: none is critical, fewer than `audit_min_devices` a warning.
pub(crate) fn check(devices: vault_core::Result<Vec<AuditDevice>>, thresholds: &Thresholds) -> Check {
    let devices = match devices {
        Ok(devices) => devices,
        Err(vault_core::Error::PermissionDenied { .. }) => {
            return Check::skipped(
                CheckName::Audit,
                "this token may not list audit devices (reading sys/audit needs sudo, which the health identity has)",
            );
        }
        Err(error) => return Check::new(CheckName::Audit, Status::Unknown, format!("sys/audit: {error}")),
    };
    let limits = Limits::below(thresholds.audit_min_devices as f64, 1.0);
    let status = limits.status(devices.len() as f64);
    let list = devices.iter().map(|d| format!("{} ({})", d.path, d.device_type)).collect::<Vec<_>>().join(", ");
    let summary = match (devices.len(), status) {
        (0, _) => "no audit device enabled: nothing records who did what".to_owned(),
        (1, Status::Warn) => {
            format!("1 audit device, {list}: Vault stops answering when no device can write; enable a second one")
        }
        (n, Status::Warn) => format!("{n} audit devices ({list}), fewer than {}", thresholds.audit_min_devices),
        (1, _) => format!("1 audit device: {list}"),
        (n, _) => format!("{n} audit devices: {list}"),
    };
    Check::new(CheckName::Audit, status, summary)
        .metric(Metric::count("audit_devices", devices.len(), Some(limits)))
        .details(Details::Audit(AuditDetails { devices }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_critical_and_one_is_a_warning() {
        let t = Thresholds::default();
        let dev = |p: &str| AuditDevice { path: p.into(), device_type: "file".into() };
        assert_eq!(check(Ok(vec![]), &t).status, Status::Crit);
        assert_eq!(check(Ok(vec![dev("a/")]), &t).status, Status::Warn);
        assert_eq!(check(Ok(vec![dev("a/"), dev("b/")]), &t).status, Status::Ok);
        let one_is_enough = Thresholds { audit_min_devices: 1, ..Thresholds::default() };
        assert_eq!(check(Ok(vec![dev("a/")]), &one_is_enough).status, Status::Ok);
    }

    #[test]
    fn a_token_without_sudo_skips_the_check_with_the_reason() {
        let denied = Err(vault_core::Error::PermissionDenied { path: "sys/audit".into(), operation: "read".into() });
        let c = check(denied, &Thresholds::default());
        assert_eq!(c.status, Status::Skipped);
        assert!(c.summary.contains("needs sudo"), "{}", c.summary);
        let down = Err(vault_core::Error::Unreachable { address: "https://v".into(), detail: "refused".into() });
        assert_eq!(check(down, &Thresholds::default()).status, Status::Unknown, "only a refusal is a skip");
    }
}
