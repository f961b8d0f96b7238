//! terraform: the only module that spawns processes and knows Terraform's JSON.
//! - [`events`]: typed reader of the `-json` UI stream and the state-lock error.
//! - [`progress`]: folds events into phase, resource counts and diagnostics.
//! - [`plan_summary`]: `terraform show -json <plan>` and `terraform output -json` summaries.

pub mod events;
pub mod plan_summary;
pub mod progress;
pub mod runner;
