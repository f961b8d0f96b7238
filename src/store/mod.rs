//! The bot's durable memory: SQLite at `<state dir>/loadtest.db` (runs, audit, leases, holds,
//! schedule fires, the Slack outbox, the size each environment is at). The only module with SQL;
//! it knows nothing of Slack, Terraform or chat text, and never decides policy.
//!
//! The API is synchronous. Async callers wrap calls in `tokio::task::spawn_blocking`; a call
//! is short (one small transaction) but may wait up to [`BUSY_TIMEOUT`] for another process.
//!
//! Every public call is exactly one transaction, so a crash leaves either all of a call's
//! effect or none of it. Times are stored as INTEGER unix milliseconds (UTC); a
//! `DateTime<Utc>` read back is the one written, truncated to the millisecond.

mod ami_pins;
mod approval;
mod audit;
mod fires;
mod leases;
mod load_tests;
mod outbox;
mod ownership;
mod retention;
mod runs;
mod schema;

pub use approval::{ApprovalError, APPROVAL_EXPIRED};
pub use audit::{AuditEntry, AuditRecord};
pub use leases::{EnvSize, Hold, Lease, LeaseError};
pub use load_tests::{NewTest, TestEnd, TestRecord, TestState};
pub use outbox::{NewMessage, OutboxId, OutboxMessage};
pub use ownership::Owner;
pub use retention::Pruned;
pub use runs::{ChangeCounts, FinishedRun, NewRun, RunRecord};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, Row, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The file name of the database inside the state directory.
pub const DB_FILE_NAME: &str = "loadtest.db";

/// How long a call waits for another process's write lock before giving up. Writes here are a
/// few rows each, so a wait this long means something is wrong, yet it comfortably covers a
/// `serve` and an `exec` writing at the same moment.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors that mean the store (or the disk under it) is broken; callers report them, they do
/// not branch on them except [`StoreError::RunNotFound`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source} (is the state directory writable?)")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the store {path} has schema version {found}, newer than the {supported} this \
         loadtest-bot knows; upgrade loadtest-bot or use another state directory"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("migrating the store {path} to schema version {version} failed: {source}")]
    Migration {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    #[error("run #{0} is not in the store")]
    RunNotFound(crate::model::RunId),
    #[error("the path {0} is not valid UTF-8 and cannot be stored")]
    NonUtf8Path(PathBuf),
    #[error("store query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A handle on the database. `Send + Sync`: share it in an `Arc`.
///
/// One connection behind a `std::sync::Mutex` rather than a pool: every call is a short
/// transaction, SQLite serialises writers anyway, and one connection per process keeps the
/// busy-wait behaviour between processes (WAL + `busy_timeout`) the only kind of contention.
/// Separate processes (or separate `Store`s on one file) coordinate through SQLite's locks.
pub struct Store {
    conn: Mutex<Connection>,
    /// `None` for an in-memory store; used to name the file in errors.
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) `<state_dir>/loadtest.db`.
    pub fn open_in_dir(state_dir: &Path) -> Result<Store, StoreError> {
        Store::open(&state_dir.join(DB_FILE_NAME))
    }

    /// Opens (creating the file and its directory if needed) the database at `path`, sets it
    /// up for several processes at once and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            crate::private_fs::create_private_dir_all(dir).map_err(|source| {
                StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                }
            })?;
        }

        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
        // Narrowed before WAL mode is set: SQLite gives the -wal and -shm files it creates
        // the database file's permissions.
        if let Err(error) = crate::private_fs::narrow_to_private(path) {
            tracing::warn!(path = %path.display(), %error, "cannot make the store private");
        }
        configure(&conn, true).map_err(open_error)?;
        migrate(conn, Some(path.to_path_buf()))
    }

    /// A private, empty store for tests; gone when dropped.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn, false)?;
        migrate(conn, None)
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The SQLite library's version (`select sqlite_version()`), e.g. `3.50.2`.
    pub fn sqlite_version(&self) -> Result<String, StoreError> {
        self.read(|conn| conn.query_row("SELECT sqlite_version()", [], |row| row.get(0)))
    }

    /// The schema version this code writes (the number of migrations).
    pub fn schema_version_supported() -> i64 {
        MIGRATION_COUNT
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held left at most an open transaction (a write's
        // `Transaction` rolled back when dropped; a read's BEGIN is ended here): recover the
        // connection instead of poisoning the whole bot.
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }

    /// Runs `f` in one write transaction. IMMEDIATE takes the write lock at BEGIN: a DEFERRED
    /// transaction that reads and then writes can fail with SQLITE_BUSY without waiting when
    /// another process wrote in between, which would break the conditional updates here.
    fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` in one read transaction (a consistent snapshot across its statements).
    /// BEGIN and COMMIT go through the statement cache: reads are the hot path of `status`
    /// and of every ack, and re-parsing them each time was a visible share of its cost.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.lock();
        conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        let result = f(&conn);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = conn
            .prepare_cached(end)
            .and_then(|mut statement| statement.execute([]));
        let value = result?;
        ended?;
        Ok(value)
    }
}

/// What `status` reads from the store about one environment, taken in one read transaction:
/// one lock and one snapshot instead of five.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvSnapshot {
    pub size: Option<EnvSize>,
    pub lease: Option<Lease>,
    /// The hold in force at the snapshot's time, if any.
    pub hold: Option<Hold>,
    /// Queued, running and awaiting-approval runs, oldest first.
    pub active_runs: Vec<RunRecord>,
    pub last_finished_run: Option<RunRecord>,
}

impl Store {
    /// [`EnvSnapshot`] of `env` at `now`.
    pub fn env_snapshot(
        &self,
        env: &crate::model::EnvName,
        now: DateTime<Utc>,
    ) -> Result<EnvSnapshot, StoreError> {
        self.read(|tx| {
            Ok(EnvSnapshot {
                size: leases::select_env_size(tx, env)?,
                lease: leases::select_lease(tx, env)?,
                hold: leases::select_hold(tx, env, now)?,
                active_runs: runs::select_active_runs(tx, Some(env))?,
                last_finished_run: runs::select_last_finished_run(tx, env)?,
            })
        })
    }
}

/// `query_row` and `execute` through the connection's statement cache: the store runs the
/// same few statements over and over, and compiling SQL was a visible share of a command's
/// cost under load.
pub(crate) trait CachedStatements {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl CachedStatements for Connection {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

const MIGRATION_COUNT: i64 = schema::MIGRATIONS.len() as i64;

/// Per-connection settings. `synchronous = FULL`: the bot writes a few rows a minute, so an
/// fsync per commit costs nothing noticeable, while NORMAL in WAL mode may lose the last
/// commits on power loss, and those are the ones that matter here (a lease end, an approval,
/// a schedule fire that must not repeat after the reboot).
fn configure(conn: &Connection, file_backed: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "foreign_keys", true)?;
    if file_backed {
        // WAL lets `serve` and `exec` read while the other writes.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "the store's filesystem refused WAL mode");
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// Applies the missing migration steps, each in its own IMMEDIATE transaction that re-reads
/// `user_version` first, so two processes opening a new file at once apply each step once.
fn migrate(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
    let shown_path = path.clone().unwrap_or_else(|| PathBuf::from(":memory:"));
    let version = user_version(&conn).map_err(|source| StoreError::Open {
        path: shown_path.clone(),
        source,
    })?;
    if version > MIGRATION_COUNT {
        return Err(StoreError::SchemaTooNew {
            path: shown_path,
            found: version,
            supported: MIGRATION_COUNT,
        });
    }
    for (index, step) in schema::MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        let migration_error = |source| StoreError::Migration {
            path: shown_path.clone(),
            version: target,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(migration_error)?;
        let current = user_version(&tx).map_err(migration_error)?;
        if current > MIGRATION_COUNT {
            return Err(StoreError::SchemaTooNew {
                path: shown_path,
                found: current,
                supported: MIGRATION_COUNT,
            });
        }
        if current >= target {
            continue;
        }
        tx.execute_batch(step).map_err(migration_error)?;
        tx.pragma_update(None, "user_version", target)
            .map_err(migration_error)?;
        tx.commit().map_err(migration_error)?;
    }
    Ok(Store {
        conn: Mutex::new(conn),
        path,
    })
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

// ---- conversions shared by the table files ----

pub(crate) fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// Reads an INTEGER millisecond column as a time; out-of-range values are a conversion error
/// naming the column rather than a panic.
pub(crate) fn time_column(row: &Row<'_>, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    let value: i64 = row.get(column)?;
    time_from_millis(column, value)
}

pub(crate) fn optional_time_column(
    row: &Row<'_>,
    column: &str,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let value: Option<i64> = row.get(column)?;
    value.map(|ms| time_from_millis(column, ms)).transpose()
}

fn time_from_millis(column: &str, value: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(value).ok_or_else(|| corrupt(column, value))
}

/// A value in the database this code cannot have written.
pub(crate) fn corrupt(column: &str, value: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unexpected value {value} in column {column}").into(),
    )
}

pub(crate) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Shared fixtures for the store's in-file tests.
#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::{at, new_run, temp_store};
    use super::*;
    use crate::model::{EnvName, SizeName};

    #[test]
    fn an_env_snapshot_holds_what_the_single_reads_return() {
        let (_dir, store) = temp_store();
        let env = EnvName::new("lt1");
        let empty = store.env_snapshot(&env, at(0)).unwrap();
        assert_eq!(empty, EnvSnapshot::default());
        store
            .set_env_size(&env, &SizeName::new("large"), at(1))
            .unwrap();
        store
            .set_lease(&Lease {
                env: env.clone(),
                size: SizeName::new("large"),
                expires_at: at(7200),
                set_by: crate::model::SlackUserId::new("UANA"),
                set_at: at(1),
            })
            .unwrap();
        store
            .set_hold(&Hold {
                env: env.clone(),
                until: at(3600),
                set_by: crate::model::SlackUserId::new("UBOB"),
                set_at: at(2),
            })
            .unwrap();
        let finished = store.create_run(&new_run("lt1", "up", "large")).unwrap();
        store
            .update_outcome(finished, crate::model::RunOutcome::Succeeded, at(3))
            .unwrap();
        store.create_run(&new_run("lt1", "down", "")).unwrap();
        store.create_run(&new_run("lt2", "up", "small")).unwrap();

        let snapshot = store.env_snapshot(&env, at(10)).unwrap();
        assert_eq!(snapshot.size, store.get_env_size(&env).unwrap());
        assert_eq!(snapshot.lease, store.get_lease(&env).unwrap());
        assert_eq!(snapshot.hold, store.get_hold(&env, at(10)).unwrap());
        assert_eq!(snapshot.active_runs, store.active_runs(Some(&env)).unwrap());
        assert_eq!(
            snapshot.last_finished_run,
            store.last_finished_run(&env).unwrap()
        );
        assert!(snapshot.size.is_some() && snapshot.lease.is_some() && snapshot.hold.is_some());
        assert_eq!(snapshot.active_runs.len(), 1, "lt2's run is not lt1's");
        assert_eq!(snapshot.last_finished_run.map(|run| run.id), Some(finished));
        // A hold that has ended is not in force.
        assert_eq!(store.env_snapshot(&env, at(4000)).unwrap().hold, None);
    }

    fn version_of(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        user_version(&conn).unwrap()
    }

    #[test]
    fn the_bundled_sqlite_is_3_50_or_newer() {
        // 3.50.2 fixes CVE-2025-6965 (memory corruption through aggregate queries).
        let version = Store::open_in_memory().unwrap().sqlite_version().unwrap();
        let parts: Vec<u32> = version
            .split('.')
            .map(|part| part.parse().expect("numeric version"))
            .collect();
        assert!(
            parts[..2] >= [3, 50][..],
            "SQLite {version} is older than 3.50"
        );
    }

    #[test]
    fn the_store_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }

    #[test]
    fn a_new_file_is_migrated_and_reopening_it_changes_nothing() {
        let (dir, store) = temp_store();
        let path = dir.path().join(DB_FILE_NAME);
        assert_eq!(store.path(), Some(path.as_path()));
        assert_eq!(version_of(&path), Store::schema_version_supported());
        let id = store.create_run(&new_run("lt1", "up", "small")).unwrap();
        drop(store);

        let reopened = Store::open(&path).unwrap();
        assert_eq!(version_of(&path), Store::schema_version_supported());
        assert_eq!(reopened.get_run(id).unwrap().unwrap().args, "small");
    }

    #[test]
    fn two_processes_creating_the_same_new_file_at_once_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let openers: Vec<_> = (0..2)
            .map(|_| {
                let (dir, barrier) = (dir.path().to_path_buf(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open_in_dir(&dir).map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
        let path = dir.path().join(DB_FILE_NAME);
        assert_eq!(version_of(&path), Store::schema_version_supported());
    }

    #[test]
    fn a_file_store_is_set_up_for_several_processes() {
        let (_dir, store) = temp_store();
        let conn = store.lock();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| {
                row.get::<_, rusqlite::types::Value>(0)
            })
            .map(|value| format!("{value:?}"))
            .unwrap()
        };
        // (pragma, expected value); synchronous 2 = FULL, busy_timeout in ms.
        let cases = [
            ("journal_mode", r#"Text("wal")"#),
            ("foreign_keys", "Integer(1)"),
            ("synchronous", "Integer(2)"),
            ("busy_timeout", "Integer(5000)"),
        ];
        for (name, expected) in cases {
            assert_eq!(pragma(name), expected, "PRAGMA {name}");
        }
    }

    #[test]
    fn two_handles_on_one_file_see_each_others_writes() {
        let (dir, serve) = temp_store();
        let exec = Store::open_in_dir(dir.path()).unwrap();
        let env = EnvName::new("lt1");
        let id = exec.create_run(&new_run("lt1", "up", "large")).unwrap();
        assert_eq!(serve.active_runs(Some(&env)).unwrap()[0].id, id);
        serve
            .set_env_size(&env, &SizeName::new("large"), at(3))
            .unwrap();
        assert_eq!(
            exec.get_env_size(&env).unwrap().unwrap().size.as_str(),
            "large"
        );
    }

    #[test]
    fn an_unusable_state_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        // (database path, start of the message, path the message must name). Root ignores
        // permission bits, so a path under a regular file and /proc stand in for read-only.
        let under_file = file.join("sub").join(DB_FILE_NAME);
        let in_proc = PathBuf::from("/proc").join(DB_FILE_NAME);
        let cases = [
            (
                under_file.clone(),
                "cannot create the state directory",
                file.join("sub"),
            ),
            (in_proc.clone(), "cannot open the store", in_proc.clone()),
        ];
        for (path, start, named) in cases {
            let message = Store::open(&path).unwrap_err().to_string();
            assert!(message.starts_with(start), "{message}");
            assert!(message.contains(&named.display().to_string()), "{message}");
        }
    }

    #[test]
    fn a_database_from_a_newer_bot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let message = Store::open(&path).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "the store {} has schema version 99, newer than the {} this loadtest-bot \
                 knows; upgrade loadtest-bot or use another state directory",
                path.display(),
                Store::schema_version_supported()
            )
        );
        assert_eq!(version_of(&path), 99, "the refused file is left as it was");
    }

    #[test]
    fn a_corrupt_value_is_an_error_not_a_panic() {
        let store = Store::open_in_memory().unwrap();
        let id = store.create_run(&new_run("lt1", "up", "small")).unwrap();
        store
            .lock()
            .execute("UPDATE runs SET created_at = ?1", [i64::MAX])
            .unwrap();
        let error = store.get_run(id).unwrap_err().to_string();
        assert!(error.contains("column created_at"), "{error}");
    }
}
