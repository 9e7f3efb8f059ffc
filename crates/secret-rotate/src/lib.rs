//! secret-rotate: scheduled rotation of secrets in Vault / OpenBao, with verification, rollback, crash recovery
//! and a history.
//!
//! - [`policy`]: the policy file (`[[policy]]` entries: schedule, window, strategy, verification, hooks, owner).
//! - [`schedule`]: intervals, five-field cron expressions and allowed windows (UTC).
//! - [`due`]: which secrets are due and why (schedule, window, recorded state).
//! - [`rotate`]: the [`Rotator`] and what a run did ([`Outcome`]); [`kv_rotation`]: the KV v2 state machine,
//!   pending → verify → current, rollback, recovery, manual rollback.
//! - [`state`]: the rotation state kept in each secret's KV v2 `custom_metadata`, readable by any tool
//!   ([`state::rotation_state`]).
//! - [`history`]: the append-only JSON Lines history file.
//! - [`database`]: database secrets engine static roles, and rotating them.
//! - [`derive`](mod@derive): derived keys (templates re-rendered in the rotation's write) and the stale-copy guard.
//! - [`lock`]: the run lock; [`exec`]: running the user's commands; [`generate`]: new random values;
//!   [`targets`]: policies to concrete secrets (globs are expanded by listing).

pub mod cli;
pub mod database;
pub mod derive;
pub mod due;
pub mod exec;
pub mod generate;
pub mod history;
pub mod kv_rotation;
pub mod lock;
pub mod output;
pub mod policy;
pub mod rotate;
pub mod schedule;
pub mod state;
pub mod targets;

pub use due::{DueItem, DueStatus};
pub use history::{Event, History, HistoryRecord};
pub use policy::{PolicyFile, SecretRotationPolicy, Strategy};
pub use rotate::{Action, Outcome, Rotator};
pub use state::{RotationResult, RotationState, VersionStatus, rotation_state};

/// Where state lives when no flag says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/secret-rotate";
/// The policy file when no flag says otherwise.
pub const DEFAULT_POLICY_FILE: &str = "/etc/secret-rotate/policies.toml";
