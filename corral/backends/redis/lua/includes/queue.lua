--[[
  Helpers shared by the scripts that move jobs (included with `--- @include "queue"`).

  Conventions:
    Q     a table of the queue's key names, filled by the including script from
          its KEYS (Q.wait, Q.active, Q.prioritized, Q.pc, Q.delayed, Q.marker,
          Q.meta, Q.events, Q.limiter, Q.stalled ...).
    M     the queue's settings, read once per script by read_meta.
    base  the queue's base key "<prefix>:<queue>:"; a job's hash is base .. id.
  Times are epoch ms numbers. Large numbers are handed to redis.call as numbers
  (converted exactly), never through tostring/.. (which keeps only 14 digits).
  Constant arguments on the paths every job takes are written as strings ("1",
  not 1): Redis turns a Lua number into text with a costly "%.17g" each call.
]]
--- @include "state"
--- @include "core"

-- Paused, or global concurrency reached: no job may be handed out, and no base
-- marker is added (it would wake workers for nothing).
local function paused_or_maxed(Q, M)
  if M.paused then
    return true
  end
  if M.concurrency then
    return redis.call("LLEN", Q.active) >= M.concurrency
  end
  return false
end

-- Due time (ms) of the earliest delayed job, or nil.
local function next_delayed_due(Q)
  local first = redis.call("ZRANGE", Q.delayed, 0, 0, "WITHSCORES")
  if first[2] then
    return math.floor(tonumber(first[2]) / 4096)
  end
  return nil
end

local function add_delay_marker(Q)
  local due = next_delayed_due(Q)
  if due then
    redis.call("ZADD", Q.marker, due, "1")
  end
end

-- Score for a job due at `due` ms: due*4096 plus a sequence number, so jobs due
-- in the same ms keep their insertion order (at most 4096 distinct per ms).
local function delayed_score(Q, due)
  local low = due * 4096
  local high = low + 4095
  local last = redis.call("ZREVRANGEBYSCORE", Q.delayed, high, low, "WITHSCORES", "LIMIT", 0, 1)
  if last[2] then
    return math.min(tonumber(last[2]) + 1, high)
  end
  return low
end

-- Lower priority number first; FIFO within a priority through the counter.
local function priority_score(Q, priority)
  local n = redis.call("INCR", Q.pc)
  return priority * 4294967296 + n % 4294967296
end

-- Put a job that may run now into its line: prioritized by score, else wait
-- (LPUSH = back of the line; RPUSH = front, as the tail is taken first).
local function enqueue(Q, job_id, priority, front)
  if priority > 0 then
    redis.call("ZADD", Q.prioritized, priority_score(Q, priority), job_id)
  elseif front then
    redis.call("RPUSH", Q.wait, job_id)
  else
    redis.call("LPUSH", Q.wait, job_id)
  end
end

local function job_priority(job_key)
  return tonumber(redis.call("HGET", job_key, "priority")) or 0
end

-- Move delayed jobs that are due (at most 1000 per call) into their line.
local function promote_due(Q, M, base, now)
  local ids = redis.call("ZRANGEBYSCORE", Q.delayed, "0", (now + 1) * 4096 - 1, "LIMIT", "0", "1000")
  if #ids == 0 then
    return
  end
  redis.call("ZREM", Q.delayed, unpack(ids))
  for _, id in ipairs(ids) do
    local job_key = base .. id
    enqueue(Q, id, job_priority(job_key), false)
    redis.call("HSET", job_key, "delay", 0)
    emit(Q, M, "waiting", "jobId", id, "prev", "delayed")
  end
  if not paused_or_maxed(Q, M) then
    add_base_marker(Q)
  end
end

-- ms the queue stays rate limited for a worker whose limit is `max_jobs` (nil:
-- none); 0 when not limited. The sentinel written by rate_limit stops everyone.
local function rate_limit_ttl(Q, max_jobs)
  local value = tonumber(redis.call("GET", Q.limiter))
  if not value then
    return 0
  end
  if value >= RATE_LIMIT_SENTINEL or (max_jobs and value >= max_jobs) then
    local ttl = redis.call("PTTL", Q.limiter)
    if ttl > 0 then
      return ttl
    end
    -- A counter without expiry would keep its window shut for ever.
    if ttl == -1 then
      redis.call("DEL", Q.limiter)
    end
  end
  return 0
end

-- Check that `token` holds the lock of active job `id`; if so take the job out
-- of active and release its lock. Returns 0, or a refusal having changed
-- nothing: -1 no job, {-2, state} no lock (the state says whether the job
-- already finished), -6 another token's lock, {-3, state} not active.
local function take_from_active(Q, base, id, token)
  local job_key = base .. id
  if redis.call("EXISTS", job_key) == 0 then
    return -1
  end
  local lock_key = job_key .. ":lock"
  local holder = redis.call("GET", lock_key)
  if not holder then
    return refuse_with_state(-2, base, id)
  end
  if holder ~= token then
    return -6
  end
  if redis.call("LREM", Q.active, "-1", id) == 0 then
    return refuse_with_state(-3, base, id)
  end
  redis.call("DEL", lock_key)
  redis.call("SREM", Q.stalled, id)
  return 0
end

-- Delete a job's keys (its hash, lock, logs and flow bookkeeping).
local function remove_job_keys(job_key)
  redis.call("DEL", job_key, job_key .. ":lock", job_key .. ":logs",
    job_key .. ":dependencies", job_key .. ":processed", job_key .. ":failed",
    job_key .. ":unsuccessful")
end
