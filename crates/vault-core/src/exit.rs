//! The exit-code table every tool shares.
//!
//! Scripts and CI jobs branch on these numbers, so they are public API: never renumber them.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | the answer is no: findings, unhealthy, denied, drift, something overdue |
//! | 2 | usage or input error: bad flags, malformed file, invalid path |
//! | 3 | the server is unavailable: unreachable, TLS failure, sealed, not initialised, authentication failed |
//! | 4 | the operation failed: permission denied, check-and-set conflict, a partial failure, an I/O error |

use std::process::ExitCode;

/// A process exit status with a meaning from the shared table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// 0: success.
    Ok,
    /// 1: the answer is no (findings, unhealthy, denied, drift).
    No,
    /// 2: usage or input error.
    Usage,
    /// 3: server unreachable, sealed, TLS or authentication failure.
    Unavailable,
    /// 4: the operation failed (permission denied, conflict, partial failure, I/O).
    Failed,
}

impl Exit {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::No => 1,
            Exit::Usage => 2,
            Exit::Unavailable => 3,
            Exit::Failed => 4,
        }
    }

    /// The table as text, for `--help` footers (`after_help`).
    pub const HELP: &'static str = "Exit codes:\n  0  success\n  1  the answer is no (findings, unhealthy, denied, drift)\n  2  usage or input error\n  3  server unavailable: unreachable, TLS failure, sealed, not initialised, authentication failed\n  4  operation failed: permission denied, check-and-set conflict, partial failure, I/O error";
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}
