//! The store's schema as an ordered list of migrations. Owns the SQL DDL only; how and when
//! the steps run (one transaction each, `PRAGMA user_version`) lives in `mod.rs`.
//!
//! Append-only: a released step is never edited, because databases in the field have already
//! run it. Change the schema by adding a step at the end.

/// Step `i` (0-based) brings a database from `user_version = i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the first schema. Times are INTEGER unix milliseconds (UTC) everywhere, so ordering
    // and comparisons are plain integer comparisons in SQL.
    r#"
    CREATE TABLE runs (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        env                 TEXT    NOT NULL,
        verb                TEXT    NOT NULL,
        args                TEXT    NOT NULL,
        size                TEXT,
        actor               TEXT    NOT NULL,
        channel             TEXT    NOT NULL,
        outcome             TEXT    NOT NULL CHECK (outcome IN (
                                'queued', 'running', 'awaiting_approval', 'succeeded', 'failed',
                                'no_changes', 'cancelled', 'timed_out', 'interrupted', 'rejected')),
        created_at          INTEGER NOT NULL,
        started_at          INTEGER,
        finished_at         INTEGER,
        plan_path           TEXT,
        log_path            TEXT,
        added               INTEGER,
        changed             INTEGER,
        destroyed           INTEGER,
        plan_add            INTEGER,
        plan_change         INTEGER,
        plan_destroy        INTEGER,
        error               TEXT,
        owner_pid           INTEGER,
        message_ts          TEXT,
        approval_expires_at INTEGER,
        approved_by         TEXT,
        -- 'queued' or 'running': what a run was doing when its process died.
        interrupted_from    TEXT
    );
    CREATE INDEX runs_by_env ON runs (env, id);
    CREATE INDEX runs_by_outcome ON runs (outcome);

    CREATE TABLE audit (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       INTEGER NOT NULL,
        actor    TEXT    NOT NULL,
        channel  TEXT    NOT NULL,
        env      TEXT,
        command  TEXT    NOT NULL,
        decision TEXT    NOT NULL,
        run_id   INTEGER REFERENCES runs (id)
    );

    CREATE TABLE leases (
        env        TEXT    PRIMARY KEY,
        size       TEXT    NOT NULL,
        expires_at INTEGER NOT NULL,
        set_by     TEXT    NOT NULL,
        set_at     INTEGER NOT NULL
    );

    CREATE TABLE holds (
        env    TEXT    PRIMARY KEY,
        until  INTEGER NOT NULL,
        set_by TEXT    NOT NULL,
        set_at INTEGER NOT NULL
    );

    CREATE TABLE schedule_fires (
        name       TEXT    NOT NULL,
        env        TEXT    NOT NULL,
        occurrence INTEGER NOT NULL,
        fired_at   INTEGER NOT NULL,
        PRIMARY KEY (name, env, occurrence)
    );

    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        channel         TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        run_id          INTEGER REFERENCES runs (id),
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        delivered_at    INTEGER
    );
    CREATE INDEX outbox_pending ON outbox (delivered_at, id);

    CREATE TABLE env_state (
        env        TEXT    PRIMARY KEY,
        size       TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
    );
    "#,
    // 2: when the scheduler last looked, so a restart knows what it missed (catch-up).
    r#"
    CREATE TABLE scheduler_state (
        key   TEXT    PRIMARY KEY,
        value INTEGER NOT NULL
    );
    "#,
    // 3: the Slack `ts` of each message the outbox posted, keyed by the post's outbox id, so
    // updates queued before a restart still find their message after it.
    r#"
    CREATE TABLE slack_messages (
        key     INTEGER PRIMARY KEY,
        channel TEXT    NOT NULL,
        ts      TEXT    NOT NULL
    );
    "#,
    // 4: what `status` reads on every call, indexed so its cost does not grow with the run
    // history: an environment's active runs, and its finished runs by finish time. Partial
    // indexes; their WHERE terms must match the queries' (`runs.rs`) word for word.
    r#"
    CREATE INDEX runs_active_by_env ON runs (env, id)
        WHERE outcome IN ('queued', 'running', 'awaiting_approval');
    CREATE INDEX runs_finished_by_env ON runs (env, finished_at, id)
        WHERE outcome NOT IN ('queued', 'running', 'awaiting_approval');
    "#,
    // 5: the lease an `up` asked for, in seconds, so an approved run applies it without
    // re-reading the command's text.
    r#"
    ALTER TABLE runs ADD COLUMN lease_secs INTEGER;
    "#,
    // 6: a run's result that Slack refused (`not_in_channel`, `channel_not_found`, …), so
    // `status` and `history` can say it never reached the channel.
    r#"
    ALTER TABLE runs ADD COLUMN delivery_error TEXT;
    "#,
    // 7: which process delivers each outbox row. Rows are claimed before they are sent, so
    // two processes on one state directory never both send a message.
    r#"
    ALTER TABLE outbox ADD COLUMN claimed_by INTEGER;
    "#,
    // 8: the boot a run's owner process runs in (`/proc/sys/kernel/random/boot_id`), with
    // its pid: approval hands the run to the approving process, and a pid from an earlier
    // boot never counts as that owner still alive.
    r#"
    ALTER TABLE runs ADD COLUMN owner_boot_id TEXT;
    "#,
    // 9: load tests started from the channel. At most one starting or running test per
    // environment, across processes: the partial unique index refuses a second one.
    r#"
    CREATE TABLE load_tests (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        env                 TEXT    NOT NULL,
        plan                TEXT    NOT NULL,
        args                TEXT    NOT NULL,
        actor               TEXT    NOT NULL,
        channel             TEXT    NOT NULL,
        state               TEXT    NOT NULL CHECK (state IN (
                                'starting', 'running', 'finished', 'failed', 'stopped', 'lost')),
        test_key            TEXT    NOT NULL,
        bucket              TEXT,
        instance_id         TEXT,
        command_id          TEXT,
        created_at          INTEGER NOT NULL,
        expected_end_at     INTEGER,
        finished_at         INTEGER,
        summary             TEXT,
        passed              INTEGER,
        error               TEXT,
        after_test          TEXT,
        after_test_deadline INTEGER
    );
    CREATE UNIQUE INDEX load_tests_one_active ON load_tests (env)
        WHERE state IN ('starting', 'running');
    CREATE INDEX load_tests_by_env ON load_tests (env, id);
    "#,
];
