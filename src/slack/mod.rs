//! slack: the only module that knows Slack's wire format, tokens, signatures and limits.
//! So far: request signature verification for HTTP mode ([`signature`]); the Socket Mode and
//! HTTP front ends come with the Slack issue.

pub mod signature;
