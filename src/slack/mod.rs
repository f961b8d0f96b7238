//! slack: the only module that knows Slack's wire format, tokens, signatures and limits.
//! `serve` runs the bot as a Slack app — Socket Mode ([`socket`]) or HTTP mode ([`http`]) —
//! on the same pipeline as the console: decoded requests ([`inbound`]) go through
//! [`front::SlackFront`] into `App::handle`, and messages leave through
//! [`delivery::SlackOutlet`] and the [`web_api`] client.

pub mod delivery;
pub mod front;
pub mod groups;
pub mod http;
pub mod inbound;
pub mod methods;
pub mod serve;
pub mod signature;
pub mod socket;
pub mod web_api;
