//! Integration tests of env-migrate: one binary, one module per feature.

mod cli;
mod crash;
mod dotenv_compat;
mod failover;
mod flow;
mod patch;
mod reliability;
mod robust;
mod safety;
mod util;
