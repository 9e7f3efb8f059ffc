//! Integration tests for secret-rotate: the built binary against real OpenBao dev servers (and a real PostgreSQL
//! for database static roles) started by vault-testkit. A server that cannot start fails the test.

mod util;

mod check;
mod command;
mod crash;
mod database;
mod derived;
mod environment;
mod generate;
mod reliability;
mod robust;
mod rollback;
