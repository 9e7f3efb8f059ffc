//! When a secret is due: a fixed interval (`every = "30d"`) or a five-field cron expression (`0 3 * * 1`), and an
//! optional window of allowed times (`weekdays 02:00-04:00`). All times are UTC, as on a server's clock, so that a
//! schedule means the same thing on every machine and across daylight-saving changes.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveTime, Timelike, Utc, Weekday};

/// A schedule that cannot be understood, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

fn bad<T>(text: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError(text.into()))
}

/// A duration such as `30d`, `12h`, `5s`, `1h30m` or `2weeks`.
pub fn parse_duration(text: &str) -> Result<Duration, ScheduleError> {
    let trimmed = text.trim();
    let d = humantime::parse_duration(trimmed)
        .map_err(|e| ScheduleError(format!("invalid duration {trimmed:?}: {e} (write e.g. 30d, 12h, 5s, 1h30m)")))?;
    if d.is_zero() {
        return bad(format!("invalid duration {trimmed:?}: it must be longer than zero"));
    }
    Ok(d)
}

/// How often a secret rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A fixed interval after the last rotation.
    Every(Duration),
    /// The first time the cron expression matches after the last rotation.
    Cron(Cron),
}

impl Schedule {
    /// When the next rotation is due, given the last one (`None`: never rotated, so due now).
    pub fn next_due(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(last) = last else { return now };
        match self {
            Schedule::Every(d) => last + ChronoDuration::from_std(*d).unwrap_or(ChronoDuration::MAX),
            // An expression that never matches (31 February) is rejected when parsed, so a year is plenty.
            Schedule::Cron(c) => c.next_after(last).unwrap_or(last + ChronoDuration::days(366)),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {}", Interval(*d)),
            Schedule::Cron(c) => write!(f, "cron {}", c.text),
        }
    }
}

/// An interval as people say it: `90 days`, `12 hours`, `1 hour 30 minutes`, and `day` or `hour` alone for one
/// of a unit (`every day`). Whole days stay days: months and years vary in length, so humantime's `2months
/// 29days 2h 52m 48s` for 90 days says something the schedule does not mean.
struct Interval(Duration);

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let units =
            [(secs / 86_400, "day"), (secs / 3600 % 24, "hour"), (secs / 60 % 60, "minute"), (secs % 60, "second")];
        let parts: Vec<String> = units
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, unit)| if *n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") })
            .collect();
        let sub = Duration::from_nanos(u64::from(self.0.subsec_nanos()));
        match parts.as_slice() {
            [one] if one.starts_with("1 ") && sub.is_zero() => f.write_str(&one[2..]),
            _ if sub.is_zero() => f.write_str(&parts.join(" ")),
            // Below a second is rare in a rotation schedule; humantime's `500ms` reads well enough.
            _ => {
                let mut all = parts;
                all.push(humantime::format_duration(sub).to_string());
                f.write_str(&all.join(" "))
            }
        }
    }
}

/// A five-field cron expression: minute, hour, day of month, month, day of week (0 or 7 = Sunday).
///
/// Each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma-separated list of those. Month
/// and weekday names (`jan`, `mon`) are accepted. As in Vixie cron, when both day fields are restricted a day
/// matches if either does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_any: bool,
    weekdays_any: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return bad(format!(
                "invalid cron expression {text:?}: it needs 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        }
        let field = |i: usize, name: &str, lo: u32, hi: u32, names: &[&str], base: u32| {
            parse_field(fields[i], lo, hi, names, base)
                .map_err(|why| ScheduleError(format!("invalid cron expression {text:?}: {name} field: {why}")))
        };
        let minutes = field(0, "minute", 0, 59, &[], 0)?;
        let hours = field(1, "hour", 0, 23, &[], 0)?;
        let days = field(2, "day-of-month", 1, 31, &[], 0)?;
        let months = field(3, "month", 1, 12, &MONTHS, 1)?;
        let mut weekdays = field(4, "day-of-week", 0, 7, &WEEKDAYS, 0)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        let cron = Cron {
            text: fields.join(" "),
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_any: fields[2] == "*",
            weekdays_any: fields[4] == "*",
        };
        // Rejects expressions that can never fire, such as `0 0 31 2 *`: four years cover every calendar case.
        let start = DateTime::<Utc>::from_timestamp(0, 0).expect("the epoch is a valid time");
        if cron.next_within(start, ChronoDuration::days(366 * 4 + 1)).is_none() {
            return bad(format!("invalid cron expression {text:?}: it never matches a real date"));
        }
        Ok(cron)
    }

    fn day_matches(&self, t: DateTime<Utc>) -> bool {
        let dom = self.days & (1 << t.day()) != 0;
        let dow = self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0;
        match (self.days_any, self.weekdays_any) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first matching minute strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_within(after, ChronoDuration::days(366 * 4 + 1))
    }

    fn next_within(&self, after: DateTime<Utc>, limit: ChronoDuration) -> Option<DateTime<Utc>> {
        let end = after + limit;
        // Start at the next whole minute.
        let mut t = after.with_second(0)?.with_nanosecond(0)? + ChronoDuration::minutes(1);
        while t <= end {
            if self.months & (1 << t.month()) == 0 || !self.day_matches(t) {
                // Skip to the next day's midnight.
                t = (t.date_naive() + ChronoDuration::days(1)).and_time(NaiveTime::MIN).and_utc();
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.with_minute(0)? + ChronoDuration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += ChronoDuration::minutes(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn parse_value(text: &str, names: &[&str], base: u32) -> Result<u32, String> {
    if let Ok(n) = text.parse::<u32>() {
        return Ok(n);
    }
    let lower = text.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as u32 + base)
        .ok_or_else(|| format!("{text:?} is not a number{}", if names.is_empty() { "" } else { " or a name" }))
}

/// One field as a bit set of the values it allows.
fn parse_field(text: &str, lo: u32, hi: u32, names: &[&str], base: u32) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("step {s:?} is not a number"))?;
                if step == 0 {
                    return Err("a step of 0 never advances".into());
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (parse_value(a, names, base)?, parse_value(b, names, base)?)
        } else {
            let v = parse_value(range, names, base)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if step > 1 { hi } else { v })
        };
        if from < lo || to > hi || from > to {
            return Err(format!("{range:?} is outside {lo}-{hi} or backwards"));
        }
        let mut v = from;
        while v <= to {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// Times at which rotations may run: some weekdays, between two times of day (UTC). `22:00-02:00` wraps past
/// midnight and belongs to the day it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    text: String,
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
}

impl Window {
    /// Parses `DAYS HH:MM-HH:MM` where DAYS is `daily`, `weekdays`, `weekends`, or a list of day names and
    /// ranges (`mon,wed,fri`, `mon-fri`).
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let oops =
            |why: &str| ScheduleError(format!("invalid window {text:?}: {why} (write e.g. \"weekdays 02:00-04:00\")"));
        let mut parts = text.split_whitespace();
        let (Some(days_text), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(oops("expected days and a time range"));
        };
        let mut days = [false; 7];
        let day = |name: &str| {
            let lower = name.to_ascii_lowercase();
            WEEKDAYS.iter().position(|d| lower.starts_with(d) && d.len() == 3 && lower.len() <= 9)
        };
        match days_text.to_ascii_lowercase().as_str() {
            "daily" | "everyday" | "*" => days = [true; 7],
            "weekdays" => (1..=5).for_each(|i| days[i] = true),
            "weekends" => {
                days[0] = true;
                days[6] = true;
            }
            list => {
                for item in list.split(',') {
                    match item.split_once('-') {
                        Some((a, b)) => {
                            let (a, b) = (day(a), day(b));
                            let (Some(a), Some(b)) = (a, b) else { return Err(oops("unknown day name")) };
                            let mut i = a;
                            loop {
                                days[i] = true;
                                if i == b {
                                    break;
                                }
                                i = (i + 1) % 7;
                            }
                        }
                        None => days[day(item).ok_or_else(|| oops("unknown day name"))?] = true,
                    }
                }
            }
        }
        let (a, b) = times.split_once('-').ok_or_else(|| oops("the time range needs a '-'"))?;
        let time = |t: &str| NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| oops("times are HH:MM (24-hour, UTC)"));
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(oops("the window is empty"));
        }
        Ok(Window { text: text.trim().to_owned(), days, start, end })
    }

    /// Whether `t` is inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let time = t.time();
        let weekday = |w: Weekday| self.days[w.num_days_from_sunday() as usize];
        if self.start < self.end {
            weekday(t.weekday()) && time >= self.start && time < self.end
        } else if time >= self.start {
            weekday(t.weekday())
        } else if time < self.end {
            weekday(t.weekday().pred())
        } else {
            false
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn cron_next() {
        // Mondays at 03:00; 2026-11-28 is a Saturday.
        let c = Cron::parse("0 3 * * 1").unwrap();
        assert_eq!(c.next_after(t("2026-11-28T10:00:00Z")), Some(t("2026-11-30T03:00:00Z")));
        assert_eq!(c.next_after(t("2026-11-30T03:00:00Z")), Some(t("2026-12-07T03:00:00Z")));
        let every15 = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(every15.next_after(t("2026-11-28T10:07:30Z")), Some(t("2026-11-28T10:15:00Z")));
        let sunday = Cron::parse("30 1 * * 7").unwrap();
        assert_eq!(sunday.next_after(t("2026-11-28T10:00:00Z")), Some(t("2026-11-29T01:30:00Z")));
        let named = Cron::parse("0 0 1 jan,jul *").unwrap();
        assert_eq!(named.next_after(t("2026-11-28T10:00:00Z")), Some(t("2027-01-01T00:00:00Z")));
        // Both day fields restricted: either matches (the 1st, or a Friday).
        let either = Cron::parse("0 12 1 * fri").unwrap();
        assert_eq!(either.next_after(t("2026-11-28T10:00:00Z")), Some(t("2026-12-01T12:00:00Z")));
        assert_eq!(either.next_after(t("2026-12-01T12:00:00Z")), Some(t("2026-12-04T12:00:00Z")));
        let leap = Cron::parse("0 0 29 2 *").unwrap();
        assert_eq!(leap.next_after(t("2026-11-28T10:00:00Z")), Some(t("2028-02-29T00:00:00Z")));
    }

    #[test]
    fn cron_rejects() {
        for bad in [
            "0 3 * *",
            "60 * * * *",
            "* 24 * * *",
            "0 0 0 * *",
            "*/0 * * * *",
            "0 0 31 2 *",
            "x * * * *",
            "5-1 * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn windows() {
        let w = Window::parse("weekdays 02:00-04:00").unwrap();
        assert!(w.contains(t("2026-11-30T02:00:00Z")), "Monday 02:00");
        assert!(w.contains(t("2026-11-30T03:59:00Z")));
        assert!(!w.contains(t("2026-11-30T04:00:00Z")), "the end is exclusive");
        assert!(!w.contains(t("2026-11-28T03:00:00Z")), "Saturday");
        let night = Window::parse("fri 22:00-02:00").unwrap();
        assert!(night.contains(t("2026-11-27T23:00:00Z")), "Friday night");
        assert!(night.contains(t("2026-11-28T01:00:00Z")), "Saturday early morning belongs to Friday");
        assert!(!night.contains(t("2026-11-28T23:00:00Z")));
        let range = Window::parse("sat-mon 00:00-23:59").unwrap();
        assert!(range.contains(t("2026-11-29T12:00:00Z")), "Sunday");
        assert!(!range.contains(t("2026-12-01T12:00:00Z")), "Tuesday");
        for bad in ["weekdays", "someday 01:00-02:00", "daily 1-2", "daily 02:00-02:00", "daily 25:00-26:00"] {
            assert!(Window::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn intervals_read_as_people_say_them() {
        let every = |text: &str| Schedule::Every(parse_duration(text).unwrap()).to_string();
        assert_eq!(every("90d"), "every 90 days");
        assert_eq!(every("30d"), "every 30 days");
        assert_eq!(every("2weeks"), "every 14 days");
        assert_eq!(every("1d"), "every day");
        assert_eq!(every("1h"), "every hour");
        assert_eq!(every("12h"), "every 12 hours");
        assert_eq!(every("1h30m"), "every 1 hour 30 minutes");
        assert_eq!(every("1d1s"), "every 1 day 1 second");
        assert_eq!(every("5s"), "every 5 seconds");
        assert_eq!(every("1500ms"), "every 1 second 500ms");
        assert_eq!(every("250ms"), "every 250ms");
        assert_eq!(Schedule::Cron(Cron::parse("0 3 * * 1").unwrap()).to_string(), "cron 0 3 * * 1");
    }

    #[test]
    fn next_due() {
        let now = t("2026-11-28T10:00:00Z");
        let every = Schedule::Every(Duration::from_secs(5));
        assert_eq!(every.next_due(None, now), now);
        assert_eq!(every.next_due(Some(now), now), t("2026-11-28T10:00:05Z"));
    }
}
