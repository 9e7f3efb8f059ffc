//! Integration tests for vault-health: the built binary (and the library) against real OpenBao servers started by
//! vault-testkit — dev mode, and raft + TLS servers that are active, sealed, uninitialised or stopped. A server
//! that cannot start fails the test.

mod util;

mod api;
mod audit;
mod backup;
mod canary;
mod cli;
mod cluster;
mod reliability;
mod robust;
mod script;
mod states;
mod tls;
mod token;
