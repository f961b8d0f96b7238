//! The planner's vocabulary: what it is told (settings, environment snapshots, a tick, what
//! was already recorded) and what it answers (planned actions and their reasons). Plain data;
//! the decisions live in `planner`, the fire times in `calendar`.

use super::calendar::Occurrence;
use crate::config::sizes::VariableSets;
use crate::config::{ScheduleAction, ScheduleConfig};
use crate::model::{EnvName, SizeName};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use std::collections::HashSet;
use std::time::Duration;

/// Tunables of the planner; `Default` is what the bot uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannerSettings {
    /// How long before a lease end its warning is posted.
    pub lease_warning: Duration,
    /// How late an occurrence may be and still count as on time (a slow tick, a busy
    /// process) rather than missed (subject to catch-up rules).
    pub on_time_grace: Duration,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        Self {
            lease_warning: Duration::from_secs(15 * 60),
            on_time_grace: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSnapshot {
    pub expires_at: DateTime<Utc>,
    /// The size the lease was taken for.
    pub size: SizeName,
}

/// What the planner needs to know of one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvSnapshot {
    pub env: EnvName,
    /// The size the store says it is at; `None` when unknown.
    pub current_size: Option<SizeName>,
    pub lease: Option<LeaseSnapshot>,
    /// The current hold's end, if any (an expired one is ignored).
    pub hold_until: Option<DateTime<Utc>>,
    /// A mutating job is queued or running for it.
    pub busy: bool,
}

impl EnvSnapshot {
    /// Nothing known: the size is unknown, no lease, no hold, idle.
    pub fn unknown(env: EnvName) -> Self {
        Self {
            env,
            current_size: None,
            lease: None,
            hold_until: None,
            busy: false,
        }
    }
}

/// One tick's inputs.
#[derive(Clone, Copy, Debug)]
pub struct Tick<'a> {
    /// The previous tick's `now` (after a restart: the last tick the bot planned; on a
    /// first start: `now`, so nothing counts as missed).
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub schedules: &'a [ScheduleConfig],
    /// Environments named by a schedule but missing here are planned as
    /// [`EnvSnapshot::unknown`].
    pub environments: &'a [EnvSnapshot],
    pub sizes: &'a VariableSets,
    pub settings: PlannerSettings,
}

/// What the caller has already recorded.
pub trait PlannerMemory {
    /// Whether occurrence `nominal` of `schedule` was recorded (fired or skipped) for `env`.
    /// Backed by the store: `last_fire(schedule, env) >= Some(nominal.and_utc())`, with
    /// fires recorded as `record_fire(schedule, env, nominal.and_utc(), now)`.
    fn already_fired(&self, schedule: &str, env: &EnvName, nominal: NaiveDateTime) -> bool;
    fn already_warned(&self, key: &WarningKey) -> bool;
}

/// Identity of a warning, so each is posted once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WarningKey {
    Schedule {
        schedule: String,
        env: EnvName,
        nominal: NaiveDateTime,
    },
    Lease {
        env: EnvName,
        expires_at: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarnSubject {
    Schedule {
        schedule: String,
        occurrence: Occurrence,
    },
    Lease {
        size: SizeName,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A `down` while the environment is held.
    Held { until: DateTime<Utc> },
    /// A scale-down with nothing to scale down.
    AlreadyAtOrBelow { current: SizeName, target: SizeName },
    /// A scheduled `up` that would not make the environment bigger.
    AlreadyAtOrAbove { current: SizeName, target: SizeName },
    /// An `up` missed while the bot was down: never run late.
    MissedUp { late_by: TimeDelta },
    /// A scale-down missed by more than the schedule's `catch_up` (or with none).
    TooLate { late_by: TimeDelta },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LapseReason {
    /// The environment is already at or below `down`.
    AlreadyAtOrBelow { current: SizeName },
    /// A scheduled scale-down fires in the same tick.
    ScheduledScaleDown { schedule: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedAction {
    /// Record the occurrence, then queue `action` as the actor `scheduler`.
    Fire {
        schedule: String,
        env: EnvName,
        occurrence: Occurrence,
        action: ScheduleAction,
        /// `Some` when caught up after being missed (worth saying in the message).
        late_by: Option<TimeDelta>,
    },
    /// Record the occurrence; post nothing.
    SkipFire {
        schedule: String,
        env: EnvName,
        occurrence: Occurrence,
        action: ScheduleAction,
        reason: SkipReason,
    },
    /// Post a warning with [Keep 2h] / [Scale down now]; record [`PlannedAction::warning_key`].
    Warn {
        env: EnvName,
        subject: WarnSubject,
        due_at: DateTime<Utc>,
        action: ScheduleAction,
    },
    /// The lease ran out: queue `down` (and clear the lease, so a failing run is not retried
    /// every tick).
    LeaseEnd {
        env: EnvName,
        size: SizeName,
        expired_at: DateTime<Utc>,
    },
    /// The lease ran out but nothing needs to run: clear it.
    LeaseLapsed {
        env: EnvName,
        expired_at: DateTime<Utc>,
        reason: LapseReason,
    },
}

impl PlannedAction {
    /// What to record for a `Warn`; `None` for every other action.
    pub fn warning_key(&self) -> Option<WarningKey> {
        let PlannedAction::Warn {
            env,
            subject,
            due_at,
            ..
        } = self
        else {
            return None;
        };
        Some(match subject {
            WarnSubject::Schedule {
                schedule,
                occurrence,
            } => WarningKey::Schedule {
                schedule: schedule.clone(),
                env: env.clone(),
                nominal: occurrence.nominal,
            },
            WarnSubject::Lease { .. } => WarningKey::Lease {
                env: env.clone(),
                expires_at: *due_at,
            },
        })
    }
}

/// An in-memory [`PlannerMemory`] (tests, simulations, a cache in front of the store).
#[derive(Clone, Debug, Default)]
pub struct RecordedSet {
    fired: HashSet<(String, EnvName, NaiveDateTime)>,
    warned: HashSet<WarningKey>,
}

impl RecordedSet {
    /// Records what the caller would store for `action`.
    pub fn record(&mut self, action: &PlannedAction) {
        match action {
            PlannedAction::Fire {
                schedule,
                env,
                occurrence,
                ..
            }
            | PlannedAction::SkipFire {
                schedule,
                env,
                occurrence,
                ..
            } => {
                self.fired
                    .insert((schedule.clone(), env.clone(), occurrence.nominal));
            }
            PlannedAction::Warn { .. } => {
                if let Some(key) = action.warning_key() {
                    self.warned.insert(key);
                }
            }
            PlannedAction::LeaseEnd { .. } | PlannedAction::LeaseLapsed { .. } => {}
        }
    }
}

impl PlannerMemory for RecordedSet {
    fn already_fired(&self, schedule: &str, env: &EnvName, nominal: NaiveDateTime) -> bool {
        self.fired
            .contains(&(schedule.to_string(), env.clone(), nominal))
    }

    fn already_warned(&self, key: &WarningKey) -> bool {
        self.warned.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_actions_are_remembered_by_their_identity() {
        let env = EnvName::new("lt1");
        let at = DateTime::parse_from_rfc3339("2026-03-08T07:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let nominal =
            NaiveDateTime::parse_from_str("2026-03-08 02:30", "%Y-%m-%d %H:%M").expect("time");
        let occurrence = Occurrence { at, nominal };
        let mut memory = RecordedSet::default();
        memory.record(&PlannedAction::SkipFire {
            schedule: "nightly".into(),
            env: env.clone(),
            occurrence,
            action: ScheduleAction::Down,
            reason: SkipReason::TooLate {
                late_by: TimeDelta::hours(7),
            },
        });
        let warn = PlannedAction::Warn {
            env: env.clone(),
            subject: WarnSubject::Lease {
                size: SizeName::new("large"),
            },
            due_at: at,
            action: ScheduleAction::Down,
        };
        memory.record(&warn);
        // (schedule, env, nominal) → recorded?
        let cases = [
            ("nightly", "lt1", nominal, true),
            ("nightly", "lt2", nominal, false),
            ("other", "lt1", nominal, false),
            // The identity is the nominal local time, not the instant it fired.
            ("nightly", "lt1", at.naive_utc(), false),
        ];
        for (schedule, env, nominal, expected) in cases {
            let recorded = memory.already_fired(schedule, &EnvName::new(env), nominal);
            assert_eq!(recorded, expected, "{schedule} {env} {nominal}");
        }
        let lease_key = |expires_at| WarningKey::Lease {
            env: env.clone(),
            expires_at,
        };
        assert_eq!(warn.warning_key(), Some(lease_key(at)));
        assert!(memory.already_warned(&lease_key(at)));
        // An extended lease ends later: a new warning is due.
        assert!(!memory.already_warned(&lease_key(at + TimeDelta::hours(2))));
    }
}
