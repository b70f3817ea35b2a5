-- corral SQLite schema, version 11: a job handed to a worker (moved into
-- 'active', which only the fetch does) is counted in job_counts by corral itself,
-- once per transaction for all the jobs it handed out, not by a trigger per job;
-- every other move is still counted by the trigger.
--
-- A job can leave 'active' in the transaction that handed it out, before corral
-- has written that move (a corrupt job is failed at once; a cancel may share the
-- group): its row in job_counts may not exist yet, so the triggers take a job
-- away with an upsert (the row may dip below zero until corral adds its moves)
-- rather than an UPDATE that would find no row and lose the move.
DROP TRIGGER jobs_count_move;
DROP TRIGGER jobs_count_delete;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO job_counts (qid, state, n) VALUES (old.qid, old.state, -1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n - 1;
END;

CREATE TRIGGER jobs_count_move AFTER UPDATE OF qid, state ON jobs
WHEN (old.state IS NOT new.state OR old.qid IS NOT new.qid) AND new.state IS NOT 'active' BEGIN
    INSERT INTO job_counts (qid, state, n) VALUES (old.qid, old.state, -1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n - 1;
    INSERT INTO job_counts (qid, state, n) VALUES (new.qid, new.state, 1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n + 1;
END;
