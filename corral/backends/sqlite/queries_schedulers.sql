-- Named queries of job schedulers and deduplication (see queries.sql for the format).

-- name: scheduler_get
-- A scheduler's next run and stored fields (JSON).
SELECT next_ms, fields FROM job_schedulers WHERE qid = ? AND id = ?;

-- name: scheduler_put
-- Store a scheduler, replacing one with the same id.
INSERT OR REPLACE INTO job_schedulers (qid, id, next_ms, fields) VALUES (?, ?, ?, ?);

-- name: scheduler_delete
-- Remove a scheduler.
DELETE FROM job_schedulers WHERE qid = ? AND id = ?;

-- name: schedulers_asc
-- Schedulers soonest first, a page of them (LIMIT, OFFSET).
SELECT id, next_ms, fields FROM job_schedulers WHERE qid = ?
ORDER BY next_ms, id LIMIT ? OFFSET ?;

-- name: schedulers_desc
-- Schedulers latest first, a page of them (LIMIT, OFFSET).
SELECT id, next_ms, fields FROM job_schedulers WHERE qid = ?
ORDER BY next_ms DESC, id DESC LIMIT ? OFFSET ?;

-- name: schedulers_count
-- How many schedulers a queue has.
SELECT count(*) FROM job_schedulers WHERE qid = ?;

-- name: schedulers_delete_queue
-- Obliterate: remove every scheduler of a queue.
DELETE FROM job_schedulers WHERE qid = ?;

-- name: job_row_state
-- A job's row and state, to take a pending iteration out of its line.
SELECT rowid, state FROM jobs WHERE qid = ? AND id = ?;

-- name: dedup_get
-- A deduplication id's owner and when it expires (NULL: when the owner finishes).
SELECT job_id, expires_at FROM dedup_keys WHERE qid = ? AND id = ?;

-- name: dedup_put
-- Give a deduplication id to a job, until a time (NULL: until the job finishes).
INSERT OR REPLACE INTO dedup_keys (qid, id, job_id, expires_at) VALUES (?, ?, ?, ?);

-- name: dedup_set_owner
-- Give a deduplication id to another job, keeping its expiry.
UPDATE dedup_keys SET job_id = ? WHERE qid = ? AND id = ?;

-- name: dedup_persist
-- A deduplication id stops expiring (it now lasts until its owner finishes).
UPDATE dedup_keys SET expires_at = NULL WHERE qid = ? AND id = ?;

-- name: dedup_delete
-- Free a deduplication id.
DELETE FROM dedup_keys WHERE qid = ? AND id = ?;

-- name: dedup_owned
-- The deduplication ids a job owns.
SELECT id FROM dedup_keys WHERE qid = ? AND job_id = ?;

-- name: dedup_release
-- A finished job frees the deduplication ids it owns that have no expiry.
DELETE FROM dedup_keys WHERE qid = ? AND job_id = ? AND expires_at IS NULL;

-- name: dedup_next_get
-- The add kept aside for a deduplication id (keepLastIfActive), as JSON.
SELECT job FROM dedup_next WHERE qid = ? AND id = ?;

-- name: dedup_next_put
-- Keep an add aside for a deduplication id (the latest one wins).
INSERT OR REPLACE INTO dedup_next (qid, id, job) VALUES (?, ?, ?);

-- name: dedup_next_delete
-- Drop the add kept aside for a deduplication id.
DELETE FROM dedup_next WHERE qid = ? AND id = ?;

-- name: dedup_delete_queue
-- Obliterate: free every deduplication id of a queue.
DELETE FROM dedup_keys WHERE qid = ?;

-- name: dedup_next_delete_queue
-- Obliterate: drop every add kept aside in a queue.
DELETE FROM dedup_next WHERE qid = ?;

-- name: job_reschedule
-- Move a delayed job to a new delay and due time (deduplication's reschedule).
UPDATE jobs SET delay = ?, lane = ?, seq = ? WHERE rowid = ? AND state = 'delayed';
