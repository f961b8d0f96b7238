//! Shared fixtures for the store's in-file tests: fixed times, a store on a temporary file,
//! a new run's fields.

use super::*;
use crate::model::{ChannelId, EnvName, RunOutcome, SlackUserId};

/// `secs` seconds after 2026-01-01T00:00:00Z.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + secs, 0).expect("test time in range")
}

/// A store on a real file in a fresh temporary state directory.
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_in_dir(dir.path()).expect("open store");
    (dir, store)
}

pub(crate) fn new_run(env: &str, verb: &str, args: &str) -> runs::NewRun {
    runs::NewRun {
        env: EnvName::new(env),
        verb: verb.into(),
        args: args.into(),
        size: args
            .split_whitespace()
            .next()
            .map(crate::model::SizeName::new),
        actor: SlackUserId::new("UANA"),
        channel: ChannelId::new("C1"),
        outcome: RunOutcome::Queued,
        lease: None,
        owner_pid: Some(1),
        created_at: at(0),
    }
}
