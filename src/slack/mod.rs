//! slack: the only module that knows Slack's wire format: the message shape and its limits,
//! mrkdwn, the bot's button ids, request signatures, the payloads Slack pushes, and the Web
//! API client (which method is sent how). The Slack front end (`front::slack`) is built on it;
//! nothing here knows the pipeline.

pub mod actions;
pub mod block_text;
pub mod files;
pub mod inbound;
pub mod limits;
pub mod message;
pub mod methods;
pub mod mrkdwn;
pub mod signature;
pub mod web_api;

pub use message::Message;
