//! The `secret-scan` binary. The command line lives in the library ([`secret_scan::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `secret-scan`.

fn main() -> std::process::ExitCode {
    secret_scan::cli::main()
}
