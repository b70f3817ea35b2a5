-- corral SQLite schema, current version (11). A new database is created from the
-- migrations; a test checks that they produce exactly this schema.

-- One row per queue ('<prefix>:<name>'). Rows are never deleted (obliterate
-- resets them), so a queue's qid is stable and may be cached by a connection.
CREATE TABLE queues (
    qid                 INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    id_counter          INTEGER NOT NULL DEFAULT 0,
    seq_back            INTEGER NOT NULL DEFAULT 0,
    seq_front           INTEGER NOT NULL DEFAULT 0,
    paused              INTEGER NOT NULL DEFAULT 0,
    limiter_count       INTEGER NOT NULL DEFAULT 0,
    limiter_expires_at  INTEGER NOT NULL DEFAULT 0,
    stalled_check_until INTEGER NOT NULL DEFAULT 0,
    limiter_max         INTEGER NOT NULL DEFAULT 0,
    global_concurrency  INTEGER NOT NULL DEFAULT 0,
    global_rate_max     INTEGER NOT NULL DEFAULT 0,
    global_rate_duration INTEGER NOT NULL DEFAULT 0
);

-- One row per job. (state, lane, seq) orders every line of the queue:
--   waiting      lane 0, seq   (front = queues.seq_front-1, back = queues.seq_back+1)
--   prioritized  lane = priority, seq
--   delayed      lane = due time (ms), seq
--   completed / failed  lane = finished_on, seq
--   active       lane 0, seq = fetch order
--   waiting-children  lane = since when (ms), seq
-- A child in a flow names its parent: parent_qid / parent_id, parent_key (the
-- parent's job key '<prefix>:<queue>:<id>', as Redis stores it) and
-- parent_policy (what its failure does to the parent: '', fpof, cpof, idof, rdof).
CREATE TABLE jobs (
    qid              INTEGER NOT NULL REFERENCES queues (qid),
    id               TEXT NOT NULL,
    name             TEXT NOT NULL,
    data             TEXT NOT NULL,
    opts             TEXT NOT NULL,
    timestamp        INTEGER NOT NULL,
    delay            INTEGER NOT NULL DEFAULT 0,
    priority         INTEGER NOT NULL DEFAULT 0,
    progress         TEXT,
    attempts_made    INTEGER NOT NULL DEFAULT 0,
    attempts_started INTEGER NOT NULL DEFAULT 0,
    stalled_counter  INTEGER NOT NULL DEFAULT 0,
    processed_on     INTEGER,
    finished_on      INTEGER,
    return_value     TEXT,
    failed_reason    TEXT,
    stacktrace       TEXT,
    deferred_failure TEXT,
    processed_by     TEXT,
    lifo             INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL,
    lane             INTEGER NOT NULL DEFAULT 0,
    seq              INTEGER NOT NULL DEFAULT 0,
    token            TEXT,
    lock_until       INTEGER,
    stalled_mark     INTEGER NOT NULL DEFAULT 0,
    parent_qid       INTEGER,
    parent_id        TEXT,
    parent_key       TEXT,
    parent_policy    TEXT NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX jobs_by_id ON jobs (qid, id);
CREATE INDEX jobs_by_line ON jobs (qid, state, lane, seq);

-- The event log; AUTOINCREMENT keeps ids increasing even after a queue's
-- events are all deleted, so a reader's cursor never skips new events.
CREATE TABLE events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    qid    INTEGER NOT NULL REFERENCES queues (qid),
    name   TEXT NOT NULL,
    fields TEXT NOT NULL
);

CREATE INDEX events_by_queue ON events (qid, id);

-- Job log lines, oldest first by n; removed with their job.
CREATE TABLE job_logs (
    qid    INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    n      INTEGER NOT NULL,
    line   TEXT NOT NULL,
    PRIMARY KEY (qid, job_id, n)
) WITHOUT ROWID;

CREATE TRIGGER jobs_drop_logs AFTER DELETE ON jobs BEGIN
    DELETE FROM job_logs WHERE qid = old.qid AND job_id = old.id;
END;

-- A parent's children, one row per edge, in four buckets (Redis's keys):
--   0 unprocessed (<id>:dependencies)   1 processed, value = return value (:processed)
--   2 ignored, value = failed reason (:failed)   3 failed, at = when (:unsuccessful)
-- An edge outlives its child (a removed child's value stays with the parent) and
-- dies with its parent.
CREATE TABLE job_deps (
    parent_qid INTEGER NOT NULL,
    parent_id  TEXT NOT NULL,
    child_qid  INTEGER NOT NULL,
    child_id   TEXT NOT NULL,
    child_key  TEXT NOT NULL,
    bucket     INTEGER NOT NULL,
    value      TEXT,
    at         INTEGER NOT NULL,
    PRIMARY KEY (parent_qid, parent_id, child_qid, child_id)
) WITHOUT ROWID;

CREATE INDEX job_deps_by_bucket ON job_deps (parent_qid, parent_id, bucket, child_key);

CREATE TRIGGER jobs_drop_deps AFTER DELETE ON jobs BEGIN
    DELETE FROM job_deps WHERE parent_qid = old.qid AND parent_id = old.id;
END;

-- Job schedulers (8). A scheduler: its next run and its fields as BullMQ's repeat:<id> hash holds
-- them (JSON). Its iterations are ordinary jobs 'repeat:<id>:<due ms>'.
CREATE TABLE job_schedulers (
    qid     INTEGER NOT NULL,
    id      TEXT NOT NULL,
    next_ms INTEGER NOT NULL,
    fields  TEXT NOT NULL,
    PRIMARY KEY (qid, id)
) WITHOUT ROWID;

CREATE INDEX job_schedulers_by_next ON job_schedulers (qid, next_ms, id);

-- A deduplication id and the job that owns it (BullMQ's de:<id>): until
-- expires_at, or while the job is unfinished when expires_at is NULL.
CREATE TABLE dedup_keys (
    qid        INTEGER NOT NULL,
    id         TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (qid, id)
) WITHOUT ROWID;

CREATE INDEX dedup_keys_by_job ON dedup_keys (qid, job_id);

-- keepLastIfActive: the job to add when the active owner finishes (BullMQ's dn:<id>).
CREATE TABLE dedup_next (
    qid INTEGER NOT NULL,
    id  TEXT NOT NULL,
    job TEXT NOT NULL,
    PRIMARY KEY (qid, id)
) WITHOUT ROWID;

-- The per-minute metrics of finished jobs (Worker(metrics=...), BullMQ's
-- metrics:completed|failed keys): counters per queue and kind, and the data
-- points, newest first by descending seq (head: the newest point's seq).
CREATE TABLE metrics (
    qid        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    count      INTEGER NOT NULL,
    prev_ts    INTEGER NOT NULL,
    prev_count INTEGER NOT NULL,
    head       INTEGER NOT NULL,
    PRIMARY KEY (qid, kind)
) WITHOUT ROWID;

CREATE TABLE metrics_points (
    qid   INTEGER NOT NULL,
    kind  TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (qid, kind, seq)
) WITHOUT ROWID;

-- The workers taking jobs from a queue now: each refreshes last_seen while it
-- runs and deletes its row when it closes; a row not refreshed for a while is
-- a worker that died, and is dropped by get_workers.
CREATE TABLE workers (
    qid        INTEGER NOT NULL,
    worker_id  TEXT NOT NULL,
    name       TEXT,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (qid, worker_id)
) WITHOUT ROWID;

-- How many jobs each queue holds in each state (10), kept in step by triggers
-- inside the transaction of every change: counting a state is one lookup. A
-- job's move into 'active' (only a fetch does it) is counted by corral itself,
-- once per transaction for all the jobs it handed out (11); the triggers take
-- a job away with an upsert, as its row may not be written yet.
CREATE TABLE job_counts (
    qid   INTEGER NOT NULL,
    state TEXT NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (qid, state)
) WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (qid, state, n) VALUES (new.qid, new.state, 1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO job_counts (qid, state, n) VALUES (old.qid, old.state, -1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n - 1;
END;

CREATE TRIGGER jobs_count_move AFTER UPDATE OF qid, state ON jobs
WHEN (old.state IS NOT new.state OR old.qid IS NOT new.qid) AND new.state IS NOT 'active' BEGIN
    INSERT INTO job_counts (qid, state, n) VALUES (old.qid, old.state, -1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n - 1;
    INSERT INTO job_counts (qid, state, n) VALUES (new.qid, new.state, 1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n + 1;
END;
