//! User groups (`S…`) named in `[access]` and `[approval]`, resolved to their members through
//! `usergroups.users.list` and cached for a TTL, so a command costs no extra Slack call most
//! of the time. A group Slack cannot list counts as empty (fail closed: nobody gets a role
//! through it) until the next refresh.

use crate::config::Config;
use crate::model::SlackUserId;
use crate::slack::web_api::WebApi;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

struct Cached {
    members: Vec<String>,
    fetched: Instant,
}

pub struct GroupResolver {
    api: Arc<WebApi>,
    groups: Vec<String>,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl GroupResolver {
    pub fn new(api: Arc<WebApi>, config: &Config, ttl: Duration) -> Self {
        Self {
            api,
            groups: groups_in(config),
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The configured groups `user` belongs to.
    pub async fn groups_of(&self, user: &SlackUserId) -> Vec<SlackUserId> {
        let mut found = Vec::new();
        for group in &self.groups {
            if self.members(group).await.iter().any(|m| m == user.as_str()) {
                found.push(SlackUserId::new(group.clone()));
            }
        }
        found
    }

    async fn members(&self, group: &str) -> Vec<String> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(group) {
            if cached.fetched.elapsed() < self.ttl {
                return cached.members.clone();
            }
        }
        let members = match self.api.usergroup_members(group).await {
            Ok(members) => members,
            Err(error) => {
                tracing::warn!(%error, group, "could not list the user group; treating it as empty");
                Vec::new()
            }
        };
        cache.insert(
            group.to_string(),
            Cached {
                members: members.clone(),
                fetched: Instant::now(),
            },
        );
        members
    }
}

/// Every `S…` id the config names, once each.
fn groups_in(config: &Config) -> Vec<String> {
    let mut ids: Vec<&SlackUserId> = config.approval.approvers.iter().collect();
    if let Some(access) = &config.access {
        ids.extend(access.admins.iter());
        ids.extend(access.operators.iter());
        ids.extend(access.viewers.iter());
    }
    let mut groups: Vec<String> = ids
        .into_iter()
        .map(|id| id.as_str().to_string())
        .filter(|id| id.starts_with('S'))
        .collect();
    groups.sort();
    groups.dedup();
    groups
}
