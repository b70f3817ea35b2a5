-- corral SQLite schema, version 8: job schedulers and deduplication.
-- A scheduler: its next run and its fields as BullMQ's repeat:<id> hash holds
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
