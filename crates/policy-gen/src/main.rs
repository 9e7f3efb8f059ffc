//! The `policy-gen` binary. The command line lives in the library ([`policy_gen::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `policy-gen`.

fn main() -> std::process::ExitCode {
    policy_gen::cli::main()
}
