//! Integration tests of secret-scan: one binary, one module per feature.

mod ci;
mod corpus;
mod files;
mod formats;
mod git;
mod help;
mod known;
mod robust;
mod rules;
mod suppress;
mod util;
