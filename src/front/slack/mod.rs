//! `serve`: the bot as a Slack app, in Socket Mode ([`socket`]) or HTTP mode ([`http`]), on
//! the same pipeline as the console. Decoded requests go through [`requests::SlackFront`]
//! into the pipeline; messages leave through the durable [`delivery::SlackOutlet`].
//! Slack's wire format itself (payloads, signatures, the Web API client) is `crate::slack`.

pub mod ack;
mod buttons;
pub mod delivery;
pub mod groups;
pub mod http;
mod listener;
pub mod requests;
pub mod serve;
pub mod socket;
mod state_lock;
mod unauthorized;
