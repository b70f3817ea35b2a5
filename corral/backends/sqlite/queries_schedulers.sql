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
