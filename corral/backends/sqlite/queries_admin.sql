-- Named queries of queue maintenance, global limits and the worker list
-- (corral.backends.sqlite.ops_maintenance); same format as queries.sql.

-- name: clean_finished
-- Up to n jobs of a finished state that finished at or before a time, oldest first.
SELECT rowid, id FROM jobs WHERE qid = ? AND state = ? AND lane <= ? ORDER BY lane, seq LIMIT ?;

-- name: clean_line
-- The jobs of a state from the oldest, n of them after a place (lane, seq) in the
-- line, each with its place and whether clean takes it: last seen at or before a
-- time, no live lock (active), and not a job scheduler's next run
-- ('repeat:<id>:<next ms>', kept as on Redis).
SELECT rowid, id, lane, seq,
       coalesce(finished_on, processed_on, timestamp) <= ?3
       AND (?2 != 'active' OR token IS NULL OR lock_until IS NULL OR lock_until <= ?5)
       AND id NOT IN (SELECT 'repeat:' || s.id || ':' || s.next_ms
                      FROM job_schedulers AS s WHERE s.qid = ?1)
FROM jobs WHERE qid = ?1 AND state = ?2 AND (lane, seq) > (?6, ?7)
ORDER BY lane, seq LIMIT ?4;

-- name: drain_batch
-- Up to n jobs that wait (waiting, prioritized, and delayed when asked), but not a
-- job scheduler's next run 'repeat:<id>:<next ms>', which stays as on Redis.
SELECT rowid, id FROM jobs
WHERE qid = ?1
  AND (state = 'waiting' OR state = 'prioritized' OR (?2 AND state = 'delayed'))
  AND id NOT IN (SELECT 'repeat:' || s.id || ':' || s.next_ms
                 FROM job_schedulers AS s WHERE s.qid = ?1)
LIMIT ?3;

-- name: retry_batch
-- Up to n jobs of a state (finished at or before a time, or delayed), oldest first.
SELECT rowid, id FROM jobs
WHERE qid = ? AND state = ? AND lane <= ? ORDER BY lane, seq LIMIT ?;

-- name: job_promote_all
-- Move a delayed job into a line; its delay is over (retry_batch's promote).
UPDATE jobs SET state = ?, lane = ?, seq = ?, delay = 0 WHERE rowid = ?;

-- name: events_keep_newest
-- Keep only the newest n events of the queue (n may be 0).
DELETE FROM events WHERE qid = ?1 AND id NOT IN (
    SELECT id FROM events WHERE qid = ?1 ORDER BY id DESC LIMIT ?2
);

-- name: queue_global_limits
-- A queue's global concurrency and rate limit (0: not set).
SELECT global_concurrency, global_rate_max, global_rate_duration FROM queues WHERE qid = ?;

-- name: queue_set_global_concurrency
-- Set a queue's global concurrency (0: none).
UPDATE queues SET global_concurrency = ? WHERE qid = ?;

-- name: queue_set_global_rate
-- Set a queue's global rate limit: jobs per window and the window (0, 0: none).
UPDATE queues SET global_rate_max = ?, global_rate_duration = ? WHERE qid = ?;

-- name: worker_upsert
-- Record a worker of the queue as seen now (its start time is kept).
INSERT INTO workers (qid, worker_id, name, host, pid, started_at, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (qid, worker_id) DO UPDATE SET last_seen = excluded.last_seen;

-- name: worker_delete
-- Forget a worker that stopped.
DELETE FROM workers WHERE qid = ? AND worker_id = ?;

-- name: workers_expire
-- Forget the workers of the queue not seen since a time (they died).
DELETE FROM workers WHERE qid = ? AND last_seen < ?;

-- name: workers_list
-- The workers of the queue seen since a time, oldest first.
SELECT worker_id, name, host, pid, started_at, last_seen FROM workers
WHERE qid = ? AND last_seen >= ? ORDER BY started_at, worker_id;

-- name: job_set_due
-- Give a delayed job a new due time and delay.
UPDATE jobs SET lane = ?, seq = ?, delay = ? WHERE rowid = ?;

-- name: job_set_priority
-- Give a job a new priority and, when it waits, a new place in its line.
UPDATE jobs SET priority = ?, state = ?, lane = ?, seq = ? WHERE rowid = ?;

-- name: job_set_data
-- Replace a job's data (JSON text).
UPDATE jobs SET data = ? WHERE qid = ? AND id = ?;

-- name: job_delay_active
-- Put an active job in delayed without using an attempt; its lock is released.
UPDATE jobs
SET state = 'delayed', lane = ?, seq = ?, delay = ?, token = NULL, lock_until = NULL,
    stalled_mark = 0
WHERE rowid = ?;

-- name: job_lane
-- A job's place in its line.
SELECT lane, seq FROM jobs WHERE rowid = ?;
