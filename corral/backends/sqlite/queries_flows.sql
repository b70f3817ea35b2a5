-- The SQL of flows (parents and children), as named blocks like queries.sql, run by
-- corral.backends.sqlite.ops_flows. job_deps holds one row per parent-child edge;
-- bucket 0 unprocessed, 1 processed, 2 ignored, 3 failed (see schema.sql).

-- name: flow_job_insert
-- Store a new job of a flow (or a child added on its own) in its first state.
INSERT INTO jobs (qid, id, name, data, opts, timestamp, delay, priority, lifo, state, lane, seq,
                  parent_qid, parent_id, parent_key, parent_policy)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: flow_job_row
-- What a flow operation needs to know about one job.
SELECT rowid, state, priority, delay, parent_qid, parent_id, parent_key, return_value
FROM jobs WHERE qid = ? AND id = ?;

-- name: flow_parent_of
-- A job's parent columns, by rowid.
SELECT parent_qid, parent_id, parent_policy FROM jobs WHERE rowid = ?;

-- name: flow_set_parent
-- Give an existing job a (new) parent.
UPDATE jobs SET parent_qid = ?, parent_id = ?, parent_key = ?, parent_policy = ? WHERE rowid = ?;

-- name: queue_name_of
-- A queue's stored name ('<prefix>:<name>') by its qid.
SELECT name FROM queues WHERE qid = ?;

-- name: dep_upsert
-- Put a child in one of its parent's buckets (whichever it was in before).
INSERT INTO job_deps (parent_qid, parent_id, child_qid, child_id, child_key, bucket, value, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (parent_qid, parent_id, child_qid, child_id)
DO UPDATE SET bucket = excluded.bucket, value = excluded.value, at = excluded.at;

-- name: dep_settle
-- Move a pending child to another bucket (changes one row only if it was pending).
UPDATE job_deps SET bucket = ?, value = ?, at = ?
WHERE parent_qid = ? AND parent_id = ? AND child_qid = ? AND child_id = ? AND bucket = 0;

-- name: dep_drop_pending
-- Take a pending child out of its parent's buckets.
DELETE FROM job_deps
WHERE parent_qid = ? AND parent_id = ? AND child_qid = ? AND child_id = ? AND bucket = 0;

-- name: dep_back_to_pending
-- A finished child runs again: from the processed (or ignored / failed) bucket back to pending.
UPDATE job_deps SET bucket = 0, value = NULL
WHERE parent_qid = ? AND parent_id = ? AND child_qid = ? AND child_id = ? AND bucket IN (?, ?);

-- name: dep_in_bucket
-- Whether a parent has a child in a bucket (one index probe, however many children).
SELECT 1 FROM job_deps WHERE parent_qid = ? AND parent_id = ? AND bucket = ? LIMIT 1;

-- name: dep_is_pending
-- Whether one child is pending for its parent.
SELECT 1 FROM job_deps
WHERE parent_qid = ? AND parent_id = ? AND child_qid = ? AND child_id = ? AND bucket = 0;

-- name: dep_completion_refused
-- Why a job may not complete: 0 a child is pending, 3 a child failed it (else no row).
SELECT bucket FROM job_deps
WHERE parent_qid = ? AND parent_id = ? AND bucket IN (0, 3) ORDER BY bucket LIMIT 1;

-- name: deps_page
-- A page of one bucket, in key order.
SELECT child_key, value FROM job_deps
WHERE parent_qid = ? AND parent_id = ? AND bucket = ? ORDER BY child_key LIMIT ? OFFSET ?;

-- name: deps_page_by_time
-- A page of the failed bucket, oldest failure first.
SELECT child_key, value FROM job_deps
WHERE parent_qid = ? AND parent_id = ? AND bucket = 3 ORDER BY at, child_key LIMIT ? OFFSET ?;

-- name: deps_counts
-- How many children a parent has per bucket.
SELECT bucket, count(*) FROM job_deps WHERE parent_qid = ? AND parent_id = ? GROUP BY bucket;

-- name: job_release
-- Release a parent: into a line (waiting, prioritized) or delayed.
UPDATE jobs SET state = ?, lane = ?, seq = ? WHERE rowid = ?;

-- name: job_mark_failed_child
-- A child failed the parent: it fails on its next fetch with this reason.
UPDATE jobs SET deferred_failure = ? WHERE rowid = ?;

-- name: job_clear_delay
-- A delayed parent released because a child failed it: its delay is over.
UPDATE jobs SET delay = 0 WHERE rowid = ?;

-- name: job_wait_children
-- Park an active job in waiting-children; its lock is released, no attempt is used.
UPDATE jobs
SET state = 'waiting-children', lane = ?, seq = ?, token = NULL, lock_until = NULL,
    stalled_mark = 0
WHERE rowid = ?;

-- name: family_of
-- Every job reachable from a parent through any bucket, at any depth.
WITH RECURSIVE family (qid, id) AS (
    SELECT child_qid, child_id FROM job_deps WHERE parent_qid = ?1 AND parent_id = ?2
    UNION
    SELECT d.child_qid, d.child_id FROM job_deps AS d
    JOIN family AS f ON d.parent_qid = f.qid AND d.parent_id = f.id
)
SELECT j.rowid, j.qid, j.id, j.state FROM family AS f JOIN jobs AS j ON j.qid = f.qid AND j.id = f.id;

-- name: family_locked
-- Whether a job reachable from a parent through pending children holds a live lock.
WITH RECURSIVE family (qid, id) AS (
    SELECT child_qid, child_id FROM job_deps WHERE parent_qid = ?1 AND parent_id = ?2 AND bucket = 0
    UNION
    SELECT d.child_qid, d.child_id FROM job_deps AS d
    JOIN family AS f ON d.parent_qid = f.qid AND d.parent_id = f.id
    WHERE d.bucket = 0
)
SELECT 1 FROM family AS f JOIN jobs AS j ON j.qid = f.qid AND j.id = f.id
WHERE j.state = 'active' AND j.lock_until > ?3 LIMIT 1;
