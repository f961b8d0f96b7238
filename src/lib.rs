//! loadtest-bot: a Slack chat-ops bot that scales Terraform load-test environments.
//!
//! Layers, top to bottom; a module imports only from layers below it (ARCHITECTURE.md has
//! the invariants, and `tests/integration/house.rs` checks the imports):
//! - [`front`]: the console, `exec`, `check`, the scheduler's ticker and Slack's `serve`; each
//!   turns its input into a [`request::Request`] and receives messages through an [`outlet`].
//! - [`pipeline`]: parse → resolve the environment → policy → dispatch.
//! - [`verbs`]: one file per verb family.
//! - [`app`]: the context handed down (services, runs, audit, state reads).
//! - services: [`runs`] (queue + a run's life), [`load_tests`] (a JMeter test from `run` to
//!   its results), [`terraform`], [`render`], [`store`],
//!   [`schedule`], [`policy`], [`command`], [`audit_log`], [`services`] (their shared handles),
//!   [`results`] (a JMeter results file → a test's summary, comparisons), [`aws`] (the bot's
//!   own AWS calls: readiness after an apply, the vCPU quota, the lease backstop's text, a load
//!   test's plans, SSM commands and results).
//! - [`config`], [`slack`] (Slack's wire format), [`masker`], [`metrics`], [`model`],
//!   [`private_fs`] (the state directory's modes).

pub mod app;
pub mod audit_log;
pub mod aws;
pub mod command;
pub mod config;
pub mod front;
mod fuzz;
pub mod load_tests;
pub mod masker;
pub mod metrics;
pub mod model;
pub mod outlet;
pub mod pipeline;
pub mod policy;
pub mod private_fs;
pub mod render;
pub mod request;
pub mod results;
pub mod runs;
pub mod schedule;
pub mod services;
pub mod slack;
pub mod store;
pub mod terraform;
pub mod verbs;
