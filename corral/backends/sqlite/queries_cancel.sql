-- Cancellation: cancel_job and get_cancel_requests (see ops_cancel.py).

-- name: cancel_job_row
-- The job a cancel names: its row and state.
SELECT rowid, state FROM jobs WHERE qid = ? AND id = ?;

-- name: cancel_job_mark
-- Mark an active job for the worker holding it (it fails on its next fetch too).
UPDATE jobs SET deferred_failure = ? WHERE rowid = ?;

-- name: cancel_job_fail
-- Fail a job that was not running yet, for good; its parent, if it is a child.
UPDATE jobs
SET state = 'failed', lane = ?, seq = ?, finished_on = ?, failed_reason = ?,
    deferred_failure = NULL, token = NULL, lock_until = NULL, stalled_mark = 0
WHERE rowid = ?
RETURNING parent_qid, parent_id, parent_policy;

-- name: cancel_requests
-- Which of the jobs named in a JSON array are marked to be cancelled, with the reason.
SELECT id, deferred_failure FROM jobs
WHERE qid = ?1 AND id IN (SELECT value FROM json_each(?2))
  AND substr(deferred_failure, 1, length(?3)) = ?3;
