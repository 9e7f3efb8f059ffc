//! Progress bars for long work (a large scan, a migration, a backup, big audit logs), on stderr and only when a
//! person is watching: stderr is a terminal, not in CI (`CI` set), and not `-q`. Anywhere else a [`Progress`] is
//! inert, so a tool calls it unconditionally from its loop.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

/// Whether a progress bar may be drawn: stderr is a terminal, `CI` is unset (or empty), and not `-q`.
pub fn wanted() -> bool {
    decide(std::io::stderr().is_terminal(), std::env::var_os("CI").is_some_and(|v| !v.is_empty()), crate::cli::quiet())
}

/// The rule behind [`wanted`], apart from the process's state.
pub fn decide(stderr_is_terminal: bool, in_ci: bool, quiet: bool) -> bool {
    stderr_is_terminal && !in_ci && !quiet
}

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Items: files, lines, secrets, commits.
    Items,
    /// Bytes, shown as sizes with a rate.
    Bytes,
}

/// A progress bar on stderr, or nothing when [`wanted`] says no. Cloning shares the bar (for worker threads);
/// it is cleared from the screen when finished or when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `total` units (a spinner with a count when the total is unknown), labelled `message`.
    pub fn new(total: Option<u64>, unit: Unit, message: impl Into<Cow<'static, str>>) -> Self {
        if !wanted() {
            return Self::hidden();
        }
        Self(Some(Self::bar(total, unit, message)))
    }

    /// A progress that never draws.
    pub fn hidden() -> Self {
        Self(None)
    }

    fn bar(total: Option<u64>, unit: Unit, message: impl Into<Cow<'static, str>>) -> ProgressBar {
        let count = match unit {
            Unit::Items => "{human_pos}",
            Unit::Bytes => "{bytes}",
        };
        let template = match (total, unit) {
            (Some(_), Unit::Items) => "{msg} [{bar:30}] {human_pos}/{human_len} ({eta})".to_owned(),
            (Some(_), Unit::Bytes) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})".to_owned(),
            (None, _) => format!("{{spinner}} {{msg}} {count} ({{elapsed}})"),
        };
        // The templates are ours and valid; a failure would only lose the styling, never the work.
        let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let bar =
            bar.with_style(style.progress_chars("=> ")).with_message(message).with_finish(ProgressFinish::AndClear);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Whether this progress draws anything.
    pub fn is_visible(&self) -> bool {
        self.0.is_some()
    }

    /// Advances by `n`.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    /// Sets the position.
    pub fn set_position(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(n);
        }
    }

    /// Sets (or learns) the total.
    pub fn set_length(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(n);
        }
    }

    /// Changes the label.
    pub fn set_message(&self, message: impl Into<Cow<'static, str>>) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    /// Runs `f` with the bar taken off the screen, so a line printed to stderr meanwhile is not overdrawn.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Clears the bar from the screen; later calls do nothing visible.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_watched_terminal_gets_a_bar() {
        assert!(decide(true, false, false));
        assert!(!decide(false, false, false), "a pipe or a journal");
        assert!(!decide(true, true, false), "CI");
        assert!(!decide(true, false, true), "-q");
        // Under `cargo test` stderr is captured or a pipe: the bar is inert and every call is harmless.
        let p = Progress::new(Some(10), Unit::Items, "scanning");
        p.inc(3);
        p.set_length(20);
        p.set_message("still scanning");
        assert_eq!(p.suspend(|| 7), 7);
        p.finish();
        assert!(!Progress::hidden().is_visible());
    }
}
