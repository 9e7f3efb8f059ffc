//! Integration tests for policy-gen: the built binary on real files, and the library and the binary against
//! real OpenBao dev servers started by vault-testkit (a server that cannot start fails the test).

mod agreement;
mod check;
mod explain;
mod fmt;
mod from_audit;
mod live;
mod reliability;
mod robust;
mod shipped;
mod util;
