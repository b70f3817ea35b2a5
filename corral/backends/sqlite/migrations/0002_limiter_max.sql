-- corral SQLite schema, version 2: remember the limiter's max, so
-- get_rate_limit_ttl can tell a full window from a running one.
ALTER TABLE queues ADD COLUMN limiter_max INTEGER NOT NULL DEFAULT 0;
