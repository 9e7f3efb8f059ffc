//! Retention: which backups a `--keep-last/--keep-daily/--keep-weekly/--keep-monthly` policy keeps, and why.
//!
//! Pure functions over backup times, so the rules are tested exactly without a store. The rules follow restic's
//! semantics, which are the easiest to predict: each rule looks at the good backups, newest first, on its own;
//!
//! - `last N` keeps the N newest;
//! - `daily N` keeps the newest backup of each of the N newest UTC days that have one;
//! - `weekly N` the same per ISO week (Monday to Sunday, UTC), `monthly N` per calendar month;
//!
//! and a backup is kept when any rule keeps it (every rule that does is named). On top of the rules:
//! - the newest good backup is always kept, whatever the policy says;
//! - an incomplete backup (data without a manifest: an interrupted save) never fills a slot; it is deleted once
//!   older than [`INCOMPLETE_GRACE`], and kept before that because a save may still be running.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;

/// How long an incomplete backup is left alone: a save that is still writing looks the same.
pub const INCOMPLETE_GRACE: Duration = Duration::hours(6);

/// How many backups each rule keeps. All zero keeps only the newest good backup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The N newest.
    pub keep_last: u32,
    /// The newest of each of the N newest days.
    pub keep_daily: u32,
    /// The newest of each of the N newest ISO weeks.
    pub keep_weekly: u32,
    /// The newest of each of the N newest months.
    pub keep_monthly: u32,
}

impl Policy {
    /// Whether no rule keeps anything.
    pub fn is_empty(&self) -> bool {
        self.keep_last == 0 && self.keep_daily == 0 && self.keep_weekly == 0 && self.keep_monthly == 0
    }
}

/// A backup as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The backup id.
    pub id: String,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// Complete: data and manifest present and consistent.
    pub good: bool,
}

/// Keep or delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The backup stays.
    Keep,
    /// The backup goes.
    Delete,
}

/// The decision for one backup, with every reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The backup id.
    pub id: String,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// Keep or delete.
    pub action: Action,
    /// The rules behind the decision, e.g. `last 1/3`, `daily 2026-11-28`, `newest good backup`, `no rule keeps it`.
    pub reasons: Vec<String>,
}

/// Names the period (day, ISO week, month) a time falls in.
type PeriodOf = fn(DateTime<Utc>) -> String;

/// Decides for every candidate; the result is sorted newest first.
pub fn plan(candidates: &[Candidate], policy: &Policy, now: DateTime<Utc>) -> Vec<Decision> {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); sorted.len()];
    let good: Vec<usize> = (0..sorted.len()).filter(|&i| sorted[i].good).collect();

    if let Some(&newest) = good.first() {
        reasons[newest].push("newest good backup".to_owned());
    }
    for (rank, &i) in good.iter().take(policy.keep_last as usize).enumerate() {
        reasons[i].push(format!("last {}/{}", rank + 1, policy.keep_last));
    }
    let periods: [(u32, PeriodOf); 3] = [
        (policy.keep_daily, |t| format!("daily {}", t.format("%Y-%m-%d"))),
        (policy.keep_weekly, |t| {
            let week = t.iso_week();
            format!("weekly {}-W{:02}", week.year(), week.week())
        }),
        (policy.keep_monthly, |t| format!("monthly {}", t.format("%Y-%m"))),
    ];
    for (count, period) in periods {
        let mut last_period = None;
        let mut kept = 0;
        for &i in &good {
            if kept == count {
                break;
            }
            let this = period(sorted[i].time);
            if last_period.as_ref() != Some(&this) {
                reasons[i].push(this.clone());
                last_period = Some(this);
                kept += 1;
            }
        }
    }

    sorted
        .iter()
        .zip(reasons)
        .map(|(candidate, mut reasons)| {
            let action = if candidate.good {
                if reasons.is_empty() {
                    reasons.push("no rule keeps it".to_owned());
                    Action::Delete
                } else {
                    Action::Keep
                }
            } else if now - candidate.time > INCOMPLETE_GRACE {
                reasons.push("incomplete (no manifest) and older than 6 hours".to_owned());
                Action::Delete
            } else {
                reasons.push("incomplete, but recent: a save may still be running".to_owned());
                Action::Keep
            };
            Decision { id: candidate.id.clone(), time: candidate.time, action, reasons }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn candidate(time: DateTime<Utc>, good: bool) -> Candidate {
        Candidate { id: crate::manifest::backup_id(time), time, good }
    }

    /// Every six hours through 2026: 1,460 backups.
    fn year() -> Vec<Candidate> {
        let start = at(2026, 1, 1, 0);
        (0..365 * 4).map(|i| candidate(start + Duration::hours(6 * i), true)).collect()
    }

    fn kept(decisions: &[Decision]) -> Vec<DateTime<Utc>> {
        let mut kept: Vec<_> = decisions.iter().filter(|d| d.action == Action::Keep).map(|d| d.time).collect();
        kept.sort();
        kept
    }

    #[test]
    fn a_year_of_backups_keeps_exactly_the_expected_survivors() {
        let policy = Policy { keep_last: 4, keep_daily: 7, keep_weekly: 4, keep_monthly: 12 };
        let decisions = plan(&year(), &policy, at(2027, 1, 1, 0));
        assert_eq!(decisions.len(), 1460);
        let mut expected = vec![
            // Monthly: the last backup of each month, January to November (December's is below).
            at(2026, 1, 31, 18),
            at(2026, 2, 28, 18),
            at(2026, 3, 31, 18),
            at(2026, 4, 30, 18),
            at(2026, 5, 31, 18),
            at(2026, 6, 30, 18),
            at(2026, 7, 31, 18),
            at(2026, 8, 31, 18),
            at(2026, 9, 30, 18),
            at(2026, 10, 31, 18),
            at(2026, 11, 30, 18),
            // Weekly: Sundays ending ISO weeks 50 and 51 (weeks 52 and 53 are covered by the daily rule).
            at(2026, 12, 13, 18),
            at(2026, 12, 20, 18),
            // Daily: December 25 to 30 (the 31st is below).
            at(2026, 12, 25, 18),
            at(2026, 12, 26, 18),
            at(2026, 12, 27, 18),
            at(2026, 12, 28, 18),
            at(2026, 12, 29, 18),
            at(2026, 12, 30, 18),
            // Last 4: all of December 31.
            at(2026, 12, 31, 0),
            at(2026, 12, 31, 6),
            at(2026, 12, 31, 12),
            at(2026, 12, 31, 18),
        ];
        expected.sort();
        assert_eq!(kept(&decisions), expected);

        let newest = &decisions[0];
        assert_eq!(newest.time, at(2026, 12, 31, 18));
        assert_eq!(
            newest.reasons,
            ["newest good backup", "last 1/4", "daily 2026-12-31", "weekly 2026-W53", "monthly 2026-12"]
        );
        let sunday = decisions.iter().find(|d| d.time == at(2026, 12, 27, 18)).unwrap();
        assert_eq!(sunday.reasons, ["daily 2026-12-27", "weekly 2026-W52"]);
        let deleted = decisions.iter().find(|d| d.time == at(2026, 12, 30, 12)).unwrap();
        assert_eq!(
            (deleted.action, deleted.reasons.as_slice()),
            (Action::Delete, &["no rule keeps it".to_owned()][..])
        );
    }

    #[test]
    fn the_newest_good_backup_survives_any_policy() {
        let mut backups = year();
        // The three newest are incomplete; the newest good one is 2026-12-31 00:00.
        for b in backups.iter_mut().rev().take(3) {
            b.good = false;
        }
        let decisions = plan(&backups, &Policy::default(), at(2027, 1, 2, 0));
        assert_eq!(kept(&decisions), vec![at(2026, 12, 31, 0)]);
        assert!(
            decisions
                .iter()
                .filter(|d| !d.reasons.iter().any(|r| r.contains("newest")))
                .all(|d| d.action == Action::Delete)
        );
    }

    #[test]
    fn incomplete_backups_fill_no_slot_and_recent_ones_are_left_alone() {
        let backups = vec![
            candidate(at(2026, 6, 1, 0), true),
            candidate(at(2026, 6, 2, 0), false),
            candidate(at(2026, 6, 3, 0), true),
            candidate(at(2026, 6, 3, 6), false),
        ];
        let policy = Policy { keep_last: 2, ..Policy::default() };
        let decisions = plan(&backups, &policy, at(2026, 6, 3, 8));
        let actions: Vec<_> = decisions.iter().map(|d| (d.time, d.action)).collect();
        assert_eq!(
            actions,
            [
                (at(2026, 6, 3, 6), Action::Keep),
                (at(2026, 6, 3, 0), Action::Keep),
                (at(2026, 6, 2, 0), Action::Delete),
                (at(2026, 6, 1, 0), Action::Keep),
            ]
        );
        assert_eq!(decisions[3].reasons, ["last 2/2"]);
    }
}
