//! The `vault-health` binary. The command line lives in the library ([`vault_health::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `vault-health`.

fn main() -> std::process::ExitCode {
    vault_health::cli::main()
}
