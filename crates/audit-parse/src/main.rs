//! The `audit-parse` binary. The command line lives in the library ([`audit_parse::cli`]) so that the multi-call
//! `vault-toolkit` binary of the packaged build runs the very same program when invoked as `audit-parse`.

fn main() -> std::process::ExitCode {
    audit_parse::cli::main()
}
