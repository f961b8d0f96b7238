//! Load tests started from the channel (`run`): who ran which plan where, the SSM command that
//! started it, how it ended and its summary. At most one test per environment is starting or
//! running at a time, across processes (a partial unique index). A scheduled scale-down or
//! lease end that comes due during a test is parked on the test (`after_test`) and carried out
//! when the test ends or its deadline passes, so a restart in between loses nothing.

// Statements are prepared once per connection: `status` and the scheduler's every tick read
// the active test, and preparing costs more than the query.
use super::CachedStatements as _;
use super::{millis, optional_time_column, time_column, Store, StoreError};
use crate::model::{ChannelId, EnvName, SlackUserId};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

/// Where a test is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestState {
    /// Recorded; plans being copied, the command not yet accepted by the master.
    Starting,
    Running,
    Finished,
    /// Did not start, or JMeter failed.
    Failed,
    Stopped,
    /// No result arrived by the test's deadline (the master or the bot went away).
    Lost,
}

impl TestState {
    fn db_key(self) -> &'static str {
        match self {
            TestState::Starting => "starting",
            TestState::Running => "running",
            TestState::Finished => "finished",
            TestState::Failed => "failed",
            TestState::Stopped => "stopped",
            TestState::Lost => "lost",
        }
    }

    fn from_db(text: &str) -> Option<TestState> {
        Some(match text {
            "starting" => TestState::Starting,
            "running" => TestState::Running,
            "finished" => TestState::Finished,
            "failed" => TestState::Failed,
            "stopped" => TestState::Stopped,
            "lost" => TestState::Lost,
            _ => return None,
        })
    }

    pub fn is_active(self) -> bool {
        matches!(self, TestState::Starting | TestState::Running)
    }
}

impl std::fmt::Display for TestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.db_key())
    }
}

/// A test to record.
#[derive(Clone, Debug)]
pub struct NewTest {
    pub env: EnvName,
    pub plan: String,
    /// The arguments in canonical form (`threads=10 duration=30m -Jhost=a`).
    pub args: String,
    pub actor: SlackUserId,
    pub channel: ChannelId,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestRecord {
    pub id: i64,
    pub env: EnvName,
    pub plan: String,
    pub args: String,
    pub actor: SlackUserId,
    pub channel: ChannelId,
    pub state: TestState,
    /// The test's name on the master and in the bucket (`results/<key>/`).
    pub key: String,
    pub bucket: Option<String>,
    pub instance_id: Option<String>,
    pub command_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Start + ramp-up + duration: when the results are due.
    pub expected_end_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The results summary as JSON (`results::TestSummary`).
    pub summary: Option<String>,
    /// Whether the error rate stayed within the plan's threshold.
    pub passed: Option<bool>,
    pub error: Option<String>,
    /// A scheduled action (`down`, `off`) waiting for this test to end.
    pub after_test: Option<String>,
    pub after_test_deadline: Option<DateTime<Utc>>,
}

/// How a test ended, as recorded.
#[derive(Clone, Debug, Default)]
pub struct TestEnd {
    pub summary: Option<String>,
    pub passed: Option<bool>,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, env, plan, args, actor, channel, state, test_key, bucket, instance_id, \
     command_id, created_at, expected_end_at, finished_at, summary, passed, error, after_test, \
     after_test_deadline";

fn test_of(row: &Row<'_>) -> rusqlite::Result<TestRecord> {
    let state: String = row.get("state")?;
    let passed: Option<i64> = row.get("passed")?;
    Ok(TestRecord {
        id: row.get("id")?,
        env: EnvName::new(row.get::<_, String>("env")?),
        plan: row.get("plan")?,
        args: row.get("args")?,
        actor: SlackUserId::new(row.get::<_, String>("actor")?),
        channel: ChannelId::new(row.get::<_, String>("channel")?),
        state: TestState::from_db(&state).ok_or_else(|| super::corrupt("state", &state))?,
        key: row.get("test_key")?,
        bucket: row.get("bucket")?,
        instance_id: row.get("instance_id")?,
        command_id: row.get("command_id")?,
        created_at: time_column(row, "created_at")?,
        expected_end_at: optional_time_column(row, "expected_end_at")?,
        finished_at: optional_time_column(row, "finished_at")?,
        summary: row.get("summary")?,
        passed: passed.map(|p| p != 0),
        error: row.get("error")?,
        after_test: row.get("after_test")?,
        after_test_deadline: optional_time_column(row, "after_test_deadline")?,
    })
}

/// The test's name on the master and in the bucket: its number and start time, so a store
/// started afresh never reuses a name the bucket already holds.
fn test_key(id: i64, now: DateTime<Utc>) -> String {
    format!("{id}-{}", now.format("%Y%m%d%H%M%S"))
}

impl Store {
    /// Records a test as starting, unless one is already starting or running in the
    /// environment: then that one comes back as `Err`.
    pub fn begin_test(
        &self,
        test: &NewTest,
        now: DateTime<Utc>,
    ) -> Result<Result<TestRecord, TestRecord>, StoreError> {
        self.write(|tx| {
            let active = tx
                .query_row_cached(
                    &format!(
                        "SELECT {COLUMNS} FROM load_tests \
                         WHERE env = ?1 AND state IN ('starting', 'running')"
                    ),
                    params![test.env.as_str()],
                    test_of,
                )
                .optional()?;
            if let Some(active) = active {
                return Ok(Err(active));
            }
            tx.execute(
                "INSERT INTO load_tests (env, plan, args, actor, channel, state, test_key, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'starting', '', ?6)",
                params![
                    test.env.as_str(),
                    test.plan,
                    test.args,
                    test.actor.as_str(),
                    test.channel.as_str(),
                    millis(now)
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE load_tests SET test_key = ?2 WHERE id = ?1",
                params![id, test_key(id, now)],
            )?;
            let record = tx.query_row_cached(
                &format!("SELECT {COLUMNS} FROM load_tests WHERE id = ?1"),
                params![id],
                test_of,
            )?;
            Ok(Ok(record))
        })
    }

    /// The master accepted the test: where it runs and when its results are due.
    pub fn mark_test_running(
        &self,
        id: i64,
        bucket: &str,
        instance_id: &str,
        command_id: &str,
        expected_end_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE load_tests SET state = 'running', bucket = ?2, instance_id = ?3, \
                 command_id = ?4, expected_end_at = ?5 WHERE id = ?1 AND state = 'starting'",
                params![id, bucket, instance_id, command_id, millis(expected_end_at)],
            )?;
            Ok(())
        })
    }

    /// Ends an active test; false when it had already ended (another process, a restart).
    pub fn finish_test(
        &self,
        id: i64,
        state: TestState,
        end: &TestEnd,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE load_tests SET state = ?2, summary = ?3, passed = ?4, error = ?5, \
                 finished_at = ?6 WHERE id = ?1 AND state IN ('starting', 'running')",
                params![
                    id,
                    state.db_key(),
                    end.summary,
                    end.passed.map(i64::from),
                    end.error,
                    millis(now)
                ],
            )?;
            Ok(changed == 1)
        })
    }

    pub fn get_test(&self, id: i64) -> Result<Option<TestRecord>, StoreError> {
        self.read(|conn| {
            conn.query_row_cached(
                &format!("SELECT {COLUMNS} FROM load_tests WHERE id = ?1"),
                params![id],
                test_of,
            )
            .optional()
        })
    }

    /// The environment's starting or running test, if any.
    pub fn active_test(&self, env: &EnvName) -> Result<Option<TestRecord>, StoreError> {
        self.read(|conn| {
            conn.query_row_cached(
                &format!(
                    "SELECT {COLUMNS} FROM load_tests \
                     WHERE env = ?1 AND state IN ('starting', 'running')"
                ),
                params![env.as_str()],
                test_of,
            )
            .optional()
        })
    }

    /// Every starting or running test, all environments (the watcher's restart list).
    pub fn active_tests(&self) -> Result<Vec<TestRecord>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM load_tests WHERE state IN ('starting', 'running') \
                 ORDER BY id"
            ))?;
            let rows = statement.query_map([], test_of)?;
            rows.collect()
        })
    }

    /// The environment's last `limit` tests, newest first.
    pub fn recent_tests(&self, env: &EnvName, limit: usize) -> Result<Vec<TestRecord>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM load_tests WHERE env = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows =
                statement.query_map(params![env.as_str(), super::limit_param(limit)], test_of)?;
            rows.collect()
        })
    }

    /// Parks a scheduled action on the environment's active test, to run when the test ends
    /// or at `deadline`, whichever comes first. Returns the test, or `None` when no test is
    /// active (the action should run now). A second action replaces the first: `off` after
    /// `down` leaves only `off` waiting.
    pub fn defer_until_test_ends(
        &self,
        env: &EnvName,
        action: &str,
        deadline: DateTime<Utc>,
    ) -> Result<Option<TestRecord>, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE load_tests SET after_test = ?2, \
                 after_test_deadline = MIN(COALESCE(after_test_deadline, ?3), ?3) \
                 WHERE env = ?1 AND state IN ('starting', 'running')",
                params![env.as_str(), action, millis(deadline)],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            let parked = tx
                .query_row_cached(
                    &format!(
                        "SELECT {COLUMNS} FROM load_tests \
                         WHERE env = ?1 AND state IN ('starting', 'running')"
                    ),
                    params![env.as_str()],
                    test_of,
                )
                .optional()?;
            Ok(parked)
        })
    }

    /// Takes (clears and returns) the parked actions that are due: their test has ended, or
    /// their deadline has passed. Each is returned once, whichever process asks.
    pub fn take_due_after_test(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(TestRecord, String)>, StoreError> {
        // The scheduler asks every tick; a read first keeps that from writing four times a
        // second when nothing is parked.
        let parked: i64 = self.read(|conn| {
            conn.query_row_cached(
                "SELECT COUNT(*) FROM load_tests WHERE after_test IS NOT NULL",
                [],
                |row| row.get(0),
            )
        })?;
        if parked == 0 {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let due: Vec<TestRecord> = {
                let mut statement = tx.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM load_tests WHERE after_test IS NOT NULL AND \
                     (state NOT IN ('starting', 'running') OR after_test_deadline <= ?1)"
                ))?;
                let rows = statement.query_map(params![millis(now)], test_of)?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut taken = Vec::new();
            for test in due {
                tx.execute_cached(
                    "UPDATE load_tests SET after_test = NULL WHERE id = ?1",
                    params![test.id],
                )?;
                let action = test.after_test.clone().unwrap_or_default();
                taken.push((test, action));
            }
            Ok(taken)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_test(env: &str) -> NewTest {
        NewTest {
            env: EnvName::new(env),
            plan: "smoke.jmx".into(),
            args: "threads=10 duration=1m".into(),
            actor: SlackUserId::new("U1"),
            channel: ChannelId::new("C1"),
        }
    }

    #[test]
    fn one_active_test_per_environment_and_its_life_is_recorded() {
        let store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let first = store.begin_test(&new_test("lt1"), now).unwrap().unwrap();
        assert_eq!(first.state, TestState::Starting);
        assert!(
            first.key.starts_with(&format!("{}-", first.id)),
            "{}",
            first.key
        );
        let refused = store
            .begin_test(&new_test("lt1"), now)
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.id, first.id);
        // Another environment is independent.
        assert!(store.begin_test(&new_test("lt2"), now).unwrap().is_ok());

        store
            .mark_test_running(first.id, "bucket", "i-1", "cmd-1", now)
            .unwrap();
        let running = store.active_test(&EnvName::new("lt1")).unwrap().unwrap();
        assert_eq!(running.state, TestState::Running);
        assert_eq!(running.command_id.as_deref(), Some("cmd-1"));

        let end = TestEnd {
            summary: Some("{}".into()),
            passed: Some(true),
            error: None,
        };
        assert!(store
            .finish_test(first.id, TestState::Finished, &end, now)
            .unwrap());
        // Ended once: a second finish (another process) changes nothing.
        assert!(!store
            .finish_test(first.id, TestState::Lost, &end, now)
            .unwrap());
        let ended = store.get_test(first.id).unwrap().unwrap();
        assert_eq!(
            (ended.state, ended.passed),
            (TestState::Finished, Some(true))
        );
        assert!(store.active_test(&EnvName::new("lt1")).unwrap().is_none());
        assert!(store.begin_test(&new_test("lt1"), now).unwrap().is_ok());
        assert_eq!(
            store.recent_tests(&EnvName::new("lt1"), 10).unwrap().len(),
            2
        );
    }

    #[test]
    fn a_parked_action_runs_once_when_the_test_ends_or_its_deadline_passes() {
        let store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let env = EnvName::new("lt1");
        assert!(store
            .defer_until_test_ends(&env, "down", now)
            .unwrap()
            .is_none());
        let test = store.begin_test(&new_test("lt1"), now).unwrap().unwrap();
        let later = now + chrono::Duration::hours(2);
        let parked = store.defer_until_test_ends(&env, "down", later).unwrap();
        assert_eq!(parked.unwrap().after_test.as_deref(), Some("down"));
        // Still running, deadline ahead: nothing due.
        assert!(store.take_due_after_test(now).unwrap().is_empty());
        // Past the deadline: due while the test still runs, and only once.
        let due = store.take_due_after_test(later).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1, "down");
        assert!(store.take_due_after_test(later).unwrap().is_empty());
        // Parked again, then the test ends: due at once.
        store.defer_until_test_ends(&env, "off", later).unwrap();
        store
            .finish_test(test.id, TestState::Finished, &TestEnd::default(), now)
            .unwrap();
        let due = store.take_due_after_test(now).unwrap();
        assert_eq!(
            due.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(),
            ["off"]
        );
    }
}
