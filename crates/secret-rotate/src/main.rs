//! The `secret-rotate` binary. The command line lives in the library ([`secret_rotate::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `secret-rotate`.

fn main() -> std::process::ExitCode {
    secret_rotate::cli::main()
}
