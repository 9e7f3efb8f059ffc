//! The `vault-backup` binary. The command line lives in the library ([`vault_backup::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `vault-backup`.

fn main() -> std::process::ExitCode {
    vault_backup::cli::main()
}
