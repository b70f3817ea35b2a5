-- corral SQLite schema, version 7: a queue's global limits (what Node keeps in
-- meta concurrency / max / duration; 0 = not set) and the workers that are
-- taking jobs from each queue now (BullMQ lists Redis clients by name instead).
ALTER TABLE queues ADD COLUMN global_concurrency INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN global_rate_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN global_rate_duration INTEGER NOT NULL DEFAULT 0;

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
