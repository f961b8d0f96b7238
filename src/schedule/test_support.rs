//! Tests only: helpers shared by the planner's tables and the simulated week (a sizes file,
//! Tokyo wall-clock instants, schedules as config gives them, one line per planned action).

use super::calendar::tests::schedule as bare_schedule;
use super::planner::{
    EnvSnapshot, LapseReason, LeaseSnapshot, PlannedAction, SkipReason, WarnSubject,
};
use crate::config::sizes::VariableSets;
use crate::config::{parse_duration, ScheduleAction, ScheduleConfig};
use crate::model::{EnvName, SizeName};
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Tokyo;

pub const SIZES: &str = r#"
[off]
description = "nothing"
est_hourly_usd = 0.0
[down]
description = "idle"
est_hourly_usd = 0.13
[small]
description = "2 slaves"
est_hourly_usd = 0.38
[medium]
description = "8 slaves"
est_hourly_usd = 3.1
[large]
description = "20 slaves"
est_hourly_usd = 9.5
"#;

pub fn sizes() -> VariableSets {
    VariableSets::from_str(SIZES, "sizes.toml").unwrap_or_else(|errors| panic!("{errors}"))
}

/// An instant given as Tokyo wall-clock time in March 2026 ("03-02 22:00" is Monday).
pub fn jst(text: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(&format!("2026-{text}"), "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(&format!("2026-{text}"), "%Y-%m-%d %H:%M"))
        .unwrap_or_else(|error| panic!("{text}: {error}"));
    Tokyo
        .from_local_datetime(&local)
        .single()
        .expect("Tokyo has no DST")
        .with_timezone(&Utc)
}

pub fn show(time: DateTime<Utc>) -> String {
    time.with_timezone(&Tokyo).format("%a %H:%M").to_string()
}

pub fn span(delta: TimeDelta) -> String {
    let minutes = delta.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// `[[schedules]]` entries in Asia/Tokyo, as config would give them.
pub fn schedule(
    name: &str,
    cron: &str,
    action: ScheduleAction,
    envs: &[&str],
    warn_before: Option<&str>,
    catch_up: Option<&str>,
) -> ScheduleConfig {
    let duration = |text: &str| parse_duration(text).unwrap_or_else(|e| panic!("{e}"));
    ScheduleConfig {
        name: name.into(),
        action,
        environments: envs.iter().map(|env| EnvName::new(*env)).collect(),
        warn_before: warn_before.map(duration),
        catch_up: catch_up.map(duration),
        ..bare_schedule(cron, "Asia/Tokyo", &[])
    }
}

pub fn nightly() -> ScheduleConfig {
    schedule(
        "nightly-down",
        "0 22 * * *",
        ScheduleAction::Down,
        &["lt1"],
        Some("15m"),
        Some("6h"),
    )
}

pub fn env(size: Option<&str>) -> EnvSnapshot {
    EnvSnapshot {
        current_size: size.map(SizeName::new),
        ..EnvSnapshot::unknown(EnvName::new("lt1"))
    }
}

pub fn leased(size: &str, expires_at: &str) -> EnvSnapshot {
    EnvSnapshot {
        lease: Some(LeaseSnapshot {
            expires_at: jst(expires_at),
            size: SizeName::new(size),
        }),
        ..env(Some(size))
    }
}

/// One line per action, as an operator reading the scheduler's log would want it.
pub fn describe(action: &PlannedAction) -> String {
    match action {
        PlannedAction::Fire {
            schedule,
            env,
            occurrence,
            action,
            late_by,
        } => {
            let late = late_by
                .map(|late| format!(", {} late", span(late)))
                .unwrap_or_default();
            format!(
                "fire {schedule} {env}: {action} @ {}{late}",
                show(occurrence.at)
            )
        }
        PlannedAction::SkipFire {
            schedule,
            env,
            occurrence,
            action,
            reason,
        } => {
            let why = match reason {
                SkipReason::Held { until } => format!("held until {}", show(*until)),
                SkipReason::AlreadyAtOrBelow { current, target } => {
                    format!("already at {current} (target {target})")
                }
                SkipReason::AlreadyAtOrAbove { current, target } => {
                    format!("already at {current} (target {target})")
                }
                SkipReason::MissedUp { late_by } => {
                    format!("missed up, {} late", span(*late_by))
                }
                SkipReason::TooLate { late_by } => format!("too late, {} late", span(*late_by)),
            };
            format!(
                "skip {schedule} {env}: {action} @ {}: {why}",
                show(occurrence.at)
            )
        }
        PlannedAction::Warn {
            env,
            subject,
            due_at,
            action,
        } => {
            let what = match subject {
                WarnSubject::Schedule { schedule, .. } => schedule.clone(),
                WarnSubject::Lease { size } => format!("lease of {size}"),
            };
            format!("warn {env}: {action} @ {} ({what})", show(*due_at))
        }
        PlannedAction::LeaseEnd {
            env,
            size,
            expired_at,
        } => {
            format!(
                "lease end {env}: {size} → down (ended {})",
                show(*expired_at)
            )
        }
        PlannedAction::LeaseLapsed {
            env,
            expired_at,
            reason,
        } => {
            let why = match reason {
                LapseReason::AlreadyAtOrBelow { current } => format!("already at {current}"),
                LapseReason::ScheduledScaleDown { schedule } => {
                    format!("{schedule} scales it down")
                }
            };
            format!("lease lapsed {env} (ended {}): {why}", show(*expired_at))
        }
    }
}
