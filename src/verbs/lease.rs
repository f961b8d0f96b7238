//! `extend <duration>`, `hold <duration>`, `hold off`: how long an environment stays up, and
//! scheduled scale-downs skipped until a time. Store writes only; nothing runs.

use super::{audit, refuse};
use crate::app::App;
use crate::config::format_duration;
use crate::model::EnvName;
use crate::request::{Reply, Request};
use crate::store::{Hold, LeaseError};
use std::time::Duration;

pub fn extend(app: &App, request: &Request, env: &EnvName, by: Duration) -> Reply {
    let max = app.config.env(env).map(|e| e.max_lease).unwrap_or_default();
    let now = chrono::Utc::now();
    let max_end = now + chrono::Duration::from_std(max).unwrap_or_default();
    match app.store.extend_lease(env, by, max_end) {
        Ok(lease) => {
            audit(app, request, Some(env), "allowed: lease extended", None);
            Reply::answer(app.notice(&format!(
                "[{env}] lease extended by {}: the environment goes down at {}",
                humantime::format_duration(by),
                app.format_time(env, lease.expires_at)
            )))
        }
        Err(LeaseError::NoLease(_)) => {
            let why =
                format!("`{env}` has no lease to extend; `up <size> for <duration>` sets one");
            refuse(app, request, Some(env), &why, "refused")
        }
        Err(LeaseError::BeyondMax { max_end, .. }) => {
            let why = format!(
                "a lease may end at most {} from now ({}); extend by less",
                format_duration(max),
                app.format_time(env, max_end)
            );
            refuse(app, request, Some(env), &why, "refused")
        }
        Err(error) => Reply::failure(app.notice(&format!("cannot extend the lease: {error}"))),
    }
}

pub fn hold(app: &App, request: &Request, env: &EnvName, for_: Duration) -> Reply {
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::from_std(for_).unwrap_or_default();
    let hold = Hold {
        env: env.clone(),
        until,
        set_by: request.actor.id.clone(),
        set_at: now,
    };
    match app.store.set_hold(&hold) {
        Ok(()) => {
            audit(app, request, Some(env), "allowed: hold set", None);
            Reply::answer(app.notice(&format!(
                "[{env}] held until {}: scheduled scale-downs are skipped until then (`hold off` ends it)",
                app.format_time(env, until)
            )))
        }
        Err(error) => Reply::failure(app.notice(&format!("cannot store the hold: {error}"))),
    }
}

pub fn hold_off(app: &App, request: &Request, env: &EnvName) -> Reply {
    match app.store.clear_hold(env) {
        Ok(false) => Reply::answer(app.notice(&format!("[{env}] there is no hold to clear"))),
        Ok(true) => {
            audit(app, request, Some(env), "allowed: hold cleared", None);
            Reply::answer(app.notice(&format!(
                "[{env}] hold cleared: scheduled scale-downs apply again"
            )))
        }
        Err(error) => Reply::failure(app.notice(&format!("cannot clear the hold: {error}"))),
    }
}
