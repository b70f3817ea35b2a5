-- Every SQL statement the SQLite backend runs, as named blocks:
--   -- name: <name>
--   -- <what it does>
--   <statement>
-- Parsed by corral.backends.sqlite.sql into Q; the ops*, _tx and connection modules
-- run them as Q["<name>"] or tx.run("<name>", ...).
-- The job columns read into a JobRecord are always, in order: id, name, data,
-- opts, timestamp, delay, priority, progress, attempts_made, attempts_started,
-- stalled_counter, processed_on, finished_on, return_value, failed_reason,
-- stacktrace, deferred_failure, processed_by, parent_key, parent_policy.

-- name: queue_find
-- The qid of a queue, if it was ever used.
SELECT qid FROM queues WHERE name = ?;

-- name: queue_create
-- Register a queue on first use (a no-op if another connection just did).
INSERT OR IGNORE INTO queues (name) VALUES (?);

-- name: queue_get
-- A queue's counters, flags and global limits, read at the start of an operation.
SELECT id_counter, seq_back, seq_front, paused, limiter_count, limiter_expires_at,
       limiter_max, stalled_check_until, global_concurrency, global_rate_max,
       global_rate_duration
FROM queues WHERE qid = ?;

-- name: queue_set_id_counter
-- Store the job-id counter (it counts every add, custom ids included, as BullMQ's).
UPDATE queues SET id_counter = ? WHERE qid = ?;

-- name: queue_set_seq
-- Store the front/back sequence counters.
UPDATE queues SET seq_back = ?, seq_front = ? WHERE qid = ?;

-- name: queue_set_limiter
-- Store the rate limiter window: jobs handed out, when it ends, the max per window.
UPDATE queues SET limiter_count = ?, limiter_expires_at = ?, limiter_max = ? WHERE qid = ?;

-- name: queue_set_paused
-- Pause (1) or resume (0) fetching.
UPDATE queues SET paused = ? WHERE qid = ?;

-- name: queue_set_stalled_check
-- Throttle the stalled checker until the given time.
UPDATE queues SET stalled_check_until = ? WHERE qid = ?;

-- name: queue_reset
-- Obliterate: forget the queue's counters, pause flag and stalled throttle (the limiter stays).
UPDATE queues SET id_counter = 0, seq_back = 0, seq_front = 0, paused = 0, stalled_check_until = 0
WHERE qid = ?;

-- name: job_exists
-- Whether a job id is taken in the queue.
SELECT 1 FROM jobs WHERE qid = ? AND id = ?;

-- name: job_insert
-- Store a new job in its first state.
INSERT INTO jobs (qid, id, name, data, opts, timestamp, delay, priority, lifo, state, lane, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: job_get
-- A whole job record.
SELECT id, name, data, opts, timestamp, delay, priority, progress, attempts_made,
       attempts_started, stalled_counter, processed_on, finished_on, return_value,
       failed_reason, stacktrace, deferred_failure, processed_by, parent_key, parent_policy
FROM jobs WHERE qid = ? AND id = ?;

-- name: job_state
-- A job's state.
SELECT state FROM jobs WHERE qid = ? AND id = ?;

-- name: job_lock
-- What a lock check needs: the job's row, state, lock and placement fields.
SELECT rowid, state, token, lock_until, priority, lifo, attempts_made
FROM jobs WHERE qid = ? AND id = ?;

-- name: job_finish_check
-- What move_to_finished checks, in one look: the job_lock columns, then why it may
-- not complete (as dep_completion_refused: 0 a pending child, 3 a failed one, else
-- NULL), whether it owns a deduplication id, and its parent if it is a child
-- (for a job not kept, which is deleted).
SELECT rowid, state, token, lock_until, priority, lifo, attempts_made,
       (SELECT bucket FROM job_deps
        WHERE parent_qid = ?1 AND parent_id = ?2 AND bucket IN (0, 3) ORDER BY bucket LIMIT 1),
       EXISTS (SELECT 1 FROM dedup_keys WHERE qid = ?1 AND job_id = ?2),
       parent_qid, parent_id, parent_policy
FROM jobs WHERE qid = ?1 AND id = ?2;

-- name: job_next_waiting
-- The job at the front of wait (no row if wait is empty) and whether a delayed
-- job is due by a time (then the fetch promotes first and looks again): a
-- fetch's usual look, in one statement.
SELECT rowid, deferred_failure,
       EXISTS (SELECT 1 FROM jobs WHERE qid = ?1 AND state = 'delayed' AND lane <= ?2)
FROM jobs WHERE qid = ?1 AND state = 'waiting' ORDER BY lane, seq LIMIT 1;

-- name: job_next
-- The job at the front of a line (waiting or prioritized): one index seek.
SELECT rowid, deferred_failure FROM jobs WHERE qid = ? AND state = ? ORDER BY lane, seq LIMIT 1;

-- name: job_activate
-- Lock a job for a worker (job_record_at then reads its record).
UPDATE jobs
SET state = 'active', lane = 0, seq = ?, token = ?, lock_until = ?, processed_on = ?,
    processed_by = coalesce(?, processed_by), attempts_started = attempts_started + 1,
    stalled_mark = 0
WHERE rowid = ?;

-- name: job_record_at
-- A whole job record, by rowid (read after job_activate: an UPDATE … RETURNING
-- would gather the row in a temporary table first, which costs more).
SELECT id, name, data, opts, timestamp, delay, priority, progress, attempts_made,
       attempts_started, stalled_counter, processed_on, finished_on, return_value,
       failed_reason, stacktrace, deferred_failure, processed_by, parent_key, parent_policy
FROM jobs WHERE rowid = ?;

-- name: delayed_due
-- Delayed jobs due by a time, earliest first (at most 1000 per fetch, as BullMQ).
SELECT rowid, id, priority FROM jobs
WHERE qid = ? AND state = 'delayed' AND lane <= ?
ORDER BY lane, seq LIMIT 1000;

-- name: delayed_next
-- When the earliest delayed job falls due.
SELECT lane FROM jobs WHERE qid = ? AND state = 'delayed' ORDER BY lane, seq LIMIT 1;

-- name: job_promote
-- Move a delayed job into a line (waiting or prioritized); its delay is over.
UPDATE jobs SET state = ?, lane = ?, seq = ?, delay = 0 WHERE rowid = ?;

-- name: job_complete
-- Finish an active job as completed; its parent, if it is a child.
UPDATE jobs
SET state = 'completed', lane = ?, seq = ?, finished_on = ?, return_value = ?,
    attempts_made = attempts_made + 1, token = NULL, lock_until = NULL, stalled_mark = 0
WHERE rowid = ?
RETURNING parent_qid, parent_id, parent_policy;

-- name: job_fail
-- Finish an active job as failed (a pending deferred failure is now spent).
UPDATE jobs
SET state = 'failed', lane = ?, seq = ?, finished_on = ?, failed_reason = ?, stacktrace = ?,
    deferred_failure = NULL, attempts_made = attempts_made + 1, token = NULL,
    lock_until = NULL, stalled_mark = 0
WHERE rowid = ?
RETURNING parent_qid, parent_id, parent_policy;

-- name: job_delete
-- Remove one job.
DELETE FROM jobs WHERE rowid = ?;

-- name: finished_remove_older
-- Retention by age: remove up to 1000 jobs of a finished state that finished before a time.
DELETE FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs WHERE qid = ? AND state = ? AND lane < ? ORDER BY lane, seq LIMIT 1000
)
RETURNING id, parent_qid, parent_id;

-- name: finished_keep_newest
-- Retention by count: remove all but the newest n jobs of a finished state.
DELETE FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs WHERE qid = ? AND state = ?
    ORDER BY lane DESC, seq DESC LIMIT -1 OFFSET ?
)
RETURNING id, parent_qid, parent_id;

-- name: job_requeue
-- Put an active job back in a line without using an attempt; its lock is released.
UPDATE jobs
SET state = ?, lane = ?, seq = ?, token = NULL, lock_until = NULL, stalled_mark = 0
WHERE rowid = ?;

-- name: job_retry
-- Record a failed attempt and put the job in a line or in delayed; its lock is released.
UPDATE jobs
SET state = ?, lane = ?, seq = ?, delay = coalesce(?, delay), failed_reason = ?, stacktrace = ?,
    attempts_made = attempts_made + 1, token = NULL, lock_until = NULL, stalled_mark = 0
WHERE rowid = ?;

-- name: jobs_unfinished_exist
-- Whether any job is waiting, prioritized or active (else the queue is drained).
SELECT 1 FROM jobs WHERE qid = ? AND state IN ('waiting', 'prioritized', 'active') LIMIT 1;

-- name: jobs_ready_exist
-- Whether any job is waiting or prioritized (work for a fetch).
SELECT 1 FROM jobs WHERE qid = ? AND state IN ('waiting', 'prioritized') LIMIT 1;

-- name: lock_extend
-- Extend a live lock held by the token, and clear the job's stalled-candidate mark.
UPDATE jobs SET lock_until = ?, stalled_mark = 0
WHERE qid = ? AND id = ? AND token = ? AND lock_until > ? AND state = 'active';

-- name: stalled_candidates
-- Active jobs marked at the previous stalled check whose lock has expired.
SELECT rowid, id, stalled_counter, deferred_failure FROM jobs
WHERE qid = ? AND state = 'active' AND stalled_mark = 1
  AND (lock_until IS NULL OR lock_until <= ?)
ORDER BY rowid;

-- name: job_stall
-- Return a stalled job to the front of wait, counting the stall.
UPDATE jobs
SET state = 'waiting', lane = 0, seq = ?, token = NULL, lock_until = NULL, stalled_mark = 0,
    stalled_counter = stalled_counter + 1, deferred_failure = ?
WHERE rowid = ?;

-- name: stalled_mark_active
-- Mark every active job as a stalled candidate for the next check.
UPDATE jobs SET stalled_mark = 1 WHERE qid = ? AND state = 'active' AND stalled_mark = 0;

-- name: counts_add
-- Add to how many jobs of a queue are in a state (the moves corral counts itself).
INSERT INTO job_counts (qid, state, n) VALUES (?1, ?2, ?3)
ON CONFLICT (qid, state) DO UPDATE SET n = n + excluded.n;

-- name: jobs_count
-- How many jobs of the queue are in a state (kept in job_counts: one lookup).
SELECT coalesce((SELECT n FROM job_counts WHERE qid = ?1 AND state = ?2), 0);

-- name: jobs_counts
-- How many jobs of the queue are in each state it has held.
SELECT state, n FROM job_counts WHERE qid = ?;

-- name: jobs_delete_queue
-- Obliterate: remove every job of the queue.
DELETE FROM jobs WHERE qid = ?;

-- name: event_insert
-- Append an event (fields as a JSON object of strings).
INSERT INTO events (qid, name, fields) VALUES (?, ?, ?);

-- name: event_last_id
-- The newest event id of the queue.
SELECT id FROM events WHERE qid = ? ORDER BY id DESC LIMIT 1;

-- name: events_after
-- Events after a cursor, oldest first.
SELECT id, name, fields FROM events WHERE qid = ? AND id > ? ORDER BY id LIMIT ?;

-- name: events_trim
-- Keep only the newest n events of the queue.
DELETE FROM events WHERE qid = ? AND id <= (
    SELECT id FROM events WHERE qid = ? ORDER BY id DESC LIMIT 1 OFFSET ?
);

-- name: events_delete_queue
-- Obliterate: remove the queue's event log.
DELETE FROM events WHERE qid = ?;

-- name: last_rowid
-- The rowid of the last row this connection inserted.
SELECT last_insert_rowid();

-- name: jobs_page_oldest_first
-- A page of the jobs in one state, in line order (waiting, prioritized, delayed).
-- The skipped entries are stepped over in the index alone (it holds the rowid).
SELECT j.id, j.name, j.data, j.opts, j.timestamp, j.delay, j.priority, j.progress,
       j.attempts_made, j.attempts_started, j.stalled_counter, j.processed_on, j.finished_on,
       j.return_value, j.failed_reason, j.stacktrace, j.deferred_failure, j.processed_by,
       j.parent_key, j.parent_policy
FROM (SELECT rowid AS r FROM jobs WHERE qid = ? AND state = ?
      ORDER BY lane, seq, rowid LIMIT ? OFFSET ?) AS page
JOIN jobs AS j ON j.rowid = page.r
ORDER BY j.lane, j.seq, j.rowid;

-- name: jobs_page_newest_first
-- A page of the jobs in one state, newest first (active by fetch, completed / failed
-- by finish); the skipped entries are stepped over in the index alone.
SELECT j.id, j.name, j.data, j.opts, j.timestamp, j.delay, j.priority, j.progress,
       j.attempts_made, j.attempts_started, j.stalled_counter, j.processed_on, j.finished_on,
       j.return_value, j.failed_reason, j.stacktrace, j.deferred_failure, j.processed_by,
       j.parent_key, j.parent_policy
FROM (SELECT rowid AS r FROM jobs WHERE qid = ? AND state = ?
      ORDER BY lane DESC, seq DESC, rowid DESC LIMIT ? OFFSET ?) AS page
JOIN jobs AS j ON j.rowid = page.r
ORDER BY j.lane DESC, j.seq DESC, j.rowid DESC;

-- name: queues_in_use
-- Names of the queues under a prefix that hold a job, an event or any state.
SELECT q.name FROM queues AS q
WHERE substr(q.name, 1, length(?1)) = ?1
  AND (q.paused OR q.id_counter > 0 OR q.limiter_expires_at > 0
       OR EXISTS (SELECT 1 FROM jobs AS j WHERE j.qid = q.qid)
       OR EXISTS (SELECT 1 FROM events AS e WHERE e.qid = q.qid))
ORDER BY q.name;

-- name: job_set_progress
-- Store a job's progress (JSON text).
UPDATE jobs SET progress = ? WHERE qid = ? AND id = ?;

-- name: log_last
-- The number of a job's newest log line.
SELECT n FROM job_logs WHERE qid = ? AND job_id = ? ORDER BY n DESC LIMIT 1;

-- name: log_insert
-- Append a log line to a job.
INSERT INTO job_logs (qid, job_id, n, line) VALUES (?, ?, ?, ?);

-- name: log_trim
-- Keep only a job's log lines numbered above n.
DELETE FROM job_logs WHERE qid = ? AND job_id = ? AND n <= ?;

-- name: log_count
-- How many log lines a job has.
SELECT count(*) FROM job_logs WHERE qid = ? AND job_id = ?;

-- name: log_page
-- A page of a job's log lines, oldest first.
SELECT line FROM job_logs WHERE qid = ? AND job_id = ? ORDER BY n LIMIT ? OFFSET ?;

-- name: job_for_change
-- What remove_job, promote and reprocess_job need to know about a job.
SELECT rowid, state, lock_until, priority, lifo FROM jobs WHERE qid = ? AND id = ?;

-- name: job_reprocess
-- Put a finished job back in a line, clearing its finish (and, when asked, its attempts).
UPDATE jobs
SET state = ?1, lane = ?2, seq = ?3, finished_on = NULL, processed_on = NULL,
    return_value = CASE WHEN ?5 THEN NULL ELSE return_value END,
    failed_reason = CASE WHEN ?5 THEN failed_reason ELSE NULL END,
    attempts_made = CASE WHEN ?6 THEN 0 ELSE attempts_made END,
    attempts_started = CASE WHEN ?6 THEN 0 ELSE attempts_started END
WHERE rowid = ?4;

-- name: logs_delete_queue
-- Obliterate: remove the log lines of every job of the queue.
DELETE FROM job_logs WHERE qid = ?;

-- name: metrics_get
-- A queue's metrics of one kind (completed / failed): counters and the newest point's seq.
SELECT count, prev_ts, prev_count, head FROM metrics WHERE qid = ? AND kind = ?;

-- name: metrics_start
-- The first jobs (?3 of them) a queue's metrics of one kind count, at ?4.
INSERT INTO metrics (qid, kind, count, prev_ts, prev_count, head) VALUES (?, ?, ?, ?, 0, 0);

-- name: metrics_count
-- Count ?4 more jobs if the last minute closed is the jobs' own (prev_ts at or
-- after the start of that minute, ?3): no row changed means a minute to close.
UPDATE metrics SET count = count + ?4 WHERE qid = ?1 AND kind = ?2 AND prev_ts >= ?3;

-- name: metrics_close
-- Count more jobs and record the closed minutes (count, prev_ts, prev_count, head).
UPDATE metrics SET count = ?, prev_ts = ?, prev_count = ?, head = ? WHERE qid = ? AND kind = ?;

-- name: metrics_point_add
-- One data point (jobs in one minute) of a queue's metrics.
INSERT INTO metrics_points (qid, kind, seq, value) VALUES (?, ?, ?, ?);

-- name: metrics_points_trim
-- Drop the data points older than the newest ones kept.
DELETE FROM metrics_points WHERE qid = ? AND kind = ? AND seq <= ?;

-- name: metrics_points_page
-- Data points newest first, a page of them.
SELECT value FROM metrics_points WHERE qid = ? AND kind = ? ORDER BY seq DESC LIMIT ? OFFSET ?;

-- name: metrics_points_count
-- How many data points a queue's metrics of one kind hold.
SELECT count(*) FROM metrics_points WHERE qid = ? AND kind = ?;

-- name: metrics_delete_queue
-- Obliterate: a queue's metrics.
DELETE FROM metrics WHERE qid = ?;

-- name: metrics_points_delete_queue
-- Obliterate: a queue's metrics' data points.
DELETE FROM metrics_points WHERE qid = ?;
