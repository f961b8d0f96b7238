//! User groups (`S…`) named in `[access]` and `[approval]`, resolved to their members through
//! `usergroups.users.list` by a background refresher, so a slash command never waits for
//! Slack: looking a user up is a read of the last good membership, with no lock held across
//! a network call. A group whose members could never be read counts as empty (fail closed:
//! nobody gets a role through it) and is named in the lookup, so a refusal can say why; a
//! group that was read once keeps its last good membership when a refresh fails.

use crate::config::Config;
use crate::model::SlackUserId;
use crate::slack::web_api::WebApi;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often memberships are read again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// How soon a group never read successfully is tried again.
pub const RETRY_UNREAD_AFTER: Duration = Duration::from_secs(30);

/// A group's last good membership.
struct Membership {
    members: HashSet<String>,
    read_at: Instant,
}

/// What the directory knows about one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupLookup {
    /// The configured groups the user is a member of.
    pub member_of: Vec<SlackUserId>,
    /// The configured groups whose members were never read: membership through them is not
    /// granted.
    pub unreadable: Vec<SlackUserId>,
}

pub struct GroupDirectory {
    api: Arc<WebApi>,
    groups: Vec<String>,
    /// A std RwLock: held only to copy a lookup out or to swap one group's membership in,
    /// never across an await.
    known: RwLock<HashMap<String, Membership>>,
}

impl GroupDirectory {
    pub fn new(api: Arc<WebApi>, config: &Config) -> Arc<GroupDirectory> {
        Arc::new(GroupDirectory {
            api,
            groups: groups_in(config),
            known: RwLock::new(HashMap::new()),
        })
    }

    /// The configured groups `user` belongs to, from the last good memberships. No I/O.
    pub fn lookup(&self, user: &SlackUserId) -> GroupLookup {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut lookup = GroupLookup::default();
        for group in &self.groups {
            match known.get(group) {
                Some(membership) if membership.members.contains(user.as_str()) => {
                    lookup.member_of.push(SlackUserId::new(group.clone()))
                }
                Some(_) => {}
                None => lookup.unreadable.push(SlackUserId::new(group.clone())),
            }
        }
        lookup
    }

    /// How many configured groups have never been read (a gauge in `/metrics`).
    pub fn unread(&self) -> usize {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        self.groups
            .iter()
            .filter(|group| !known.contains_key(*group))
            .count()
    }

    /// Reads every group once; a failure keeps the group's last good membership.
    /// Returns whether every group has been read at least once.
    pub async fn refresh(&self) -> bool {
        for group in &self.groups {
            match self.api.usergroup_members(group).await {
                Ok(members) => {
                    let membership = Membership {
                        members: members.into_iter().collect(),
                        read_at: Instant::now(),
                    };
                    self.known
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(group.clone(), membership);
                }
                Err(error) => {
                    let age = self
                        .known
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(group)
                        .map(|membership| membership.read_at.elapsed());
                    match age {
                        Some(age) => {
                            tracing::warn!(%error, group, age_s = age.as_secs(), "could not read the user group; keeping its last good members")
                        }
                        None => {
                            tracing::warn!(%error, group, "could not read the user group; nobody gets a role through it until it can be read")
                        }
                    }
                }
            }
        }
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        self.groups.iter().all(|group| known.contains_key(group))
    }

    /// Refreshes now and then every [`REFRESH_EVERY`] (sooner while a group was never read),
    /// until `stop` turns true. Nothing to do without configured groups.
    pub async fn run_refresher(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.groups.is_empty() {
            return;
        }
        loop {
            let complete = self.refresh().await;
            let wait = if complete {
                REFRESH_EVERY
            } else {
                RETRY_UNREAD_AFTER
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
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
