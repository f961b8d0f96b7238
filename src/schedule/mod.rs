//! Schedules and leases → planned actions. Pure code: no tasks, no I/O,
//! the time is always passed in. It decides *what* is due; it never runs, posts or stores
//! anything itself (the caller records fires and warnings and queues the runs).
//!
//! - [`calendar`]: DST-correct fire times of a `[[schedules]]` entry.
//! - [`planner`]: one tick's decisions: fires, skipped fires, warnings, lease ends; its
//!   inputs and outputs are plain data (`actions.rs`, re-exported here).

mod actions;
pub mod calendar;
pub mod planner;

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod test_support;

pub use calendar::{fires_between, latest_between, next_fires, Occurrence};
pub use planner::{
    plan, EnvSnapshot, LapseReason, LeaseSnapshot, PlannedAction, PlannerMemory, PlannerSettings,
    RecordedSet, SkipReason, Tick, WarnSubject, WarningKey,
};
