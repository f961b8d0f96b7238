//! terraform: the only module that spawns processes and knows Terraform's JSON.
//! - [`events`]: typed reader of the `-json` UI stream and the state-lock error.
//! - [`progress`]: folds events into phase, resource counts and diagnostics.
//! - [`plan_summary`]: `terraform show -json <plan>` and `terraform output -json` summaries.
//! - [`mask`]: fail-closed masking of secrets in everything sent to Slack or stored.

pub mod events;
pub mod mask;
pub mod plan_summary;
pub mod progress;
pub mod runner;
