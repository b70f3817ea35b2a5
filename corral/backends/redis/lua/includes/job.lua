--[[
  The keys of the one job a script is called for (included with
  `--- @include "job"`). The caller passes them in KEYS, after the queue's keys
  (their header lines name them `job`, `job:lock` ...), so a script declares every
  key it touches that was known before the call, as Redis Cluster requires.

  Conventions:
    J  the job's key names, filled by the including script from its KEYS:
       J.hash, J.lock, J.logs, J.dependencies, J.processed, J.failed,
       J.unsuccessful (only the ones the script declares).
    S  the keys job_state reads (completed, failed, delayed, prioritized, active,
       wait, paused, waiting_children), declared by a script whose refusals
       carry the job's state.
]]
--- @include "state"

-- Check that `token` holds the lock of active job `id`; if so take the job out of
-- Q.active and Q.stalled and release its lock. Returns 0, or a refusal having
-- changed nothing: -1 no job, {-2, state} no lock (the state says whether the job
-- already finished), -6 another token's lock, {-3, state} not active.
local function take_job_from_active(Q, S, J, id, token)
  if redis.call("EXISTS", J.hash) == 0 then
    return -1
  end
  local holder = redis.call("GET", J.lock)
  if not holder then
    return {-2, job_state(S, J.hash, id)}
  end
  if holder ~= token then
    return -6
  end
  if redis.call("LREM", Q.active, "-1", id) == 0 then
    return {-3, job_state(S, J.hash, id)}
  end
  redis.call("DEL", J.lock)
  redis.call("SREM", Q.stalled, id)
  return 0
end

-- Delete every key of the job (its hash, lock, logs and flow bookkeeping).
local function delete_job(J)
  redis.call("DEL", J.hash, J.lock, J.logs, J.dependencies, J.processed, J.failed,
    J.unsuccessful)
end
