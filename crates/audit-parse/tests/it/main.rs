//! Integration tests for audit-parse. The audit log comes from a real OpenBao (raft + TLS, file audit device)
//! started by vault-testkit and driven through vault-core; a server that cannot start fails the test.
//!
//! One server serves every check that needs a real log (`live::real_openbao_audit_log` runs them in turn, each
//! module checking one feature), so the suite starts one server and leaves nothing behind.

mod corrupt;
mod follow;
mod fuzz;
mod kv_paths;
mod live;
mod reliability;
mod report;
mod retain;
mod robust;
mod rotated;
mod usage;
mod util;
