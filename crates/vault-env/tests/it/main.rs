//! Integration tests for vault-env: the built binary against real OpenBao dev servers (and PostgreSQL for the
//! database engine) started by vault-testkit. A server that cannot start fails the test.

mod util;

mod check;
mod db;
mod export;
mod failover;
mod get;
mod reliability;
mod robust;
mod run;
mod serve;
