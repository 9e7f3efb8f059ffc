//! The examples `secret-scan --help` and its subcommands' show (checked by the xtask's help test: each line parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[
    // The tool itself: its after_help already opens with examples.
    (
        "scan",
        "secret-scan scan --min-confidence medium src/
         secret-scan scan --git-history -f jsonl
         secret-scan scan --baseline .secret-scan-baseline.json .",
    ),
    ("rules", "secret-scan rules list -f json"),
    ("rules list", "secret-scan rules list\n secret-scan rules list -f jsonl"),
    ("rules check", "secret-scan rules check --rules team-rules.toml"),
    ("baseline", "secret-scan baseline create .secret-scan-baseline.json ."),
    ("baseline create", "secret-scan baseline create .secret-scan-baseline.json ."),
    ("baseline update", "secret-scan baseline update .secret-scan-baseline.json ."),
    ("install-hook", "secret-scan install-hook\n secret-scan install-hook --force ~/src/pipelines"),
];
