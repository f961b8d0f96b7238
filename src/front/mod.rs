//! The front ends: each turns its input into a [`crate::request::Request`] for the pipeline
//! and implements [`crate::outlet::Outlet`] for the messages that come back.
//!
//! - [`console`]: `shell`; [`exec`]: one command to its end; [`check`]: validation only;
//! - [`ticker`]: the scheduler's loop, one more front end (as the actor `scheduler`);
//! - [`slack`]: `serve`, Socket Mode and HTTP mode.

pub mod check;
pub mod console;
pub mod exec;
pub mod slack;
pub mod ticker;
