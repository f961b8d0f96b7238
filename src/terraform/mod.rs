//! terraform: the only module that spawns processes and knows Terraform's JSON.
//! - [`events`]: typed parser of the `-json` UI stream and the state-lock error.
//! - [`lines`]: a child's output as capped, lossily decoded lines; the `-json` event reader.
//! - [`progress`]: folds events into phase, resource counts and diagnostics.
//! - [`plan_summary`]: `terraform show -json <plan>` summarised.
//! - [`state`]: what runs and the outputs, from the state; [`state_reads`]: one read shared by
//!   many `status` commands while the state cannot have changed.
//! - [`runner`]: the Terraform commands; `process`: one process from spawn to exit (pipes
//!   drained, SIGINT first); [`child_env`]: the allow-listed environment it starts with;
//!   [`run_log`]: the run's log file; [`workspace`]: an environment's root and files.

pub mod child_env;
pub mod events;
pub mod lines;
pub mod plan_summary;
mod process;
pub mod progress;
pub mod run_log;
pub mod runner;
pub mod state;
pub mod state_reads;
pub mod workspace;
