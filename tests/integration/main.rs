//! The one integration-test binary. Tests that need Terraform or moto start their own moto
//! on a free port and fail (never skip) when the tools are missing; `make test` installs them.

mod account_bootstrap;
mod approval;
mod aws_side;
mod cli_bad_input;
mod console_lifecycle;
mod dashboards;
mod faults;
mod hardening;
mod host_scripts;
mod house;
mod image_build;
mod listener;
mod load_tests;
mod rendered_block_kit;
mod results;
mod scheduler;
mod scheduler_clock;
mod scheduler_paused;
mod slack;
mod slack_contract;
mod support;
mod terraform_stack;
