-- corral SQLite schema, version 6: flows. A child's link to its parent, and a
-- parent's buckets of children (one row per parent-child edge).
ALTER TABLE jobs ADD COLUMN parent_qid INTEGER;
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
ALTER TABLE jobs ADD COLUMN parent_key TEXT;
ALTER TABLE jobs ADD COLUMN parent_policy TEXT NOT NULL DEFAULT '';

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
