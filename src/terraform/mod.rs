//! terraform: the only module that spawns processes and knows Terraform's JSON.
//! - [`events`]: typed reader of the `-json` UI stream and the state-lock error.
//! - [`progress`]: folds events into phase, resource counts and diagnostics.
//! - [`plan_summary`]: `terraform show -json <plan>` summarised.
//! - [`state`]: what runs and the outputs, from the state; [`state_reads`]: one read shared by
//!   many `status` commands while the state cannot have changed.
//! - [`runner`]: spawns Terraform, streams its output into the run log, knows its exit codes.

pub mod events;
pub mod plan_summary;
pub mod progress;
pub mod runner;
pub mod state;
pub mod state_reads;
