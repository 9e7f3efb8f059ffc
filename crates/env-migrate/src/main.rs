//! The `env-migrate` binary. The command line lives in the library ([`env_migrate::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `env-migrate`.

fn main() -> std::process::ExitCode {
    env_migrate::cli::main()
}
