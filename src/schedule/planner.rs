//! One scheduler tick's decisions, pure: given the time, the previous tick, the schedules and
//! a snapshot of each environment, say which schedule occurrences fire, which are skipped
//! (and why), which warnings are due and which leases have ended. It never runs, posts or
//! stores anything: the caller records every `Fire`/`SkipFire` occurrence and every `Warn`
//! key, and queues the runs as the actor `scheduler`.
//!
//! Choices, each pinned by a test below:
//! - Due: the LATEST occurrence of a schedule with `since < at <= now` that is not recorded.
//!   Earlier ones in the same window are superseded and never fire (nor are recorded).
//! - On time vs missed: an occurrence later than [`PlannerSettings::on_time_grace`] (60 s)
//!   was missed (the bot was down or stalled). A missed `up` never runs (`MissedUp`); a missed
//!   `down`/`off` runs only when `now - at <= catch_up` (`TooLate` otherwise, and always when
//!   the schedule has no `catch_up`).
//! - Holds skip scheduled `down` while `hold_until > now`; an `off` is not skipped by a hold:
//!   `off` is admin-only and a hold is an operator's "keep it up tonight", so an
//!   admin's schedule off wins. Holds never affect `up`.
//! - A hold does not stop a lease end: a hold skips SCHEDULED scale-downs only; a test that
//!   needs longer extends its lease (the lease warning's [Keep 2h] is an extension).
//! - A scale-down when the environment is already at or below the target (cost order of
//!   `VariableSets::rank`, off < down < small < ...) is `AlreadyAtOrBelow`: recorded, nothing
//!   posted. A scheduled `up` to a size at or below the current one is `AlreadyAtOrAbove`
//!   (it would shrink a bigger test that is running).
//! - An unknown size (no record, or a set since removed) counts as above everything, so
//!   scale-downs fire: when unsure, spend a no-op run rather than money.
//! - `busy` (a mutating job queued or running) makes the size unknowable: fires are not
//!   skipped as no-ops (the queue orders them after the job), and a lease end waits for the
//!   job to finish (it may be the lease's own `down`, or an `up` that sets a new lease).
//! - Within one tick an environment's fires are taken in (instant, cheapest target) order and
//!   each planned fire moves the size the next check sees: `off` and `down` due together run
//!   `off` only; a scheduled scale-down in the same tick as a lease end makes the lease end a
//!   `LeaseLapsed` (clear the lease, run nothing).
//! - Warnings: `warn_before` ahead of a scheduled `down`/`off` that would not be skipped, and
//!   [`PlannerSettings::lease_warning`] (15 min) ahead of a lease end; each once per key
//!   ([`WarningKey`]); an extension changes the lease end and so earns a new warning.

pub use super::actions::{
    EnvSnapshot, LapseReason, LeaseSnapshot, PlannedAction, PlannerMemory, PlannerSettings,
    RecordedSet, SkipReason, Tick, WarnSubject, WarningKey,
};
use super::calendar::{latest_between, next_fires, Occurrence};
use crate::config::{ScheduleAction, ScheduleConfig};
use crate::model::SizeName;
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// The decisions of one tick, environment by environment (in `tick.environments` order,
/// then environments only schedules name): fires and skips, then the lease, then warnings.
pub fn plan(tick: &Tick<'_>, memory: &impl PlannerMemory) -> Vec<PlannedAction> {
    // Occurrences depend on the schedule only, so they are computed once, not per env.
    let due: Vec<Option<Occurrence>> = tick
        .schedules
        .iter()
        .map(|schedule| latest_between(schedule, tick.since, tick.now))
        .collect();
    let upcoming: Vec<Option<Occurrence>> = tick
        .schedules
        .iter()
        .map(|schedule| match (&schedule.action, schedule.warn_before) {
            (ScheduleAction::Up(_), _) | (_, None) => None,
            _ => next_fires(schedule, tick.now, 1).into_iter().next(),
        })
        .collect();

    let mut environments: Vec<EnvSnapshot> = tick.environments.to_vec();
    for schedule in tick.schedules {
        for env in &schedule.environments {
            if !environments.iter().any(|snapshot| &snapshot.env == env) {
                environments.push(EnvSnapshot::unknown(env.clone()));
            }
        }
    }

    let mut actions = Vec::new();
    for snapshot in &environments {
        EnvPlan {
            tick,
            memory,
            snapshot,
            projected: snapshot.current_size.clone(),
            scaled_down_by: None,
        }
        .plan(&due, &upcoming, &mut actions);
    }
    actions
}

/// Planning state of one environment within a tick.
struct EnvPlan<'t, 'a, M> {
    tick: &'t Tick<'a>,
    memory: &'t M,
    snapshot: &'t EnvSnapshot,
    /// The size once the fires planned so far have run.
    projected: Option<SizeName>,
    /// A scheduled scale-down planned this tick (which then also ends the lease).
    scaled_down_by: Option<String>,
}

impl<M: PlannerMemory> EnvPlan<'_, '_, M> {
    fn plan(
        &mut self,
        due: &[Option<Occurrence>],
        upcoming: &[Option<Occurrence>],
        actions: &mut Vec<PlannedAction>,
    ) {
        let env = &self.snapshot.env;
        let mut candidates: Vec<(&ScheduleConfig, Occurrence)> = self
            .tick
            .schedules
            .iter()
            .zip(due)
            .filter(|(schedule, _)| schedule.environments.contains(env))
            .filter_map(|(schedule, occurrence)| Some((schedule, (*occurrence)?)))
            .filter(|(schedule, occurrence)| {
                !self
                    .memory
                    .already_fired(&schedule.name, env, occurrence.nominal)
            })
            .collect();
        candidates.sort_by_key(|(schedule, occurrence)| {
            let rank = self.rank(&schedule.action.target()).unwrap_or(usize::MAX);
            (occurrence.at, rank)
        });
        for (schedule, occurrence) in candidates {
            actions.push(self.fire_or_skip(schedule, occurrence));
        }
        if let Some(action) = self.lease() {
            actions.push(action);
        }
        for (schedule, occurrence) in self.tick.schedules.iter().zip(upcoming) {
            if let Some(occurrence) = occurrence {
                if let Some(action) = self.schedule_warning(schedule, *occurrence) {
                    actions.push(action);
                }
            }
        }
    }

    fn fire_or_skip(&mut self, schedule: &ScheduleConfig, occurrence: Occurrence) -> PlannedAction {
        let late_by = self.tick.now - occurrence.at;
        let missed = late_by > delta(self.tick.settings.on_time_grace);
        let skip = |reason| PlannedAction::SkipFire {
            schedule: schedule.name.clone(),
            env: self.snapshot.env.clone(),
            occurrence,
            action: schedule.action.clone(),
            reason,
        };
        if missed {
            if matches!(schedule.action, ScheduleAction::Up(_)) {
                return skip(SkipReason::MissedUp { late_by });
            }
            if schedule.catch_up.is_none_or(|limit| late_by > delta(limit)) {
                return skip(SkipReason::TooLate { late_by });
            }
        }
        if let Some(reason) = self.no_op(&schedule.action, self.tick.now) {
            return skip(reason);
        }
        let target = schedule.action.target();
        if !matches!(schedule.action, ScheduleAction::Up(_)) {
            self.scaled_down_by = Some(schedule.name.clone());
        }
        self.projected = Some(target);
        PlannedAction::Fire {
            schedule: schedule.name.clone(),
            env: self.snapshot.env.clone(),
            occurrence,
            action: schedule.action.clone(),
            late_by: missed.then_some(late_by),
        }
    }

    /// Why `action` would do nothing; a hold counts when it lasts past `held_at`.
    fn no_op(&self, action: &ScheduleAction, held_at: DateTime<Utc>) -> Option<SkipReason> {
        let target = action.target();
        let current = self.known_size();
        match action {
            ScheduleAction::Up(_) => {
                let current = current?;
                (self.rank(&current)? >= self.rank(&target)?)
                    .then_some(SkipReason::AlreadyAtOrAbove { current, target })
            }
            ScheduleAction::Down | ScheduleAction::Off => {
                if let Some(current) = current.filter(|current| self.at_or_below(current, &target))
                {
                    return Some(SkipReason::AlreadyAtOrBelow { current, target });
                }
                match (action, self.snapshot.hold_until) {
                    (ScheduleAction::Down, Some(until)) if until > held_at => {
                        Some(SkipReason::Held { until })
                    }
                    _ => None,
                }
            }
        }
    }

    fn lease(&self) -> Option<PlannedAction> {
        let lease = self.snapshot.lease.as_ref()?;
        let env = self.snapshot.env.clone();
        let now = self.tick.now;
        let down = SizeName::DOWN;
        if lease.expires_at <= now {
            if let Some(schedule) = &self.scaled_down_by {
                return Some(PlannedAction::LeaseLapsed {
                    env,
                    expired_at: lease.expires_at,
                    reason: LapseReason::ScheduledScaleDown {
                        schedule: schedule.clone(),
                    },
                });
            }
            if self.snapshot.busy {
                return None;
            }
            if let Some(current) = self.known_size().filter(|c| self.at_or_below(c, &down)) {
                return Some(PlannedAction::LeaseLapsed {
                    env,
                    expired_at: lease.expires_at,
                    reason: LapseReason::AlreadyAtOrBelow { current },
                });
            }
            return Some(PlannedAction::LeaseEnd {
                env,
                size: lease.size.clone(),
                expired_at: lease.expires_at,
            });
        }
        let warn_from = lease.expires_at - delta(self.tick.settings.lease_warning);
        let key = WarningKey::Lease {
            env: env.clone(),
            expires_at: lease.expires_at,
        };
        let nothing_to_end = self
            .known_size()
            .is_some_and(|c| self.at_or_below(&c, &down));
        if now < warn_from || nothing_to_end || self.memory.already_warned(&key) {
            return None;
        }
        Some(PlannedAction::Warn {
            env,
            subject: WarnSubject::Lease {
                size: lease.size.clone(),
            },
            due_at: lease.expires_at,
            action: ScheduleAction::Down,
        })
    }

    fn schedule_warning(
        &self,
        schedule: &ScheduleConfig,
        occurrence: Occurrence,
    ) -> Option<PlannedAction> {
        let env = &self.snapshot.env;
        let warn_before = schedule.warn_before?;
        if !schedule.environments.contains(env)
            || self.tick.now < occurrence.at - delta(warn_before)
        {
            return None;
        }
        // Warn only about a fire that will do something; the hold is judged at the fire.
        if self.no_op(&schedule.action, occurrence.at).is_some() {
            return None;
        }
        let key = WarningKey::Schedule {
            schedule: schedule.name.clone(),
            env: env.clone(),
            nominal: occurrence.nominal,
        };
        if self.memory.already_warned(&key) {
            return None;
        }
        Some(PlannedAction::Warn {
            env: env.clone(),
            subject: WarnSubject::Schedule {
                schedule: schedule.name.clone(),
                occurrence,
            },
            due_at: occurrence.at,
            action: schedule.action.clone(),
        })
    }

    /// The size checks can rely on: none while a job is queued or running.
    fn known_size(&self) -> Option<SizeName> {
        if self.snapshot.busy {
            return None;
        }
        self.projected.clone()
    }

    fn rank(&self, size: &SizeName) -> Option<usize> {
        self.tick.sizes.rank(size)
    }

    /// Unknown sizes are never at or below anything (see the module doc).
    fn at_or_below(&self, current: &SizeName, target: &SizeName) -> bool {
        match (self.rank(current), self.rank(target)) {
            (Some(current), Some(target)) => current <= target,
            _ => false,
        }
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EnvName;
    use crate::schedule::calendar::tests::schedule as bare_schedule;
    use crate::schedule::test_support::{describe, env, jst, leased, nightly, schedule, sizes};
    use chrono::TimeZone;
    use chrono_tz::Asia::Tokyo;

    struct Case<'a> {
        name: &'a str,
        since: &'a str,
        now: &'a str,
        schedules: Vec<ScheduleConfig>,
        envs: Vec<EnvSnapshot>,
        /// Actions recorded before the tick (by an earlier tick or another process).
        recorded: Vec<PlannedAction>,
        expected: &'a [&'a str],
    }

    fn check(case: Case<'_>) {
        let sizes = sizes();
        let mut memory = RecordedSet::default();
        for action in &case.recorded {
            memory.record(action);
        }
        let tick = Tick {
            since: jst(case.since),
            now: jst(case.now),
            schedules: &case.schedules,
            environments: &case.envs,
            sizes: &sizes,
            settings: PlannerSettings::default(),
        };
        let actions: Vec<String> = plan(&tick, &memory).iter().map(describe).collect();
        assert_eq!(actions, case.expected, "{}", case.name);
    }

    fn fired(schedule: &ScheduleConfig, at: &str) -> PlannedAction {
        let at = jst(at);
        PlannedAction::Fire {
            schedule: schedule.name.clone(),
            env: EnvName::new("lt1"),
            occurrence: Occurrence {
                at,
                nominal: at.with_timezone(&Tokyo).naive_local(),
            },
            action: schedule.action.clone(),
            late_by: None,
        }
    }

    fn held(mut snapshot: EnvSnapshot, until: &str) -> EnvSnapshot {
        snapshot.hold_until = Some(jst(until));
        snapshot
    }

    #[test]
    fn scheduled_fires() {
        let up = schedule(
            "morning-up",
            "0 8 * * 1-5",
            ScheduleAction::Up(SizeName::new("small")),
            &["lt1"],
            Some("15m"),
            Some("6h"),
        );
        let off = schedule(
            "weekend-off",
            "0 22 * * 5",
            ScheduleAction::Off,
            &["lt1"],
            None,
            Some("6h"),
        );
        let hourly = schedule(
            "hourly-down",
            "0 * * * *",
            ScheduleAction::Down,
            &["lt1"],
            None,
            Some("6h"),
        );
        let no_catch_up = schedule(
            "nightly-down",
            "0 22 * * *",
            ScheduleAction::Down,
            &["lt1"],
            None,
            None,
        );
        let busy = EnvSnapshot {
            busy: true,
            ..env(Some("down"))
        };
        #[rustfmt::skip]
        let cases = [
            Case { name: "on time", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![env(Some("small"))], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00"] },
            Case { name: "a slow tick is still on time", since: "03-02 21:59:50", now: "03-02 22:00:50", schedules: vec![nightly()], envs: vec![env(Some("small"))], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00"] },
            Case { name: "not yet due (its warning is)", since: "03-02 21:59:00", now: "03-02 21:59:59", schedules: vec![nightly()], envs: vec![env(Some("small"))], recorded: vec![],
                expected: &["warn lt1: down @ Mon 22:00 (nightly-down)"] },
            Case { name: "recorded by an earlier tick or another process", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![env(Some("small"))], recorded: vec![fired(&nightly(), "03-02 22:00")],
                expected: &[] },
            Case { name: "a hold skips down", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![held(env(Some("large")), "03-03 01:00")], recorded: vec![],
                expected: &["skip nightly-down lt1: down @ Mon 22:00: held until Tue 01:00"] },
            Case { name: "an ended hold does not", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![held(env(Some("large")), "03-02 21:30")], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00"] },
            Case { name: "a hold does not skip off", since: "03-06 21:59:30", now: "03-06 22:00", schedules: vec![off.clone()], envs: vec![held(env(Some("large")), "03-07 01:00")], recorded: vec![],
                expected: &["fire weekend-off lt1: off @ Fri 22:00"] },
            Case { name: "already down", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![env(Some("down"))], recorded: vec![],
                expected: &["skip nightly-down lt1: down @ Mon 22:00: already at down (target down)"] },
            Case { name: "already below", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![env(Some("off"))], recorded: vec![],
                expected: &["skip nightly-down lt1: down @ Mon 22:00: already at off (target down)"] },
            Case { name: "unknown size fires", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![env(None)], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00"] },
            Case { name: "a size no longer configured fires", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![env(Some("huge"))], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00"] },
            Case { name: "busy: the size may change before it runs", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![busy], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00"] },
            Case { name: "restart: caught up within catch_up", since: "03-02 20:00", now: "03-02 23:30", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00, 1h30m late"] },
            Case { name: "restart: exactly catch_up late", since: "03-02 20:00", now: "03-03 04:00", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00, 6h late"] },
            Case { name: "restart: past catch_up", since: "03-02 20:00", now: "03-03 04:30", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["skip nightly-down lt1: down @ Mon 22:00: too late, 6h30m late"] },
            Case { name: "restart: a recorded fire is not caught up again", since: "03-02 20:00", now: "03-02 23:30", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![fired(&nightly(), "03-02 22:00")],
                expected: &[] },
            Case { name: "no catch_up: a missed fire is not made up", since: "03-02 21:00", now: "03-02 22:05", schedules: vec![no_catch_up], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["skip nightly-down lt1: down @ Mon 22:00: too late, 5m late"] },
            Case { name: "a missed up never runs", since: "03-03 07:00", now: "03-03 08:30", schedules: vec![up.clone()], envs: vec![env(Some("down"))], recorded: vec![],
                expected: &["skip morning-up lt1: up small @ Tue 08:00: missed up, 30m late"] },
            Case { name: "an up on time runs", since: "03-03 07:59:59", now: "03-03 08:00", schedules: vec![up.clone()], envs: vec![env(Some("down"))], recorded: vec![],
                expected: &["fire morning-up lt1: up small @ Tue 08:00"] },
            Case { name: "an up never shrinks a bigger test", since: "03-03 07:59:59", now: "03-03 08:00", schedules: vec![up.clone()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["skip morning-up lt1: up small @ Tue 08:00: already at large (target small)"] },
            Case { name: "only the latest missed occurrence", since: "03-02 10:00", now: "03-02 14:30", schedules: vec![hourly], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["fire hourly-down lt1: down @ Mon 14:00, 30m late"] },
            Case { name: "off and down together: off runs, down is a no-op", since: "03-06 21:59:30", now: "03-06 22:00", schedules: vec![nightly(), off.clone()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["fire weekend-off lt1: off @ Fri 22:00", "skip nightly-down lt1: down @ Fri 22:00: already at off (target down)"] },
        ];
        for case in cases {
            check(case);
        }
    }

    #[test]
    fn every_environment_a_schedule_names_is_planned() {
        let both = schedule(
            "nightly-down",
            "0 22 * * *",
            ScheduleAction::Down,
            &["lt1", "lt2"],
            None,
            None,
        );
        #[rustfmt::skip]
        check(Case { name: "lt2 has no snapshot: unknown size", since: "03-02 21:59:30", now: "03-02 22:00", schedules: vec![both], envs: vec![env(Some("down"))], recorded: vec![],
            expected: &["skip nightly-down lt1: down @ Mon 22:00: already at down (target down)", "fire nightly-down lt2: down @ Mon 22:00"] });
    }

    #[test]
    fn warnings() {
        let up = schedule(
            "morning-up",
            "0 8 * * 1-5",
            ScheduleAction::Up(SizeName::new("small")),
            &["lt1"],
            Some("15m"),
            None,
        );
        let warned = PlannedAction::Warn {
            env: EnvName::new("lt1"),
            subject: WarnSubject::Schedule {
                schedule: "nightly-down".into(),
                occurrence: Occurrence {
                    at: jst("03-02 22:00"),
                    nominal: jst("03-02 22:00").with_timezone(&Tokyo).naive_local(),
                },
            },
            due_at: jst("03-02 22:00"),
            action: ScheduleAction::Down,
        };
        #[rustfmt::skip]
        let cases = [
            Case { name: "warn_before a scale-down", since: "03-02 21:44:30", now: "03-02 21:45", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["warn lt1: down @ Mon 22:00 (nightly-down)"] },
            Case { name: "too early", since: "03-02 21:43:30", now: "03-02 21:44:59", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &[] },
            Case { name: "after a restart inside the window, still warned", since: "03-02 18:00", now: "03-02 21:55", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![],
                expected: &["warn lt1: down @ Mon 22:00 (nightly-down)"] },
            Case { name: "once", since: "03-02 21:45", now: "03-02 21:46", schedules: vec![nightly()], envs: vec![env(Some("large"))], recorded: vec![warned],
                expected: &[] },
            Case { name: "not when held past the fire", since: "03-02 21:44:30", now: "03-02 21:45", schedules: vec![nightly()], envs: vec![held(env(Some("large")), "03-02 23:00")], recorded: vec![],
                expected: &[] },
            Case { name: "when the hold ends before the fire", since: "03-02 21:44:30", now: "03-02 21:45", schedules: vec![nightly()], envs: vec![held(env(Some("large")), "03-02 21:50")], recorded: vec![],
                expected: &["warn lt1: down @ Mon 22:00 (nightly-down)"] },
            Case { name: "not when it would be a no-op", since: "03-02 21:44:30", now: "03-02 21:45", schedules: vec![nightly()], envs: vec![env(Some("down"))], recorded: vec![],
                expected: &[] },
            Case { name: "never for up", since: "03-03 07:44:30", now: "03-03 07:45", schedules: vec![up], envs: vec![env(Some("down"))], recorded: vec![],
                expected: &[] },
            Case { name: "ahead of a lease end", since: "03-02 14:44:30", now: "03-02 14:45", schedules: vec![], envs: vec![leased("large", "03-02 15:00")], recorded: vec![],
                expected: &["warn lt1: down @ Mon 15:00 (lease of large)"] },
            Case { name: "lease end too far", since: "03-02 14:43:30", now: "03-02 14:44:59", schedules: vec![], envs: vec![leased("large", "03-02 15:00")], recorded: vec![],
                expected: &[] },
        ];
        for case in cases {
            check(case);
        }
    }

    #[test]
    fn lease_ends() {
        let at_down = EnvSnapshot {
            current_size: Some(SizeName::DOWN),
            ..leased("large", "03-02 15:00")
        };
        let busy = EnvSnapshot {
            busy: true,
            ..leased("large", "03-02 15:00")
        };
        #[rustfmt::skip]
        let cases = [
            Case { name: "lease ends", since: "03-02 14:59:59", now: "03-02 15:00", schedules: vec![], envs: vec![leased("large", "03-02 15:00")], recorded: vec![],
                expected: &["lease end lt1: large → down (ended Mon 15:00)"] },
            Case { name: "a hold does not keep a lease", since: "03-02 14:59:59", now: "03-02 15:00", schedules: vec![], envs: vec![held(leased("large", "03-02 15:00"), "03-02 18:00")], recorded: vec![],
                expected: &["lease end lt1: large → down (ended Mon 15:00)"] },
            Case { name: "an extended lease does not end", since: "03-02 14:59:59", now: "03-02 15:00", schedules: vec![], envs: vec![leased("large", "03-02 17:00")], recorded: vec![],
                expected: &[] },
            Case { name: "after a restart, however long ago", since: "03-02 10:00", now: "03-02 20:00", schedules: vec![], envs: vec![leased("large", "03-02 15:00")], recorded: vec![],
                expected: &["lease end lt1: large → down (ended Mon 15:00)"] },
            Case { name: "already down: just clear it", since: "03-02 14:59:59", now: "03-02 15:00", schedules: vec![], envs: vec![at_down], recorded: vec![],
                expected: &["lease lapsed lt1 (ended Mon 15:00): already at down"] },
            Case { name: "busy: wait for the job", since: "03-02 14:59:59", now: "03-02 15:00", schedules: vec![], envs: vec![busy], recorded: vec![],
                expected: &[] },
            Case { name: "a scheduled down in the same tick does the work", since: "03-02 21:59:59", now: "03-02 22:00", schedules: vec![nightly()], envs: vec![leased("small", "03-02 22:00")], recorded: vec![],
                expected: &["fire nightly-down lt1: down @ Mon 22:00", "lease lapsed lt1 (ended Mon 22:00): nightly-down scales it down"] },
        ];
        for case in cases {
            check(case);
        }
    }

    #[test]
    fn planning_across_a_dst_change_fires_the_gap_time_once() {
        // 02:30 does not exist in New York on 2026-03-08: it fires at 03:00 EDT, once, and
        // ticks on either side of it see nothing more.
        let schedule = ScheduleConfig {
            name: "early".into(),
            ..bare_schedule("30 2 * * *", "America/New_York", &[])
        };
        let schedules = [schedule];
        let sizes = sizes();
        let envs = [env(Some("small"))];
        let mut memory = RecordedSet::default();
        let start = Utc
            .with_ymd_and_hms(2026, 3, 8, 6, 0, 0)
            .single()
            .expect("time");
        let mut fires = Vec::new();
        for minute in 0..180 {
            let now = start + TimeDelta::minutes(minute);
            let tick = Tick {
                since: now - TimeDelta::minutes(1),
                now,
                schedules: &schedules,
                environments: &envs,
                sizes: &sizes,
                settings: PlannerSettings::default(),
            };
            for action in plan(&tick, &memory) {
                memory.record(&action);
                fires.push(format!("{now} {action:?}"));
            }
        }
        assert_eq!(fires.len(), 1, "{fires:#?}");
        assert!(
            fires[0].starts_with("2026-03-08 07:00:00 UTC Fire"),
            "{fires:#?}"
        );
    }
}
