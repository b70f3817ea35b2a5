--[[
  Removing jobs in bulk (included with `--- @include "prune"`): clean and drain.

  A pruned job has already been taken out of its line by the including script;
  prune_job removes the rest, as remove_job does for one job without its
  descendants: the job leaves its parent's pending children (releasing the parent
  if it was the last), its stalled mark, its deduplication key and its keys.
  Q.stalled must be set; `base` is the queue's base key.
]]
--- @include "flow"

local function prune_job(Q, base, id, now)
  local job_key = base .. id
  local parent = parent_of(job_key)
  if parent then
    drop_dependency(parent, job_key, now)
  end
  redis.call("SREM", Q.stalled, id)
  local dedup_id = redis.call("HGET", job_key, "deid")
  if dedup_id then
    local dedup_key = base .. "de:" .. dedup_id
    if redis.call("GET", dedup_key) == id then
      redis.call("DEL", dedup_key)
    end
  end
  remove_job_keys(job_key)
end

-- ZREM many members, a few thousand per call (unpack has a stack limit).
local function zrem_all(set, ids)
  for from = 1, #ids, 5000 do
    redis.call("ZREM", set, unpack(ids, from, math.min(from + 4999, #ids)))
  end
end

-- The time a job last did something: finished, else processed, else created (ms).
local function last_seen_ms(job_key)
  local f = redis.call("HMGET", job_key, "finishedOn", "processedOn", "timestamp")
  return tonumber(f[1]) or tonumber(f[2]) or tonumber(f[3])
end

-- Whether job `id` is a job scheduler's next run: "repeat:<scheduler>:<ms>" with
-- that scheduler due at that time in the `repeat` set. Drain and clean keep it, so
-- the schedule goes on (as Node).
local function scheduler_run(repeat_key, id)
  local scheduler, at = string.match(id, "^repeat:(.+):(%d+)$")
  if not scheduler then
    return false
  end
  local score = redis.call("ZSCORE", repeat_key, scheduler)
  return score ~= false and tonumber(score) == tonumber(at)
end
