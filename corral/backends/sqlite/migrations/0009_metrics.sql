-- corral SQLite schema, version 9: the per-minute metrics of finished jobs that
-- workers with `metrics=` record (BullMQ's `metrics:completed|failed` keys).
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
