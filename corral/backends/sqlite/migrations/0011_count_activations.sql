-- corral SQLite schema, version 11: a job handed to a worker (moved into
-- 'active', which only the fetch does) is counted in job_counts by corral itself,
-- once per transaction for all the jobs it handed out, not by a trigger per job;
-- every other move is still counted by the trigger.
DROP TRIGGER jobs_count_move;

CREATE TRIGGER jobs_count_move AFTER UPDATE OF qid, state ON jobs
WHEN (old.state IS NOT new.state OR old.qid IS NOT new.qid) AND new.state IS NOT 'active' BEGIN
    UPDATE job_counts SET n = n - 1 WHERE qid = old.qid AND state = old.state;
    INSERT INTO job_counts (qid, state, n) VALUES (new.qid, new.state, 1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n + 1;
END;
