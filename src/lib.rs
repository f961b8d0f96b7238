//! loadtest-bot: a Slack chat-ops bot that scales Terraform load-test environments.
//!
//! Crate map (ARCHITECTURE.md has the invariants):
//! - [`app`]: wiring and the one request pipeline (parse → environment → policy → verb).
//! - [`verbs`], [`run`], [`status`]: what each verb does; a run's life; read-only answers.
//! - [`state_reads`]: one Terraform read of an environment's state shared by many `status`.
//! - [`console`]: `shell`, `exec`, `check`; [`outlet`]: where messages go.
//! - [`model`]: identifiers and outcomes shared by every layer.
//! - [`config`]: the TOML configuration, typed and validated once at start.
//! - [`sizes`]: the variable sets of `commands/sizes.toml`.
//! - [`command`]: chat text → a validated command; pure; help comes from its catalogue.
//! - [`policy`]: (actor, command, environment, channel) → allow / deny / needs approval; pure.
//! - [`queue`]: one mutating job per environment, across processes.
//! - [`terraform`]: the only module that spawns processes and knows Terraform's JSON.
//! - [`render`]: outcomes → Slack Block Kit messages through handlebars templates.
//! - [`store`]: the only module with SQL.
//! - [`slack`]: `serve`: Socket Mode and HTTP mode, the Web API client, the Slack outlet.
//! - [`audit_log`]: group-committed audit trail.
//! - [`metrics`]: counters and histograms for `/metrics`.
//! - [`schedule`], [`ticker`]: what is due (pure) and the loop that feeds it to the pipeline.

pub mod app;
pub mod audit_log;
pub mod command;
pub mod config;
pub mod console;
mod fuzz;
pub mod masker;
pub mod metrics;
pub mod model;
pub mod outlet;
pub mod policy;
pub mod queue;
pub mod render;
pub mod run;
pub mod schedule;
pub mod slack;
pub mod state_reads;
pub mod status;
pub mod store;
pub mod terraform;
pub mod ticker;
pub mod verbs;
