-- corral SQLite schema, version 10: how many jobs each queue holds in each
-- state, kept in step by triggers inside the transaction of every change (so
-- counting a state is one lookup, however many jobs it holds), and filled from
-- the jobs already stored.
CREATE TABLE job_counts (
    qid   INTEGER NOT NULL,
    state TEXT NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (qid, state)
) WITHOUT ROWID;

INSERT INTO job_counts (qid, state, n) SELECT qid, state, count(*) FROM jobs GROUP BY qid, state;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (qid, state, n) VALUES (new.qid, new.state, 1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE qid = old.qid AND state = old.state;
END;

CREATE TRIGGER jobs_count_move AFTER UPDATE OF qid, state ON jobs
WHEN old.state IS NOT new.state OR old.qid IS NOT new.qid BEGIN
    UPDATE job_counts SET n = n - 1 WHERE qid = old.qid AND state = old.state;
    INSERT INTO job_counts (qid, state, n) VALUES (new.qid, new.state, 1)
    ON CONFLICT (qid, state) DO UPDATE SET n = n + 1;
END;
