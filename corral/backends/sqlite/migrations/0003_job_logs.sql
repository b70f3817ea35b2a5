-- corral SQLite schema, version 3: job log lines, removed with their job.
CREATE TABLE job_logs (
    qid    INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    n      INTEGER NOT NULL,
    line   TEXT NOT NULL,
    PRIMARY KEY (qid, job_id, n)
) WITHOUT ROWID;

CREATE TRIGGER jobs_drop_logs AFTER DELETE ON jobs BEGIN
    DELETE FROM job_logs WHERE qid = old.qid AND job_id = old.id;
END;
