//! The `vault-env` binary. The command line lives in the library ([`vault_env::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `vault-env`.

fn main() -> std::process::ExitCode {
    vault_env::cli::main()
}
